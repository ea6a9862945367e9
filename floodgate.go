package floodgate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// Errors returned by Open and by Limiter calls, for errors.Is.
var (
	// ErrURI reports a storage URI that cannot be used: an unknown scheme,
	// a missing host, a bad option.
	ErrURI = errors.New("floodgate: invalid storage uri")
	// ErrClosed reports a call on a closed Limiter.
	ErrClosed = errors.New("floodgate: limiter closed")
	// ErrStorage wraps a storage failure (Redis down, timeout, error
	// reply). A call that returns it still returns a usable Decision, the
	// one chosen by the storage's failure policy.
	ErrStorage = errors.New("floodgate: storage failed")
)

// backend is one storage. Every method honours ctx and never panics.
type backend interface {
	allow(ctx context.Context, key string, n int64, limits []limit.Limit) (limit.Decision, error)
	peek(ctx context.Context, key string, limits []limit.Limit) (limit.Decision, error)
	reset(ctx context.Context, key string, limits []limit.Limit) error
	close() error
}

// Limiter checks requests against limits in the storage chosen by Open.
//
// The zero Limiter is not usable; call [Open] or [NewMemory]. A Limiter is
// safe for concurrent use and must not be copied.
type Limiter struct {
	b      backend
	scheme string
	_      noCopy
}

// Open returns a Limiter on the storage named by uri:
//
//	memory://[?strategy=fixed-window&max-keys=N]
//	redis://…, rediss://…, redis+unix://…, redis+sentinel://…, redis+cluster://…
//
// Open never waits for a network: a Redis store that is unreachable at
// start-up is opened at once and applies its failure policy until Redis
// answers. Open fails only on a malformed URI, with an error wrapping
// ErrURI that names the problem. opts configure logging and error
// reporting of Redis stores; see the redisstore package for the query
// parameters (strategy, prefix, timeout, backoff, failure, …).
func Open(uri string, opts ...Option) (*Limiter, error) {
	u, err := url.Parse(strings.TrimSpace(uri))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrURI, err)
	}
	switch u.Scheme {
	case "memory":
		opts, err := memoryOptions(u.Query())
		if err != nil {
			return nil, err
		}
		return &Limiter{b: memoryBackend{engine.New(opts...)}, scheme: "memory"}, nil
	case "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster":
		return openRedis(u, opts)
	case "":
		return nil, fmt.Errorf("%w: %q has no scheme (want memory:// or redis://)", ErrURI, uri)
	}
	return nil, fmt.Errorf("%w: unknown scheme %q (want memory:// or redis://)", ErrURI, u.Scheme)
}

// NewMemory returns a Limiter on a new in-memory engine built with opts.
func NewMemory(opts ...engine.Option) *Limiter {
	return &Limiter{b: memoryBackend{engine.New(opts...)}, scheme: "memory"}
}

// Scheme returns the storage scheme the Limiter was opened with, such as
// "memory" or "redis".
func (l *Limiter) Scheme() string { return l.scheme }

// Allow reports whether key may make a request of cost n under every one
// of limits, and counts it against all of them if so; see
// engine.Engine.AllowN for the exact semantics, which every storage
// shares. The error is non-nil only when the storage failed and its
// failure policy is to report it; the Decision then says what the policy
// decided.
func (l *Limiter) Allow(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	return l.b.allow(ctx, key, n, limits)
}

// Peek returns the Decision that Allow(ctx, key, 1, limits...) would
// return, without counting anything.
func (l *Limiter) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	return l.b.peek(ctx, key, limits)
}

// Reset forgets key's usage of each of limits.
func (l *Limiter) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
	return l.b.reset(ctx, key, limits)
}

// Close releases the storage's goroutines and connections. It is
// idempotent.
func (l *Limiter) Close() error { return l.b.close() }

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
