package storetest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/seam"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RunSame checks that two stores answer alike: for every strategy, the
// same requests at the same instants, times since the Unix epoch near
// the present (whole microseconds, Redis's resolution), get identical
// Decisions from a store of newA and one of newB. Both are built on one
// clock.Manual, which the calls also carry (internal/seam), as in [Run].
// It also checks, on each store's own clock (the manual clock set to the
// wall time; a network store's server clock), that a fixed-window day
// resets at UTC midnight.
func RunSame(t *testing.T, newA, newB Factory) {
	limits := []limit.Limit{limit.PerSecond(3), limit.PerMinute(5), limit.PerHour(20), limit.PerDay(1000), mustLimit(7, 1500*time.Millisecond)}
	for _, s := range Strategies {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			now := time.Duration(time.Now().UnixMicro()) * time.Microsecond
			clk := clock.NewManual(now)
			a, b := newA(t, s, clk), newB(t, s, clk)
			ctx := seam.WithClock(context.Background(), clk)
			rng := rand.New(rand.NewPCG(uint64(s), 7))
			keys := []string{uniqueKey(t), uniqueKey(t)}
			for i := range 400 {
				now += time.Duration(rng.Int64N(int64(3*time.Second))) / time.Microsecond * time.Microsecond
				key := keys[rng.IntN(len(keys))]
				var ls []limit.Limit
				for _, l := range limits {
					if rng.IntN(3) == 0 {
						ls = append(ls, l)
					}
				}
				if len(ls) == 0 {
					ls = limits[:1]
				}
				n := 1 + rng.Int64N(3)
				clk.Set(now)
				var da, db limit.Decision
				var ea, eb error
				if rng.IntN(5) == 0 {
					da, ea = a.Peek(ctx, key, ls...)
					db, eb = b.Peek(ctx, key, ls...)
				} else {
					da, ea = a.AllowN(ctx, key, n, ls...)
					db, eb = b.AllowN(ctx, key, n, ls...)
				}
				require.NoError(t, ea)
				require.NoError(t, eb)
				if !assert.Equal(t, da, db, "call %d at %v (Unix), key %q, n=%d, %v: first store %+v, second %+v", i, time.Unix(0, int64(now)).UTC(), key, n, ls, da, db) {
					return
				}
			}
		})
	}
	t.Run("utc-midnight", func(t *testing.T) {
		for _, f := range []Factory{newA, newB} {
			now := time.Now().UTC()
			st := f(t, limit.FixedWindow, clock.NewManual(time.Duration(now.UnixNano())))
			d, err := st.AllowN(context.Background(), uniqueKey(t), 1, limit.PerDay(1000))
			require.NoError(t, err)
			midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
			assert.InDelta(t, float64(midnight.Sub(now)), float64(d.ResetAfter), float64(2*time.Second),
				"%T: a fixed-window day's ResetAfter %v, want the time to UTC midnight, %v", st, d.ResetAfter, midnight.Sub(now))
		}
	})
}
