package redisstore

import (
	"context"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
)

// AllowAll decides charges together, all or nothing, with the results of
// floodgate.Store.AllowAll: allowed, and every charge counted, only if
// every charge fits; a request denied by any charge ends with none of
// its charges counted.
//
// It decides charge by charge (floodgate.AllowEach): one AllowN round
// trip per charge, in order, and on a denial one Refund round trip per
// charge already counted. Each charge is atomic on Redis, so no limit is
// ever exceeded, but between a count and its refund a concurrent request
// may see those units taken and be denied, for as long as the remaining
// round trips take. It fails like AllowN; a refund that fails is joined
// to the error, and its charge stays counted.
func (s *Store) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return floodgate.AllowEach(ctx, s, charges...)
}
