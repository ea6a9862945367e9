package redisstore

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/floodgate-go/floodgate/internal/seam"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
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
	return s.decide(ctx, testNow(ctx), key, n, true, limits)
}

// Peek returns the Decision that AllowN(ctx, key, 1, limits...) would
// return, without counting anything.
func (s *Store) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, testNow(ctx), key, 1, false, limits)
}

// testNow returns the script's time argument: "" for the Redis server's
// TIME, or, in tests only, the time of a clock carried by ctx
// (internal/seam), truncated to the microsecond; counters written at such
// a time live at least a minute, so that real time passing between
// calls does not expire them.
func testNow(ctx context.Context) string {
	now, ok := seam.Now(ctx)
	if !ok {
		return ""
	}
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
	if s.cfg.evaler != nil {
		return s.delVia(ctx, keys)
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

// inlineLimits is how many limits a decision takes without allocating
// its KEYS and ARGV: they live on the stack (rueidis copies the strings
// into its pooled command), and the reply's integers in a pooled array.
const inlineLimits = 4

// replyInts is a pooled buffer for the script's reply, which the largest
// reply of inlineLimits limits fits (GCRA: 2 + 4 per limit).
type replyInts [2 + 4*inlineLimits]int64

var replyPool = sync.Pool{New: func() any { return new(replyInts) }}

func (s *Store) eval(ctx context.Context, now, key string, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	if err := ctx.Err(); err != nil {
		return limit.Decision{}, err // the caller left before asking: count nothing
	}
	c, err := s.conn(ctx)
	if err != nil {
		return limit.Decision{}, err
	}
	if s.cfg.evaler == nil {
		return s.coalesce(ctx, c, now, key, n, commit, limits)
	}
	// Through an Evaler, one call of the single script per decision: an
	// Evaler runs one script call at a time for its caller.
	keys := make([]string, 0, len(limits))
	for _, l := range limits {
		keys = append(keys, s.key(key, l))
	}
	args := s.singleArgs(make([]string, 0, 4+len(limits)), now, n, commit, limits)
	vals, err := s.evalVia(ctx, s.src, keys, args)
	if err != nil {
		return limit.Decision{}, err
	}
	if s.short(limits) && len(vals) == 3 {
		vals = widen(make([]int64, 0, 4), vals[0], vals[1], vals[2])
	}
	return s.decodeAs(vals, n, commit, limits)
}

// isReply reports whether err is a reply of the server's: an error
// reply, not a failure to get one.
func isReply(err error) bool {
	_, ok := rueidis.IsRedisErr(err)
	return ok
}
