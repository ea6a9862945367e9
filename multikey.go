package floodgate

import (
	"context"
	"errors"
	"math"

	"github.com/floodgate-go/floodgate/limit"
)

// Charge is one key's part of a decision over several keys: a cost N
// for Key under every one of Limits.
type Charge struct {
	Key    string
	N      int64
	Limits []limit.Limit
}

// AllowAll decides charges together, all or nothing: the request is
// allowed, and every charge counted, only if every charge fits; a charge
// that denies consumes none of the others. It returns the Decision that
// decided (the first denial, or, when all allowed, the one with the
// fewest units left) and the index of its charge; with no charges it
// allows and returns -1.
//
// The charges are judged in order, each atomically in its store, and a
// denial refunds the charges already counted (Store.Refund). Between the
// count and the refund a concurrent request may see those units taken
// and be denied: never is a request allowed beyond a limit. The error is
// the first one a charge returned (its Decision is the store's answer
// under its failure policy), joined with the error of every refund that
// failed: a store that cannot refund (errors.ErrUnsupported) keeps the
// earlier charges counted, and the error says so.
func AllowAll(ctx context.Context, s Store, charges ...Charge) (limit.Decision, int, error) {
	best, at := limit.Decision{Allowed: true, Remaining: math.MaxInt64}, -1
	var first error
	for i, c := range charges {
		d, err := s.AllowN(ctx, c.Key, c.N, c.Limits...)
		if err != nil && first == nil {
			first = err
		}
		if !d.Allowed {
			for _, done := range charges[:i] {
				if err := s.Refund(context.WithoutCancel(ctx), done.Key, done.N, done.Limits...); err != nil {
					// The earlier charge stays counted: say so.
					first = errors.Join(first, err)
				}
			}
			return d, i, first
		}
		if at < 0 || d.Remaining < best.Remaining {
			best, at = d, i
		}
	}
	if at < 0 {
		best.Remaining = 0
	}
	return best, at, first
}
