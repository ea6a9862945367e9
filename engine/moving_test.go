package engine_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

func TestMovingWindowSteps(t *testing.T) {
	l, err := limit.New(10, 2*time.Second)
	require.NoError(t, err)
	e, c := newEngine(t, limit.MovingWindow, 0)
	ms := time.Millisecond
	var steps []step
	for i := int64(1); i <= 5; i++ {
		steps = append(steps, step{0, "k", 1, ok(10-i, 2*time.Second)})
	}
	for i := int64(1); i <= 5; i++ {
		steps = append(steps, step{1300 * ms, "k", 1, ok(5-i, 2*time.Second)})
	}
	steps = append(steps,
		// 11th: the oldest entries (t=0) stop counting at exactly t=2 s.
		step{1300 * ms, "k", 1, no(0, 700*ms, 2*time.Second)},
		step{2*time.Second - 1, "k", 0, no(0, 1, 1300*ms+1)},
		// The boundary is exclusive: at exactly t = 2 s the t=0 entries are gone.
		step{2 * time.Second, "k", 0, ok(4, 2*time.Second)},
		step{2*time.Second + 1, "k", 5, ok(0, 2*time.Second)},
		step{2*time.Second + 1, "k", 1, no(0, 1300*ms-1, 2*time.Second)},
		step{2*time.Second + 1, "k", 11, no(0, limit.Never, 2*time.Second)},
		step{10 * time.Second, "k", 0, ok(9, 2*time.Second)},
	)
	run(t, e, c, l, steps)
}

func TestMovingWindowHammerAndClockBack(t *testing.T) {
	e, c := newEngine(t, limit.MovingWindow, time.Hour)
	l := limit.PerMinute(100)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if e.Allow("hot", l) {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 100, allowed.Load())
	c.Set(0)
	assert.False(t, e.Allow("hot", l), "a clock moved back grants no fresh burst")
	c.Set(time.Hour + time.Minute)
	assert.True(t, e.Allow("hot", l), "exactly one period later the log is empty")
}

func TestMovingWindowEvictionAndReset(t *testing.T) {
	e, c := newEngine(t, limit.MovingWindow, 0)
	l := limit.PerSecond(3)
	for i := range 100 {
		e.AllowN("k"+strconv.Itoa(i), 2, l)
	}
	require.Equal(t, 100, e.Len())
	c.Set(2*time.Second - 1)
	assert.Zero(t, engine.Sweep(e), "logs are kept for a spare period")
	c.Set(2 * time.Second)
	assert.Equal(t, 100, engine.Sweep(e))
	assert.Zero(t, e.Len())

	require.True(t, e.AllowN("r", 3, l).Allowed)
	e.Reset("r", l)
	assert.True(t, e.AllowN("r", 3, l).Allowed, "after Reset")
	assert.False(t, e.AllowN("r", 1, l, limit.PerDay(5)).Allowed)
	assert.EqualValues(t, 4, e.Peek("r", limit.PerDay(5)).Remaining, "denied by the first limit, the second is untouched")
	require.True(t, e.AllowN("q", 1, limit.PerDay(5), l).Allowed)
	require.False(t, e.AllowN("q", 3, limit.PerDay(5), l).Allowed)
	assert.EqualValues(t, 3, e.Peek("q", limit.PerDay(5)).Remaining, "refunded after a denial by the second limit")
}
