package engine

import "github.com/floodgate-go/floodgate/internal/decide"

// A window cell packs one key's state for the window strategies into the
// 64-bit word that package shard hands out:
//
//	bit  63     Frozen (owned by package shard; always 0 here)
//	bits 62..58 epoch: the window number now/period, modulo 2^5
//	bits 57..29 prev:  cost counted in window epoch-1 (sliding window only)
//	bits 28..0  cur:   cost counted in window epoch
//
// The counts fit because only limits with Count ≤ 2^29−1 use the cell
// (larger ones take the wide path, wide.go) and a denied request adds
// nothing. Five bits of epoch are enough because of two invariants
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
	idleAge      = 3 // windows; see Engine.sweepAt
	maxLag       = sweepBarrier + idleAge
	// A cell can also be up to sweepBarrier windows newer than a caller's
	// window: another caller moved hw on between this caller's load of hw
	// and its load of the cell. Differences at or above aheadGuard mean
	// that, and never age.
	aheadGuard = 1 << (epochBits - 1)
)

// The five epoch bits decode exactly only while a live cell's age stays
// below aheadGuard and a cell ahead of the caller stays within the top
// half of the epoch ring; these constants fail to compile (a negative
// uint) when a change of maxLag or sweepBarrier breaks that.
const (
	_ uint = aheadGuard - 1 - maxLag
	_ uint = epochMask + 1 - aheadGuard - sweepBarrier
)

func pack(epoch, prev, cur uint64) uint64 {
	return (epoch&epochMask)<<(2*countBits) | prev<<countBits | cur
}

func cellEpoch(v uint64) uint64 { return v >> (2 * countBits) & epochMask }

// window is one key's view of a window strategy at one instant: the
// window number it is judged in, and the counts and offset that package
// decide turns into a Decision.
type window struct {
	epoch uint64 // window number at which the request is judged
	decide.Window
}

// load decodes cell v as seen in window e at offset r, rolling the counts
// forward when windows have passed. clamp guarantees that e is at most
// maxLag windows newer than the cell's window, or at most sweepBarrier
// windows older; a cell newer than e is judged at the start of its own
// window, as clamp would have done had it loaded hw a moment later.
func load(v, e, r uint64) window {
	w := window{epoch: e, Window: decide.Window{R: r}}
	if v&(1<<(2*countBits)-1) == 0 {
		return w // nothing counted (a new cell, or refunded): its window is moot
	}
	switch d := (e - cellEpoch(v)) & epochMask; {
	case d == 0:
		w.Prev, w.Cur = v>>countBits&countMask, v&countMask
	case d == 1:
		w.Prev = v & countMask
	case d >= aheadGuard:
		w.epoch, w.R = e+(epochMask+1-d), 0
		w.Prev, w.Cur = v>>countBits&countMask, v&countMask
	}
	return w
}

// loadSame is load of a cell in window e itself, the common case, and
// reports whether v is one: the part of load that the hot path inlines.
func loadSame(v, e, r uint64) (window, bool) {
	return window{epoch: e, Window: decide.Window{R: r, Prev: v >> countBits & countMask, Cur: v & countMask}},
		v>>(2*countBits) == e&epochMask
}

func (w window) pack() uint64 { return pack(w.epoch, w.Prev, w.Cur) }

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
