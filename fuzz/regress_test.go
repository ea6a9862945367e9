package fuzz_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/limit"
)

// Reproducers of the findings in README.md, one test each.

// newEngine returns an engine on a manual clock reading 0, without a
// background sweeper, closed at the end of the test.
func newEngine(t *testing.T, s limit.Strategy) (*engine.Engine, *clock.Manual) {
	t.Helper()
	c := clock.NewManual(0)
	e := engine.New(engine.WithClock(c), engine.WithStrategy(s), engine.WithSweepInterval(-1))
	t.Cleanup(func() { e.Close() })
	return e, c
}

// TestRegressZeroCellEpoch: a new key's first request in a window e with
// e mod 32 ≥ 16 must be judged at its own time and counted in its own
// window (README.md, finding 1; corpus FuzzOps/zero-cell-epoch).
func TestRegressZeroCellEpoch(t *testing.T) {
	one := limit.PerSecond(1)
	e, c := newEngine(t, limit.SlidingWindow)
	c.Set(20500 * time.Millisecond)
	got := e.AllowN("k", 1, one)
	want := limit.Decision{Allowed: true, Limit: one, ResetAfter: 1500 * time.Millisecond} // 2P − r
	assert.Equal(t, want, got, "AllowN(k, 1, 1/second) at 20.5s on a new key")
	// At 22.5s the count of window 20 no longer weighs anything.
	c.Set(22500 * time.Millisecond)
	assert.True(t, e.AllowN("k", 1, one).Allowed,
		"AllowN(k, 1, 1/second) at 22.5s, two windows after the only request: denied, want allowed")
}

// TestRegressPeekCountsNothing: Peek is the Decision AllowN(key, 1) would
// return, so its Remaining and ResetAfter include the 1 (README.md,
// finding 2; corpus FuzzOps/peek-counts-nothing).
func TestRegressPeekCountsNothing(t *testing.T) {
	three := limit.PerSecond(3)
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			e, _ := newEngine(t, s)
			peek := e.Peek("k", three)
			allow := e.AllowN("k", 1, three)
			require.True(t, allow.Allowed, "AllowN(k, 1, 3/second) on a new key")
			assert.Equal(t, allow, peek, "Peek(k, 3/second) then AllowN(k, 1, 3/second): Peek must equal the Decision AllowN returns")
		})
	}
}

// TestRegressLongS: the documented grammar's words are ASCII, so a unit
// spelt with U+017F (ſ) is rejected, consistently in the word and in its
// plural "s" (README.md, finding 3; corpus FuzzParse/long-s).
func TestRegressLongS(t *testing.T) {
	for _, s := range []string{"5/ſecond", "5/ſeconds", "5/secondſ"} {
		_, err := limit.Parse(s)
		assert.ErrorIsf(t, err, limit.ErrInvalid, "Parse(%q)", s)
	}
}

// TestRegressHwFromClock: the first request of a limit, at a reading
// behind the engine clock's at New, is judged at its own time: no request
// or sweep has used a newer window (README.md, finding 4).
func TestRegressHwFromClock(t *testing.T) {
	one := limit.PerSecond(1)
	c := clock.NewManual(100 * time.Second)
	e := engine.New(engine.WithClock(c), engine.WithSweepInterval(-1))
	t.Cleanup(func() { e.Close() })
	c.Set(5500 * time.Millisecond)
	got := e.AllowN("k", 1, one)
	want := limit.Decision{Allowed: true, Limit: one, ResetAfter: 1500 * time.Millisecond}
	assert.Equal(t, want, got, "AllowN(k, 1, 1/second) at 5.5s, the limit's first use, with the clock at 100s at New")
}

// TestRegressMovingForgets: a moving-window reading older than the
// pair's newest entry is judged at that entry's time, so a Peek, a
// denied request or a sweep at a later time must not change how it is
// judged (README.md, finding 5). The sweep is at 11.5s, so that the
// reading at 10.5s is within a period of it (engine/doc.go, "Memory and
// eviction"; TestRegressGCRASweepAhead).
func TestRegressMovingForgets(t *testing.T) {
	three := limit.PerSecond(3)
	s := time.Second
	for _, between := range []string{"nothing", "peek", "denied", "sweep"} {
		t.Run(between, func(t *testing.T) {
			e, c := newEngine(t, limit.MovingWindow)
			c.Set(10 * s)
			require.True(t, e.AllowN("k", 3, three).Allowed, "AllowN(k, 3, 3/second) at 10s on a new key")
			c.Set(11500 * time.Millisecond)
			switch between {
			case "peek":
				e.Peek("k", three)
			case "denied":
				e.AllowN("k", 4, three) // n > L
			case "sweep":
				engineinternal.SweepAt(e, c.Now())
			}
			// Judged at 10s, where the 3 units count; the waits run from
			// the reading (10.5s): the entry expires at 11s.
			c.Set(10500 * time.Millisecond)
			got := e.AllowN("k", 3, three)
			want := limit.Decision{Limit: three, RetryAfter: 500 * time.Millisecond, ResetAfter: 500 * time.Millisecond}
			assert.Equal(t, want, got, "AllowN(k, 3, 3/second) at 10.5s after %s at 11.5s", between)
		})
	}
}

// TestRegressGCRARefund: a GCRA multi-limit request that the second limit
// denies counts nothing against the first, also when many such requests
// race (README.md, finding 6). The first limit, 20/minute with the
// largest burst, allows everything, and is only ever named together with
// the second, 1/second with a burst of 2; so at the end it must have
// counted exactly what was allowed. The race is timing-dependent: under
// -race it shows in about one round in a hundred.
func TestRegressGCRARefund(t *testing.T) {
	old := runtime.GOMAXPROCS(4)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	wide, err := limit.PerMinute(20).WithBurst(limit.MaxCount)
	require.NoError(t, err)
	narrow, err := limit.PerSecond(1).WithBurst(2)
	require.NoError(t, err)
	for round := range 300 {
		e, c := newEngine(t, limit.GCRA)
		at := time.Duration(round) * 37 * time.Millisecond
		c.Set(at)
		var mu sync.Mutex
		var allowed int64
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 20 {
					n := int64(1 + (i*g)%3)
					if e.AllowN("k", n, wide, narrow).Allowed {
						mu.Lock()
						allowed += n
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		// tick(at) of 20/minute is k = ⌊at/3s⌋; the tat is k + allowed.
		got := e.Peek("k", wide).Remaining
		want := limit.MaxCount - allowed - 1
		require.Equalf(t, want, got, "round %d: %d units allowed under %v and %v at %v: Remaining of a Peek of %v", round, allowed, wide, narrow, at, wide)
	}
}

// TestRegressGCRASweepAhead holds the engine to the bound it documents
// for finding 7 (README.md; engine/doc.go, "Memory and eviction"):
// evicting a GCRA bucket or a moving-window log never changes the answer
// to a reading at most one period older than the sweep. A pair is
// counted at 0, a sweep at S evicts it, and then a request at each
// reading from S − P to S gets exactly the Decision of an engine that
// never swept. (A reading older than S − P may find the key fresh; the
// corpus input FuzzOps/gcra-sweep-ahead, which did that, is now decoded
// within the bound.)
func TestRegressGCRASweepAhead(t *testing.T) {
	one, three := limit.PerSecond(1), limit.PerSecond(3)
	s, ms := time.Second, time.Millisecond
	for _, tc := range []struct {
		name     string
		strategy limit.Strategy
		l        limit.Limit
		n        int64           // the cost counted at 0
		sweeps   []time.Duration // S: each evicts the pair
	}{
		// tat = 1 tick; idle once tat + L ≤ tick(S): S ≥ 2s.
		{"gcra", limit.GCRA, one, 1, []time.Duration{2 * s, 3 * s, 2*s + 500*ms, time.Hour}},
		// The log's newest entry is at 0; idle once 0 + 2P ≤ S.
		{"moving-window", limit.MovingWindow, three, 3, []time.Duration{2 * s, 3 * s, 2*s + 500*ms, time.Hour}},
	} {
		for _, sweep := range tc.sweeps {
			p := tc.l.Period()
			for _, at := range []time.Duration{sweep - p, sweep - p + 1, sweep - p/2, sweep} {
				t.Run(fmt.Sprintf("strategy=%s/sweep=%v/at=%v", tc.name, sweep, at), func(t *testing.T) {
					swept, c := newEngine(t, tc.strategy)
					kept, kc := newEngine(t, tc.strategy)
					require.True(t, swept.AllowN("k", tc.n, tc.l).Allowed, "AllowN(k, %d, %v) at 0 on a new key", tc.n, tc.l)
					require.True(t, kept.AllowN("k", tc.n, tc.l).Allowed, "AllowN(k, %d, %v) at 0 on a new key", tc.n, tc.l)
					require.Equal(t, 1, engineinternal.SweepAt(swept, sweep), "pairs evicted by a sweep at %v", sweep)
					c.Set(at)
					kc.Set(at)
					got, want := swept.AllowN("k", 1, tc.l), kept.AllowN("k", 1, tc.l)
					assert.Equal(t, want, got, "AllowN(k, 1, %v) at %v after a sweep at %v: the engine that swept answers %+v, the one that did not %+v",
						tc.l, at, sweep, got, want)
				})
			}
		}
	}
}
