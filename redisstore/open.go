package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
)

// ErrReply reports that Redis answered this request with an error, such
// as WRONGTYPE when a counter's key holds a value of another kind. Replies
// that mean the server cannot serve at all (LOADING, BUSY, READONLY, …)
// wrap floodgate.ErrUnavailable instead.
var ErrReply = errors.New("redisstore: redis error reply")

// The batch scripts (lua/batch.lua) and the single ones (lua/single.lua),
// one of each per family of strategies; a Store uses one pair.
var (
	windowLua = rueidis.NewLuaScript(windowBatch)
	gcraLua   = rueidis.NewLuaScript(gcraBatch)
	movingLua = rueidis.NewLuaScript(movingBatch)

	windowSingle = rueidis.NewLuaScript(windowScript)
	gcraSingle   = rueidis.NewLuaScript(gcraScript)
	movingSingle = rueidis.NewLuaScript(movingScript)
)

func init() {
	open := func(uri string, log *slog.Logger) (floodgate.Store, error) { return Open(uri, withLogger(log)) }
	for _, scheme := range []string{"redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster"} {
		floodgate.Register(scheme, open)
	}
}

// Store is a rate limiter whose counters live in Redis: each decision
// atomic in one EVALSHA (shared, under load, with the decisions queued
// behind the calls in flight; see Coalescing in the package doc), judged
// on the Redis server's clock, with the memory engine's exact answers. It satisfies floodgate.Store. It has no
// failure policy: it reports failures, and floodgate.Fallback (which
// floodgate.Open puts around it) decides what they mean.
//
// The zero Store is not usable; call [Open]. A Store is safe for
// concurrent use and must not be copied. Close it to release its
// connections.
type Store struct {
	cfg     config
	sliding bool
	tag     string       // the strategy's part of each key: "s:", "f:", "g:" or "m:"
	heads   [2]string    // the batch script's first argument: tag and mode "i", tag and "a"
	script  *rueidis.Lua // the batch script (lua/batch.lua)
	single  *rueidis.Lua // the single script (lua/single.lua), for a lone decision
	src     string       // the single script's Lua source, for an Evaler
	opt     rueidis.ClientOption
	owned   bool // the Store made the client, and closes it

	client  atomic.Pointer[rueidis.Client] // nil until the first connection
	ready   chan struct{}                  // closed after the first connection attempt
	lastErr atomic.Pointer[error]          // why the last connection attempt failed

	args      atomic.Pointer[map[limit.Limit]string] // cached limit arguments (limitArg)
	lanes     lanes                                  // coalescing of concurrent decisions (batch.go)
	deadlines deadlines                              // the shared time budgets of round trips

	probing atomic.Bool // a PING measures the latency after an overrun (budget.go)

	mu     sync.Mutex // orders Close against the connecting goroutine
	stop   chan struct{}
	closed atomic.Bool
	_      noCopy
}

var _ floodgate.Store = (*Store)(nil)

// Open returns a Store on the Redis named by uri, one of the redis
// schemes of floodgate.Open, with the Redis parameters that
// floodgate.Open lists (strategy, prefix, timeout, dial-timeout,
// pool-size, client-name, db, ssl_cert_reqs and redis-py's names). opts
// add what a URI cannot carry. The failure policy is not the store's:
// floodgate.Open reads the failure, backoff, max-keys and lease
// parameters and wraps the store with floodgate.NewFallback.
//
// Open never waits for Redis. It fails only on a malformed URI or option,
// with an error wrapping floodgate.ErrURI; it connects in the background,
// and until the first connection attempt ends, calls wait for it at most
// the dial timeout plus their time budget; while it fails, they fail
// with floodgate.ErrUnavailable. A connection that Redis refuses (a wrong
// password, database or client name) is logged as an error each time the
// reason changes.
func Open(uri string, opts ...Option) (*Store, error) {
	c := defaults()
	opt, err := parseURI(uri, &c)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o.apply(&c)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if opt.ClientName == "" {
		opt.ClientName = "floodgate"
	}
	if c.tlsConfig != nil {
		opt.TLSConfig = c.tlsConfig
	}
	opt.DisableCache = true
	opt.DisableRetry = true
	opt.Dialer.Timeout = c.dialTimeout
	opt.Sentinel.Dialer.Timeout = c.dialTimeout
	opt.ConnWriteTimeout = max(c.dialTimeout, 10*c.timeout)
	if c.poolSize > 0 {
		opt.PipelineMultiplex = multiplex(c.poolSize)
	}
	s := &Store{
		cfg:     c,
		sliding: c.strategy == limit.SlidingWindow,
		opt:     opt,
		owned:   c.client == nil && c.evaler == nil,
		ready:   make(chan struct{}),
		stop:    make(chan struct{}),
	}
	switch c.strategy {
	case limit.SlidingWindow:
		s.tag, s.script, s.single, s.src = "s:", windowLua, windowSingle, windowScript
	case limit.FixedWindow:
		s.tag, s.script, s.single, s.src = "f:", windowLua, windowSingle, windowScript
	case limit.GCRA:
		s.tag, s.script, s.single, s.src = "g:", gcraLua, gcraSingle, gcraScript
	case limit.MovingWindow:
		s.tag, s.script, s.single, s.src = "m:", movingLua, movingSingle, movingScript
	}
	s.heads = [2]string{s.tag + "i", s.tag + "a"}
	s.args.Store(new(map[limit.Limit]string))
	s.deadlines.timeout, s.deadlines.grain = c.timeout, c.timeout/budgetGrain
	if c.evaler != nil {
		close(s.ready) // never dials: every round trip goes through the Evaler
		return s, nil
	}
	if c.client != nil {
		s.client.Store(&c.client)
		close(s.ready)
		go s.checkPolicy(c.client)
		return s, nil
	}
	go s.connect()
	return s, nil
}

func dialUnix(ctx context.Context, path string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
	return d.DialContext(ctx, "unix", path)
}

// Info describes the store: Kind "redis", its strategy, no keys in this
// process, and Up once it has connected (or was given a client or an
// Evaler), until Close. Health beyond that is the failure policy's
// (floodgate.NewFallback), which floodgate.Open puts around the store.
func (s *Store) Info() floodgate.Info {
	up := !s.closed.Load() && (s.cfg.evaler != nil || s.client.Load() != nil)
	return floodgate.Info{Kind: "redis", Strategy: s.cfg.strategy, Up: up}
}

// Close closes the connections (not a client given by [WithClient]) and
// stops connecting. It does not wait for a connection attempt in flight,
// so it returns at once even with Redis hung. It is idempotent; calls
// after it return floodgate.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	close(s.stop)
	c := s.client.Load()
	s.mu.Unlock()
	if c != nil && s.owned {
		(*c).Close()
	}
	return nil
}

// conn returns the client, waiting for the first connection attempt at
// most the time budget or ctx.
func (s *Store) conn(ctx context.Context) (rueidis.Client, error) {
	if s.closed.Load() {
		return nil, floodgate.ErrClosed
	}
	if s.cfg.evaler != nil {
		return nil, nil // the callers go through the Evaler (evaler.go)
	}
	if c := s.client.Load(); c != nil {
		return *c, nil
	}
	select {
	case <-s.ready:
	default:
		// The first calls wait for the connection that Open started,
		// up to a dial and a round trip, so that a store that is
		// reachable decides its first calls itself.
		t := time.NewTimer(s.cfg.dialTimeout + s.cfg.timeout)
		select {
		case <-s.ready:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if c := s.client.Load(); c != nil {
		return *c, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p := s.lastErr.Load(); p != nil {
		return nil, fmt.Errorf("%w: not connected: %w", floodgate.ErrUnavailable, *p)
	}
	return nil, fmt.Errorf("%w: not connected yet", floodgate.ErrUnavailable)
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
