package ulule

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	limiter "github.com/ulule/limiter/v3"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/uri"
	"github.com/floodgate-go/floodgate/limit"
)

// ErrRate is wrapped by the error of every call whose limiter.Rate has no
// Floodgate limit: a Limit outside 1..limit.MaxCount−1, or a Period that
// is not a whole number of milliseconds from 1ms to limit.MaxPeriod.
var ErrRate = errors.New("ulule: rate has no floodgate limit")

// DefaultPrefix is the prefix of every key, as ulule's
// limiter.DefaultPrefix: key "k" is counted as "limiter:k".
const DefaultPrefix = limiter.DefaultPrefix

// Store is a ulule limiter.Store that counts in a floodgate.Store. Build
// one with [New] or [Open]; the zero Store is not usable. A Store is safe
// for concurrent use, as its floodgate.Store is, and must not be
// copied.
type Store struct {
	s      floodgate.Store
	prefix string
	last   atomic.Pointer[rateLimit] // the last rate's limit, reused: no slice per call
}

// rateLimit is a rate and its floodgate limit, as a slice of one to pass
// to the store as is.
type rateLimit struct {
	rate limiter.Rate
	l    []limit.Limit
}

var _ limiter.Store = (*Store)(nil)

// Option configures a Store. Options are made by [WithPrefix].
type Option interface{ apply(*Store) }

type prefixOption string

func (p prefixOption) apply(s *Store) { s.prefix = string(p) }

// WithPrefix sets the key prefix: key "k" is counted as prefix+":"+"k".
// The default is [DefaultPrefix], "limiter", as in ulule's stores. Give
// each limiter.Limiter sharing one floodgate.Store its own prefix when
// they limit the same keys with the same rate but must count apart.
func WithPrefix(prefix string) Option { return prefixOption(prefix) }

// New returns a Store that counts in s. The Store does not own s: Close
// closes s, so call it only when nothing else uses s. s should judge by
// the fixed-window strategy for ulule's semantics (see the package
// documentation); [Open] does that by default.
func New(s floodgate.Store, opts ...Option) *Store {
	st := &Store{s: s, prefix: DefaultPrefix}
	for _, o := range opts {
		o.apply(st)
	}
	return st
}

// Open returns a Store on floodgate.Open(uri), with strategy=fixed-window
// added when uri names no strategy. Redis URIs need the Redis store
// registered:
//
//	import _ "github.com/floodgate-go/floodgate/redisstore"
//
// The errors are floodgate.Open's, wrapping floodgate.ErrURI.
func Open(u string, opts ...Option) (*Store, error) {
	s, err := floodgate.Open(uri.WithDefault(u, "strategy", "fixed-window"))
	if err != nil {
		return nil, err
	}
	return New(s, opts...), nil
}

// Floodgate returns the floodgate.Store that s counts in.
func (s *Store) Floodgate() floodgate.Store { return s.s }

// Close closes the floodgate.Store that s counts in.
func (s *Store) Close() error { return s.s.Close() }

// Get counts one request of key under rate and returns ulule's Context
// for it: Reached reports that the request is over the limit.
func (s *Store) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.Increment(ctx, key, 1, rate)
}

// Increment counts a request of cost count of key under rate, as Get does
// for a cost of 1. A cost that does not fit takes the units left in the
// window, so that the window is reached as ulule's stores would count it.
func (s *Store) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	l, err := s.limit(rate)
	if err != nil {
		return limiter.Context{}, err
	}
	k := s.key(key)
	d, err := s.s.AllowN(ctx, k, count, l...)
	if err = decided(err); err != nil {
		return limiter.Context{}, err
	}
	// A cost that does not fit marks the window reached, as ulule counts
	// all of it: take what is left (a few tries; a concurrent request
	// that takes the rest reaches the window too).
	for i := 0; i < 3 && !d.Allowed && count > 1 && d.Remaining > 0; i++ {
		d, err = s.s.AllowN(ctx, k, d.Remaining, l...)
		if err = decided(err); err != nil {
			return limiter.Context{}, err
		}
		if d.Allowed {
			d.Remaining = 0
		}
	}
	c := limiter.Context{Limit: rate.Limit, Reset: reset(d, rate), Reached: true}
	if d.Allowed && d.Remaining > 0 {
		// Remaining counts the marker unit, which is not the caller's.
		c.Remaining, c.Reached = d.Remaining-1, false
	}
	return c, nil
}

// Peek returns key's Context under rate without counting anything.
func (s *Store) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	l, err := s.limit(rate)
	if err != nil {
		return limiter.Context{}, err
	}
	d, err := s.s.Peek(ctx, s.key(key), l...)
	if err = decided(err); err != nil {
		return limiter.Context{}, err
	}
	c := limiter.Context{Limit: rate.Limit, Reset: reset(d, rate), Reached: true}
	if d.Allowed {
		// Peek answers as if one unit were counted: d.Remaining is what
		// is left after it, that is L − count, the marker aside.
		c.Remaining, c.Reached = d.Remaining, false
	}
	return c, nil
}

// Reset forgets key's count under rate and returns the Context of an
// unused key.
func (s *Store) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	l, err := s.limit(rate)
	if err != nil {
		return limiter.Context{}, err
	}
	if err := decided(s.s.Reset(ctx, s.key(key), l...)); err != nil {
		return limiter.Context{}, err
	}
	return limiter.Context{
		Limit:     rate.Limit,
		Remaining: rate.Limit,
		Reset:     time.Now().Add(rate.Period).Unix(),
	}, nil
}

func (s *Store) key(key string) string { return s.prefix + ":" + key }

// limit returns rate's floodgate limit as a slice of one, reusing the
// last rate's: a limiter.Limiter calls with one rate.
func (s *Store) limit(rate limiter.Rate) ([]limit.Limit, error) {
	if p := s.last.Load(); p != nil && p.rate.Limit == rate.Limit && p.rate.Period == rate.Period {
		return p.l, nil
	}
	l, err := toLimit(rate)
	if err != nil {
		return nil, err
	}
	s.last.Store(&rateLimit{rate: rate, l: []limit.Limit{l}})
	return []limit.Limit{l}, nil
}

// toLimit maps rate to the Floodgate limit of Limit+1 per Period (see
// the package documentation for the marker unit).
func toLimit(rate limiter.Rate) (limit.Limit, error) {
	if rate.Limit < 1 || rate.Limit >= limit.MaxCount {
		return limit.Limit{}, fmt.Errorf("%w: limit %d is not in 1..%d", ErrRate, rate.Limit, int64(limit.MaxCount-1))
	}
	l, err := limit.New(rate.Limit+1, rate.Period)
	if err != nil {
		return limit.Limit{}, fmt.Errorf("%w: period %v: %w", ErrRate, rate.Period, err)
	}
	return l, nil
}

// decided returns nil for an error whose Decision was made by a
// floodgate.Fallback's failure policy (which logs it): that decision
// stands. Other errors are returned.
func decided(err error) error {
	if err != nil && errors.Is(err, floodgate.ErrStorage) {
		return nil
	}
	return err
}

// reset returns the unix second at which key's usage returns to zero, as
// ulule's Context.Reset: the end of the window for the window strategies.
func reset(d limit.Decision, rate limiter.Rate) int64 {
	after := d.ResetAfter
	if after <= 0 {
		after = rate.Period
	}
	return time.Now().Add(after).Unix()
}
