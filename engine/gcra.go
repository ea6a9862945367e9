package engine

import (
	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

// A GCRA cell is one number:
//
//	bit  63     Frozen (owned by package shard; always 0 here)
//	bits 62..0  tat: the theoretical arrival time, in ticks since the
//	            clock's origin; 0 (or any tat ≤ now) means a full bucket
//
// A tick is Period/Count, the time the bucket takes to refill one unit
// (see decide.Ticks, which converts ticks and nanoseconds).

// gcraAllow is the Allow hot path for GCRA: one tick computation, one
// load and one compare-and-swap.
func (e *Engine) gcraAllow(st *limitState, h, now uint64) bool {
	k := st.ticks.Tick(now)
	c := st.t.Find(h) // Find inlined, Get only when needed: see Engine.allow
	for {
		tat, ok := c.Load()
		if !ok {
			var err error
			if c, tat, err = st.t.Get(h); err != nil {
				e.full.Add(1)
				return false
			}
		}
		b := decide.Bucket{K: k, Base: max(tat, k)}
		if !b.Fits(1, st.burst) {
			return false
		}
		if c.CompareAndSwap(tat, b.Base+1) {
			return true
		}
	}
}

// gcraTake is take for GCRA; it also returns the tat it found, for
// refunds.
func (e *Engine) gcraTake(st *limitState, h, now uint64, n uint64, m mode) (limit.Decision, mark) {
	k := st.ticks.Tick(now)
	if m != commit && st.t.Find(h) == nil {
		b := decide.Bucket{K: k, Base: k} // an unknown key's bucket is full
		return b.Decide(m == peek && b.Fits(n, st.burst), n, now, st.burst, st.ticks, st.l), mark{}
	}
	for {
		c, tat, err := st.t.Get(h)
		if err != nil {
			e.full.Add(1)
			return limit.Decision{Limit: st.l, RetryAfter: st.l.Period()}, mark{}
		}
		b := decide.Bucket{K: k, Base: max(tat, k)}
		if m == look || !b.Fits(n, st.burst) {
			return b.Decide(false, n, now, st.burst, st.ticks, st.l), mark{a: tat}
		}
		if m == peek || c.CompareAndSwap(tat, b.Base+n) {
			return b.Decide(true, n, now, st.burst, st.ticks, st.l), mark{a: tat}
		}
	}
}

// gcraRefund gives back n units that a request counted at tick k on top
// of the tat it found (prev): the tat drops by n, and when nothing else is
// left on top of the request's base, max(prev, k), it returns to exactly
// prev. Refunds of concurrent requests commute: each takes off only its
// own n. A cell with less than n (reset or evicted since) is left alone.
func gcraRefund(tat, prev, k, n uint64) uint64 {
	switch {
	case tat < n:
		return tat
	case tat-n == max(prev, k):
		return prev
	}
	return tat - n
}

// gcraIdle reports whether a GCRA cell can be evicted at tick k: its
// bucket has been full for a whole period (Count ticks), so a request
// with a somewhat older clock reading finds it full too.
func (st *limitState) gcraIdle(tat, k uint64) bool {
	return tat+st.cnt <= k
}
