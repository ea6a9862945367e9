package decide

import (
	"math"
	"math/bits"

	"github.com/floodgate-go/floodgate/limit"
)

// WideTick is a GCRA tick count that may exceed 64 bits: a limit of Count
// units per Period has Count ticks per period, so a count near
// limit.MaxCount on a millisecond period reaches 2^64 ticks after
// seconds. It is written as W·Count + F ticks, with W a window number
// (⌊t/Period⌋ of the instant the tick begins in) and 0 ≤ F < Count the
// ticks into that window, which keeps every product within 128 bits. The
// zero WideTick is tick 0. Compare WideTicks of one limit with
// [WideTick.Less]; they are small values, safe to copy.
type WideTick struct {
	W uint64 // window number
	F uint64 // ticks into window W, < Count
}

// Less reports whether x is an earlier tick than y (both normalized: F <
// Count).
func (x WideTick) Less(y WideTick) bool { return x.W < y.W || x.W == y.W && x.F < y.F }

// WideTicks is [Ticks] for limits whose tick counts need [WideTick]:
// it converts between nanoseconds and wide ticks, exactly, with the tick
// boundaries of Ticks (tick(t) = ⌊t·Count/Period⌋ since the Unix epoch,
// tick x beginning at ⌈x·Period/Count⌉). The zero WideTicks is not
// usable; call [NewWideTicks]. A WideTicks is a small value, safe to copy.
type WideTicks struct {
	cnt, p uint64
	// Tick's division-free and 64-bit paths: per = cnt/p when p divides
	// cnt (whole units per nanosecond, as 10^9 per second), ns = p/cnt
	// when cnt divides p (whole nanoseconds per unit); 0 otherwise.
	per, ns uint64
}

// NewWideTicks returns the wide ticks of a limit of cnt units per p
// nanoseconds; both must be positive, and cnt below 2^63.
func NewWideTicks(cnt, p uint64) WideTicks {
	tk := WideTicks{cnt: cnt, p: p}
	switch {
	case cnt%p == 0:
		tk.per = cnt / p
	case p%cnt == 0:
		tk.ns = p / cnt
	}
	return tk
}

// Tick returns the tick that contains time t: window ⌊t/p⌋ and
// ⌊(t mod p)·cnt/p⌋ ticks into it.
func (tk WideTicks) Tick(t uint64) WideTick {
	return tk.TickIn(t/tk.p, t%tk.p)
}

// TickIn is [WideTicks.Tick] of the time w·Period + r, for r < Period:
// Tick without its division by the period, for a caller that knows the
// window of t.
func (tk WideTicks) TickIn(w, r uint64) WideTick {
	switch {
	case tk.per != 0:
		return WideTick{W: w, F: r * tk.per} // r·per < p·per = cnt: no overflow
	case tk.ns != 0:
		return WideTick{W: w, F: r / tk.ns}
	}
	hi, lo := bits.Mul64(r, tk.cnt)
	f, _ := bits.Div64(hi, lo, tk.p) // hi < p because r < p: the quotient fits
	return WideTick{W: w, F: f}
}

// Start returns the nanosecond at which tick x begins, W·p + ⌈F·p/cnt⌉,
// or the largest uint64 when that is beyond 2^64 − 1; [Until] turns that
// into limit.Never.
func (tk WideTicks) Start(x WideTick) uint64 {
	hi, lo := bits.Mul64(x.W, tk.p)
	if hi != 0 {
		return math.MaxUint64
	}
	fh, fl := bits.Mul64(x.F, tk.p)
	q, r := bits.Div64(fh, fl, tk.cnt) // fh < cnt because F < cnt
	if r != 0 {
		q++
	}
	s, carry := bits.Add64(lo, q, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

// Add returns x + n ticks. n must be below 2^63 (any cost is).
func (tk WideTicks) Add(x WideTick, n uint64) WideTick {
	s := x.F + n // < 2^53 + 2^63: no overflow
	return WideTick{W: x.W + s/tk.cnt, F: s % tk.cnt}
}

// Sub returns x − n ticks, or tick 0 when n is more than x. n must be
// below 2^63.
func (tk WideTicks) Sub(x WideTick, n uint64) WideTick {
	if n <= x.F {
		return WideTick{W: x.W, F: x.F - n}
	}
	d := n - x.F          // ticks to take from whole windows before W
	w := (d-1)/tk.cnt + 1 // windows to borrow: ⌈d/cnt⌉ ≥ 1
	if w > x.W {
		return WideTick{}
	}
	return WideTick{W: x.W - w, F: w*tk.cnt - d} // w·cnt ≤ d + cnt − 1 < 2^64
}

// Diff returns x − y in ticks for x not before y, saturating at the
// largest uint64.
func (tk WideTicks) Diff(x, y WideTick) uint64 {
	hi, lo := bits.Mul64(x.W-y.W, tk.cnt)
	if hi != 0 {
		return math.MaxUint64
	}
	// (x.W − y.W)·cnt + x.F − y.F, where x.F − y.F may be negative but the
	// whole is not: add x.F first.
	s, carry := bits.Add64(lo, x.F, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s - y.F
}

// WideBucket is [Bucket] in wide ticks: one key's GCRA state at one
// instant, for a limit whose tick counts need [WideTick] (the memory
// engine uses it when the count or burst exceeds its one-word cell, or
// when a limit has more than one unit per nanosecond). It answers
// exactly what Bucket would answer with unbounded integers.
type WideBucket struct {
	K    WideTick // the current tick
	Base WideTick // max(tat, K): the tat before the request
}

// over returns Base − K, the ticks by which the bucket is drawn down,
// saturating.
func (b WideBucket) over(tk WideTicks) uint64 { return tk.Diff(b.Base, b.K) }

// Fits reports whether cost n fits a bucket of size burst: whether
// Base + n ≤ K + burst.
func (b WideBucket) Fits(tk WideTicks, n, burst uint64) bool {
	o := b.over(tk)
	return o <= burst && n <= burst-o
}

// Decide is [Bucket.Decide] in wide ticks: the Decision for cost n under
// l at time now, whose tick is b.K; allowed reports whether n was (or,
// for a peek, would be) added, taking the tat to Base + n. With allowed
// false it describes the bucket without n, and RetryAfter is the least
// wait after which n fits, 0 when it fits now.
func (b WideBucket) Decide(allowed bool, n, now, burst uint64, tk WideTicks, l limit.Limit) limit.Decision {
	d := limit.Decision{Allowed: allowed, Limit: l}
	last, over := b.Base, b.over(tk) // the tat that remains, and its lead on K
	if allowed {
		last, over = tk.Add(b.Base, n), over+n // over + n ≤ burst: it fits
	}
	if over < burst {
		d.Remaining = int64(burst - over)
	}
	if over > 0 {
		d.ResetAfter = Until(tk.Start(last), now)
	}
	if !allowed {
		switch {
		case n > burst:
			d.RetryAfter = limit.Never
		case b.Fits(tk, n, burst):
			// Allowed now: a limit that allows within a call that another
			// limit denies.
		default:
			// Conforms once tick(now') ≥ base + n − burst (> K ≥ 0).
			d.RetryAfter = Until(tk.Start(tk.Sub(tk.Add(b.Base, n), burst)), now)
		}
	}
	return d
}
