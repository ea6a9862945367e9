package decide

import (
	"math/bits"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Window is one key's state under a window strategy (the sliding-window
// counter or the fixed window) at one instant: R nanoseconds into window
// e, with Prev units counted in window e−1 and Cur in window e. The zero
// Window is the start of a window with nothing counted. The fixed window
// ignores Prev.
type Window struct {
	R    uint64 // nanoseconds into the current window, < the period
	Prev uint64 // units counted in the previous window
	Cur  uint64 // units counted in the current window
}

// Fits reports whether cost n fits under count cnt and period p. Sliding
// window: the previous window's count weighs (p−r)/p, so the test is
//
//	prev·(p−r)/p + cur + n ≤ cnt   ⇔   prev·(p−r) ≤ (cnt−cur−n)·p
//
// evaluated in 128-bit integers: exact, no float drift. The window
// script's le(prev, p − r, cnt − cur − n, p) mirrors it in Lua.
func (w Window) Fits(sliding bool, n, cnt, p uint64) bool {
	if w.Cur+n > cnt {
		return false
	}
	if !sliding || w.Prev == 0 {
		return true
	}
	lh, ll := bits.Mul64(w.Prev, p-w.R)
	rh, rl := bits.Mul64(cnt-w.Cur-n, p)
	return lh < rh || lh == rh && ll <= rl
}

// weightedPrev returns ⌈prev·(p−r)/p⌉, the previous window's share of the
// current usage, rounded up so that Remaining never promises too much.
func (w Window) weightedPrev(sliding bool, p uint64) uint64 {
	if !sliding || w.Prev == 0 {
		return 0
	}
	hi, lo := bits.Mul64(w.Prev, p-w.R)
	q, rem := bits.Div64(hi, lo, p) // hi < p because the quotient < prev
	if rem != 0 {
		q++
	}
	return q
}

// Decide returns the Decision for cost n under l at this state; allowed
// reports whether n was (or, for a peek, would be) counted, and then
// w.Cur already includes it. With allowed false it describes the state
// without n, and its RetryAfter is the least wait after which n fits: 0
// when n fits already (a limit that allows within a call that another
// limit denies).
func (w Window) Decide(sliding, allowed bool, n uint64, l limit.Limit) limit.Decision {
	cnt, p := uint64(l.Count()), uint64(l.Period())
	d := limit.Decision{Allowed: allowed, Limit: l}
	if used := w.Cur + w.weightedPrev(sliding, p); used < cnt {
		d.Remaining = int64(cnt - used)
	}
	switch {
	case w.Cur > 0 && sliding:
		d.ResetAfter = time.Duration(2*p - w.R)
	case w.Cur > 0 || w.Prev > 0 && sliding:
		d.ResetAfter = time.Duration(p - w.R)
	}
	if !allowed {
		d.RetryAfter = w.retryAfter(sliding, n, cnt, p)
	}
	return d
}

// retryAfter returns the least wait after which cost n fits: 0 when it
// fits now.
//
// The admission test is monotone in time (once n fits, it fits at every
// later instant while nothing else is counted), which is what makes the
// least wait of a call of several limits the largest of their own waits
// (see Merge). Fixed window: cur only drops, at the next window. Sliding
// window: within a window prev·(p−r) shrinks as r grows; across the
// boundary the test at r = p−1, prev·1 ≤ (cnt−cur−n)·p, implies cur ≤
// cnt−n, the test at r = 0 of the next window (cur·p ≤ (cnt−n)·p), and
// the window after that holds nothing.
func (w Window) retryAfter(sliding bool, n, cnt, p uint64) time.Duration {
	if n > cnt {
		return limit.Never
	}
	if w.Fits(sliding, n, cnt, p) {
		return 0
	}
	if !sliding {
		return time.Duration(p - w.R)
	}
	if w.Cur+n <= cnt {
		// Only the previous window's weight is in the way; it shrinks as r
		// grows. The first r' with prev·(p−r') ≤ (cnt−cur−n)·p is
		// p − ⌊(cnt−cur−n)·p / prev⌋.
		return time.Duration(p - FloorDiv(cnt-w.Cur-n, p, w.Prev) - w.R)
	}
	// The current window is full: wait for the next one, where cur becomes
	// the previous count.
	return time.Duration(p - w.R + p - FloorDiv(cnt-n, p, w.Cur))
}

// FloorDiv returns ⌊a·b/c⌋ computed without overflow, capped at b (no
// caller needs more). c must be positive.
func FloorDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return b
	}
	q, _ := bits.Div64(hi, lo, c)
	return min(q, b)
}
