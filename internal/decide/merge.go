package decide

import (
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Merge folds d, the Decision of one more limit of a call of several
// limits, into acc, the call's Decision so far; the first limit's
// Decision is the start. The engine and the Redis store's decoders both
// fold with it, so that a call of several limits answers the same on
// both.
//
// When every limit allows, each Decision describes its limit after the
// request, and the call's Decision is the one with the fewest Remaining
// (the first on ties). When the call is denied, each Decision must
// describe its limit without the request, with RetryAfter the limit's own
// least wait (0 for a limit that alone would allow: see Window.Decide,
// Bucket.Decide and Log.Decide with allowed false). Every strategy's
// admission test is monotone in time, so the call is allowed exactly
// when every limit's own wait has passed, and its least wait is the
// largest of them, exact to the nanosecond: the call's Decision is that
// limit's (the first on ties), with Remaining the smallest over every
// limit, so that it never claims units that some limit lacks.
func Merge(acc, d limit.Decision) limit.Decision {
	if acc.Allowed {
		if d.Remaining < acc.Remaining {
			return d
		}
		return acc
	}
	rem := min(acc.Remaining, d.Remaining)
	if d.RetryAfter > acc.RetryAfter {
		acc = d
	}
	acc.Remaining = rem
	return acc
}

// Later moves the waits of a Decision judged ahead of its reading (a
// reading older than a limit's newest window is judged at that window's
// start) back to the reading: a wait is a promise from the caller's now,
// denied at now+RetryAfter−1ns and allowed at now+RetryAfter. Waits too
// long for a Duration saturate at limit.Never.
func Later(d limit.Decision, ahead time.Duration) limit.Decision {
	if ahead > 0 {
		if d.RetryAfter > 0 {
			d.RetryAfter = min(d.RetryAfter, limit.Never-ahead) + ahead
		}
		if d.ResetAfter > 0 {
			d.ResetAfter = min(d.ResetAfter, limit.Never-ahead) + ahead
		}
	}
	return d
}
