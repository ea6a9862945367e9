package fuzz_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// Reproducers of the findings in README.md, one test each.

func newEngine(t *testing.T, s limit.Strategy) *engine.Engine {
	t.Helper()
	e := engine.New(engine.WithClock(clock.NewManual(0)), engine.WithStrategy(s), engine.WithSweepInterval(-1))
	t.Cleanup(func() { e.Close() })
	return e
}

// TestRegressZeroCellEpoch: a new key's first request in a window e with
// e mod 32 ≥ 16 must be judged at its own time and counted in its own
// window (README.md, finding 1; corpus FuzzOps/zero-cell-epoch).
func TestRegressZeroCellEpoch(t *testing.T) {
	one := limit.PerSecond(1)
	e := newEngine(t, limit.SlidingWindow)
	got := e.AllowNAt(20500*time.Millisecond, "k", 1, one)
	want := limit.Decision{Allowed: true, Limit: one, ResetAfter: 1500 * time.Millisecond} // 2P − r
	assert.Equal(t, want, got, "AllowNAt(20.5s, k, 1, 1/second) on a new key")
	// At 22.5s the count of window 20 no longer weighs anything.
	assert.True(t, e.AllowNAt(22500*time.Millisecond, "k", 1, one).Allowed,
		"AllowNAt(22.5s, k, 1, 1/second) two windows after the only request: denied, want allowed")
}

// TestRegressPeekCountsNothing: Peek is the Decision AllowN(key, 1) would
// return, so its Remaining and ResetAfter include the 1 (README.md,
// finding 2; corpus FuzzOps/peek-counts-nothing).
func TestRegressPeekCountsNothing(t *testing.T) {
	three := limit.PerSecond(3)
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			e := newEngine(t, s)
			peek := e.PeekAt(0, "k", three)
			allow := e.AllowNAt(0, "k", 1, three)
			require.True(t, allow.Allowed, "AllowNAt(0, k, 1, 3/second) on a new key")
			assert.Equal(t, allow, peek, "PeekAt(0, k, 3/second) then AllowNAt(0, k, 1, 3/second): Peek must equal the Decision AllowN returns")
		})
	}
}

// TestRegressLongS: the documented grammar's words are ASCII, so a unit
// spelt with U+017F (ſ) is rejected, consistently in the word and in its
// plural "s" (README.md, finding 3; corpus FuzzParse/long-s).
func TestRegressLongS(t *testing.T) {
	for _, s := range []string{"5/ſecond", "5/ſeconds", "5/secondſ"} {
		_, err := limit.Parse(s)
		assert.ErrorIsf(t, err, limit.ErrSyntax, "Parse(%q)", s)
	}
}

// TestRegressHwFromClock: the first request of a limit, at a time behind
// the engine clock, is judged at its own time: no request or sweep has
// used a newer window (README.md, finding 4).
func TestRegressHwFromClock(t *testing.T) {
	one := limit.PerSecond(1)
	e := engine.New(engine.WithClock(clock.NewManual(100*time.Second)), engine.WithSweepInterval(-1))
	t.Cleanup(func() { e.Close() })
	got := e.AllowNAt(5500*time.Millisecond, "k", 1, one)
	want := limit.Decision{Allowed: true, Limit: one, ResetAfter: 1500 * time.Millisecond}
	assert.Equal(t, want, got, "AllowNAt(5.5s, k, 1, 1/second), the limit's first use, with the clock at 100s")
}
