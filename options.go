package floodgate

import (
	"log/slog"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Option configures [Open] and [NewFallback]. Options are built by the
// With functions; with none, the documented defaults apply.
type Option interface{ apply(*options) }

type options struct {
	log      *slog.Logger
	onError  func(error)
	backoff  time.Duration
	strategy string // Open's strategy when the URI names none
	obs      Observer
}

func defaultOptions() options {
	return options{log: slog.Default(), backoff: time.Second}
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets the logger on which a [Fallback] records, one line per
// change of state, when its primary store becomes unavailable and when it
// recovers; it never logs per request. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.log = l
		}
	})
}

// WithErrorHandler sets the one error hook: a [Fallback] calls it with
// every error it answered by its failure policy (each wraps [ErrStorage]),
// including calls answered without trying a primary that is marked
// down. A caller's own cancellation is not an error here. Use it for
// metrics; it must be fast and safe for concurrent use. Default none.
func WithErrorHandler(f func(error)) Option { return optionFunc(func(o *options) { o.onError = f }) }

// WithBackoff sets how long a [Fallback] keeps a failed primary marked
// down before one request tries it again (URI: backoff=). Shorter
// recovers sooner; longer sends fewer requests into a struggling store.
// Default 1s; values ≤ 0 keep the default.
func WithBackoff(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.backoff = d
		}
	})
}

// WithDefaultStrategy sets the strategy [Open] uses when the URI has no
// strategy parameter, for code that needs another default than the
// sliding window (an adapter for a limiter whose semantics are those of a
// fixed window, say); a strategy in the URI still wins. NewFallback
// ignores it. Default limit.SlidingWindow.
func WithDefaultStrategy(s limit.Strategy) Option {
	return optionFunc(func(o *options) { o.strategy = s.String() })
}

// WithObserver sets the [Observer] told of store calls and health. A
// [Fallback] calls its ObserveHealth once per change of state of its
// primary (the moments it logs). [Open] does that, and also wraps the
// Store it returns with [Observe], so that every call is reported; a
// Fallback built with [NewFallback] reports only its health: wrap it with
// Observe for the calls. Default none: nothing is timed or reported.
func WithObserver(o Observer) Option { return optionFunc(func(opt *options) { opt.obs = o }) }
