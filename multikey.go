package floodgate

import (
	"context"
	"errors"
	"math"

	"github.com/floodgate-go/floodgate/limit"
)

// Charge is one key's part of a decision over several keys
// (Store.AllowAll): a cost N for Key under every one of Limits.
type Charge struct {
	Key    string
	N      int64
	Limits []limit.Limit
}

// AllowEach is the generic Store.AllowAll for a store that decides one
// key at a time: it returns what Store.AllowAll returns, deciding each
// charge in order by s.AllowN and, when one denies, giving back the
// charges already counted by s.Refund. Stores without an atomic path
// over several keys implement their AllowAll by calling it with
// themselves; callers use Store.AllowAll.
//
// What it guarantees: each charge is decided atomically in s, so no
// limit is ever exceeded; a request denied by any charge ends with none
// of its charges counted, once the refunds are made. Its refund window:
// between counting an earlier charge and refunding it, a concurrent
// request may see those units taken and be denied. The window lasts as
// long as the remaining AllowN calls and the refunds: nanoseconds in
// memory, round trips on a network store. A denial by the first charge
// has no window.
//
// The error is the first one a charge returned (its Decision is the
// store's answer under its failure policy), joined with the error of
// every refund that failed: a store that cannot refund
// (errors.ErrUnsupported) keeps the earlier charges counted, and the
// error says so. Refunds run even when ctx has ended
// (context.WithoutCancel), so that a hung-up caller leaves nothing
// counted that it was denied.
func AllowEach(ctx context.Context, s Store, charges ...Charge) (limit.Decision, int, error) {
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
