package engine

// Sweep is a pass of the background sweeper over every limit of e, at
// e's clock reading: it evicts the idle (key, limit) pairs and returns
// how many it evicted. Tests that disable the sweeper
// (WithSweepInterval(-1)) move a clock.Manual and call it.
func Sweep(e *Engine) int { return e.sweepAt(e.clk.Now()) }
