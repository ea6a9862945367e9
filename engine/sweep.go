package engine

import (
	"time"
)

// Sweep evicts every (key, limit) pair whose windows have all expired, one
// shard at a time, and returns how many it evicted. The background sweeper
// calls it every sweep interval; call it directly to reclaim memory now.
func (e *Engine) Sweep() int { return e.SweepAt(e.clk.Now()) }

// SweepAt is Sweep at engine time now.
//
// A pair is idle when nothing it counted can affect a decision at now or
// during the following period: its newest count is at least two windows
// old for the fixed window, three for the sliding window. The extra
// period of slack keeps a request whose clock reading is a little older
// than the sweeper's from losing counts that still applied at its time.
func (e *Engine) SweepAt(now time.Duration) int {
	t := clampNow(now)
	age := uint64(2)
	if e.sliding {
		age = 3
	}
	removed := 0
	for _, lt := range *e.tables.Load() {
		cur := t / uint64(lt.l.Period())
		removed += lt.t.Sweep(func(v uint64) bool {
			d := (cur - v>>(2*countBits)) & epochMask
			return d >= age && d < epochHalf || v&(1<<(2*countBits)-1) == 0
		})
	}
	return removed
}

func (e *Engine) sweepLoop() {
	defer close(e.done)
	if e.every < 0 {
		<-e.stop
		return
	}
	tick := time.NewTicker(e.every)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
			e.Sweep()
		}
	}
}

// Close stops the sweeper and the engine's own clock, and waits for them
// to exit. The engine keeps answering afterwards, without eviction. Close
// is idempotent and always returns nil.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		if e.coarse != nil {
			e.coarse.Stop()
		}
	})
	return nil
}
