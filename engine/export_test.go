package engine

import "time"

// Sweep is a pass of the background sweeper over every limit of e, at
// e's clock reading: it evicts the idle (key, limit) pairs and returns
// how many it evicted. Tests that disable the sweeper
// (WithSweepInterval(-1)) move a clock.Manual and call it.
func Sweep(e *Engine) int { return e.sweepAt(e.clk.Now()) }

// SetWallClock replaces the wall clock that snapshots translate times
// through, until the returned function restores it. Tests on a manual
// clock pass one that reads it, so that two engines agree exactly.
func SetWallClock(f func() time.Time) (restore func()) {
	old := wallClock
	wallClock = f
	return func() { wallClock = old }
}

// WriteSnapshot writes e's snapshot now, as its interval does.
func WriteSnapshot(e *Engine) error { return e.writeSnapshot() }

// PruneSnapshotKeys prunes e's snapshot registry now, as its loop does
// every 10 s when snapshots are written only at Close, and returns how
// many keys it still holds.
func PruneSnapshotKeys(e *Engine) int {
	e.pruneKeys()
	n := 0
	e.snap.keys.Sweep(func(*string) bool { n++; return false })
	return n
}
