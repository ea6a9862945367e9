package decide

import (
	"math"
	"math/bits"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Ticks converts between nanoseconds and GCRA ticks of one limit. A tick
// is Period/Count, the time a bucket takes to refill one unit; counting
// in ticks keeps the arithmetic exact when Count does not divide Period:
// the tick of time t is ⌊t·Count/Period⌋, and tick k begins at
// ⌈k·Period/Count⌉. The zero Ticks is not usable; call [NewTicks]. A
// Ticks is a small value, safe to copy.
type Ticks struct {
	cnt, p uint64
	ns     uint64 // p/cnt when cnt divides p, else 0: the division-free path
}

// NewTicks returns the ticks of a limit of cnt units per p nanoseconds;
// both must be positive.
func NewTicks(cnt, p uint64) Ticks {
	t := Ticks{cnt: cnt, p: p}
	if p%cnt == 0 {
		t.ns = p / cnt
	}
	return t
}

// TicksOf returns the ticks of l, which must be valid.
func TicksOf(l limit.Limit) Ticks { return NewTicks(uint64(l.Count()), uint64(l.Period())) }

// Tick returns ⌊t·Count/Period⌋, the tick that contains time t; t must be
// below 2^63 (any time.Duration is).
func (tk Ticks) Tick(t uint64) uint64 {
	if tk.ns != 0 {
		return t / tk.ns
	}
	hi, lo := bits.Mul64(t, tk.cnt)
	q, _ := bits.Div64(hi, lo, tk.p) // hi < p: the quotient fits, t < 2^63
	return q
}

// Start returns ⌈k·Period/Count⌉, the nanosecond at which tick k begins,
// or the largest uint64 when that is beyond 2^64 − 1 (a bucket written by
// a clock centuries ahead); [Until] turns that into limit.Never.
func (tk Ticks) Start(k uint64) uint64 {
	if tk.ns != 0 {
		if hi, lo := bits.Mul64(k, tk.ns); hi == 0 {
			return lo
		}
		return math.MaxUint64
	}
	hi, lo := bits.Mul64(k, tk.p)
	if hi >= tk.cnt {
		return math.MaxUint64
	}
	q, r := bits.Div64(hi, lo, tk.cnt)
	if r != 0 {
		q++
	}
	return q
}

// Until returns the wait from now to instant a: 0 when a is not after
// now, and at most limit.Never for instants beyond what a time.Duration
// holds (a large burst on a long period).
func Until(a, now uint64) time.Duration {
	if a <= now {
		return 0
	}
	return time.Duration(min(a-now, math.MaxInt64))
}

// Bucket is one key's GCRA state at one instant, in ticks: K, the tick of
// the reading, and Base = max(tat, K), where tat is the stored
// theoretical arrival time (a bucket whose tat is at most K is full).
type Bucket struct {
	K    uint64 // the current tick
	Base uint64 // max(tat, K): the tat before the request
}

// Fits reports whether cost n fits a bucket of size burst: whether
// Base + n ≤ K + burst. An allowed request then stores tat = Base + n.
func (b Bucket) Fits(n, burst uint64) bool { return b.Base+n <= b.K+burst }

// Decide returns the Decision for cost n under l at time now, whose tick
// is b.K; allowed reports whether n was (or, for a peek, would be) added
// to the bucket, taking the tat to Base + n. burst is l.Burst() and tk
// the ticks of l, passed in so that callers may compute them once. With
// allowed false it describes the bucket without n, and RetryAfter is the
// least wait after which n fits, 0 when it fits now. Fits is monotone in
// time: K only grows, and Base = max(tat, K) grows no faster than K.
func (b Bucket) Decide(allowed bool, n, now, burst uint64, tk Ticks, l limit.Limit) limit.Decision {
	d := limit.Decision{Allowed: allowed, Limit: l}
	last := b.Base // the tat that remains
	if allowed {
		last += n
	}
	if room := b.K + burst; room > last {
		d.Remaining = int64(room - last)
	}
	if last > b.K {
		d.ResetAfter = Until(tk.Start(last), now)
	}
	if !allowed {
		switch {
		case n > burst:
			d.RetryAfter = limit.Never
		case b.Fits(n, burst):
			// Allowed now: a limit that allows within a call that another
			// limit denies.
		default:
			// Conforms once tick(now') ≥ base + n − burst.
			d.RetryAfter = Until(tk.Start(b.Base+n-burst), now)
		}
	}
	return d
}
