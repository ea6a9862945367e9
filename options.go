package floodgate

import (
	"log/slog"

	"github.com/floodgate-go/floodgate/clock"
)

// Option configures [Open]. Options are built by the With functions;
// with none, the documented defaults apply. Everything else is set in
// the storage URI (see Open for its one list of parameters).
type Option interface{ apply(*options) }

type options struct {
	log     *slog.Logger
	onError func(error)
	obs     Observer
	clk     clock.Clock
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets the logger of everything Open builds: the failure
// policy's wrapper records there, one line per change of state, when the
// primary store becomes unavailable and when it recovers, and a network
// store what an operator must know (redisstore: a maxmemory-policy that
// evicts counters). Nothing is logged per request. Default
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.log = l
		}
	})
}

// WithErrorHandler sets the one error hook: the failure policy calls it
// with every error it answered (each wraps [ErrStorage]), including calls
// answered without trying a primary that is marked down. A caller's own
// cancellation is not an error here. It must be fast and safe for
// concurrent use. Default none.
func WithErrorHandler(f func(error)) Option { return optionFunc(func(o *options) { o.onError = f }) }

// WithObserver sets the [Observer] told of store calls and health: Open
// wraps the Store it returns with [Observe], so that every call is
// reported, and the failure policy's wrapper reports each change of the
// primary's health. Default none: nothing is timed or reported.
func WithObserver(o Observer) Option { return optionFunc(func(opt *options) { opt.obs = o }) }

// WithClock sets the clock of everything Open keeps time with in this
// process: the in-memory engine (memory:// and the failure policy's
// backup), the failure policy's backoff and the lease's TTLs. A network
// store keeps its server's clock. Default clock.System(); tests use
// clock.Manual.
func WithClock(c clock.Clock) Option {
	return optionFunc(func(o *options) {
		if c != nil {
			o.clk = c
		}
	})
}
