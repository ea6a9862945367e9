package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock is a source of monotonic time in nanoseconds. Successive calls
// never return smaller values, except on a [Manual] clock that a test
// moves backwards on purpose.
type Clock interface {
	// Now returns the time elapsed since the clock's origin: the Unix
	// epoch for System and Coarse, whatever a test chose for Manual.
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

// Coarse is a Clock whose Now is a single atomic load of a value that a
// background goroutine refreshes every resolution. When no one has called
// Now for 100 resolutions the goroutine parks, so an idle process does not
// wake up; the next Now then reads the system clock itself and wakes it.
//
// The zero Coarse is not usable; call [NewCoarse]. A Coarse is safe for
// concurrent use and must not be copied.
type Coarse struct {
	now     atomic.Int64
	active  atomic.Bool // set by Now, cleared by the refresher each tick
	stopped atomic.Bool
	wake    chan struct{}
	stop    chan struct{}
	once    sync.Once
	sys     systemClock
	res     time.Duration
	_       noCopy
}

// NewCoarse starts a coarse clock refreshed every resolution (1 ms when
// resolution ≤ 0). Stop it with Stop.
func NewCoarse(resolution time.Duration) *Coarse {
	if resolution <= 0 {
		resolution = time.Millisecond
	}
	c := &Coarse{
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		sys:  newSystem(),
		res:  resolution,
	}
	c.now.Store(int64(c.sys.Now()))
	c.active.Store(true)
	go c.refresh()
	return c
}

// Now implements Clock: it returns the cached time, at most about one
// resolution old while the refresher runs.
func (c *Coarse) Now() time.Duration {
	// Fast path: one load of a read-mostly flag, one load of the time.
	if c.active.Load() {
		return time.Duration(c.now.Load())
	}
	return c.slowNow()
}

// slowNow runs at most once per tick: the refresher cleared active, so
// the cached value may be stale (the refresher may be parked). Read the
// system clock, publish it, and wake the refresher.
func (c *Coarse) slowNow() time.Duration {
	t := int64(c.sys.Now())
	if !c.stopped.Load() {
		c.active.Store(true)
		// Stop may have run between the check and the store: it sets
		// stopped before clearing active, so this re-check leaves active
		// false for good once Stop has run.
		if c.stopped.Load() {
			c.active.Store(false)
		}
	}
	// Publish t unless the refresher already stored something newer, so
	// that Now stays monotonic.
	for {
		old := c.now.Load()
		if old >= t || c.now.CompareAndSwap(old, t) {
			break
		}
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return time.Duration(c.now.Load())
}

func (c *Coarse) refresh() {
	t := time.NewTicker(c.res)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.now.Store(int64(c.sys.Now()))
		if c.active.Swap(false) {
			idle = 0
			continue
		}
		if idle++; idle < 100 {
			continue
		}
		// Parked: nobody read the time for 100 ticks.
		t.Stop()
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		idle = 0
		t.Reset(c.res)
	}
}

// Stop stops the refresher. Now keeps working afterwards, reading the
// system clock on every call. Stop is idempotent.
func (c *Coarse) Stop() {
	c.once.Do(func() {
		c.stopped.Store(true)
		c.active.Store(false)
		close(c.stop)
	})
}

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
