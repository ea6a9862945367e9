package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/limit"
)

// TestSlidingSmallLimits checks the numbers that docs/strategies.md and
// docs/http.md give for small limits under the sliding-window counter.
// A steady client starts at a window boundary, sends as soon as it may,
// and retries exactly at each Retry-After, for 30 periods; a bursty
// client uses its whole count at the start of a window and asks again r
// later.
func TestSlidingSmallLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		l         limit.Limit
		perPeriod float64       // steady client: admitted per period
		retry     time.Duration // steady client: every Retry-After
	}{
		{"1/minute", limit.PerMinute(1), 0.5, 120 * time.Second},
		{"2/minute", limit.PerMinute(2), 1, 60 * time.Second},
		{"5/minute", limit.PerMinute(5), 4, 15 * time.Second},
	} {
		t.Run("steady/"+tc.name, func(t *testing.T) {
			e, c := newEngine(t, limit.SlidingWindow, 0)
			now, admitted := time.Duration(0), 0
			end := 30 * tc.l.Period()
			for now < end {
				d := allowAt(e, c, now, "k", 1, tc.l)
				if d.Allowed {
					if now >= 2*tc.l.Period() {
						admitted++
					}
					continue // and ask again at once
				}
				if now >= 2*tc.l.Period() { // past the first burst
					assert.Equal(t, tc.retry, d.RetryAfter, "AllowN at %v denied: RetryAfter", now)
				}
				now += d.RetryAfter
			}
			assert.InDelta(t, tc.perPeriod, float64(admitted)/28, 0.05, "admitted per period in steady state")
		})
	}
	t.Run("burst/5/minute", func(t *testing.T) {
		l := limit.PerMinute(5)
		for _, r := range []time.Duration{0, time.Second, 3 * time.Second} {
			e, c := newEngine(t, limit.SlidingWindow, 0)
			require.True(t, allowAt(e, c, 0, "k", 5, l).Allowed)
			d := allowAt(e, c, r, "k", 1, l)
			// (P−r) + P − ⌊(L−n)·P/cur⌋ = 60 s − r + 60 s − 48 s.
			assert.Equal(t, 72*time.Second-r, d.RetryAfter, "RetryAfter at r=%v after 5 at 0", r)
			assert.Equal(t, 120*time.Second-r, d.ResetAfter, "ResetAfter at r=%v after 5 at 0", r)
		}
	})
}
