package engine_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

func TestGCRASteps(t *testing.T) {
	ms := time.Millisecond
	t.Run("burst equals count", func(t *testing.T) {
		e, c := newEngine(t, limit.GCRA, 0)
		l := limit.PerSecond(10) // one unit every 100 ms, bucket of 10
		steps := []step{{0, "k", 0, ok(9, 100*ms)}}
		for i := int64(1); i <= 10; i++ {
			steps = append(steps, step{0, "k", 1, ok(10-i, time.Duration(i)*100*ms)})
		}
		steps = append(steps,
			// Empty bucket: the next unit conforms at tick 1.
			step{0, "k", 1, no(0, 100*ms, time.Second)},
			step{50 * ms, "k", 1, no(0, 50*ms, time.Second-50*ms)},
			step{100 * ms, "k", 1, ok(0, time.Second+100*ms-100*ms+100*ms-100*ms)},
			step{150 * ms, "k", 1, no(0, 50*ms, time.Second-50*ms)},
			// Retry-after for cost n: until n units have refilled.
			step{150 * ms, "k", 3, no(0, 250*ms, time.Second-50*ms)},
			step{150 * ms, "k", 11, no(0, limit.Never, time.Second-50*ms)},
			// After a full refill the whole burst is back.
			step{5 * time.Second, "k", 0, ok(9, 100*ms)},
		)
		run(t, e, c, l, steps)
	})
	t.Run("explicit burst", func(t *testing.T) {
		e, c := newEngine(t, limit.GCRA, 0)
		l, err := limit.PerSecond(10).WithBurst(3)
		require.NoError(t, err)
		assert.EqualValues(t, 3, l.Burst())
		run(t, e, c, l, []step{
			{0, "k", 1, ok(2, 100*ms)},
			{0, "k", 2, ok(0, 300*ms)},
			{0, "k", 1, no(0, 100*ms, 300*ms)},
			// Steady rate: one every 100 ms.
			{100 * ms, "k", 1, ok(0, 300*ms)},
			{200 * ms, "k", 1, ok(0, 300*ms)},
			{250 * ms, "k", 1, no(0, 50*ms, 250*ms)},
		})
	})
	t.Run("count does not divide period", func(t *testing.T) {
		e, c := newEngine(t, limit.GCRA, 0)
		l := limit.PerSecond(3) // a unit every 333,333,333⅓ ns
		tick1 := 333_333_334 * time.Nanosecond
		run(t, e, c, l, []step{
			{0, "k", 3, ok(0, time.Second)},
			{0, "k", 1, no(0, tick1, time.Second)},
			{tick1 - 1, "k", 1, no(0, 1, time.Second-tick1+1)},
			{tick1, "k", 1, ok(0, time.Second)},
		})
	})
}

// TestGCRAHammer: with a frozen clock, GCRA allows exactly the burst,
// however many goroutines ask.
func TestGCRAHammer(t *testing.T) {
	e, _ := newEngine(t, limit.GCRA, time.Hour)
	l, err := limit.PerHour(1).WithBurst(300)
	require.NoError(t, err)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if e.Allow("hot", l) {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 300, allowed.Load())
}

func TestGCRAClockBackAndEviction(t *testing.T) {
	e, c := newEngine(t, limit.GCRA, time.Hour)
	l := limit.PerMinute(2)
	require.True(t, e.Allow("k", l))
	require.True(t, e.Allow("k", l))
	c.Set(0)
	assert.False(t, e.Allow("k", l), "a clock moved back grants no fresh burst")
	c.Set(time.Hour + time.Minute - time.Nanosecond)
	assert.Zero(t, engine.Sweep(e), "a bucket not yet full for a whole period is kept")
	c.Set(time.Hour + 2*time.Minute)
	assert.Equal(t, 1, engine.Sweep(e))
	assert.True(t, e.Allow("k", l))
}

func TestGCRAMultiLimitRefund(t *testing.T) {
	e, _ := newEngine(t, limit.GCRA, 0)
	fast, slow := limit.PerSecond(5), limit.PerDay(2)
	require.True(t, e.AllowN("k", 1, fast, slow).Allowed)
	require.True(t, e.AllowN("k", 1, fast, slow).Allowed)
	d := e.AllowN("k", 1, fast, slow)
	require.False(t, d.Allowed)
	assert.Equal(t, slow, d.Limit)
	assert.EqualValues(t, 2, e.Peek("k", fast).Remaining, "the refused request gave its unit of the fast limit back")
}
