package decide

import (
	"math"
	"time"
)

// CeilSeconds rounds d up to whole seconds, 0 for d ≤ 0: the value of
// the rate-limit fields that count seconds (HTTP's Retry-After and
// X-RateLimit-Reset, gRPC's metadata mirroring them), so that a client
// waiting that long never comes back early. A d within a second of the
// largest Duration rounds down instead of overflowing.
func CeilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	if d > math.MaxInt64-time.Second {
		return int64(d / time.Second)
	}
	return int64((d + time.Second - 1) / time.Second)
}
