package limit

import (
	"math"
	"time"
)

// Never is the RetryAfter of a request that can never be allowed, because
// its cost is larger than the limit's count.
const Never = time.Duration(math.MaxInt64)

// Strategy names a rate-limiting algorithm. Every backend implements the
// same strategies with the same answers; the engine and Redis store
// documentation give the exact arithmetic.
type Strategy uint8

const (
	// SlidingWindow is the sliding-window counter, the default: two
	// epoch-aligned windows of one period, with the previous window's count
	// weighted by the fraction of it that still overlaps the last period.
	// O(1) state per key; it never allows more than the limit in any
	// epoch-aligned window, and at most twice the limit in an arbitrary
	// window of one period (see the engine documentation for the bound).
	SlidingWindow Strategy = iota
	// FixedWindow counts per epoch-aligned window of one period. Cheapest
	// and exact per window, but allows up to twice the limit across a
	// window boundary.
	FixedWindow
	// GCRA is the generic cell rate algorithm, a token bucket kept as one
	// number per key: a bucket of Burst units that refills one unit every
	// Period/Count. Smooth, never more than Burst at once.
	GCRA
	// MovingWindow is an exact sliding log: a request is allowed if the
	// units allowed in the last Period, plus its own, are at most Count.
	// An allowed request at time t stops counting at exactly t+Period.
	// Exact, but it keeps up to Count entries per key.
	MovingWindow
)

// String returns the strategy's name as used in storage URIs:
// "sliding-window", "fixed-window", "gcra" or "moving-window".
func (s Strategy) String() string {
	switch s {
	case SlidingWindow:
		return "sliding-window"
	case FixedWindow:
		return "fixed-window"
	case GCRA:
		return "gcra"
	case MovingWindow:
		return "moving-window"
	}
	return "unknown"
}

// ParseStrategy returns the Strategy named by s and reports whether s
// names one. It accepts the names that String prints ("sliding-window",
// "fixed-window", "gcra", "moving-window") and those of the Python limits
// library: "sliding-window-counter" for SlidingWindow, and
// "fixed-window" and "moving-window", which are the same in both. Names
// are case-sensitive.
func ParseStrategy(s string) (Strategy, bool) {
	if s == "sliding-window-counter" {
		return SlidingWindow, true
	}
	for _, st := range []Strategy{SlidingWindow, FixedWindow, GCRA, MovingWindow} {
		if s == st.String() {
			return st, true
		}
	}
	return 0, false
}

// Decision is the answer to one rate-limit check, returned by value.
//
// For a check of several limits at once it describes the limit that
// decided: when all allowed, the one with the fewest remaining units;
// when denied, the one with the longest wait, with RetryAfter the least
// wait after which the whole request would be allowed and Remaining the
// fewest units left under any of the limits.
type Decision struct {
	// Allowed reports whether the request was allowed (and, unless it was
	// a peek, consumed its cost).
	Allowed bool
	// Limit is the limit this decision describes.
	Limit Limit
	// Remaining is how many cost units the limit would still allow right
	// now, after this request.
	Remaining int64
	// RetryAfter is how long until a request of the same cost would be
	// allowed: 0 when allowed, Never when the cost exceeds the limit.
	RetryAfter time.Duration
	// ResetAfter is how long until the key's usage of the limit returns to
	// zero, that is, until the whole limit is available again, if no more
	// requests arrive.
	ResetAfter time.Duration
}
