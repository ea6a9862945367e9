package clock_test

import (
	"testing"
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

func BenchmarkNow(b *testing.B) {
	for _, tc := range []struct {
		name string
		c    clock.Clock
	}{{"clock=system", clock.System()}, {"clock=manual", clock.NewManual(0)}} {
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
