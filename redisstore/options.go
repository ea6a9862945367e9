package redisstore

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
)

// Option configures a Store. Options given to [Open] override the URI's
// query parameters.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Defaults of the options.
const (
	DefaultPrefix      = "floodgate:"
	DefaultTimeout     = 50 * time.Millisecond
	DefaultDialTimeout = time.Second
)

type config struct {
	strategy    limit.Strategy
	prefix      string
	timeout     time.Duration
	dialTimeout time.Duration
	tlsConfig   *tls.Config
	client      rueidis.Client
	evaler      Evaler
	poolSize    int
	logger      *slog.Logger
}

func defaults() config {
	return config{
		prefix:      DefaultPrefix,
		timeout:     DefaultTimeout,
		dialTimeout: DefaultDialTimeout,
	}
}

func (c *config) check() error {
	if strings.ContainsAny(c.prefix, "{}") {
		return fmt.Errorf("%w: prefix %q contains a brace, which would break the key's hash tag", floodgate.ErrURI, c.prefix)
	}
	if c.client != nil && c.evaler != nil {
		return fmt.Errorf("%w: WithClient and WithEvaler exclude each other", floodgate.ErrURI)
	}
	if c.timeout <= 0 || c.dialTimeout <= 0 {
		return fmt.Errorf("%w: timeouts must be positive", floodgate.ErrURI)
	}
	switch c.strategy {
	case limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow:
	default:
		return fmt.Errorf("%w: unknown strategy %d (want sliding-window, fixed-window, gcra or moving-window)", floodgate.ErrURI, c.strategy)
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

// WithPoolSize sets how many connections carry the pipelined decisions
// to each Redis node, rounded up to a power of two, at most 256 (URI:
// pool-size=). Default: the client's, 4 for a single Redis and 1 per
// cluster node. Decisions from all goroutines share these connections,
// so a few suffice; more help only when one connection's socket is the
// bottleneck.
func WithPoolSize(n int) Option { return optionFunc(func(c *config) { c.poolSize = n }) }

// WithTLSConfig sets the TLS configuration of every connection, for a
// private CA or mutual TLS; it turns TLS on for any scheme. Default: for
// rediss://, the system roots with the URI's host as ServerName; for the
// other schemes, no TLS.
func WithTLSConfig(c *tls.Config) Option {
	return optionFunc(func(cfg *config) { cfg.tlsConfig = c })
}

// WithLogger sets where the store logs what an operator must know, which
// today is one warning at connect when the server's maxmemory-policy
// evicts keys (allkeys-* or volatile-*): under memory pressure such a
// server drops rate-limit counters, and a flood of keys from one client
// can evict the counters of others, resetting their limits. Default
// slog.Default(); nil means the default.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithClient makes the store use an existing rueidis client instead of
// dialing its own: the URI's address, credentials, TLS and pool
// parameters are then ignored (any valid one will do, such as
// "redis://localhost"); its strategy, prefix and timeout still apply. Close leaves the client open; its owner closes it. The client
// must not retry or cache (DisableRetry, DisableCache), or decisions may
// be counted twice or read stale. Default none.
func WithClient(c rueidis.Client) Option {
	return optionFunc(func(cfg *config) { cfg.client = c })
}
