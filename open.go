package floodgate

import (
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// fallbackKeys is the key cap of the in-memory engine that Open puts
// beside a network store as the local count of NewFallback (URI:
// max-keys=): enough for a busy instance's clients, bounded so that an
// attacker cycling keys cannot grow the heap without limit (about 34 MB
// at this cap).
const fallbackKeys = 1 << 20

// driver opens the Store of a registered scheme (see [Register]).
type driver = func(uri string, log *slog.Logger) (Store, error)

var (
	driversMu sync.RWMutex
	drivers   = map[string]driver{}
)

// Register makes a storage scheme known to [Open], as database/sql's
// Register does for drivers: importing a store's package registers its
// schemes, and nothing else links its client. Package redisstore
// registers redis, rediss, redis+unix, redis+sentinel and redis+cluster:
//
//	import _ "github.com/floodgate-go/floodgate/redisstore"
//
// open receives the whole URI minus the parameters that Open itself
// handles (failure, backoff, max-keys, lease) and Open's logger ([WithLogger]);
// it must not block on a network, and must refuse unknown parameters
// with an error wrapping [ErrURI]. Register panics if open is nil or the
// scheme is "memory" or already registered.
func Register(scheme string, open func(uri string, log *slog.Logger) (Store, error)) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if open == nil || scheme == "memory" || drivers[scheme] != nil {
		panic("floodgate: Register of scheme " + strconv.Quote(scheme) + ": nil, reserved or registered twice")
	}
	drivers[scheme] = open
}

// Open returns the Store named by uri, as in the Python limits library.
// The empty URI means memory://. The schemes:
//
//	memory://                                         in this process
//	redis://[user:pass@]host[:port][/db]              port 6379 by default
//	rediss://[user:pass@]host[:port][/db]             TLS
//	redis+unix://[user:pass@]/path/to/redis.sock[?db=N]
//	redis+sentinel://[user:pass@]host:port[,host:port…]/service-name[?db=N]
//	redis+cluster://[user:pass@]host:port[,host:port…]
//
// The redis schemes need package redisstore, which registers them when
// imported (see [Register]). This is the one list of URI parameters, all
// optional; an unknown, repeated or malformed one fails Open:
//
//	strategy=sliding-window   the algorithm of every limit: sliding-window,
//	                          fixed-window, gcra or moving-window (also the
//	                          names of the limits library); every scheme
//	max-keys=1048576          key cap of the in-memory engine: of
//	                          memory:// (default none), of a network
//	                          store's local count (default 1048576,
//	                          about 34 MB); see FallbackConfig.Backup
//	snapshot=PATH             memory://: keep the engine's state in the
//	                          file PATH, restored at Open, rewritten every
//	                          interval and at Close, so that a restart
//	                          keeps the counts (kill -9 loses at most
//	                          one interval; instances each keep their
//	                          own: share counts with Redis); problems
//	                          with the file are logged (WithLogger) and
//	                          start empty; see engine.WithSnapshot
//	snapshot-interval=10s     memory://: how often the snapshot is
//	                          rewritten (a positive duration)
//	failure=memory            what decides while a network store fails:
//	                          memory (the local count of this instance),
//	                          open (allow) or closed (deny); see NewFallback
//	backoff=1s                how long a failed store stays marked down
//	lease=N | lease=P%        decide hot keys from slices of N units or P%
//	                          of each limit (off by default); see NewLease
//	prefix=floodgate:         Redis key prefix, no braces
//	timeout=50ms              Redis: budget of one decision, round trip
//	                          included, stretched to twice the recent p99
//	                          (at most 8 budgets) while Redis answers
//	                          slowly (socket_timeout=0.05: the same, in
//	                          seconds, redis-py's name)
//	dial-timeout=1s           Redis: connecting (socket_connect_timeout=1)
//	pool-size=N               Redis: connections per node (a power of 2)
//	client-name=floodgate     Redis: CLIENT SETNAME (printable ASCII, no
//	                          spaces, as Redis requires)
//	db=N                      Redis: database (redis+unix, redis+sentinel)
//	ssl_cert_reqs=required    rediss: none skips verifying the server;
//	                          optional and required verify it
//
// A network store comes wrapped by [NewFallback] with the failure policy
// and a local count (an in-memory engine with the same strategy, under
// every policy), then with
// lease= by [NewLease]. With [WithObserver], the Store is wrapped with
// [Observe] and every call is reported, and the failure policy reports
// its health.
//
// Open never waits for a network: a store that is unreachable at
// start-up is opened at once and its failure policy answers until it
// does. Open fails only on a URI it cannot use, with an error wrapping
// [ErrURI] that names the problem.
func Open(uri string, opts ...Option) (Store, error) {
	uri = strings.TrimSpace(uri)
	if uri == "" {
		uri = "memory://"
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrURI, err)
	}
	q, err := strictQuery(leasePercent(u.RawQuery))
	if err != nil {
		return nil, err
	}
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt.apply(&o)
	}
	var eopts []engine.Option
	if o.clk != nil {
		eopts = append(eopts, engine.WithClock(o.clk))
	}
	if v, ok := q["strategy"]; ok {
		s, ok := limit.ParseStrategy(v)
		if !ok {
			return nil, fmt.Errorf("%w: strategy=%q is not sliding-window, fixed-window, gcra or moving-window", ErrURI, v)
		}
		eopts = append(eopts, engine.WithStrategy(s))
	}
	maxKeys := fallbackKeys
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: max-keys=%q is not a non-negative integer", ErrURI, v)
		}
		maxKeys = n
	}
	if u.Scheme == "memory" {
		if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" {
			return nil, fmt.Errorf("%w: %q: memory:// takes no host or path", ErrURI, uri)
		}
		if err := onlyParams(q, "memory://", "strategy", "max-keys", "snapshot", "snapshot-interval"); err != nil {
			return nil, err
		}
		if _, ok := q["max-keys"]; ok {
			eopts = append(eopts, engine.WithMaxKeys(maxKeys))
		}
		snap, err := snapshotOption(q, o.log)
		if err != nil {
			return nil, err
		}
		if snap != nil {
			eopts = append(eopts, snap)
		}
		return o.observe(NewMemory(eopts...)), nil
	}
	fb := FallbackConfig{Logger: o.log, Observer: o.obs, OnError: o.onError, Clock: o.clk}
	if v, ok := q["failure"]; ok {
		if fb.Policy, ok = parsePolicy(v); !ok {
			return nil, fmt.Errorf("%w: failure=%q is not memory, open or closed", ErrURI, v)
		}
	}
	if v, ok := q["backoff"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%w: backoff=%q is not a positive duration such as 1s", ErrURI, v)
		}
		fb.Backoff = d
	}
	var lease *LeaseConfig
	if v, ok := q["lease"]; ok {
		if lease, err = parseLease(v); err != nil {
			return nil, err
		}
		lease.Clock = o.clk
	}
	driversMu.RLock()
	open := drivers[u.Scheme]
	driversMu.RUnlock()
	if open == nil {
		if u.Scheme == "" {
			return nil, fmt.Errorf("%w: %q has no scheme (want memory:// or redis://)", ErrURI, u.Redacted())
		}
		hint := ""
		if strings.HasPrefix(u.Scheme, "redis") {
			hint = `; import _ "github.com/floodgate-go/floodgate/redisstore" to register it`
		}
		return nil, fmt.Errorf("%w: unknown scheme %q (want memory:// or redis://)%s", ErrURI, u.Scheme, hint)
	}
	for _, k := range []string{"failure", "backoff", "max-keys", "lease"} {
		delete(q, k)
	}
	rest := url.Values{}
	for k, v := range q {
		rest.Set(k, v)
	}
	u.RawQuery = rest.Encode()
	primary, err := open(u.String(), o.log)
	if err != nil {
		return nil, err
	}
	fb.Backup = NewMemory(append(eopts, engine.WithMaxKeys(maxKeys))...) // the local count, under every policy
	st := NewFallback(primary, fb)
	if lease != nil {
		st = NewLease(st, *lease)
	}
	return o.observe(st), nil
}

// snapshotOption reads memory://'s snapshot parameters: the option that
// keeps the engine's state in a file, or nil without snapshot=.
func snapshotOption(q map[string]string, log *slog.Logger) (engine.Option, error) {
	path, ok := q["snapshot"]
	every, hasEvery := q["snapshot-interval"]
	switch {
	case !ok && hasEvery:
		return nil, fmt.Errorf("%w: snapshot-interval=%q without snapshot=PATH", ErrURI, every)
	case !ok:
		return nil, nil
	case path == "":
		return nil, fmt.Errorf("%w: snapshot= names no file", ErrURI)
	}
	var d time.Duration
	if hasEvery {
		var err error
		if d, err = time.ParseDuration(every); err != nil || d <= 0 {
			return nil, fmt.Errorf("%w: snapshot-interval=%q is not a positive duration such as 10s", ErrURI, every)
		}
	}
	return engine.WithSnapshot(path, d, log), nil
}

// observe wraps s with Observe when the options set an Observer.
func (o *options) observe(s Store) Store {
	if o.obs == nil {
		return s
	}
	return Observe(s, o.obs)
}

// leasePercent escapes the '%' that ends a lease=P% parameter, which
// would otherwise be a malformed escape: lease=10% reads as lease=10%25.
func leasePercent(raw string) string {
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		if v, ok := strings.CutPrefix(p, "lease="); ok && strings.HasSuffix(v, "%") {
			parts[i] = p + "25"
		}
	}
	return strings.Join(parts, "&")
}

// parseLease reads the lease parameter: a count of units or a percentage.
func parseLease(v string) (*LeaseConfig, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f > 0 && f <= 100) {
			return nil, fmt.Errorf("%w: lease=%q is not a percentage in (0, 100] such as 10%%", ErrURI, v)
		}
		return &LeaseConfig{Percent: f}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%w: lease=%q is not a positive count of units or a percentage such as 10%%", ErrURI, v)
	}
	return &LeaseConfig{Slice: n}, nil
}

// strictQuery parses a URI's query, refusing what url.Values would drop
// or merge silently: a malformed escape, a repeated parameter.
func strictQuery(raw string) (map[string]string, error) {
	vs, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: query %q: %v", ErrURI, raw, err)
	}
	q := make(map[string]string, len(vs))
	for k, v := range vs {
		if len(v) > 1 {
			return nil, fmt.Errorf("%w: parameter %q given %d times", ErrURI, k, len(v))
		}
		q[k] = v[0]
	}
	return q, nil
}

// onlyParams refuses any parameter of q not in known.
func onlyParams(q map[string]string, what string, known ...string) error {
	for k := range q {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%w: unknown %s parameter %q (want one of %s)", ErrURI, what, k, strings.Join(known, ", "))
		}
	}
	return nil
}
