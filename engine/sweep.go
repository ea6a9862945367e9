package engine

import (
	"time"
)

// sweepAt evicts every (key, limit) pair that is idle at engine time now,
// one shard at a time, and returns how many it evicted; the background
// sweeper does the same at its clock readings.
//
// A pair is idle when nothing it counted can affect a decision at now or
// during the following period: its newest count is at least three windows
// old for the sliding window, two for the fixed window; GCRA buckets full
// for a whole period and moving-window logs whose newest entry is two
// periods old. The spare window keeps a request whose clock reading is a
// little older than the sweeper's from losing counts that still applied
// at its time. For the window strategies evicting never changes an
// answer; for GCRA and the moving window it never changes the answer to
// a reading at most one period older than now, while an older reading
// (a clock stepped far back) may find the key fresh.
func (e *Engine) sweepAt(now time.Duration) int {
	t := clampNow(now)
	removed := 0
	for _, st := range *e.tables.Load() {
		removed += st.sweep(t, true)
	}
	e.evicted.Add(uint64(removed))
	return removed
}

// sweepLoop is the background sweeper. It wakes at most every 2 s (or the
// sweep interval, if shorter) and sweeps each limit whose last sweep is a
// whole interval old, or sweepBarrier/2 windows old, so that short limits
// are swept before clamp would have to sweep in the foreground.
func (e *Engine) sweepLoop() {
	defer close(e.done)
	if e.every < 0 {
		<-e.stop
		return
	}
	tick := time.NewTicker(min(e.every, 2*time.Second))
	defer tick.Stop()
	last := e.clk.Now()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		now := e.clk.Now()
		all := now-last >= e.every
		if all {
			last = now
		}
		t := clampNow(now)
		for _, st := range *e.tables.Load() {
			if all || t/st.p >= st.swept.Load()+sweepBarrier/2 {
				e.evicted.Add(uint64(st.sweep(t, true)))
			}
		}
	}
}

// Close stops the sweeper and the engine's own clock, and waits for them
// to exit; with WithSnapshot it then writes the snapshot one last time
// and returns that write's error. The engine keeps answering afterwards,
// but idle keys are then evicted only from limits of the window
// strategies, when their windows run far ahead of the last sweep (a
// request then sweeps the limit itself), and what it counts is no longer
// written. Close is idempotent: later calls return nil.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		if e.snap != nil {
			<-e.snap.done
			err = e.writeSnapshot()
		}
		if e.coarse != nil {
			e.coarse.Stop()
		}
	})
	return err
}
