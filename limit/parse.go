package limit

import (
	"fmt"
	"strings"
	"time"
)

// Parse parses exactly one limit, such as "5/minute", "5 per minute" or
// "1/2 seconds". See the package documentation for the grammar. Errors
// quote the offending part and wrap ErrInvalid.
func Parse(s string) (Limit, error) {
	if strings.ContainsAny(s, ";,|") {
		return Limit{}, fmt.Errorf("%w: %q holds several limits; use ParseMany", ErrInvalid, s)
	}
	return parseOne(s)
}

// ParseMany parses one or more limits joined by ";", "," or "|", such as
// "10/second;1000/day". It fails on the first bad item, naming it, and on
// empty items such as the trailing one in "1/second;".
func ParseMany(s string) ([]Limit, error) {
	items := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == '|' })
	// FieldsFunc drops empty items; count separators to catch them.
	if seps := strings.Count(s, ";") + strings.Count(s, ",") + strings.Count(s, "|"); seps+1 != len(items) {
		return nil, fmt.Errorf("%w: %q has an empty item", ErrInvalid, s)
	}
	out := make([]Limit, 0, len(items))
	for _, it := range items {
		l, err := parseOne(it)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// MustParse is like [Parse] but panics on error. It is meant for limits
// written in source code.
func MustParse(s string) Limit { return must(Parse(s)) }

// parseOne scans: ws count ws ("/"|"per") ws [multiplier ws] unit ws.
func parseOne(item string) (Limit, error) {
	s := strings.TrimSpace(item)
	if s == "" {
		return Limit{}, fmt.Errorf("%w: empty limit", ErrInvalid)
	}
	digits, rest := splitDigits(s)
	if digits == "" {
		return Limit{}, fmt.Errorf("%w: %q does not start with a count", ErrInvalid, s)
	}
	count, ok := atoi(digits)
	if !ok || count < 1 || count > MaxCount {
		return Limit{}, countError(digits)
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.HasPrefix(rest, "/"):
		rest = rest[1:]
	case len(rest) >= 3 && asciiEqualFold(rest[:3], "per"):
		rest = rest[3:]
	default:
		return Limit{}, fmt.Errorf("%w: %q: expected \"/\" or \"per\" after the count", ErrInvalid, s)
	}
	rest = strings.TrimSpace(rest)
	mult := int64(1)
	if digits, r := splitDigits(rest); digits != "" {
		m, ok := atoi(digits)
		if !ok || m < 1 {
			return Limit{}, periodError(digits + " " + strings.TrimSpace(r))
		}
		mult, rest = m, strings.TrimSpace(r)
	}
	u, ok := lookupUnit(rest)
	if !ok {
		return Limit{}, fmt.Errorf("%w: %q: unknown unit %q (want second, minute, hour, day, month or year)", ErrInvalid, s, rest)
	}
	if mult > int64(MaxPeriod/u) {
		return Limit{}, periodError(s)
	}
	return New(count, time.Duration(mult)*u)
}

func splitDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// atoi parses decimal digits, reporting false for a number above 2^59,
// beyond every bound of the grammar (MaxCount is 2^53−1), before it can
// overflow.
func atoi(digits string) (int64, bool) {
	var n int64
	for i := 0; i < len(digits); i++ {
		n = n*10 + int64(digits[i]-'0')
		if n > 1<<59 {
			return 0, false
		}
	}
	return n, true
}

func lookupUnit(w string) (time.Duration, bool) {
	if len(w) > 1 && (w[len(w)-1] == 's' || w[len(w)-1] == 'S') {
		w = w[:len(w)-1]
	}
	for _, u := range units {
		if asciiEqualFold(w, u.name) {
			return u.d, true
		}
	}
	return 0, false
}

// asciiEqualFold reports whether s equals the lower-case ASCII word w,
// ignoring ASCII case only: the grammar's words are ASCII, and Unicode
// folding would accept "ſecond" (long s) or "K" (Kelvin sign).
func asciiEqualFold(s, w string) bool {
	if len(s) != len(w) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

func countError(c string) error {
	return fmt.Errorf("%w: count %s is not in 1..%d", ErrInvalid, c, int64(MaxCount))
}

func periodError(p string) error {
	return fmt.Errorf("%w: period %q is not a whole number of milliseconds in %s..%s", ErrInvalid, p, minPeriod, MaxPeriod)
}
