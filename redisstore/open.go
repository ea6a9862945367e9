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

	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
)

// Errors returned by Open and by Store calls, for errors.Is.
var (
	// ErrURI reports a URI or option that cannot be used.
	ErrURI = errors.New("redisstore: invalid uri")
	// ErrUnavailable reports that Redis did not answer within the
	// decision's budget, could not be reached, or is marked down after
	// failures while a background check waits to try it again.
	ErrUnavailable = errors.New("redisstore: redis unavailable")
	// ErrReply reports that Redis answered with an error, such as
	// WRONGTYPE when a counter's key holds a value of another kind.
	ErrReply = errors.New("redisstore: redis error reply")
	// ErrClosed reports a call on a closed Store.
	ErrClosed = errors.New("redisstore: store closed")
)

// The scripts, one per family of strategies; a Store uses one.
var (
	windowLua = rueidis.NewLuaScript(windowScript)
	gcraLua   = rueidis.NewLuaScript(gcraScript)
	movingLua = rueidis.NewLuaScript(movingScript)
)

// Store is a rate limiter whose counters live in Redis: one atomic
// EVALSHA per decision, judged on the Redis server's clock, with the
// memory engine's exact answers. See the package documentation.
//
// The zero Store is not usable; call [Open]. A Store is safe for
// concurrent use and must not be copied. Close it to release its
// connections and its health-check goroutine.
type Store struct {
	cfg     config
	sliding bool
	fixed   string // ARGV[3]
	tag     string // the strategy's part of each key: "s:", "f:", "g:" or "m:"
	script  *rueidis.Lua
	opt     rueidis.ClientOption

	client atomic.Pointer[rueidis.Client] // nil until the first connection
	ready  chan struct{}                  // closed after the first connection attempt
	down   atomic.Bool                    // judge by policy without trying Redis
	fails  atomic.Int32                   // failed round trips in a row
	wake   chan struct{}                  // tells the health checker that Redis went down
	logged atomic.Int64                   // unix nanos of the last logged reply error
	warned atomic.Bool                    // "unavailable" was logged; log the recovery

	dialErr atomic.Pointer[error] // why the last connection attempt failed; decisions before the first connection report it

	args atomic.Pointer[map[limit.Limit][3]string] // cached count, period and burst arguments

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	_         noCopy
}

// Open returns a Store on the Redis named by uri:
//
//	redis://[user:pass@]host:port[/db]
//	rediss://[user:pass@]host:port[/db]          (TLS)
//	redis+unix://[user:pass@]/path/to/redis.sock[?db=N]
//	redis+sentinel://[user:pass@]host:port[,host:port…]/service-name[?db=N]
//	redis+cluster://[user:pass@]host:port[,host:port…]
//
// with query parameters strategy, prefix, timeout, dial-timeout, backoff,
// failure, pool-size, client-name (see the With options) and, for
// rediss://, ssl_cert_reqs=none|optional|required (none skips verifying
// the server's certificate). opts override the URI.
//
// Open never waits for Redis. It fails only on a malformed URI or option,
// with an error wrapping ErrURI; it connects in the background, and until
// the first connection succeeds, decisions wait for it at most their
// budget and then follow the failure policy.
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
	if c.log == nil {
		c.log = slog.Default()
	}
	if opt.ClientName == "" {
		opt.ClientName = "floodgate"
	}
	if c.tls != nil {
		opt.TLSConfig = c.tls.Clone()
		opt.Sentinel.TLSConfig = opt.TLSConfig
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
		fixed:   "0",
		opt:     opt,
		ready:   make(chan struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	switch c.strategy {
	case limit.SlidingWindow:
		s.tag, s.script = "s:", windowLua
	case limit.FixedWindow:
		s.tag, s.script, s.fixed = "f:", windowLua, "1"
	case limit.GCRA:
		s.tag, s.script = "g:", gcraLua
	case limit.MovingWindow:
		s.tag, s.script = "m:", movingLua
	}
	s.down.Store(true)
	s.args.Store(new(map[limit.Limit][3]string))
	go s.health()
	return s, nil
}

func dialUnix(ctx context.Context, path string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
	return d.DialContext(ctx, "unix", path)
}

// Strategy returns the algorithm the store applies to every limit.
func (s *Store) Strategy() limit.Strategy { return s.cfg.strategy }

// Policy returns what the store decides while Redis is down.
func (s *Store) Policy() Policy { return s.cfg.policy }

// Close stops the health checker and closes the connections. It is
// idempotent; calls after it return ErrClosed with the policy's Decision.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		if c := s.client.Load(); c != nil {
			(*c).Close()
		}
	})
	return nil
}

// conn returns the client, waiting at most ctx for the first connection.
func (s *Store) conn(ctx context.Context) (*rueidis.Client, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if s.down.Load() {
		c := s.client.Load()
		if c != nil {
			return nil, errDown
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: not connected yet: %w", ErrUnavailable, ctx.Err())
		default:
			t := time.NewTimer(s.cfg.timeout)
			select {
			case <-s.ready:
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if c = s.client.Load(); c == nil || s.down.Load() {
			if e := s.dialErr.Load(); c == nil && e != nil {
				return nil, fmt.Errorf("%w: not connected: %w", ErrUnavailable, *e)
			}
			return nil, fmt.Errorf("%w: not connected", ErrUnavailable)
		}
		return c, nil
	}
	return s.client.Load(), nil
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock() {}

func (*noCopy) Unlock() {}
