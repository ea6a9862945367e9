package redisstore

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// AllowN reports whether key may make a request of cost n under every one
// of limits, and counts n against all of them if so, in one round trip;
// the semantics, Decision included, are the memory engine's (see
// engine.Engine.AllowN), on the Redis server's clock.
//
// When it cannot decide, AllowN returns a denying Decision and an error:
// ctx.Err() when the caller's ctx ended first, or an error wrapping
// floodgate.ErrUnavailable, ErrReply or floodgate.ErrClosed.
func (s *Store) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, "", key, n, true, limits)
}

// AllowNAt is AllowN at time now, measured from the Unix epoch and
// truncated to the microsecond, instead of the Redis server's clock. It
// exists for tests and replays; counters it writes live at least a minute
// so that real time passing between calls does not expire them.
func (s *Store) AllowNAt(ctx context.Context, now time.Duration, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, nowArg(now), key, n, true, limits)
}

// Peek returns the Decision that AllowN(ctx, key, 1, limits...) would
// return, without counting anything.
func (s *Store) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, "", key, 1, false, limits)
}

// PeekAt is Peek at time now; see AllowNAt.
func (s *Store) PeekAt(ctx context.Context, now time.Duration, key string, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, nowArg(now), key, 1, false, limits)
}

func nowArg(now time.Duration) string {
	return strconv.FormatInt(max(0, int64(now/time.Microsecond)), 10)
}

// Reset forgets key's usage of each of limits.
func (s *Store) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
	keys := make([]string, 0, len(limits))
	for _, l := range limits {
		if l.Valid() {
			keys = append(keys, s.key(key, l))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	budget, cancel := s.budget(ctx)
	defer cancel()
	if err := c.Do(budget, c.B().Del().Key(keys...).Build()).Error(); err != nil {
		return failed(ctx, err)
	}
	return nil
}

// decide runs the script for limits, or answers without it when the
// request cannot touch Redis (no limits, a bad cost, a zero Limit).
func (s *Store) decide(ctx context.Context, now, key string, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	if len(limits) == 0 {
		return limit.Decision{Allowed: true}, nil
	}
	if n < 1 {
		return limit.Decision{Limit: limits[0], RetryAfter: limit.Never}, nil
	}
	// A zero Limit makes the request one that is never allowed, as in the
	// engine: it is answered without Redis.
	for _, l := range limits {
		if !l.Valid() {
			return limit.Decision{Limit: l, RetryAfter: limit.Never}, nil
		}
	}
	d, err := s.eval(ctx, now, key, n, commit, dedup(limits))
	if err != nil {
		return limit.Decision{Limit: limits[0], RetryAfter: limit.Never}, err
	}
	return d, nil
}

// dedup returns limits without repeats, keeping the first of each: a list
// that names one limit twice is judged as if it named it once.
func dedup(limits []limit.Limit) []limit.Limit {
	for i := 1; i < len(limits); i++ {
		for j := range i {
			if limits[i] == limits[j] {
				out := make([]limit.Limit, 0, len(limits))
				for _, l := range limits {
					if !slices.Contains(out, l) {
						out = append(out, l)
					}
				}
				return out
			}
		}
	}
	return limits
}

func (s *Store) eval(ctx context.Context, now, key string, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	if err := ctx.Err(); err != nil {
		return limit.Decision{}, err // the caller left before asking: count nothing
	}
	c, err := s.conn(ctx)
	if err != nil {
		return limit.Decision{}, err
	}
	keys := make([]string, len(limits))
	args := make([]string, 4, 4+3*len(limits))
	args[0] = strconv.FormatInt(n, 10)
	args[1] = "0"
	if commit {
		args[1] = "1"
	}
	args[2] = s.tag
	args[3] = now
	for i, l := range limits {
		keys[i] = s.key(key, l)
		a := s.limitArgs(l)
		args = append(args, a[0], a[1], a[2])
	}
	budget, cancel := s.budget(ctx)
	vals, err := s.script.Exec(budget, c, keys, args).AsIntSlice()
	cancel()
	if err != nil {
		return limit.Decision{}, failed(ctx, err)
	}
	switch s.cfg.strategy {
	case limit.GCRA:
		return decodeGCRA(vals, uint64(n), limits)
	case limit.MovingWindow:
		return decodeMoving(vals, uint64(n), limits)
	}
	return s.decode(vals, n, commit, limits)
}
