package redisstore_test

import (
	"context"
	"testing"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAllowNAllocs holds the client side of a decision to its measured
// allocations: the Redis key string and rueidis's reply array, for one or
// two limits of a known key (BenchmarkAllowN measures them under load).
func TestAllowNAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	r := storetest.StartRedis(t)
	for _, strategy := range []string{"sliding-window", "fixed-window", "gcra", "moving-window"} {
		t.Run("strategy="+strategy, func(t *testing.T) {
			s := open(t, r, "strategy="+strategy+"&timeout=2s")
			ctx := context.Background()
			for _, tc := range []struct {
				limits []limit.Limit
				max    float64
			}{
				{[]limit.Limit{limit.PerMinute(limit.MaxCount)}, 2},
				{[]limit.Limit{limit.PerMinute(limit.MaxCount), limit.PerHour(limit.MaxCount)}, 3},
			} {
				d, err := s.AllowN(ctx, "user 1", 1, tc.limits...)
				require.NoError(t, err, "AllowN(user 1, %v)", tc.limits)
				require.True(t, d.Allowed, "AllowN(user 1, %v) = %+v, want allowed", tc.limits, d)
				// Allocations are counted process-wide; the least of three
				// runs leaves out the client's background work (dialing
				// its other connections, pings).
				allocs := 1e9
				for range 3 {
					allocs = min(allocs, testing.AllocsPerRun(200, func() { _, _ = s.AllowN(ctx, "user 1", 1, tc.limits...) }))
				}
				assert.LessOrEqual(t, allocs, tc.max, "allocations per AllowN(user 1, %v)", tc.limits)
			}
			// Limits passed one by one: the variadic slice stays on the
			// caller's stack (a decision that waits to be coalesced
			// copies its limits), over keys that change.
			l, keys, i := limit.PerMinute(limit.MaxCount), []string{"user 1", "user 2", "user 3"}, 0
			allocs := 1e9
			for range 3 {
				allocs = min(allocs, testing.AllocsPerRun(200, func() { i++; _, _ = s.AllowN(ctx, keys[i%3], 1, l) }))
			}
			assert.LessOrEqual(t, allocs, 2.0, "allocations per AllowN(user i, l)")
		})
	}
}
