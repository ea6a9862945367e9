package engine_test

import (
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefund: for every strategy, units taken and refunded at once are
// available again, a refund never gives back more than was counted, and
// the other limits and keys are untouched.
func TestRefund(t *testing.T) {
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			clk := clock.NewManual(1000 * time.Hour)
			e := engine.New(engine.WithStrategy(s), engine.WithClock(clk), engine.WithSweepInterval(-1))
			t.Cleanup(func() { e.Close() })
			l := limit.PerMinute(5)
			other := limit.PerHour(100)

			d := e.AllowN("k", 3, l, other)
			require.True(t, d.Allowed)
			e.Refund("k", 2, l)
			assert.EqualValues(t, 4, e.Peek("k", l).Remaining+1, "after 3 taken and 2 refunded, 4 remain before a peek of 1")
			assert.EqualValues(t, 96, e.Peek("k", other).Remaining, "a refund of l leaves other alone")

			e.Refund("k", 50, l) // more than was counted
			assert.EqualValues(t, 5, e.Peek("k", l).Remaining+1, "usage never drops below zero")
			for i := range 5 {
				assert.True(t, e.AllowN("k", 1, l).Allowed, "request %d after the refunds", i)
			}
			assert.False(t, e.AllowN("k", 1, l).Allowed, "a refund never creates units beyond the limit")

			e.Refund("unknown", 1, l)
			assert.EqualValues(t, 4, e.Peek("unknown", l).Remaining, "refunding an unknown key adds nothing")
			e.Refund("k", 0, l)
			e.Refund("k", -3, l)
			assert.False(t, e.AllowN("k", 1, l).Allowed, "costs below 1 refund nothing")
		})
	}
}
