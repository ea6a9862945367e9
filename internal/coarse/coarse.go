// Package coarse is the engine's default clock: time since the Unix
// epoch, as clock.System reads it, cached in one atomic word that a
// goroutine refreshes, because a system clock read costs as much as the
// rest of a decision (docs/performance.md).
package coarse

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate/clock"
)

// Clock is a clock.Clock whose Now is a single atomic load of a value that a
// background goroutine refreshes every resolution. When no one has called
// Now for 100 resolutions the goroutine parks, so an idle process does not
// wake up; the next Now then reads the system clock itself and wakes it.
//
// The zero Clock is not usable; call [New]. A Clock is safe for
// concurrent use and must not be copied.
type Clock struct {
	now     atomic.Int64
	active  atomic.Bool // set by Now, cleared by the refresher each tick
	stopped atomic.Bool
	wake    chan struct{}
	stop    chan struct{}
	once    sync.Once
	sys     clock.Clock
	res     time.Duration
	_       noCopy
}

// New starts a coarse clock refreshed every resolution (1 ms when
// resolution ≤ 0). Stop it with Stop.
func New(resolution time.Duration) *Clock {
	if resolution <= 0 {
		resolution = time.Millisecond
	}
	c := &Clock{
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		sys:  clock.System(),
		res:  resolution,
	}
	c.now.Store(int64(c.sys.Now()))
	c.active.Store(true)
	go c.refresh()
	return c
}

// Now implements clock.Clock: it returns the cached time, at most about one
// resolution old while the refresher runs.
func (c *Clock) Now() time.Duration {
	// Fast path: one load of a read-mostly flag, one load of the time.
	if c.active.Load() {
		return time.Duration(c.now.Load())
	}
	return c.slowNow()
}

// slowNow runs at most once per tick: the refresher cleared active, so
// the cached value may be stale (the refresher may be parked). Read the
// system clock, publish it, and wake the refresher.
func (c *Clock) slowNow() time.Duration {
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

func (c *Clock) refresh() {
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
func (c *Clock) Stop() {
	c.once.Do(func() {
		c.stopped.Store(true)
		c.active.Store(false)
		close(c.stop)
	})
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
