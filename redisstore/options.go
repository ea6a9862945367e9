package redisstore

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Policy says what a Store decides when Redis cannot answer in time.
type Policy uint8

const (
	// FailFallback, the default, judges the request with the Fallback
	// given by [WithFallback]: in-memory limits per process, so that a
	// service of K instances allows at most K times each limit while
	// Redis is down, instead of everything (FailOpen) or nothing
	// (FailClosed). Without a Fallback it acts as FailClosed.
	FailFallback Policy = iota
	// FailOpen allows every request while Redis is down: availability
	// over protection.
	FailOpen
	// FailClosed denies every request while Redis is down, with a
	// RetryAfter of the backoff: protection over availability.
	FailClosed
)

// String returns the policy's name as used in URIs: "memory", "open" or
// "closed".
func (p Policy) String() string {
	switch p {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	}
	return "memory"
}

// ParsePolicy returns the Policy named by s, as printed by String.
func ParsePolicy(s string) (Policy, bool) {
	for _, p := range []Policy{FailFallback, FailOpen, FailClosed} {
		if s == p.String() {
			return p, true
		}
	}
	return 0, false
}

// Fallback judges requests while Redis is down under FailFallback.
// *engine.Engine implements it; the floodgate package passes one.
type Fallback interface {
	AllowN(key string, n int64, limits ...limit.Limit) limit.Decision
	Peek(key string, limits ...limit.Limit) limit.Decision
	Reset(key string, limits ...limit.Limit)
}

// Option configures a Store. Options given to [Open] override the URI's
// query parameters.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Defaults of the options.
const (
	DefaultPrefix      = "floodgate:"
	DefaultTimeout     = 50 * time.Millisecond
	DefaultBackoff     = time.Second
	DefaultDialTimeout = time.Second
)

type config struct {
	strategy    limit.Strategy
	prefix      string
	timeout     time.Duration
	dialTimeout time.Duration
	backoff     time.Duration
	policy      Policy
	fallback    Fallback
	onError     func(error)
	log         *slog.Logger
	poolSize    int
	tls         *tls.Config
}

func defaults() config {
	return config{
		prefix:      DefaultPrefix,
		timeout:     DefaultTimeout,
		dialTimeout: DefaultDialTimeout,
		backoff:     DefaultBackoff,
	}
}

func (c *config) check() error {
	if strings.ContainsAny(c.prefix, "{}") {
		return fmt.Errorf("%w: prefix %q contains a brace, which would break the key's hash tag", ErrURI, c.prefix)
	}
	if c.timeout <= 0 || c.dialTimeout <= 0 || c.backoff <= 0 {
		return fmt.Errorf("%w: timeouts and backoff must be positive", ErrURI)
	}
	switch c.strategy {
	case limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow:
	default:
		return fmt.Errorf("%w: unknown strategy %d (want sliding-window, fixed-window, gcra or moving-window)", ErrURI, c.strategy)
	}
	return nil
}

// WithStrategy sets the algorithm for every limit (URI: strategy=). Default
// limit.SlidingWindow. Stores sharing a prefix must share the strategy;
// the strategy is part of each Redis key, so two that differ count
// separately. All four strategies are available; Open refuses an unknown
// value. See the package documentation for what each costs in Redis.
func WithStrategy(s limit.Strategy) Option {
	return optionFunc(func(c *config) { c.strategy = s })
}

// WithPrefix sets the prefix of every Redis key (URI: prefix=). Default
// "floodgate:". Use one prefix per application sharing a Redis; it must
// not contain braces.
func WithPrefix(p string) Option { return optionFunc(func(c *config) { c.prefix = p }) }

// WithTimeout sets the budget of one decision, round trip included (URI:
// timeout=, a Go duration). Default 50 ms. A call whose context has an
// earlier deadline keeps it. When the budget runs out the request is
// judged by the policy; too short a budget turns latency spikes into
// policy decisions, too long a one holds requests while Redis hangs.
func WithTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.timeout = d }) }

// WithDialTimeout bounds connecting and the background health checks
// (URI: dial-timeout=). Default 1 s. Decisions never wait for a dial.
func WithDialTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.dialTimeout = d })
}

// WithBackoff sets how long a Store judges by its policy after Redis
// failed, before a background health check tries Redis again (URI:
// backoff=). Default 1 s. Shorter recovers sooner after an outage; longer
// spares a struggling Redis.
func WithBackoff(d time.Duration) Option { return optionFunc(func(c *config) { c.backoff = d }) }

// WithPolicy sets what is decided while Redis is down (URI:
// failure=memory|open|closed). Default FailFallback.
func WithPolicy(p Policy) Option { return optionFunc(func(c *config) { c.policy = p }) }

// WithFallback sets the in-memory limiter used under FailFallback.
// Default none, which makes FailFallback act as FailClosed. The floodgate
// package always passes an engine.
func WithFallback(f Fallback) Option { return optionFunc(func(c *config) { c.fallback = f }) }

// WithErrorHandler sets a function called with every storage error: each
// failed decision and each failed health check. It must be fast and safe
// for concurrent use. Default none.
func WithErrorHandler(f func(error)) Option { return optionFunc(func(c *config) { c.onError = f }) }

// WithLogger sets the logger that records when Redis becomes unavailable
// and when it recovers (one line per change, not per request). Default
// slog.Default().
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.log = l }) }

// WithPoolSize sets how many connections carry the pipelined decisions
// to each Redis node, rounded up to a power of two, at most 256 (URI:
// pool-size=). Default: the client's, 4 for a single Redis and 1 per
// cluster node. Decisions from all goroutines share these connections,
// so a few suffice; more help only when one connection's socket is the
// bottleneck.
func WithPoolSize(n int) Option { return optionFunc(func(c *config) { c.poolSize = n }) }

// WithTLSConfig sets the TLS configuration of every connection: the
// Redis server of a rediss:// URI, and with this option also every node
// of a cluster and the sentinels and master of a Sentinel URI. It is
// cloned; a ServerName left empty is taken from each address dialed.
// Default: for rediss:// only, the system roots with the ServerName of
// the URI's host (see also the URI's ssl_cert_reqs); no TLS otherwise.
// Use it for a private CA (RootCAs) or a client certificate
// (Certificates) when the server requires one (tls-auth-clients yes). A
// redis+unix:// socket ignores it.
func WithTLSConfig(c *tls.Config) Option { return optionFunc(func(cfg *config) { cfg.tls = c }) }
