package floodgate

import (
	"log/slog"
	"time"

	"github.com/floodgate-go/floodgate/clock"
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
	clk      clock.Clock

	leaseN   int64   // units per lease; 0: leasePct of the smallest count
	leasePct float64 // percent of the smallest count per lease
	leaseTTL time.Duration
	leaseHot int64 // calls per TTL above which a key is hot; 0: the slice
}

func defaultOptions() options {
	return options{log: slog.Default(), backoff: time.Second, clk: clock.System(),
		leasePct: DefaultLeasePercent, leaseTTL: DefaultLeaseTTL}
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

// WithLeaseSlice sets how many units one lease of a [Lease] takes from
// its primary store (URI: lease=N). Larger slices save more round trips
// and raise the overshoot bound K·(S−1) of K instances; requests of cost
// ≥ N go to the primary. Default: [DefaultLeasePercent] of each limit;
// values ≤ 0 keep it.
func WithLeaseSlice(n int64) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.leaseN, o.leasePct = n, 0
		}
	})
}

// WithLeasePercent sets a [Lease]'s slice as a percentage of the count
// of the call's smallest limit, at least 1 unit (URI: lease=10%). Default
// [DefaultLeasePercent]; values outside (0, 100] keep the default.
func WithLeasePercent(p float64) Option {
	return optionFunc(func(o *options) {
		if p > 0 && p <= 100 {
			o.leaseN, o.leasePct = 0, p
		}
	})
}

// WithLeaseTTL sets how long a [Lease] may spend a slice after taking it,
// at most the shortest period of the limits (URI: lease-ttl=). Shorter
// wastes fewer units of a key that cools down and follows the primary's
// windows more closely; longer saves round trips on moderately hot keys.
// Default [DefaultLeaseTTL]; values ≤ 0 keep it.
func WithLeaseTTL(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.leaseTTL = d
		}
	})
}

// WithLeaseHot sets how many calls a key must make within one lease TTL
// before a [Lease] decides it from slices; below it, every call goes to
// the primary. Default 0: the slice's size, so that a key is leased only
// when it would spend a slice within its TTL.
func WithLeaseHot(n int64) Option { return optionFunc(func(o *options) { o.leaseHot = max(0, n) }) }

// WithClock sets the clock of the wrappers that keep time of their own (a
// [Lease]'s TTLs and remembered denials). Default clock.System(); tests
// use clock.Manual.
func WithClock(c clock.Clock) Option {
	return optionFunc(func(o *options) {
		if c != nil {
			o.clk = c
		}
	})
}
