package floodgate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// errNeverAllowed is wrapped by Wait's error for a request that no wait
// can admit.
var errNeverAllowed = errors.New("floodgate: request can never be allowed: its cost exceeds the limit")

// minRetry is the wait after a denial whose RetryAfter is 0 (a store
// that names no wait), so that Wait never spins on a store.
const minRetry = time.Millisecond

// Wait blocks until s allows key a request of cost n under every one of
// limits, and counts it, or until ctx ends. It is the keyed, shared
// counterpart of x/time/rate's Limiter.WaitN: with a Redis store, every
// instance of a service that calls a third-party API through Wait on one
// key keeps the whole fleet under the API's limit.
//
// Wait calls s.AllowN; on a denial it waits the Decision's RetryAfter on
// one timer, never longer, and asks again, since other callers may have
// taken the units meanwhile. It returns the allowing Decision and nil;
// when ctx ends first, the last Decision and ctx.Err(), with nothing
// counted. A request that no wait can admit (its cost exceeds a limit's
// count, so the Decision's RetryAfter is limit.Never) returns at once
// with that Decision and an error. Other store errors return at once
// ([ErrClosed], [ErrUnavailable] from a store without a policy), except
// that the failure policy's decisions stand, as in package httplimit:
// their errors wrap [ErrStorage], and Wait goes on by the Decision
// (under FailClosed it retries after the backoff).
//
// Waiters are not queued: each retries when its RetryAfter says, and the
// first to ask wins. Nothing is held for the future, unlike x/time/rate's
// Reserve: a reservation across instances would need the store to queue
// callers. To learn the wait without blocking, call AllowN and read the
// Decision's RetryAfter.
func Wait(ctx context.Context, s Store, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	var (
		d limit.Decision
		t *time.Timer
	)
	for {
		if err := ctx.Err(); err != nil {
			return d, err // checked first: a memory store ignores ctx and would count
		}
		wait, dd, err := reserve(ctx, s, key, n, limits...)
		d = dd
		if err != nil || wait == 0 {
			return d, err
		}
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-t.C:
		}
	}
}

// reserve asks s once whether key may make a request of cost n, and
// says how long to wait if not: 0 when allowed (and counted); the
// Decision's RetryAfter (at least minRetry) when denied; an error for a
// request no wait can admit, for ctx's end, and for store errors other
// than the failure policy's, whose decisions stand.
func reserve(ctx context.Context, s Store, key string, n int64, limits ...limit.Limit) (wait time.Duration, d limit.Decision, err error) {
	d, err = s.AllowN(ctx, key, n, limits...)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return 0, d, cerr
		}
		if !errors.Is(err, ErrStorage) {
			return 0, d, err
		}
	}
	switch {
	case d.Allowed:
		return 0, d, nil
	case d.RetryAfter == limit.Never:
		return limit.Never, d, fmt.Errorf("%w: cost %d under %v", errNeverAllowed, n, d.Limit)
	case d.RetryAfter <= 0:
		return minRetry, d, nil
	}
	return d.RetryAfter, d, nil
}
