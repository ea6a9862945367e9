package floodgate

import (
	"context"
	"sync/atomic"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// NewMemory returns a [Store] on a new in-memory engine built with opts
// (engine.New): it never fails, and it ignores ctx, since the engine
// never waits. Calls add nothing to the engine's: no allocation, no
// error path (BenchmarkMemoryStore). Its Info has Kind "memory". Close
// stops the engine's sweeper.
//
// AllowAll is [AllowEach] over the store itself: each charge is decided
// by the engine in turn and a denial refunds the earlier ones. Its
// refund window lasts nanoseconds (no call waits), so a concurrent
// request rarely sees units that are about to be given back, and none
// is ever allowed beyond a limit.
//
// Use the engine directly (engine.New, Engine.Allow) when a service only
// ever limits in memory and wants a bool; use NewMemory where a Store is
// wanted.
func NewMemory(opts ...engine.Option) Store { return &memoryStore{e: engine.New(opts...)} }

// memoryStore is the engine seen as a Store.
type memoryStore struct {
	e      *engine.Engine
	closed atomic.Bool
	_      noCopy
}

func (s *memoryStore) AllowN(_ context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	if s.closed.Load() {
		return denied(limits), ErrClosed
	}
	return s.e.AllowN(key, n, limits...), nil
}

// AllowAll decides each charge in turn, refunding on a denial
// (AllowEach): the engine's refund window is nanoseconds.
func (s *memoryStore) AllowAll(ctx context.Context, charges ...Charge) (limit.Decision, int, error) {
	return AllowEach(ctx, s, charges...)
}

func (s *memoryStore) Peek(_ context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	if s.closed.Load() {
		return denied(limits), ErrClosed
	}
	return s.e.Peek(key, limits...), nil
}

func (s *memoryStore) Reset(_ context.Context, key string, limits ...limit.Limit) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.e.Reset(key, limits...)
	return nil
}

func (s *memoryStore) Refund(_ context.Context, key string, n int64, limits ...limit.Limit) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.e.Refund(key, n, limits...)
	return nil
}

func (s *memoryStore) Info() Info {
	return Info{Kind: "memory", Strategy: s.e.Strategy(), Keys: s.e.Len(),
		Full: s.e.Full(), Evicted: s.e.Evicted(), Up: true}
}

func (s *memoryStore) Close() error {
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
