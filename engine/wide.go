package engine

import (
	"sync"
	"time"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

// wideCell is one key's state on the wide path: for a limit whose count
// (or GCRA burst) does not fit the 29-bit fields of a one-word cell, or
// whose GCRA ticks since the Unix epoch would outgrow 64 bits (more than
// one unit per nanosecond). The limit's state picks the path once, when
// it is created (Engine.addState), so a limit's keys all take one path
// and small limits keep the lock-free cell.
//
// The wide state is exact with plain 64-bit words because nothing is
// packed: the window strategies keep the full window number and both
// counts (each at most limit.MaxCount = 2^53−1), and GCRA keeps its tat as
// a decide.WideTick (a window number and the ticks into it). It lives in
// a shard.Objects table, capped by WithMaxKeys and shrunk by sweeps like
// every table, and is guarded by its own mutex: decisions on one key are
// serialized, decisions on different keys are not. Memory: a 16-byte slot
// plus the 64-byte cell per key.
type wideCell struct {
	mu   sync.Mutex
	dead bool // evicted or reset: callers must look the key up again

	// The window strategies: window epoch counted cur, and window epoch−1
	// counted prev (the fixed window keeps prev 0).
	epoch, prev, cur uint64
	// GCRA: the theoretical arrival time; the zero tick (or any tat ≤
	// now) is a full bucket.
	tat decide.WideTick
}

func newWideCell() *wideCell { return new(wideCell) }

// wideLock returns h's wide cell, locked. When h has none it creates one
// if create is set, and otherwise returns nil; err is non-nil when the
// table is at its cap.
func (st *limitState) wideLock(h uint64, create bool) (*wideCell, error) {
	for {
		c := st.objs.Load(h)
		if c == nil {
			if !create {
				return nil, nil
			}
			var err error
			if c, err = st.objs.LoadOrCreate(h, newWideCell); err != nil {
				return nil, err
			}
		}
		c.mu.Lock()
		if !c.dead {
			return c, nil
		}
		c.mu.Unlock() // removed since Load found it: look again
	}
}

// wideTake is take on the wide path.
func (e *Engine) wideTake(st *limitState, h, now, n uint64, m mode) (limit.Decision, mark) {
	if st.gcra {
		return e.wideGCRATake(st, h, now, n, m)
	}
	ep, r := st.clamp(now)
	ahead := time.Duration(ep*st.p + r - now) // see take
	c, err := st.wideLock(h, m == commit)
	if err != nil {
		e.full.Add(1)
		return limit.Decision{Limit: st.l, RetryAfter: st.l.Period()}, mark{}
	}
	if c == nil {
		// Unknown key: nothing counted. Do not insert on a peek.
		w := window{epoch: ep, Window: decide.Window{R: r}}
		fits := m == peek && w.Fits(e.sliding, n, st.cnt, st.p)
		if fits {
			w.Cur += n // a peek answers as if the request were counted
		}
		return decide.Later(w.Decide(e.sliding, fits, n, st.l), ahead), mark{a: ep}
	}
	defer c.mu.Unlock()
	w := c.window(ep, r, e.sliding)
	if m == look || !w.Fits(e.sliding, n, st.cnt, st.p) {
		return decide.Later(w.Decide(e.sliding, false, n, st.l), ahead), mark{a: w.epoch}
	}
	w.Cur += n
	if m == commit {
		c.epoch, c.prev, c.cur = w.epoch, w.Prev, w.Cur
	}
	return decide.Later(w.Decide(e.sliding, true, n, st.l), ahead), mark{a: w.epoch}
}

// window is load for a wide cell: its counts as seen in window e at
// offset r. Like load, it judges a cell newer than e (written by a caller
// that moved hw on after this one loaded it) at the start of the cell's
// own window.
func (c *wideCell) window(e, r uint64, sliding bool) window {
	w := window{epoch: e, Window: decide.Window{R: r}}
	if c.prev == 0 && c.cur == 0 {
		return w // nothing counted: its window is moot
	}
	switch {
	case c.epoch == e:
		w.Prev, w.Cur = c.prev, c.cur
	case c.epoch+1 == e:
		w.Prev = c.cur
	case c.epoch > e:
		w.epoch, w.R = c.epoch, 0
		w.Prev, w.Cur = c.prev, c.cur
	}
	if !sliding {
		w.Prev = 0 // the fixed window ignores the previous window
	}
	return w
}

// windowIdle reports whether a wide window cell can be evicted in window
// e: nothing counted, or its newest count is age or more windows old. It
// marks the cell dead if so.
func (c *wideCell) windowIdle(e, age uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prev == 0 && c.cur == 0 || e >= c.epoch+age {
		c.dead = true
	}
	return c.dead
}

// wideGCRATake is gcraTake on the wide path: the same decision in wide
// ticks (decide.WideBucket), under the cell's lock. The mark is the tat
// the request found, for refunds.
func (e *Engine) wideGCRATake(st *limitState, h, now, n uint64, m mode) (limit.Decision, mark) {
	k := st.wticks.Tick(now)
	c, err := st.wideLock(h, m == commit)
	if err != nil {
		e.full.Add(1)
		return limit.Decision{Limit: st.l, RetryAfter: st.l.Period()}, mark{}
	}
	if c == nil {
		b := decide.WideBucket{K: k, Base: k} // an unknown key's bucket is full
		return b.Decide(m == peek && b.Fits(st.wticks, n, st.burst), n, now, st.burst, st.wticks, st.l), mark{}
	}
	defer c.mu.Unlock()
	prev := c.tat
	b := decide.WideBucket{K: k, Base: maxTick(prev, k)}
	mk := mark{a: prev.W, b: prev.F}
	if m == look || !b.Fits(st.wticks, n, st.burst) {
		return b.Decide(false, n, now, st.burst, st.wticks, st.l), mk
	}
	if m == commit {
		c.tat = st.wticks.Add(b.Base, n)
	}
	return b.Decide(true, n, now, st.burst, st.wticks, st.l), mk
}

func maxTick(x, y decide.WideTick) decide.WideTick {
	if x.Less(y) {
		return y
	}
	return x
}

// wideGCRAIdle is gcraIdle for a wide cell: its bucket has been full for
// a whole period (tat + Count ≤ k). It marks the cell dead if so.
func (st *limitState) wideGCRAIdle(c *wideCell, k decide.WideTick) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !k.Less(st.wticks.Add(c.tat, st.cnt)) {
		c.dead = true
	}
	return c.dead
}

// wideRefund gives back n units that take counted at time now where mk
// says: in window mk.a for the window strategies (as refund does for a
// one-word cell), on top of the tat {mk.a, mk.b} for GCRA (as gcraRefund
// does).
func (st *limitState) wideRefund(h, n uint64, mk mark, now uint64) {
	c, _ := st.wideLock(h, false)
	if c == nil {
		return // evicted or reset: nothing of ours is left
	}
	defer c.mu.Unlock()
	if !st.gcra {
		switch {
		case c.epoch == mk.a:
			c.cur -= min(c.cur, n)
		case c.epoch == mk.a+1:
			c.prev -= min(c.prev, n)
		}
		return
	}
	tk := st.wticks
	if tk.Diff(c.tat, decide.WideTick{}) < n {
		return // less than n: reset or evicted since
	}
	prev := decide.WideTick{W: mk.a, F: mk.b}
	next := tk.Sub(c.tat, n)
	if next == maxTick(prev, tk.Tick(now)) {
		next = prev // nothing but our own units sat on our base
	}
	c.tat = next
}

// wideRefundNewest is Refund on the wide path: the window strategies take
// n off the current window's count, GCRA moves the tat back by n ticks,
// never below zero.
func (st *limitState) wideRefundNewest(h, n, now uint64) {
	if !st.gcra {
		ep, _ := st.clamp(now)
		st.wideRefund(h, n, mark{a: ep}, now)
		return
	}
	c, _ := st.wideLock(h, false)
	if c == nil {
		return
	}
	c.tat = st.wticks.Sub(c.tat, n)
	c.mu.Unlock()
}

// wideReset forgets the wide cell of h.
func (st *limitState) wideReset(h uint64) {
	if c := st.objs.Load(h); c != nil {
		c.mu.Lock()
		c.dead = true
		c.mu.Unlock()
		st.objs.Delete(h)
	}
}
