package engine_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/internal/model"
	"github.com/floodgate-go/floodgate/limit"
)

const ms = time.Millisecond

// subSecond returns limit.New(count, period), failing the test when New
// rejects a sub-second period.
func subSecond(t testing.TB, count int64, period time.Duration) limit.Limit {
	t.Helper()
	l, err := limit.New(count, period)
	require.NoError(t, err, "limit.New(%d, %v)", count, period)
	return l
}

// TestSubSecondSteps plays the documented arithmetic of each strategy on
// limits of 100 ms and 500 ms, which only limit.New builds.
func TestSubSecondSteps(t *testing.T) {
	per100 := subSecond(t, 10, 100*ms)
	per500 := subSecond(t, 5, 500*ms)

	t.Run("strategy=sliding-window/limit=10/100ms", func(t *testing.T) {
		e, c := newEngine(t, limit.SlidingWindow, 0)
		run(t, e, c, per100, []step{
			{0, "k", 4, ok(6, 200*ms)},
			{50 * ms, "k", 6, ok(0, 150*ms)},
			// Window 0 is full: wait for window 1, where the 10 weigh
			// (100−r)/100 and one more fits at r = 10 ms.
			{60 * ms, "k", 1, no(0, 40*ms+10*ms, 140*ms)},
			// r = 10 ms: the 10 weigh 9, so exactly one fits.
			{110 * ms, "k", 1, ok(0, 190*ms)},
			{110 * ms, "k", 1, no(0, 10*ms, 190*ms)},
			{120 * ms, "k", 1, ok(0, 180*ms)},
			// A whole window of silence after window 1: nothing weighs.
			{300 * ms, "k", 0, ok(9, 200*ms)},
			{300 * ms, "k", 10, ok(0, 200*ms)},
		})
	})
	t.Run("strategy=fixed-window/limit=5/500ms", func(t *testing.T) {
		e, c := newEngine(t, limit.FixedWindow, 0)
		run(t, e, c, per500, []step{
			{0, "k", 5, ok(0, 500*ms)},
			{499 * ms, "k", 1, no(0, 1*ms, 1*ms)},
			{500 * ms, "k", 1, ok(4, 500*ms)},
			{750 * ms, "k", 4, ok(0, 250*ms)},
			{999 * ms, "k", 1, no(0, 1*ms, 1*ms)},
			{1000 * ms, "k", 5, ok(0, 500*ms)},
		})
	})
	t.Run("strategy=gcra/limit=10/100ms", func(t *testing.T) {
		// One unit refills every 10 ms.
		e, c := newEngine(t, limit.GCRA, 0)
		run(t, e, c, per100, []step{
			{0, "k", 10, ok(0, 100*ms)},
			{5 * ms, "k", 1, no(0, 5*ms, 95*ms)},
			{10 * ms, "k", 1, ok(0, 100*ms)},
			{50 * ms, "k", 1, ok(3, 70*ms)},
			{50 * ms, "k", 11, no(3, limit.Never, 70*ms)},
		})
	})
	t.Run("strategy=gcra/limit=5/500ms/burst=2", func(t *testing.T) {
		// One unit refills every 100 ms; the bucket holds 2.
		l, err := per500.WithBurst(2)
		require.NoError(t, err, "%v.WithBurst(2)", per500)
		e, c := newEngine(t, limit.GCRA, 0)
		run(t, e, c, l, []step{
			{0, "k", 2, ok(0, 200*ms)},
			{0, "k", 1, no(0, 100*ms, 200*ms)},
			{150 * ms, "k", 1, ok(0, 150*ms)},
			{400 * ms, "k", 2, ok(0, 200*ms)},
		})
	})
	t.Run("strategy=moving-window/limit=5/500ms", func(t *testing.T) {
		e, c := newEngine(t, limit.MovingWindow, 0)
		run(t, e, c, per500, []step{
			{0, "k", 2, ok(3, 500*ms)},
			{100 * ms, "k", 3, ok(0, 500*ms)},
			// The 2 units at 0 stop counting at exactly 500 ms.
			{200 * ms, "k", 1, no(0, 300*ms, 400*ms)},
			{500 * ms, "k", 2, ok(0, 500*ms)},
			{599 * ms, "k", 1, no(0, 1*ms, 401*ms)},
			{600 * ms, "k", 1, ok(2, 500*ms)},
		})
	})
}

// TestSubSecondMatchesModel checks the engine against internal/model on
// random traffic at millisecond steps, for every strategy, on 100 ms and
// 500 ms limits, alone and together with a limit of whole seconds.
func TestSubSecondMatchesModel(t *testing.T) {
	per100 := subSecond(t, 10, 100*ms)
	per500 := subSecond(t, 5, 500*ms)
	per100b, err := per100.WithBurst(3)
	require.NoError(t, err, "%v.WithBurst(3)", per100)
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		for _, tc := range []struct {
			name   string
			limits []limit.Limit
		}{
			{"10/100ms", []limit.Limit{per100}},
			{"5/500ms", []limit.Limit{per500}},
			{"10/100ms+burst=3", []limit.Limit{per100b}},
			{"5/500ms+3/second", []limit.Limit{per500, limit.PerSecond(3)}},
		} {
			t.Run("strategy="+s.String()+"/limits="+tc.name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(s), uint64(len(tc.name))))
				e, c := newEngine(t, s, 0)
				m := model.New(s)
				now := time.Duration(0)
				for i := range 3000 {
					now += time.Duration(rng.IntN(40)) * ms
					if rng.IntN(50) == 0 {
						now += time.Duration(rng.IntN(3000)) * ms // a lull
					}
					key := []string{"a", "b"}[rng.IntN(2)]
					n := 1 + rng.Int64N(4)
					var got, want limit.Decision
					if rng.IntN(5) == 0 {
						got, want = peekAt(e, c, now, key, tc.limits...), m.Peek(now, key, tc.limits...)
					} else {
						got, want = allowAt(e, c, now, key, n, tc.limits...), m.AllowN(now, key, n, tc.limits...)
					}
					if got != want {
						t.Fatalf("step %d: at %v key %q cost %d on %v: engine %+v, model %+v", i, now, key, n, tc.limits, got, want)
					}
				}
			})
		}
	}
}

// TestSubSecondSweep checks that a sub-second limit stays exact across
// many short windows (the foreground sweeps that clamp runs every
// sweepBarrier windows included) and that a sweep evicts its idle pairs.
func TestSubSecondSweep(t *testing.T) {
	l := subSecond(t, 2, 100*ms)
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			e, c := newEngine(t, s, 0)
			for i := range 100 {
				// One unit per window for 10 s, half the limit: every
				// strategy allows each one.
				at := time.Duration(i) * 100 * ms
				d := allowAt(e, c, at, "k", 1, l)
				require.True(t, d.Allowed, "AllowN(k, 1, %v) at %v = %+v, want allowed", l, at, d)
			}
			require.Equal(t, 1, e.Len(), "Len after traffic on one key")
			require.Positive(t, sweepAt(e, c, 20*time.Second), "Sweep at 20s of a key idle for 10 s")
			require.Zero(t, e.Len(), "Len after the sweep")
		})
	}
}
