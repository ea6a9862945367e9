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

// Option configures a Store with what a URI cannot carry: a TLS
// configuration or a client of the caller's. Everything else is a URI
// parameter (see floodgate.Open for the one list).
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Defaults of the URI parameters prefix, timeout and dial-timeout.
const (
	defaultPrefix      = "floodgate:"
	defaultTimeout     = 50 * time.Millisecond
	defaultDialTimeout = time.Second
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
		prefix:      defaultPrefix,
		timeout:     defaultTimeout,
		dialTimeout: defaultDialTimeout,
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

// withStrategy sets the algorithm for every limit (URI: strategy=), for
// tests. Stores sharing a prefix must share the strategy; the strategy is
// part of each Redis key, so two that differ count separately.
func withStrategy(s limit.Strategy) Option {
	return optionFunc(func(c *config) { c.strategy = s })
}

// withPrefix sets the prefix of every Redis key (URI: prefix=), for
// tests.
func withPrefix(p string) Option { return optionFunc(func(c *config) { c.prefix = p }) }

// withTimeout sets the budget of one decision, round trip included (URI:
// timeout=), for tests. A call whose context has an earlier deadline
// keeps it.
func withTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.timeout = d }) }

// withDialTimeout bounds connecting and the background health checks
// (URI: dial-timeout=), for tests. Decisions never wait for a dial.
func withDialTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.dialTimeout = d })
}

// withPoolSize sets how many connections carry the pipelined decisions
// to each Redis node (URI: pool-size=), for tests.
func withPoolSize(n int) Option { return optionFunc(func(c *config) { c.poolSize = n }) }

// WithTLSConfig sets the TLS configuration of every connection, for a
// private CA or mutual TLS; it turns TLS on for any scheme. Default: for
// rediss://, the system roots with the URI's host as ServerName; for the
// other schemes, no TLS.
func WithTLSConfig(c *tls.Config) Option {
	return optionFunc(func(cfg *config) { cfg.tlsConfig = c })
}

// withLogger sets where the store logs what an operator must know: one
// warning at connect when the server's maxmemory-policy evicts keys.
// floodgate.Open passes its logger (floodgate.WithLogger); a Store opened
// here logs on slog.Default().
func withLogger(l *slog.Logger) Option {
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
