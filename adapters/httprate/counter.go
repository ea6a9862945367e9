package httprate

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	gohttprate "github.com/go-chi/httprate"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/limit"
)

// ErrWindow is wrapped by the errors of a Counter whose Config gave a
// window that makes no Floodgate limit, or that was never configured.
var ErrWindow = errors.New("httprate: the window makes no floodgate limit")

// Counter is an httprate.LimitCounter on Floodgate's in-memory engine.
// Build one with [New]; the zero Counter is not usable. A Counter is safe
// for concurrent use and must not be copied.
type Counter struct {
	e    *engine.Engine
	conf atomic.Pointer[conf]
}

// conf is what Config sets: the limit whose table holds the counts (only
// its period matters; the count is httprate's, clamped to what a limit
// allows), or the error every call returns.
type conf struct {
	l   limit.Limit
	err error
}

var _ gohttprate.LimitCounter = (*Counter)(nil)

// New returns a Counter on a new sliding-window engine made with opts:
// engine.WithMaxKeys caps the keys (default: none),
// engine.WithSweepInterval sets how often expired keys are evicted
// (default 10 s). The engine's clock is time.Now, as httprate's, unless
// opts give another. Close stops the engine's sweeper.
func New(opts ...engine.Option) *Counter {
	opts = append([]engine.Option{engine.WithClock(wallClock{})}, opts...)
	opts = append(opts, engine.WithStrategy(limit.SlidingWindow))
	c := &Counter{e: engine.New(opts...)}
	c.conf.Store(&conf{err: fmt.Errorf("%w: Config was not called", ErrWindow)})
	return c
}

// Engine returns the engine that c counts in.
func (c *Counter) Engine() *engine.Engine { return c.e }

// Config sets the window of every later call; httprate calls it from
// NewRateLimiter. requestLimit does not change what is counted.
func (c *Counter) Config(requestLimit int, windowLength time.Duration) {
	// httprate decides by itself: the limit only names the window, so its
	// count is capped to the engine's one-word cell, whose counts the
	// engine's counter calls read and write (536,870,911).
	n := min(max(int64(requestLimit), 1), 1<<29-1)
	l, err := limit.New(n, windowLength)
	if err != nil {
		err = fmt.Errorf("%w: window %v: %w", ErrWindow, windowLength, err)
	}
	c.conf.Store(&conf{l: l, err: err})
}

// Increment is IncrementBy(key, currentWindow, 1).
func (c *Counter) Increment(key string, currentWindow time.Time) error {
	return c.IncrementBy(key, currentWindow, 1)
}

// IncrementBy counts amount requests of key in the window that starts at
// currentWindow (a negative amount takes them off it, never below 0). It
// returns engine.ErrFull for a new key when the engine is at its
// WithMaxKeys cap, and an error wrapping ErrWindow when Config gave no
// usable window.
func (c *Counter) IncrementBy(key string, currentWindow time.Time, amount int) error {
	cf := c.conf.Load()
	if cf.err != nil {
		return cf.err
	}
	now := unix(currentWindow)
	switch {
	case amount > 0:
		if !engineinternal.AddAt(c.e, now, key, int64(amount), cf.l) {
			return engine.ErrFull
		}
	case amount < 0:
		engineinternal.RefundAt(c.e, now, key, -int64(amount), cf.l)
	}
	return nil
}

// Get returns the requests of key counted in the window that starts at
// currentWindow and in the window before it (previousWindow, which
// httprate always passes as currentWindow minus the window).
func (c *Counter) Get(key string, currentWindow, _ time.Time) (curr, prev int, err error) {
	cf := c.conf.Load()
	if cf.err != nil {
		return 0, 0, cf.err
	}
	cur, p := engineinternal.CountsAt(c.e, unix(currentWindow), key, cf.l)
	return int(cur), int(p), nil
}

// Close stops the engine's sweeper. It is idempotent and returns nil.
func (c *Counter) Close() error { return c.e.Close() }

// unix returns t as engine time: nanoseconds since the Unix epoch.
func unix(t time.Time) time.Duration { return time.Duration(t.UnixNano()) }

// wallClock reads time.Now, as httprate does, so that the engine's
// sweeper and httprate agree on the current window even after the wall
// clock is stepped.
type wallClock struct{}

func (wallClock) Now() time.Duration { return time.Duration(time.Now().UnixNano()) }
