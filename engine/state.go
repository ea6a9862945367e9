package engine

import (
	"sync"
	"sync/atomic"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/internal/wide"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/shard"
)

// limitState is everything the engine keeps for one distinct Limit: its
// key table and the two window numbers that let a cell store its window
// in five bits.
type limitState struct {
	l      limit.Limit
	p      uint64           // period in nanoseconds
	cnt    uint64           // count
	burst  uint64           // GCRA bucket size
	ticks  decide.Ticks     // GCRA: converts nanoseconds and ticks
	wticks decide.WideTicks // GCRA on the wide path: the same, past 64 bits
	gcra   bool
	// casGCRA: a wide GCRA cell whose tat stays in its window is updated
	// by a compare-and-swap of its head, without the lock (wideGCRAAllow):
	// burst ≤ gcraLead·Count.
	casGCRA bool
	sliding bool // the sliding window, whose cells matter one window longer
	t       *shard.Table
	logs    *shard.Objects[movingLog] // moving window only; t is then unused
	// w holds the two-word cells of a limit whose count or burst does not
	// fit the one-word cell, or whose GCRA ticks would outgrow 64 bits
	// (wide.go); t is then unused.
	w *wide.Table

	// hw is the newest window any caller or sweep of this limit has used.
	// Readings in older windows are judged at the start of window hw, so no
	// cell is ever newer than hw. Written once per period. A GCRA limit
	// keeps no window in its cells; for it hw is only wideTick's memory
	// of the newest window.
	hw atomic.Uint64
	// swept is the window of the last completed sweep. clamp never lets hw
	// run more than sweepBarrier windows past it, so no live cell is more
	// than maxLag windows older than hw.
	swept   atomic.Uint64
	sweepMu sync.Mutex // one sweep of this limit at a time
}

// inWindow returns the window number and offset of a reading in window
// hw, the common case, and reports whether it is: the part of clamp that
// the hot path inlines (clamp does not fit the inlining budget). A
// reading before window hw makes the difference wrap past the period.
func (st *limitState) inWindow(now uint64) (e, r uint64, ok bool) {
	e = st.hw.Load()
	r = now - e*st.p
	return e, r, r < st.p
}

// wideTick is st.wticks.Tick(now), without its division by the period
// when now lies in window hw (the common case, which wideGCRAAllow
// inlines with inWindow). GCRA keeps no window in its cells, so for a
// GCRA limit hw only remembers the newest window a request has seen,
// moved forward once per period.
func (st *limitState) wideTick(now uint64) decide.WideTick {
	w, r, ok := st.inWindow(now)
	if ok {
		return st.wticks.TickIn(w, r)
	}
	k := st.wticks.Tick(now)
	if k.W > w {
		st.hw.CompareAndSwap(w, k.W) // lost to a newer window: as good
	}
	return k
}

// clamp returns the window number and the offset into it at which a
// reading now is judged: its own window, or the start of window hw when
// the reading is older (a goroutine that read the clock before another
// rolled the window, or a clock moved back). It moves hw forward when now
// is in a newer window, first sweeping in the foreground if the
// background sweeper has fallen sweepBarrier windows behind.
func (st *limitState) clamp(now uint64) (e, r uint64) {
	hw := st.hw.Load()
	start := hw * st.p
	switch {
	case now < start:
		return hw, 0
	case now-start < st.p:
		// The common case, without a division: now is in window hw.
		return hw, now - start
	}
	e = now / st.p
	if e > st.swept.Load()+sweepBarrier {
		st.sweep(now, false)
	}
	for {
		if st.hw.CompareAndSwap(hw, e) {
			return e, now % st.p
		}
		if hw = st.hw.Load(); hw >= e {
			if hw == e {
				return e, now % st.p
			}
			return hw, 0
		}
	}
}

// sweep evicts the cells of this limit that are idle at time now, records
// the sweep, and returns how many it evicted. A sweep that is not forced
// is skipped when another one already made now's window e safe. GCRA
// cells need none of the window bookkeeping.
//
// While sweepMu is held, swept cannot move, so clamp keeps hw (and so
// every cell written meanwhile) at most sweepBarrier windows past it, and
// the cells the previous sweep kept are at most age−1 windows before it
// (age: idleAge for the sliding window, 2 for the fixed window): every
// live cell's window lies in [swept−age+1, swept+sweepBarrier],
// fewer than 2^epochBits windows, and decodes exactly from five bits.
//
// One race is left, and it only ever errs towards denying: a caller that
// loaded hw just before a sweep far ahead of it (possible only with
// explicit times or a clock jump) may store an old window after the sweep
// passed; a later reader may then count that cell's units in a window
// that is a multiple of 32 newer.
func (st *limitState) sweep(now uint64, force bool) int {
	st.sweepMu.Lock()
	defer st.sweepMu.Unlock()
	if st.logs != nil {
		return st.logs.Sweep(func(lg *movingLog) bool { return st.movingIdle(lg, now) })
	}
	if st.gcra {
		var n int
		if st.w != nil {
			k := st.wticks.Tick(now)
			n = st.w.Sweep(func(f, w uint64) bool { return st.wideGCRAIdle(f, w, k) })
		} else {
			k := st.ticks.Tick(now)
			n = st.t.Sweep(func(v uint64) bool { return st.gcraIdle(v, k) })
		}
		st.swept.Store(max(st.swept.Load(), now/st.p)) // for the sweeper's schedule
		return n
	}
	e := now / st.p
	swept := st.swept.Load()
	if !force && e <= swept+sweepBarrier {
		return 0 // a concurrent foreground sweep got here first
	}
	if e < swept {
		return 0 // a reading older than the last sweep finds nothing new
	}
	age := uint64(idleAge)
	if !st.sliding {
		age = 2 // the fixed window needs no previous window
	}
	var n int
	if st.w != nil {
		n = st.sweepWide(swept, e, age)
	} else {
		n = st.sweepCells(swept, e, age)
	}
	st.swept.Store(e)
	// Writers from here on judge at window e or later, so the cells they
	// store lie within the range that the next sweep decodes.
	for hw := st.hw.Load(); hw < e && !st.hw.CompareAndSwap(hw, e); hw = st.hw.Load() {
	}
	return n
}

// sweepCells evicts the one-word cells idle at window e: those whose
// newest count is age or more windows old.
func (st *limitState) sweepCells(swept, e, age uint64) int {
	base := swept - (age - 1)
	return st.t.Sweep(func(v uint64) bool {
		if v&(1<<(2*countBits)-1) == 0 {
			return true // nothing counted
		}
		ce := base + (cellEpoch(v)-base)&epochMask
		return e >= ce+age
	})
}
