package floodgate

import "log/slog"

// Option configures Open. Options are built by the With functions; with
// none, Open uses the documented defaults.
type Option interface{ apply(*options) }

type options struct {
	log     *slog.Logger
	onError func(error)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets the logger on which a Redis store records, one line per
// change, when Redis becomes unavailable and when it recovers, and error
// replies at most once per backoff. Default slog.Default(). memory://
// ignores it.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.log = l }) }

// WithErrorHandler sets a function that a Redis store calls with every
// storage error: each decision judged by the failure policy and each
// failed background health check. Use it for metrics; it must be fast and
// safe for concurrent use. Default none. memory:// ignores it, since the
// memory engine never fails.
func WithErrorHandler(f func(error)) Option { return optionFunc(func(o *options) { o.onError = f }) }
