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
//	bits 62..58 epoch: the window number now/period, modulo 2^5
//	bits 57..29 prev:  cost counted in window epoch-1 (sliding window only)
//	bits 28..0  cur:   cost counted in window epoch
//
// The counts fit because limit.MaxCount is 2^29-1 and a denied request
// adds nothing. Five bits of epoch are enough because of two invariants
// that limitState keeps (see clamp and sweep): a cell's window is never
// newer than the limit's high-water window hw, and never more than
// maxLag windows older than hw, because cells that old are evicted first.
// The zero cell is "nothing counted".
const (
	countBits = 29
	countMask = 1<<countBits - 1
	epochBits = 5
	epochMask = 1<<epochBits - 1
	// maxLag bounds hw − (a live cell's window): the sweeper evicts cells
	// idleAge windows old, and clamp sweeps in the foreground before hw
	// may run more than sweepBarrier windows past the last sweep.
	sweepBarrier = 10
	idleAge      = 3 // windows; see Engine.SweepAt
	maxLag       = sweepBarrier + idleAge
	// A cell can also be up to sweepBarrier windows newer than a caller's
	// window: another caller moved hw on between this caller's load of hw
	// and its load of the cell. Differences at or above aheadGuard mean
	// that, and never age.
	aheadGuard = 1 << (epochBits - 1)
)

func pack(epoch, prev, cur uint64) uint64 {
	return (epoch&epochMask)<<(2*countBits) | prev<<countBits | cur
}

func cellEpoch(v uint64) uint64 { return v >> (2 * countBits) & epochMask }

// window is one key's view of a window strategy at one instant.
type window struct {
	epoch uint64 // window number at which the request is judged
	r     uint64 // nanoseconds into that window
	prev  uint64
	cur   uint64
}

// load decodes cell v as seen in window e at offset r, rolling the counts
// forward when windows have passed. clamp guarantees that e is at most
// maxLag windows newer than the cell's window, or at most sweepBarrier
// windows older; a cell newer than e is judged at the start of its own
// window, as clamp would have done had it loaded hw a moment later.
func load(v, e, r uint64) window {
	w := window{epoch: e, r: r}
	if v&(1<<(2*countBits)-1) == 0 {
		return w // nothing counted (a new cell, or refunded): its window is moot
	}
	switch d := (e - cellEpoch(v)) & epochMask; {
	case d == 0:
		w.prev, w.cur = v>>countBits&countMask, v&countMask
	case d == 1:
		w.prev = v & countMask
	case d >= aheadGuard:
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
	ce := cellEpoch(v)
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
