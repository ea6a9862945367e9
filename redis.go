package floodgate

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
)

// redisBackend adapts a redisstore.Store. Its failure policy "memory"
// judges by fb, a private engine with the same strategy, while Redis is
// down.
type redisBackend struct {
	s  *redisstore.Store
	fb *engine.Engine
}

// openRedis opens a Redis store for a redis, rediss, redis+unix,
// redis+sentinel or redis+cluster URI. It never waits for Redis.
func openRedis(u *url.URL, opts []Option) (*Limiter, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	st := limit.SlidingWindow
	if v := u.Query().Get("strategy"); v != "" {
		st, _ = limit.ParseStrategy(v) // redisstore.Open reports a bad one
	}
	fb := engine.New(engine.WithStrategy(st))
	ropts := []redisstore.Option{redisstore.WithFallback(fb)}
	if o.log != nil {
		ropts = append(ropts, redisstore.WithLogger(o.log))
	}
	if o.onError != nil {
		ropts = append(ropts, redisstore.WithErrorHandler(o.onError))
	}
	s, err := redisstore.Open(u.String(), ropts...)
	if err != nil {
		fb.Close()
		return nil, fmt.Errorf("%w: %w", ErrURI, err)
	}
	return &Limiter{b: &redisBackend{s: s, fb: fb}, scheme: u.Scheme}, nil
}

func (r *redisBackend) allow(ctx context.Context, key string, n int64, ls []limit.Limit) (limit.Decision, error) {
	d, err := r.s.AllowN(ctx, key, n, ls...)
	return d, storageError(err)
}

func (r *redisBackend) peek(ctx context.Context, key string, ls []limit.Limit) (limit.Decision, error) {
	d, err := r.s.Peek(ctx, key, ls...)
	return d, storageError(err)
}

func (r *redisBackend) reset(ctx context.Context, key string, ls []limit.Limit) error {
	return storageError(r.s.Reset(ctx, key, ls...))
}

func (r *redisBackend) close() error {
	err := r.s.Close()
	return errors.Join(err, r.fb.Close())
}

// storageError wraps a store error in ErrStorage, or ErrClosed after
// Close.
func storageError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redisstore.ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}
