package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Options that URI parameters set, exported to this package's external
// tests only: with WithEvaler there is no URI to carry them, and a
// logger has no URI form at all.
var (
	WithPrefix  = withPrefix
	WithTimeout = withTimeout
	WithLogger  = withLogger
)

// The time seam of this package's tests: AllowNAt, PeekAt and RefundAt
// are a Store's AllowN, Peek and Refund at time now (since the Unix
// epoch, truncated to the microsecond) instead of the Redis server's
// clock, as a clock carried by the ctx (internal/seam) makes them.
// Counters written this way live at least a minute longer, so that real
// time passing between calls does not expire them.

func AllowNAt(ctx context.Context, s *Store, now time.Duration, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, nowArg(now), key, n, true, limits)
}

func PeekAt(ctx context.Context, s *Store, now time.Duration, key string, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, nowArg(now), key, 1, false, limits)
}

func RefundAt(ctx context.Context, s *Store, now time.Duration, key string, n int64, limits ...limit.Limit) error {
	return s.refund(ctx, nowArg(now), key, n, limits)
}

func nowArg(now time.Duration) string {
	return strconv.FormatInt(max(0, int64(now/time.Microsecond)), 10)
}

// Lane reports the calls in flight on s's lane on a single Redis and how
// many decisions wait in its queue (coalescing, batch.go), for tests that
// need one to be queued.
func Lane(s *Store) (busy, queued int) {
	ln := &s.lanes.one
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.busy, len(ln.queue)
}
