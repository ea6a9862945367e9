package limit

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Bounds on a Limit. They keep every backend's arithmetic exact: counts and
// bursts up to MaxCount are integers that a float64 holds exactly (Redis's
// Lua numbers), and products of a count and a period fit 128 bits.
const (
	// MaxCount is the largest count (and GCRA burst) a Limit may have,
	// 9,007,199,254,740,991 (2^53−1): a quota of a billion a month is an
	// ordinary Limit. The memory engine keeps counts up to 2^29−1 in one
	// 64-bit word per key and larger ones in a wider per-key state
	// (engine/doc.go); the answers are the same.
	MaxCount = 1<<53 - 1
	// minPeriod is the shortest period, one millisecond. A period is a whole
	// number of milliseconds. The string grammar (that of the Python limits
	// library) only has units of a second and longer, so only limits whose
	// period is a whole number of seconds have a string form that parses
	// back; shorter and fractional periods, such as 100ms or 1.5s, come
	// only from [New]. Backends judge time at their clock's resolution: the
	// memory engine's default clock ticks every millisecond, so periods of
	// a few milliseconds are coarse.
	minPeriod = time.Millisecond
	// MaxPeriod is the longest period: ten years of 360 days.
	MaxPeriod = 10 * 360 * 24 * time.Hour
)

// ErrInvalid is wrapped by every error of a constructor, a parser and
// MarshalText, for errors.Is: text that is not a limit, a count outside
// 1..MaxCount, a period that is not a whole number of milliseconds
// from one millisecond to MaxPeriod, or a limit that MarshalText cannot
// write because the grammar cannot express it (a burst, or a period that
// is not a whole number of seconds). The message quotes the offending
// part and says what is wrong with it.
var ErrInvalid = errors.New("limit: invalid")

// Limit is a number of requests (more exactly, of cost units) allowed per
// period. Build one with [New], [PerSecond], [PerMinute], [PerHour],
// [PerDay], [Parse] or [MustParse].
//
// The zero Limit is invalid: [Limit.Valid] reports false, and every backend
// denies requests against it instead of panicking. Limits are small
// comparable values, safe to copy, to use as map keys and to share between
// goroutines.
//
// Limit implements [encoding.TextMarshaler] and [encoding.TextUnmarshaler]
// with its canonical string, so it can be a field of a JSON or YAML
// configuration, an environment value or a [flag.TextVar].
type Limit struct {
	count  int64
	period time.Duration
	burst  int64 // GCRA bucket size; 0 means count
}

// New returns a limit of count per period. It fails with an error wrapping
// ErrInvalid when count is not in 1..MaxCount or period is not a
// whole number of milliseconds from one millisecond to MaxPeriod.
//
// New is the only way to build a limit whose period is not a whole number
// of seconds, such as New(10, 100*time.Millisecond): the string grammar
// cannot express it, so its String does not parse back and
// [Limit.MarshalText] fails for it.
func New(count int64, period time.Duration) (Limit, error) {
	if count < 1 || count > MaxCount {
		return Limit{}, countError(strconv.FormatInt(count, 10))
	}
	if period < minPeriod || period > MaxPeriod || period%time.Millisecond != 0 {
		return Limit{}, periodError(period.String())
	}
	return Limit{count: count, period: period}, nil
}

// PerSecond returns a limit of n per second. It panics when n is not in
// 1..MaxCount, like regexp.MustCompile; use [New] for computed values.
func PerSecond(n int64) Limit { return must(New(n, time.Second)) }

// PerMinute returns a limit of n per minute. It panics like [PerSecond].
func PerMinute(n int64) Limit { return must(New(n, time.Minute)) }

// PerHour returns a limit of n per hour. It panics like [PerSecond].
func PerHour(n int64) Limit { return must(New(n, time.Hour)) }

// PerDay returns a limit of n per day. It panics like [PerSecond].
func PerDay(n int64) Limit { return must(New(n, 24*time.Hour)) }

func must(l Limit, err error) Limit {
	if err != nil {
		panic(err)
	}
	return l
}

// Count returns how many cost units the limit allows per period; 0 for the
// zero Limit.
func (l Limit) Count() int64 { return l.count }

// Period returns the length of the limit's window; 0 for the zero Limit.
func (l Limit) Period() time.Duration { return l.period }

// Burst returns the bucket size that the GCRA strategy uses: the value
// given to WithBurst, or Count by default. Other strategies ignore it.
func (l Limit) Burst() int64 {
	if l.burst == 0 {
		return l.count
	}
	return l.burst
}

// WithBurst returns l with a GCRA bucket of b units: up to b units at
// once, refilled at Count per Period. It fails with an error wrapping
// ErrInvalid when b is not in 1..MaxCount or l is invalid. The burst is not
// part of the string grammar: String of such a limit parses back to l
// without it, and [Limit.MarshalText] fails for it rather than drop it.
func (l Limit) WithBurst(b int64) (Limit, error) {
	if !l.Valid() || b < 1 || b > MaxCount {
		return Limit{}, fmt.Errorf("%w: burst %d is not in 1..%d", ErrInvalid, b, int64(MaxCount))
	}
	if b == l.count {
		b = 0 // one representation per limit, so that equal limits compare equal
	}
	l.burst = b
	return l, nil
}

// Valid reports whether l was built by a constructor or the parser, that
// is, whether it is not the zero Limit.
func (l Limit) Valid() bool { return l.count > 0 && l.period > 0 }

// String returns the canonical form of l, such as "5/minute" or
// "500/7 days", which [Parse] turns back into l, without its burst (see
// [Limit.WithBurst]). The zero Limit prints as "invalid".
//
// A period that is not a whole number of seconds has no form in the
// grammar: it prints as a Go duration, as in "10/100ms" or "3/1.5s",
// which is unique to the limit but does not parse.
func (l Limit) String() string {
	if !l.Valid() {
		return "invalid"
	}
	b := strconv.AppendInt(make([]byte, 0, 24), l.count, 10)
	b = append(b, '/')
	if !l.wholeSeconds() {
		return string(append(b, l.period.String()...))
	}
	for i := len(units) - 1; i >= 0; i-- {
		u := units[i]
		if l.period%u.d != 0 {
			continue
		}
		m := int64(l.period / u.d)
		if m == 1 {
			return string(append(b, u.name...))
		}
		b = strconv.AppendInt(b, m, 10)
		b = append(b, ' ')
		b = append(b, u.name...)
		return string(append(b, 's'))
	}
	panic("unreachable: periods are whole seconds")
}

// Human returns l in words, as used in error messages and 429 bodies:
// "5 per 1 minute", "500 per 7 days", or "10 per 100ms" for a period that
// is not a whole number of seconds.
func (l Limit) Human() string {
	if !l.Valid() {
		return "invalid"
	}
	if !l.wholeSeconds() {
		return strconv.FormatInt(l.count, 10) + " per " + l.period.String()
	}
	for i := len(units) - 1; i >= 0; i-- {
		u := units[i]
		if l.period%u.d != 0 {
			continue
		}
		m := int64(l.period / u.d)
		s := strconv.FormatInt(l.count, 10) + " per " + strconv.FormatInt(m, 10) + " " + u.name
		if m != 1 {
			s += "s"
		}
		return s
	}
	panic("unreachable: periods are whole seconds")
}

// wholeSeconds reports whether l's period has a form in the grammar.
func (l Limit) wholeSeconds() bool { return l.period%time.Second == 0 }

type unit struct {
	name string
	d    time.Duration
}

// units is ordered from the shortest to the longest.
var units = [...]unit{
	{"second", time.Second},
	{"minute", time.Minute},
	{"hour", time.Hour},
	{"day", 24 * time.Hour},
	{"month", 30 * 24 * time.Hour},
	{"year", 360 * 24 * time.Hour},
}
