package engine

import (
	"math/bits"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// A window cell packs one key's state for the window strategies into the
// 64-bit word that package shard hands out:
//
//	bit  63     Frozen (owned by package shard; always 0 here)
//	bits 62..40 epoch: the window number now/period, modulo 2^23
//	bits 39..20 prev:  cost counted in window epoch-1 (sliding window only)
//	bits 19..0  cur:   cost counted in window epoch
//
// The counts fit because limit.MaxCount is 2^20-1 and a denied request
// adds nothing. The zero cell is "nothing counted".
const (
	countBits = 20
	countMask = 1<<countBits - 1
	epochBits = 23
	epochMask = 1<<epochBits - 1
	// An epoch difference below half the epoch space is a step forward; at
	// or above it, a step backward (a caller whose clock reading is older
	// than the cell's). A key left untouched for 2^22 periods is read as
	// "backward", which only ever denies; the sweeper evicts idle keys long
	// before that.
	epochHalf = 1 << (epochBits - 1)
)

func pack(epoch, prev, cur uint64) uint64 {
	return (epoch&epochMask)<<(2*countBits) | prev<<countBits | cur
}

// window is one key's view of a window strategy at one instant.
type window struct {
	epoch uint64 // full epoch of now (or of the cell, when the clock is behind it)
	r     uint64 // nanoseconds since the window started
	prev  uint64
	cur   uint64
}

// load decodes cell v as seen at time now for a limit of period p (both in
// nanoseconds), rolling the counts forward when windows have passed.
func load(v uint64, now, p uint64) window {
	e, r := now/p, now%p
	ce := v >> (2 * countBits) & epochMask
	w := window{epoch: e, r: r}
	switch d := (e - ce) & epochMask; {
	case d == 0:
		w.prev, w.cur = v>>countBits&countMask, v&countMask
	case d == 1:
		w.prev = v & countMask
	case d >= epochHalf:
		// The clock is behind the cell. Judge as at the start of the cell's
		// window: the most conservative instant that the cell has seen, so
		// a clock that steps back never grants a fresh burst.
		w.epoch, w.r = e+(epochMask+1-d), 0
		w.prev, w.cur = v>>countBits&countMask, v&countMask
	}
	return w
}

func (w window) pack() uint64 { return pack(w.epoch, w.prev, w.cur) }

// fits reports whether cost n fits under limit cnt. Sliding window: the
// previous window's count weighs (p-r)/p, so the test is
//
//	prev·(p−r)/p + cur + n ≤ cnt   ⇔   prev·(p−r) ≤ (cnt−cur−n)·p
//
// evaluated in 128-bit integers: exact, no float drift.
func (w window) fits(sliding bool, n, cnt, p uint64) bool {
	if w.cur+n > cnt {
		return false
	}
	if !sliding || w.prev == 0 {
		return true
	}
	lh, ll := bits.Mul64(w.prev, p-w.r)
	rh, rl := bits.Mul64(cnt-w.cur-n, p)
	return lh < rh || lh == rh && ll <= rl
}

// weightedPrev returns ⌈prev·(p−r)/p⌉, the previous window's share of the
// current usage, rounded up so that Remaining never promises too much.
func (w window) weightedPrev(sliding bool, p uint64) uint64 {
	if !sliding || w.prev == 0 {
		return 0
	}
	hi, lo := bits.Mul64(w.prev, p-w.r)
	q, rem := bits.Div64(hi, lo, p) // hi < p because the quotient < prev
	if rem != 0 {
		q++
	}
	return q
}

// decide fills a Decision for cost n at this window state; allowed says
// whether n was (or would be) counted, already included in w.cur.
func (w window) decide(sliding, allowed bool, n uint64, l limit.Limit) limit.Decision {
	cnt, p := uint64(l.Count()), uint64(l.Period())
	d := limit.Decision{Allowed: allowed, Limit: l}
	if used := w.cur + w.weightedPrev(sliding, p); used < cnt {
		d.Remaining = int64(cnt - used)
	}
	switch {
	case w.cur > 0 && sliding:
		d.ResetAfter = time.Duration(2*p - w.r)
	case w.cur > 0 || w.prev > 0 && sliding:
		d.ResetAfter = time.Duration(p - w.r)
	}
	if !allowed {
		d.RetryAfter = w.retryAfter(sliding, n, cnt, p)
	}
	return d
}

// retryAfter returns the least wait after which cost n fits, given that
// it does not fit now.
func (w window) retryAfter(sliding bool, n, cnt, p uint64) time.Duration {
	if n > cnt {
		return limit.Never
	}
	if !sliding {
		return time.Duration(p - w.r)
	}
	if w.cur+n <= cnt {
		// Only the previous window's weight is in the way; it shrinks as r
		// grows. The first r' with prev·(p−r') ≤ (cnt−cur−n)·p is
		// p − ⌊(cnt−cur−n)·p / prev⌋.
		return time.Duration(p - floorDiv(cnt-w.cur-n, p, w.prev) - w.r)
	}
	// The current window is full: wait for the next one, where cur becomes
	// the previous count.
	return time.Duration(p - w.r + p - floorDiv(cnt-n, p, w.cur))
}

// floorDiv returns ⌊a·b/c⌋, capped at b (callers need no more). c > 0.
func floorDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return b
	}
	q, _ := bits.Div64(hi, lo, c)
	return min(q, b)
}

// refund takes back n units counted in window epoch e, whatever windows
// have passed since: if the cell has moved on by one window, the units now
// sit in prev; after that they no longer count.
func refund(v, e, n uint64) uint64 {
	ce := v >> (2 * countBits) & epochMask
	prev, cur := v>>countBits&countMask, v&countMask
	switch (ce - e) & epochMask {
	case 0:
		cur -= min(cur, n)
	case 1:
		prev -= min(prev, n)
	default:
		return v
	}
	return pack(ce, prev, cur)
}
