package redisstore

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
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

// errDown is returned, without a round trip, while Redis is marked down.
var errDown = fmt.Errorf("%w: marked down after failures; a background check will try it again", ErrUnavailable)

// tripAfter is how many failed round trips in a row mark Redis down. One
// slow reply (a GC pause, a full socket buffer) does not move every
// request onto the policy; an outage, which fails every request at once,
// does so within a few requests.
const tripAfter = 3

// maxPlainKey is the longest user key used verbatim inside a Redis key;
// longer ones, and any with a brace or a leading '#', are hashed.
const maxPlainKey = 128

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
// failure, pool-size and client-name (see the With options). opts
// override the URI.
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

// AllowN reports whether key may make a request of cost n under every one
// of limits, and counts n against all of them if so, in one round trip;
// the semantics, Decision included, are the memory engine's (see
// engine.Engine.AllowN), on the Redis server's clock.
//
// When Redis fails, AllowN returns the failure policy's Decision and an
// error wrapping ErrUnavailable, ErrReply or ErrClosed.
func (s *Store) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, "", key, n, true, limits)
}

// AllowNAt is AllowN at time now, measured from the Unix epoch and
// truncated to the microsecond, instead of the Redis server's clock. It
// exists for tests and replays; counters it writes live at least a minute
// so that real time passing between calls does not expire them.
func (s *Store) AllowNAt(ctx context.Context, now time.Duration, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, nowArg(now), key, n, true, limits)
}

// Peek returns the Decision that AllowN(ctx, key, 1, limits...) would
// return, without counting anything.
func (s *Store) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, "", key, 1, false, limits)
}

// PeekAt is Peek at time now; see AllowNAt.
func (s *Store) PeekAt(ctx context.Context, now time.Duration, key string, limits ...limit.Limit) (limit.Decision, error) {
	return s.decide(ctx, nowArg(now), key, 1, false, limits)
}

func nowArg(now time.Duration) string {
	return strconv.FormatInt(max(0, int64(now/time.Microsecond)), 10)
}

// Reset forgets key's usage of each of limits, in Redis and in the
// fallback.
func (s *Store) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
	if s.cfg.fallback != nil {
		s.cfg.fallback.Reset(key, limits...)
	}
	keys := make([]string, 0, len(limits))
	for _, l := range limits {
		if l.Valid() {
			keys = append(keys, s.key(key, l))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	c, err := s.conn(ctx)
	if err != nil {
		return s.report(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	if err := (*c).Do(ctx, (*c).B().Del().Key(keys...).Build()).Error(); err != nil {
		return s.failed(err)
	}
	s.succeeded()
	return nil
}

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

// decide runs the script for limits, or answers without it when the
// request cannot touch Redis (no limits, a bad cost, a zero Limit first).
func (s *Store) decide(ctx context.Context, now, key string, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	if len(limits) == 0 {
		return limit.Decision{Allowed: true}, nil
	}
	if n < 1 {
		return limit.Decision{Limit: limits[0], RetryAfter: limit.Never}, nil
	}
	// A zero Limit denies; the limits before it still decide first, as
	// in the engine, but nothing is counted.
	j := 0
	for j < len(limits) && limits[j].Valid() {
		j++
	}
	if j == 0 {
		return limit.Decision{Limit: limits[0], RetryAfter: limit.Never}, nil
	}
	d, err := s.eval(ctx, now, key, n, commit && j == len(limits), dedup(limits[:j]))
	if err != nil {
		return s.policy(key, n, commit, limits), s.report(err)
	}
	if j < len(limits) && d.Allowed {
		return limit.Decision{Limit: limits[j], RetryAfter: limit.Never}, nil
	}
	return d, nil
}

// dedup returns limits without repeats, keeping the first of each: a list
// that names one limit twice is judged as if it named it once.
func dedup(limits []limit.Limit) []limit.Limit {
	for i := 1; i < len(limits); i++ {
		for j := range i {
			if limits[i] == limits[j] {
				out := make([]limit.Limit, 0, len(limits))
				for _, l := range limits {
					if !slices.Contains(out, l) {
						out = append(out, l)
					}
				}
				return out
			}
		}
	}
	return limits
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
			return nil, fmt.Errorf("%w: not connected", ErrUnavailable)
		}
		return c, nil
	}
	return s.client.Load(), nil
}

func (s *Store) eval(ctx context.Context, now, key string, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return limit.Decision{}, err
	}
	keys := make([]string, len(limits))
	args := make([]string, 4, 4+3*len(limits))
	args[0] = strconv.FormatInt(n, 10)
	args[1] = "0"
	if commit {
		args[1] = "1"
	}
	args[2] = s.fixed
	args[3] = now
	for i, l := range limits {
		keys[i] = s.key(key, l)
		a := s.limitArgs(l)
		if s.script == windowLua {
			args = append(args, a[0], a[1])
		} else {
			args = append(args, a[0], a[1], a[2])
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	vals, err := s.script.Exec(ctx, *c, keys, args).AsIntSlice()
	cancel()
	if err != nil {
		return limit.Decision{}, s.failed(err)
	}
	s.succeeded()
	switch s.cfg.strategy {
	case limit.GCRA:
		return decodeGCRA(vals, uint64(n), limits)
	case limit.MovingWindow:
		return decodeMoving(vals, uint64(n), limits)
	}
	return s.decode(vals, n, commit, limits)
}

// decode turns the script's reply into the Decision. An allowed look
// (Peek) describes the state after the request it did not count, like the
// Decision that AllowN would return.
func (s *Store) decode(vals []int64, n int64, commit bool, limits []limit.Limit) (limit.Decision, error) {
	at := func(i int) window {
		return window{prev: uint64(vals[i]), cur: uint64(vals[i+1]), r: uint64(vals[i+2]) * uint64(time.Microsecond)}
	}
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) == 0 {
		return limit.Decision{}, bad()
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 4 {
			return limit.Decision{}, bad()
		}
		return at(1).decide(s.sliding, false, uint64(n), limits[i-1]), nil
	}
	if len(vals) != 1+3*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		w := at(1 + 3*i)
		if !commit {
			w.cur += uint64(n)
		}
		if d := w.decide(s.sliding, true, uint64(n), l); d.Remaining < best.Remaining {
			best = d
		}
	}
	return best, nil
}

// decodeGCRA turns the GCRA script's reply into the Decision: {0, now,
// then e, j, be, bj per limit} when all allow, {i, now, e, j, be, bj}
// when limit i denies. An allowed Peek answers as if counted, like
// AllowN.
func decodeGCRA(vals []int64, n uint64, limits []limit.Limit) (limit.Decision, error) {
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) < 2 || vals[1] < 0 {
		return limit.Decision{}, bad()
	}
	now := uint64(vals[1]) * uint64(time.Microsecond)
	at := func(i int, l limit.Limit) bucket {
		cnt := uint64(l.Count())
		return bucket{
			k:    uint64(vals[i])*cnt + uint64(vals[i+1]),
			base: uint64(vals[i+2])*cnt + uint64(vals[i+3]),
		}
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 6 {
			return limit.Decision{}, bad()
		}
		l := limits[i-1]
		return at(2, l).decide(false, n, now, l), nil
	}
	if len(vals) != 2+4*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		if d := at(2+4*i, l).decide(true, n, now, l); d.Remaining < best.Remaining {
			best = d
		}
	}
	return best, nil
}

// decodeMoving turns the moving-window script's reply into the Decision:
// {0, now, then at, sum, last per limit} when all allow, {i, now, at,
// sum, last, free} when limit i denies.
func decodeMoving(vals []int64, n uint64, limits []limit.Limit) (limit.Decision, error) {
	bad := func() error { return fmt.Errorf("%w: unexpected script reply %v", ErrReply, vals) }
	if len(vals) < 2 || vals[1] < 0 {
		return limit.Decision{}, bad()
	}
	us := func(v int64) uint64 { return uint64(v) * uint64(time.Microsecond) }
	now := us(vals[1])
	at := func(i int) movingLog {
		return movingLog{at: us(vals[i]), sum: uint64(vals[i+1]), last: us(max(0, vals[i+2])), hasLast: vals[i+2] >= 0}
	}
	if i := vals[0]; i != 0 {
		if i < 1 || int(i) > len(limits) || len(vals) != 6 {
			return limit.Decision{}, bad()
		}
		lg := at(2)
		lg.free, lg.hasFree = us(max(0, vals[5])), vals[5] >= 0
		return lg.decide(false, n, now, limits[i-1]), nil
	}
	if len(vals) != 2+3*len(limits) {
		return limit.Decision{}, bad()
	}
	best := limit.Decision{Remaining: math.MaxInt64}
	for i, l := range limits {
		if d := at(2+3*i).decide(true, n, now, l); d.Remaining < best.Remaining {
			best = d
		}
	}
	return best, nil
}

// policy returns the failure policy's Decision.
func (s *Store) policy(key string, n int64, commit bool, limits []limit.Limit) limit.Decision {
	switch {
	case s.cfg.policy == FailFallback && s.cfg.fallback != nil:
		if commit {
			return s.cfg.fallback.AllowN(key, n, limits...)
		}
		return s.cfg.fallback.Peek(key, limits...)
	case s.cfg.policy == FailOpen:
		return limit.Decision{Allowed: true, Limit: limits[0]}
	}
	return limit.Decision{Limit: limits[0], RetryAfter: s.cfg.backoff}
}

// key returns the Redis key of (key, l):
// prefix{tag}:strategy:count/seconds, with /burst appended when the
// limit's burst differs from its count (limits that differ only in burst
// are different limits, as in the engine). The hash tag is the user key,
// so every limit of one key lives in one cluster slot; keys that are
// long, hold a brace or start with '#' are replaced by '#' and 40 hex
// digits of their SHA-256.
func (s *Store) key(key string, l limit.Limit) string {
	var b strings.Builder
	tag := key
	if len(key) > maxPlainKey || strings.ContainsAny(key, "{}") || strings.HasPrefix(key, "#") {
		sum := sha256.Sum256([]byte(key))
		tag = "#" + hex.EncodeToString(sum[:20])
	}
	b.Grow(len(s.cfg.prefix) + len(tag) + 32)
	b.WriteString(s.cfg.prefix)
	b.WriteByte('{')
	b.WriteString(tag)
	b.WriteString("}:")
	b.WriteString(s.tag)
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], l.Count(), 10))
	b.WriteByte('/')
	b.Write(strconv.AppendInt(num[:0], int64(l.Period()/time.Second), 10))
	if l.Burst() != l.Count() {
		b.WriteByte('/')
		b.Write(strconv.AppendInt(num[:0], l.Burst(), 10))
	}
	return b.String()
}

// limitArgs returns l's count, period in microseconds and burst as
// script arguments, cached in a copy-on-write map: applications use a
// handful of limits.
func (s *Store) limitArgs(l limit.Limit) [3]string {
	m := s.args.Load()
	if a, ok := (*m)[l]; ok {
		return a
	}
	a := [3]string{strconv.FormatInt(l.Count(), 10), strconv.FormatInt(int64(l.Period()/time.Microsecond), 10),
		strconv.FormatInt(l.Burst(), 10)}
	if len(*m) < 64 {
		next := make(map[limit.Limit][3]string, len(*m)+1)
		for k, v := range *m {
			next[k] = v
		}
		next[l] = a
		s.args.CompareAndSwap(m, &next)
	}
	return a
}

// failed classifies the error of a round trip, marks Redis down after
// tripAfter failures in a row, and returns the error to report.
func (s *Store) failed(err error) error {
	if re, ok := rueidis.IsRedisErr(err); ok && !serverDown(re) {
		// Redis answered: it is up, this request is the problem.
		return fmt.Errorf("%w: %w", ErrReply, err)
	}
	if s.fails.Add(1) >= tripAfter && s.down.CompareAndSwap(false, true) {
		s.warned.Store(true)
		s.cfg.log.Warn("floodgate: redis unavailable; deciding by the failure policy",
			"policy", s.cfg.policy.String(), "backoff", s.cfg.backoff, "error", err)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// serverDown reports whether an error reply means the server cannot
// serve at all right now, rather than that this request was wrong.
func serverDown(re *rueidis.RedisError) bool {
	if re.IsLoading() || re.IsClusterDown() || re.IsTryAgain() {
		return true
	}
	msg := re.Error()
	for _, p := range []string{"BUSY", "MASTERDOWN", "READONLY", "NOREPLICAS", "MISCONF"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func (s *Store) succeeded() {
	if s.fails.Load() != 0 {
		s.fails.Store(0)
	}
}

// report hands err to the error handler and, for error replies, to the
// log at most once per backoff; it returns err.
func (s *Store) report(err error) error {
	if s.cfg.onError != nil {
		s.cfg.onError(err)
	}
	if errors.Is(err, ErrReply) {
		now := time.Now().UnixNano()
		if last := s.logged.Load(); now-last >= int64(s.cfg.backoff) && s.logged.CompareAndSwap(last, now) {
			s.cfg.log.Warn("floodgate: redis error reply; this request was decided by the failure policy",
				"policy", s.cfg.policy.String(), "error", err)
		}
	}
	return err
}

// health connects, then, each time Redis is marked down, checks it every
// backoff until it answers a PING within the dial timeout.
func (s *Store) health() {
	defer close(s.done)
	readyOnce := sync.OnceFunc(func() { close(s.ready) })
	defer readyOnce()
	var c rueidis.Client
	for first := true; ; first = false {
		var err error
		c, err = rueidis.NewClient(s.opt)
		if err == nil {
			break
		}
		err = fmt.Errorf("%w: connect: %w", ErrUnavailable, err)
		if first {
			s.warned.Store(true)
			s.cfg.log.Warn("floodgate: redis unavailable at start; deciding by the failure policy",
				"policy", s.cfg.policy.String(), "backoff", s.cfg.backoff, "error", err)
		}
		s.report(err)
		readyOnce()
		if !s.sleep(s.cfg.backoff) {
			return
		}
	}
	select {
	case <-s.stop:
		c.Close()
		return
	default:
	}
	s.client.Store(&c)
	s.up()
	readyOnce()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			if !s.sleep(s.cfg.backoff) {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.dialTimeout)
			err := c.Do(ctx, c.B().Ping().Build()).Error()
			cancel()
			if err == nil {
				s.up()
				break
			}
			s.report(fmt.Errorf("%w: health check: %w", ErrUnavailable, err))
		}
	}
}

func (s *Store) up() {
	s.fails.Store(0)
	if s.down.CompareAndSwap(true, false) && s.warned.CompareAndSwap(true, false) {
		s.cfg.log.Info("floodgate: redis available", "addr", strings.Join(s.opt.InitAddress, ","))
	}
}

// sleep waits d and reports false if the store was closed meanwhile.
func (s *Store) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
