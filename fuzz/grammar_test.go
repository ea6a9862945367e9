package fuzz_test

import (
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// This file is an acceptor for the limit grammar written from the text of
// package limit's documentation alone, without looking at parse.go:
//
//	limit  = count ( "/" | "per" ) [ multiplier ] unit
//	count  = digits      1 ≤ count ≤ MaxCount
//	multiplier = digits  ≥ 1, and multiplier×unit ≤ MaxPeriod
//	unit   = ( "second" | "minute" | "hour" | "day" | "month" | "year" ) [ "s" ]
//
// with optional spaces between the parts and around the whole, words
// case-insensitive, a month of 30 days and a year of 360, and several
// limits joined by ";", "," or "|".
//
// Two readings had to be chosen (README.md, "Choices where the
// documentation is silent or ambiguous"): "spaces" means Unicode white
// space as unicode.IsSpace defines it, and "case-insensitive" means ASCII
// case only.

// ws is unicode.IsSpace as a character class.
const ws = `[\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]*`

var grammarUnits = map[string]time.Duration{
	"second": time.Second,
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
	"month":  30 * 24 * time.Hour,
	"year":   360 * 24 * time.Hour,
}

// asciiFold turns a lowercase word into a regexp that matches it in any
// ASCII case, and nothing else (RE2's (?i) would also fold U+017F to s).
func asciiFold(w string) string {
	var b strings.Builder
	for _, c := range w {
		b.WriteString("[" + string(c) + strings.ToUpper(string(c)) + "]")
	}
	return b.String()
}

var itemRE = func() *regexp.Regexp {
	var alts []string
	for u := range grammarUnits {
		alts = append(alts, asciiFold(u))
	}
	return regexp.MustCompile(`^` + ws + `([0-9]+)` + ws + `(?:/|` + asciiFold("per") + `)` + ws +
		`(?:([0-9]+)` + ws + `)?(` + strings.Join(alts, "|") + `)[sS]?` + ws + `$`)
}()

// grammarVerdict is what the documented grammar says about one item.
type grammarVerdict struct {
	ok     bool        // accepted
	want   limit.Limit // the limit, when ok
	syntax bool        // matches the syntax; when !ok, the count or period is out of range
	count  bool        // when syntax && !ok: the count is out of range (else the period)
}

// judgeItem applies the documented grammar to one limit.
func judgeItem(s string) grammarVerdict {
	m := itemRE.FindStringSubmatch(s)
	if m == nil {
		return grammarVerdict{}
	}
	v := grammarVerdict{syntax: true}
	count, _ := new(big.Int).SetString(m[1], 10)
	if count.Sign() < 1 || count.Cmp(big.NewInt(limit.MaxCount)) > 0 {
		v.count = true
		return v
	}
	mult := big.NewInt(1)
	if m[2] != "" {
		mult, _ = new(big.Int).SetString(m[2], 10)
	}
	period := new(big.Int).Mul(mult, big.NewInt(int64(grammarUnits[strings.ToLower(m[3])])))
	if mult.Sign() < 1 || period.Cmp(big.NewInt(int64(limit.MaxPeriod))) > 0 {
		return v
	}
	l, err := limit.New(count.Int64(), time.Duration(period.Int64()))
	if err != nil {
		panic("grammar acceptor built an invalid limit: " + err.Error())
	}
	v.ok, v.want = true, l
	return v
}

var sepRE = regexp.MustCompile(`[;,|]`)

// judgeMany applies the documented grammar to a list of limits; it returns
// nil when the list is rejected.
func judgeMany(s string) []limit.Limit {
	var out []limit.Limit
	for _, it := range sepRE.Split(s, -1) {
		v := judgeItem(it)
		if !v.ok {
			return nil
		}
		out = append(out, v.want)
	}
	return out
}

// canonical is Limit.String as documented: the count, "/", and the period
// in the largest unit that divides it, with the multiplier and a plural
// "s" when the multiplier is not 1.
func canonical(l limit.Limit) string {
	best, bestD := "", time.Duration(0)
	for u, d := range grammarUnits {
		if l.Period()%d == 0 && d > bestD {
			best, bestD = u, d
		}
	}
	m := l.Period() / bestD
	s := big.NewInt(l.Count()).String() + "/"
	if m == 1 {
		return s + best
	}
	return s + big.NewInt(int64(m)).String() + " " + best + "s"
}
