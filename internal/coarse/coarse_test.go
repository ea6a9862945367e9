package coarse_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/coarse"
	"github.com/stretchr/testify/assert"
)

func TestFollowsVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := coarse.New(time.Millisecond)
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

func TestConcurrentMonotonic(t *testing.T) {
	c := coarse.New(100 * time.Microsecond)
	t.Cleanup(c.Stop)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			prev := c.Now()
			for range 100_000 {
				now := c.Now()
				if now < prev {
					t.Errorf("Now went back from %v to %v", prev, now)
					return
				}
				prev = now
			}
		})
	}
	wg.Wait()
}

// BenchmarkNow compares a coarse read with the system clock's, in one run.
func BenchmarkNow(b *testing.B) {
	c := coarse.New(0)
	b.Cleanup(c.Stop)
	for _, tc := range []struct {
		name string
		c    clock.Clock
	}{{"clock=system", clock.System()}, {"clock=coarse", c}} {
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
