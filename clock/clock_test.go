package clock_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/floodgate-go/floodgate/clock"
)

func TestManual(t *testing.T) {
	m := clock.NewManual(5 * time.Second)
	assert.Equal(t, 5*time.Second, m.Now())
	m.Advance(time.Second)
	assert.Equal(t, 6*time.Second, m.Now())
	m.Advance(-10 * time.Second)
	assert.Equal(t, -4*time.Second, m.Now(), "a manual clock may go back on purpose")
	m.Set(time.Hour)
	assert.Equal(t, time.Hour, m.Now())
	var zero clock.Manual
	assert.Zero(t, zero.Now())
}

func TestSystemIsMonotonic(t *testing.T) {
	c := clock.System()
	prev := c.Now()
	assert.GreaterOrEqual(t, prev, time.Duration(0))
	for range 10_000 {
		now := c.Now()
		if now < prev {
			t.Fatalf("System().Now() went back from %v to %v", prev, now)
		}
		prev = now
	}
}

func TestCoarseFollowsVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clock.NewCoarse(time.Millisecond)
		t0 := c.Now()
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		got := c.Now() - t0
		assert.InDelta(t, float64(10*time.Millisecond), float64(got), float64(time.Millisecond), "coarse time after 10 ms")

		// Idle for a long time: the refresher parks, and the next Now
		// still returns the current time.
		time.Sleep(time.Second)
		synctest.Wait()
		time.Sleep(5 * time.Second)
		got = c.Now() - t0
		assert.InDelta(t, float64(6010*time.Millisecond), float64(got), float64(time.Millisecond), "coarse time after parking")
		c.Stop()
		c.Stop()
		time.Sleep(time.Second)
		assert.InDelta(t, float64(7010*time.Millisecond), float64(c.Now()-t0), float64(time.Millisecond), "a stopped coarse clock reads the system clock")
	})
}

func TestCoarseConcurrentMonotonic(t *testing.T) {
	c := clock.NewCoarse(100 * time.Microsecond)
	t.Cleanup(c.Stop)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			prev := c.Now()
			for range 100_000 {
				now := c.Now()
				if now < prev {
					t.Errorf("Coarse.Now went back from %v to %v", prev, now)
					return
				}
				prev = now
			}
		})
	}
	wg.Wait()
}

func BenchmarkNow(b *testing.B) {
	coarse := clock.NewCoarse(0)
	b.Cleanup(coarse.Stop)
	for _, tc := range []struct {
		name string
		c    clock.Clock
	}{{"clock=system", clock.System()}, {"clock=coarse", coarse}, {"clock=manual", clock.NewManual(0)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink time.Duration
			for b.Loop() {
				sink += tc.c.Now()
			}
			_ = sink
		})
	}
}
