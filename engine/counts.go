package engine

import (
	"runtime"
	"time"

	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/shard"
)

// The two halves of a counter that decides elsewhere, such as
// github.com/go-chi/httprate's LimitCounter (adapters/httprate), reached
// through internal/engineinternal: users judge requests with Allow,
// AllowN and Peek instead.

// countsAt returns the units counted for key under l in window ⌊now/P⌋
// (cur) and in the window before it (prev), where P is l's period
// (windows start at multiples of P since the Unix epoch): the two
// numbers a sliding-window cell holds. It counts nothing, takes
// no lock on a known key and does not allocate. A window of which the
// key's cell no longer holds the count (a cell remembers its newest
// window and the one before; the fixed window only its newest) reads 0,
// as does a key never counted or evicted. GCRA and moving-window engines
// keep no window counts: they return 0, 0, and so does a limit whose
// count exceeds the one-word cell (536,870,911: the wide path keeps
// its counts elsewhere). Like every call, a reading in
// a window newer than any seen before moves the limit's newest window
// forward.
func (e *Engine) countsAt(now time.Duration, key string, l limit.Limit) (cur, prev int64) {
	st := e.state(l)
	if st == nil || e.gcra || st.logs != nil || st.w != nil {
		return 0, 0
	}
	t := clampNow(now)
	// clamp keeps every live cell within the range that its five epoch
	// bits decode from hw (sweeping in the foreground if the sweeper has
	// fallen behind), exactly as for a request.
	hw, _ := st.clamp(t)
	want := t / st.p
	h := shard.Hash(key)
	var v uint64
	for spins := 0; ; spins++ {
		c := st.t.Find(h)
		if c == nil {
			return 0, 0
		}
		var ok bool
		if v, ok = c.Load(); ok {
			break
		}
		// Retired: moved by a rebuild (found again at once) or evicted.
		backoff(spins)
	}
	if v&(1<<(2*countBits)-1) == 0 {
		return 0, 0
	}
	ce := cellWindow(v, hw)
	c, p := int64(v&countMask), int64(v>>countBits&countMask)
	switch ce {
	case want:
		return c, p
	case want + 1:
		return p, 0
	case want - 1:
		return 0, c
	}
	return 0, 0
}

// cellWindow returns the window number of cell v, decoded from its five
// epoch bits relative to the high-water window hw: at most maxLag
// windows older than hw, or (written by a caller that moved hw on since
// it was read) fewer than aheadGuard windows newer.
func cellWindow(v, hw uint64) uint64 {
	d := (hw - cellEpoch(v)) & epochMask
	if d >= aheadGuard {
		return hw + (epochMask + 1 - d)
	}
	return hw - d
}

// addAt counts n units of key under l at engine time now, whether or not
// they fit, and reports whether it counted them (httprate's LimitCounter
// decides, then increments): n is counted in the window containing now,
// or, for a reading older than the newest window the limit has seen, in
// that newest window, as a request would be. The window's count saturates
// at 536,870,911, the one-word cell's field. It reports false, counting
// nothing, for n < 1, a zero Limit, a limit whose count exceeds that
// field, a GCRA or moving-window engine, or a new key when the
// limit's table is at its cap (see WithMaxKeys; Full counts it). A known
// key costs one compare-and-swap and no allocation.
func (e *Engine) addAt(now time.Duration, key string, n int64, l limit.Limit) bool {
	st := e.state(l)
	if st == nil || n < 1 || e.gcra || st.logs != nil || st.w != nil {
		return false
	}
	ep, r := st.clamp(clampNow(now))
	h := shard.Hash(key)
	c := st.t.Find(h)
	for {
		v, ok := c.Load()
		if !ok {
			var err error
			if c, v, err = st.t.Get(h); err != nil {
				e.full.Add(1)
				return false
			}
		}
		w := e.load(v, ep, r)
		w.Cur = min(w.Cur+min(uint64(n), countMask), countMask)
		if c.CompareAndSwap(v, w.pack()) {
			if e.snap != nil {
				e.snap.note(h, key)
			}
			return true
		}
	}
}

// backoff yields the processor now and then while a cell is retired: a
// rebuild that was preempted needs it to finish.
func backoff(spins int) {
	if spins%16 == 15 {
		runtime.Gosched()
	}
}
