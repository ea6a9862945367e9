// Package seam carries a test clock, through a context, to the stores
// that otherwise read their server's clock (redisstore), so that one
// clock.Manual drives every store and every wrapper stack in the
// contract suite (internal/storetest) and in the tests that compare
// Redis with the engine. It is internal: a user cannot set it, and a
// network store in production always judges by its server's time.
package seam

import (
	"context"
	"time"

	"github.com/floodgate-go/floodgate/clock"
)

type clockKey struct{}

// WithClock returns ctx carrying c: a store that honours the seam
// judges the calls made with it at c.Now(), measured from the Unix
// epoch, instead of at its server's time.
func WithClock(ctx context.Context, c clock.Clock) context.Context {
	return context.WithValue(ctx, clockKey{}, c)
}

// Now returns the time of ctx's clock and true, or false when ctx
// carries none.
func Now(ctx context.Context) (time.Duration, bool) {
	c, ok := ctx.Value(clockKey{}).(clock.Clock)
	if !ok {
		return 0, false
	}
	return c.Now(), true
}
