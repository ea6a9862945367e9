package engine

import (
	"time"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

// The wide path keeps the state of a limit whose count (or GCRA burst)
// does not fit the 29-bit fields of a one-word cell, or whose GCRA ticks
// since the Unix epoch would outgrow 64 bits (more than one unit per
// nanosecond), in a wide.Table (internal/wide): a two-word cell in each
// 24-byte slot, updated under the cell's own lock bit (one
// compare-and-swap to take it, one store to publish the new words and
// release it). An Allow that keeps the tail as it is takes no lock: a
// snapshot of both words and one compare-and-swap of the head. For the
// window strategies that is every one but a window's first (wideAllow);
// for GCRA, with a burst of at most gcraLead periods, every one whose tat
// stays in its window (wideGCRAAllow). The limit's state picks the
// path once, when it is created (Engine.addState), so a limit's keys all
// take one path and small limits keep the lock-free one-word cell.
// Nothing is allocated per key.
//
// A wide window cell packs the same state as a one-word cell with 53-bit
// counts (limit.MaxCount = 2^53−1):
//
//	head bits 63..62  locked, retired (owned by package shard)
//	head bits 61..58  0
//	head bits 57..53  epoch: the window number now/period, modulo 2^5
//	head bits 52..0   cur:  cost counted in window epoch
//	tail bits 52..0   prev: cost counted in window epoch−1 (sliding only)
//
// The five epoch bits decode exactly under the invariants of the one-word
// cell (window.go): the limit's hw and its sweeps bound a live cell's
// age, whichever path the limit takes.
//
// A wide GCRA cell holds its tat as a decide.WideTick, exactly:
//
//	head bits 61..53  gen: W modulo 2^9
//	head bits 52..0   F: ticks into window W (< Count ≤ 2^53−1)
//	tail              W: the window number of the tat
//
// The zero cell is nothing counted, and tick 0 (a full bucket). gen lets
// a request whose tat stays in window W swap the head alone, without the
// lock (wideGCRAAllow explains why that is safe).
const (
	wideCountBits = 53
	wideCountMask = 1<<wideCountBits - 1
	gcraGenBits   = 62 - wideCountBits // the head's bits above F
	gcraGenMask   = 1<<gcraGenBits - 1
	// gcraLead is the most whole periods by which a tat may run ahead of
	// the current tick (⌊burst/Count⌋) for GCRA to take the lock-free
	// path: below half the gen ring, so that a head seen again with the
	// same gen is never the same head a whole ring later (wideGCRAAllow).
	gcraLead = 1<<(gcraGenBits-1) - 1
)

// packGCRA returns the words of a wide GCRA cell holding tat.
func packGCRA(tat decide.WideTick) (head, tail uint64) {
	return (tat.W&gcraGenMask)<<wideCountBits | tat.F, tat.W
}

// unpackGCRA returns the tat a wide GCRA cell's words hold.
func unpackGCRA(head, tail uint64) decide.WideTick {
	return decide.WideTick{W: tail, F: head & wideCountMask}
}

// loadWide is load for a wide window cell: its counts as seen in window
// e at offset r.
func loadWide(head, tail, e, r uint64) window {
	w := window{epoch: e, Window: decide.Window{R: r}}
	cur := head & wideCountMask
	if cur == 0 && tail == 0 {
		return w // nothing counted: its window is moot
	}
	switch d := (e - head>>wideCountBits) & epochMask; {
	case d == 0:
		w.Prev, w.Cur = tail, cur
	case d == 1:
		w.Prev = cur
	case d >= aheadGuard:
		w.epoch, w.R = e+(epochMask+1-d), 0
		w.Prev, w.Cur = tail, cur
	}
	return w
}

// loadWideSame is loadWide of a cell in window e itself, and reports
// whether it is one: the inlinable common case (see loadSame).
func loadWideSame(head, tail, e, r uint64) (window, bool) {
	return window{epoch: e, Window: decide.Window{R: r, Prev: tail, Cur: head & wideCountMask}},
		head>>wideCountBits == e&epochMask
}

// packWide returns the wide cell's words for w.
func (w window) packWide() (head, tail uint64) {
	return (w.epoch&epochMask)<<wideCountBits | w.Cur, w.Prev
}

// loadWide decodes a wide cell for this engine's strategy.
func (e *Engine) loadWide(head, tail, ep, r uint64) window {
	w := loadWide(head, tail, ep, r)
	if !e.sliding {
		w.Prev = 0 // the fixed window ignores the previous window
	}
	return w
}

// wideAllow is Allow on the wide path for the window strategies: the
// loop of Engine.allow with the cell's lock in place of its
// compare-and-swap where the tail changes.
func (e *Engine) wideAllow(st *limitState, h, now uint64) bool {
	ep, r, ok := st.inWindow(now) // clamp's common case, inlined (see allow)
	if !ok {
		ep, r = st.clamp(now)
	}
	c := st.w.Find(h)
	// The common case takes no lock: a snapshot of the two words, and,
	// when the request keeps the tail (prev) as it is, one
	// compare-and-swap of the head, as a one-word cell's update; a deny
	// writes nothing. The swap also succeeds after a holder changed only
	// the tail in between, which only a refund of the previous window
	// does: it lowers prev, and a request allowed with the higher prev is
	// allowed with the lower one, so the outcome is that of the request
	// after the refund.
	for {
		head, tail, ok := c.Read()
		if !ok {
			break
		}
		w, same := loadWideSame(head, tail, ep, r)
		if !same {
			break // a cell of another window: the locked path rolls it
		}
		if !e.sliding {
			w.Prev = 0 // the fixed window ignores the previous window
		}
		if !w.Fits(e.sliding, 1, st.cnt, st.p) {
			return false
		}
		if c.CompareAndSwapHead(head, head+1) { // cur+1, in window ep
			return true
		}
	}
	for {
		head, tail, ok := c.TryLock() // Lock's free case, inlined
		if !ok {
			head, tail, ok = c.Lock()
		}
		if !ok {
			// Unknown, or retired by a rebuild or an eviction: look again
			// (inserting), then lock the cell found.
			var err error
			if c, err = st.w.Get(h); err != nil {
				e.full.Add(1)
				return false
			}
			continue
		}
		w, same := loadWideSame(head, tail, ep, r)
		if !same {
			w = loadWide(head, tail, ep, r)
		}
		if !e.sliding {
			w.Prev = 0 // the fixed window ignores the previous window
		}
		if !w.Fits(e.sliding, 1, st.cnt, st.p) {
			c.Unlock(head, tail)
			return false
		}
		w.Cur++
		c.Unlock(w.packWide())
		return true
	}
}

// wideGCRAAllow is gcraAllow on the wide path.
func (e *Engine) wideGCRAAllow(st *limitState, h, now uint64) bool {
	var k decide.WideTick
	if w, r, ok := st.inWindow(now); ok { // wideTick's common case, inlined
		k = st.wticks.TickIn(w, r)
	} else {
		k = st.wideTick(now)
	}
	c := st.w.Find(h)
	// The common case takes no lock, as the window strategies' (wideAllow):
	// a snapshot of the two words (Read: head, tail, head again), a deny
	// writing nothing, and, when the new tat stays in the tat's window W
	// (the tail), one compare-and-swap of the head: gen and F+1 for F.
	// A tat that leaves W (the first request of a window on a full bucket,
	// or a bucket drawn down past a window boundary) moves the tail, under
	// the lock below.
	//
	// Why the head alone suffices. Go's atomics are sequentially
	// consistent. Every write of the tail is made under the lock, between
	// a compare-and-swap that sets the head's lock bit and the store that
	// publishes the new head after the tail (Cell.Unlock), so the swap
	// below, which expects the snapshot's unlocked head, fails while a
	// writer holds the cell, and a Read whose two loads of the head agree
	// returns a head and a tail that the cell held together. The swap can
	// then succeed on a changed cell only if the head came back to the
	// same gen and F with a different tail: a tat exactly j ≠ 0 gen rings
	// (j·2^9 windows) away from the snapshot's tat T, T ≥ k − Count (its
	// window w is k's or later) and T < k + burst (it fitted).
	//   - j > 0: a tat grows only by an allowed request, to at most that
	//     request's tick plus burst, and burst ≤ gcraLead·Count (casGCRA),
	//     so some request whose reading is more than 2^9 − 1 − gcraLead =
	//     256 periods after this one's k wrote the cell between this
	//     caller's snapshot and its swap. The engine's clock is monotonic:
	//     that takes a caller stalled for 256 periods (256 ms at the
	//     shortest period) between its clock reading and its swap, with
	//     writes landing on the same F. The wide window cells' lock-free
	//     swap (wideAllow) rests on the same kind of bound with 32
	//     windows: its head's five epoch bits.
	//   - j < 0: only refunds (and a snapshot's restore) lower a tat,
	//     here to more than 256 periods before k: a full bucket for every
	//     request whose reading is within 256 periods of k. The swap
	//     leaves it a full bucket one tick later, the result of this
	//     request decided at its snapshot, before those refunds.
	// A retired cell's head carries its frozen bit forever, so a swap on
	// a cell that a rebuild moved or a sweep evicted fails, and the
	// locked path below finds the key again.
fast:
	for st.casGCRA {
		head, w, ok := c.Read()
		if !ok {
			break
		}
		f := head & wideCountMask
		var base uint64 // max(tat, k), ticks into window w
		switch {
		case w == k.W: // both in one window: over = base − k.F
			base = max(f, k.F)
			if base-k.F >= st.burst {
				return false // over + 1 > burst
			}
		case w > k.W: // a tat windows ahead of k
			if !(decide.WideBucket{K: k, Base: decide.WideTick{W: w, F: f}}).Fits(st.wticks, 1, st.burst) {
				return false
			}
			base = f
		default: // a tat in a window before k's: the new tat k+1 is not in w
			break fast
		}
		if base+1 == st.cnt {
			break // the new tat starts window w+1: the tail moves, under the lock
		}
		if c.CompareAndSwapHead(head, head-f+base+1) { // gen kept, F = base+1
			return true
		}
	}
	for {
		head, w, ok := c.TryLock() // Lock's free case, inlined
		if !ok {
			head, w, ok = c.Lock()
		}
		if !ok {
			var err error
			if c, err = st.w.Get(h); err != nil {
				e.full.Add(1)
				return false
			}
			continue
		}
		b := decide.WideBucket{K: k, Base: maxTick(unpackGCRA(head, w), k)}
		if !b.Fits(st.wticks, 1, st.burst) {
			c.Unlock(head, w)
			return false
		}
		c.Unlock(packGCRA(st.wticks.Add(b.Base, 1)))
		return true
	}
}

// wideTake is take on the wide path.
func (e *Engine) wideTake(st *limitState, h, now, n uint64, m mode) (limit.Decision, mark) {
	if st.gcra {
		return e.wideGCRATake(st, h, now, n, m)
	}
	ep, r := st.clamp(now)
	ahead := time.Duration(ep*st.p + r - now) // see take
	c := st.w.Find(h)
	if m != commit && c == nil {
		// Unknown key: nothing counted. Do not insert on a peek.
		w := window{epoch: ep, Window: decide.Window{R: r}}
		fits := m == peek && w.Fits(e.sliding, n, st.cnt, st.p)
		if fits {
			w.Cur += n // a peek answers as if the request were counted
		}
		return decide.Later(w.Decide(e.sliding, fits, n, st.l), ahead), mark{a: ep}
	}
	for {
		head, tail, ok := c.Lock()
		if !ok {
			var err error
			if c, err = st.w.Get(h); err != nil {
				e.full.Add(1)
				return limit.Decision{Limit: st.l, RetryAfter: st.l.Period()}, mark{}
			}
			continue
		}
		w := e.loadWide(head, tail, ep, r)
		if m == look || !w.Fits(e.sliding, n, st.cnt, st.p) {
			c.Unlock(head, tail)
			return decide.Later(w.Decide(e.sliding, false, n, st.l), ahead), mark{a: w.epoch}
		}
		w.Cur += n
		if m == commit {
			c.Unlock(w.packWide())
		} else {
			c.Unlock(head, tail)
		}
		return decide.Later(w.Decide(e.sliding, true, n, st.l), ahead), mark{a: w.epoch}
	}
}

// wideGCRATake is gcraTake on the wide path: the same decision in wide
// ticks (decide.WideBucket). The mark is the tat the request found, for
// refunds.
func (e *Engine) wideGCRATake(st *limitState, h, now, n uint64, m mode) (limit.Decision, mark) {
	k := st.wideTick(now)
	c := st.w.Find(h)
	if m != commit && c == nil {
		b := decide.WideBucket{K: k, Base: k} // an unknown key's bucket is full
		return b.Decide(m == peek && b.Fits(st.wticks, n, st.burst), n, now, st.burst, st.wticks, st.l), mark{}
	}
	for {
		head, w, ok := c.Lock()
		if !ok {
			var err error
			if c, err = st.w.Get(h); err != nil {
				e.full.Add(1)
				return limit.Decision{Limit: st.l, RetryAfter: st.l.Period()}, mark{}
			}
			continue
		}
		prev := unpackGCRA(head, w)
		b := decide.WideBucket{K: k, Base: maxTick(prev, k)}
		mk := mark{a: prev.W, b: prev.F}
		if m == look || !b.Fits(st.wticks, n, st.burst) {
			c.Unlock(head, w)
			return b.Decide(false, n, now, st.burst, st.wticks, st.l), mk
		}
		if m == commit {
			c.Unlock(packGCRA(st.wticks.Add(b.Base, n)))
		} else {
			c.Unlock(head, w)
		}
		return b.Decide(true, n, now, st.burst, st.wticks, st.l), mk
	}
}

func maxTick(x, y decide.WideTick) decide.WideTick {
	if x.Less(y) {
		return y
	}
	return x
}

// wideGCRAIdle is gcraIdle for a wide cell: its bucket has been full for
// a whole period (tat + Count ≤ k).
func (st *limitState) wideGCRAIdle(head, tail uint64, k decide.WideTick) bool {
	return !k.Less(st.wticks.Add(unpackGCRA(head, tail), st.cnt))
}

// sweepWide is sweepCells for wide window cells: it evicts those whose
// newest count is age or more windows old at window e.
func (st *limitState) sweepWide(swept, e, age uint64) int {
	base := swept - (age - 1)
	return st.w.Sweep(func(head, tail uint64) bool {
		if head&wideCountMask == 0 && tail == 0 {
			return true // nothing counted
		}
		ce := base + (head>>wideCountBits-base)&epochMask
		return e >= ce+age
	})
}

// wideRefund gives back n units that take counted at time now where mk
// says: in window mk.a for the window strategies (as refund does for a
// one-word cell), on top of the tat {mk.a, mk.b} for GCRA (as gcraRefund
// does).
func (st *limitState) wideRefund(h, n uint64, mk mark, now uint64) {
	var k decide.WideTick
	if st.gcra {
		k = st.wticks.Tick(now)
	}
	st.wideUpdate(h, func(head, tail uint64) (uint64, uint64) {
		if !st.gcra {
			ce := head >> wideCountBits & epochMask
			prev, cur := tail, head&wideCountMask
			switch (ce - mk.a) & epochMask {
			case 0:
				cur -= min(cur, n)
			case 1:
				prev -= min(prev, n)
			}
			return ce<<wideCountBits | cur, prev
		}
		tk := st.wticks
		tat := unpackGCRA(head, tail)
		if tk.Diff(tat, decide.WideTick{}) < n {
			return head, tail // less than n: reset or evicted since
		}
		prev := decide.WideTick{W: mk.a, F: mk.b}
		next := tk.Sub(tat, n)
		if next == maxTick(prev, k) {
			next = prev // nothing but our own units sat on our base
		}
		return packGCRA(next)
	})
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
	st.wideUpdate(h, func(head, tail uint64) (uint64, uint64) {
		return packGCRA(st.wticks.Sub(unpackGCRA(head, tail), n))
	})
}

// wideUpdate replaces the words of h's wide cell with f's result, under
// the cell's lock; it does nothing when h has no cell (evicted or reset:
// nothing of a caller's is left). A cell retired since is found again; a
// fresh one holds nothing, which f leaves as it is.
func (st *limitState) wideUpdate(h uint64, f func(head, tail uint64) (uint64, uint64)) {
	c := st.w.Find(h)
	if c == nil {
		return
	}
	for {
		head, tail, ok := c.Lock()
		if ok {
			c.Unlock(f(head, tail))
			return
		}
		var err error
		if c, err = st.w.Get(h); err != nil {
			return
		}
	}
}
