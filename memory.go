package floodgate

import (
	"context"
	"sync/atomic"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// MemoryStore is the in-memory engine seen as a [Store]: it never fails,
// and it ignores ctx, since the engine never waits. Calls add nothing to
// the engine's: no allocation, no error path (BenchmarkMemoryStore).
//
// Use the engine directly (engine.New, Engine.Allow) when a service only
// ever limits in memory; use a MemoryStore where a Store is wanted. The
// zero MemoryStore is not usable; call [Memory] or [NewMemory]. It is
// safe for concurrent use and must not be copied.
type MemoryStore struct {
	e      *engine.Engine
	closed atomic.Bool
	_      noCopy
}

// Memory returns e as a Store. Closing the Store closes e.
func Memory(e *engine.Engine) *MemoryStore { return &MemoryStore{e: e} }

// NewMemory returns a Store on a new engine built with opts; it is
// Memory(engine.New(opts...)).
func NewMemory(opts ...engine.Option) *MemoryStore { return Memory(engine.New(opts...)) }

// Engine returns the engine behind s, for its allocation-free Allow and
// its statistics (Len, Full).
func (s *MemoryStore) Engine() *engine.Engine { return s.e }

// AllowN is engine.Engine.AllowN; the error is nil until Close.
func (s *MemoryStore) AllowN(_ context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	if s.closed.Load() {
		return denied(limits), ErrClosed
	}
	return s.e.AllowN(key, n, limits...), nil
}

// Peek is engine.Engine.Peek; the error is nil until Close.
func (s *MemoryStore) Peek(_ context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	if s.closed.Load() {
		return denied(limits), ErrClosed
	}
	return s.e.Peek(key, limits...), nil
}

// Reset is engine.Engine.Reset; the error is nil until Close.
func (s *MemoryStore) Reset(_ context.Context, key string, limits ...limit.Limit) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.e.Reset(key, limits...)
	return nil
}

// Refund is engine.Engine.Refund; the error is nil until Close.
func (s *MemoryStore) Refund(_ context.Context, key string, n int64, limits ...limit.Limit) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.e.Refund(key, n, limits...)
	return nil
}

// Close stops the engine's background goroutines. It is idempotent.
func (s *MemoryStore) Close() error {
	s.closed.Store(true)
	return s.e.Close()
}

// denied is the Decision of a call that could not be judged: denied,
// describing the first limit, with no promise of when a retry succeeds.
func denied(limits []limit.Limit) limit.Decision {
	d := limit.Decision{RetryAfter: limit.Never}
	if len(limits) > 0 {
		d.Limit = limits[0]
	}
	return d
}
