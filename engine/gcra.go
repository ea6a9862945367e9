package engine

import (
	"math"
	"math/bits"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// A GCRA cell is one number:
//
//	bit  63     Frozen (owned by package shard; always 0 here)
//	bits 62..0  tat: the theoretical arrival time, in ticks since the
//	            clock's origin; 0 (or any tat ≤ now) means a full bucket
//
// A tick is Period/Count, the time the bucket takes to refill one unit.
// Counting in ticks keeps the arithmetic exact when Count does not divide
// Period: tick(now) = ⌊now·Count/Period⌋, and tick k begins at
// ⌈k·Period/Count⌉ nanoseconds.

// tick returns ⌊now·L/P⌋.
func (st *limitState) tick(now uint64) uint64 {
	if st.tickNs != 0 {
		return now / st.tickNs
	}
	hi, lo := bits.Mul64(now, st.cnt)
	q, _ := bits.Div64(hi, lo, st.p) // hi < p: the quotient fits, now < 2^63
	return q
}

// at returns ⌈k·P/L⌉, the nanosecond at which tick k begins.
func (st *limitState) at(k uint64) uint64 {
	if st.tickNs != 0 {
		if hi, lo := bits.Mul64(k, st.tickNs); hi == 0 {
			return lo
		}
		return math.MaxUint64
	}
	hi, lo := bits.Mul64(k, st.p)
	if hi >= st.cnt {
		return math.MaxUint64 // beyond 2^64 ns: saturate (see until)
	}
	q, r := bits.Div64(hi, lo, st.cnt)
	if r != 0 {
		q++
	}
	return q
}

// until returns the wait from now to instant a, capped at limit.Never for
// instants beyond what a time.Duration holds (a large burst on a long
// period).
func until(a, now uint64) time.Duration {
	if a <= now {
		return 0
	}
	return time.Duration(min(a-now, math.MaxInt64))
}

// gcraAllow is the Allow hot path for GCRA: one tick computation, one
// load and one compare-and-swap.
func (e *Engine) gcraAllow(st *limitState, h, now uint64) bool {
	k := st.tick(now)
	c := st.t.Find(h)
	for {
		if c == nil {
			var err error
			if c, err = st.t.FindOrInsert(h); err != nil {
				e.full.Add(1)
				return false
			}
		}
		tat := c.Load()
		if tat&frozen != 0 {
			c = nil
			continue
		}
		next := max(tat, k) + 1
		if next > k+st.burst {
			return false
		}
		if c.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// gcraDecide fills the Decision for cost n at tick k given the stored tat;
// counted says whether the request's n units were added, or would be for
// a peek (false for a denial).
func (st *limitState) gcraDecide(allowed, counted bool, tat, k, n, now uint64) limit.Decision {
	d := limit.Decision{Allowed: allowed, Limit: st.l}
	base := max(tat, k)
	last := base // the tat that remains
	if counted {
		last += n
	}
	if room := k + st.burst; room > last {
		d.Remaining = int64(room - last)
	}
	if last > k {
		d.ResetAfter = until(st.at(last), now)
	}
	if !allowed {
		if n > st.burst {
			d.RetryAfter = limit.Never
		} else {
			// Conforms once tick(now') ≥ base + n − burst.
			d.RetryAfter = until(st.at(base+n-st.burst), now)
		}
	}
	return d
}

// gcraTake is take for GCRA; it also returns the tat it found, for
// refunds.
func (e *Engine) gcraTake(st *limitState, h, now uint64, n uint64, commit bool) (limit.Decision, uint64) {
	k := st.tick(now)
	c := st.t.Find(h)
	if c == nil && !commit {
		fits := n <= st.burst
		return st.gcraDecide(fits, fits, 0, k, n, now), 0
	}
	for {
		if c == nil {
			var err error
			if c, err = st.t.FindOrInsert(h); err != nil {
				e.full.Add(1)
				return limit.Decision{Limit: st.l, RetryAfter: st.l.Period()}, 0
			}
		}
		tat := c.Load()
		if tat&frozen != 0 {
			c = nil
			continue
		}
		base := max(tat, k)
		if base+n > k+st.burst {
			return st.gcraDecide(false, false, tat, k, n, now), tat
		}
		if !commit || c.CompareAndSwap(tat, base+n) {
			return st.gcraDecide(true, true, tat, k, n, now), tat
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
