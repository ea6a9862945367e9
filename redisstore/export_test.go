package redisstore

import (
	"context"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// The time seam of this package's tests: AllowNAt, PeekAt and RefundAt
// are a Store's AllowN, Peek and Refund at time now (since the Unix
// epoch, truncated to the microsecond) instead of the Redis server's
// clock. Counters written this way live at least a minute longer, so
// that real time passing between calls does not expire them.

func AllowNAt(ctx context.Context, s *Store, now time.Duration, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, nowArg(now), key, n, true, limits)
}

func PeekAt(ctx context.Context, s *Store, now time.Duration, key string, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, nowArg(now), key, 1, false, limits)
}

func RefundAt(ctx context.Context, s *Store, now time.Duration, key string, n int64, limits ...limit.Limit) error {
	return s.refund(ctx, nowArg(now), key, n, limits)
}
