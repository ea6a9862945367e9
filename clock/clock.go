package clock

import (
	"sync/atomic"
	"time"
)

// Clock is a source of monotonic time in nanoseconds. Successive calls
// never return smaller values, except on a [Manual] clock that a test
// moves backwards on purpose.
type Clock interface {
	// Now returns the time elapsed since the clock's origin: the Unix
	// epoch for System (and the engine's default coarse clock),
	// whatever a test chose for Manual.
	Now() time.Duration
}

// System returns a Clock that reads the runtime's monotonic clock on every
// call. Its readings are time since the Unix epoch: the wall clock is read
// once, when System is called, and the monotonic clock measures the time
// elapsed since, so that windows align with calendar boundaries (UTC
// midnight for a day, as on Redis) while a wall clock set later (NTP
// steps, an operator) moves nothing.
func System() Clock { return newSystem() }

// systemClock reads wall + (monotonic time since origin).
type systemClock struct {
	origin time.Time     // carries a monotonic reading
	wall   time.Duration // origin's wall time, since the Unix epoch
}

func newSystem() systemClock {
	o := time.Now()
	return systemClock{origin: o, wall: time.Duration(o.UnixNano())}
}

// Now implements Clock. time.Since of a time with a monotonic reading
// reads only the monotonic clock.
func (c systemClock) Now() time.Duration { return c.wall + time.Since(c.origin) }

// Manual is a fake Clock for tests: time stands still until Set or Advance
// moves it, forwards or backwards. The zero Manual reads 0. It is safe for
// concurrent use and must not be copied.
type Manual struct {
	now atomic.Int64
	_   noCopy
}

// NewManual returns a Manual clock reading start.
func NewManual(start time.Duration) *Manual {
	m := &Manual{}
	m.now.Store(int64(start))
	return m
}

// Now implements Clock.
func (m *Manual) Now() time.Duration { return time.Duration(m.now.Load()) }

// Set moves the clock to t, which may be earlier than the current time.
func (m *Manual) Set(t time.Duration) { m.now.Store(int64(t)) }

// Advance moves the clock by d, which may be negative.
func (m *Manual) Advance(d time.Duration) { m.now.Add(int64(d)) }

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
