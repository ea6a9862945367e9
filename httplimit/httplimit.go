package httplimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
)

// ErrConfig is wrapped by every configuration error that [New] returns and
// that [Middleware.Limit] panics with. The message names the problem.
var ErrConfig = errors.New("httplimit: invalid configuration")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// Middleware limits HTTP requests with a floodgate.Store. Build one with
// [New]; wrap a whole router with [Middleware.Handler] or single handlers
// with [Middleware.Limit].
//
// The zero Middleware is not usable. A Middleware is safe for concurrent
// use and must not be copied.
type Middleware struct {
	store      floodgate.Store
	storeErr   atomic.Bool // the first store error was logged
	enabled    atomic.Bool
	gen        atomic.Uint64
	limitCalls atomic.Int64

	app        *check            // nil: no application-wide limits
	routes     map[string]*route // by pattern
	def        *route            // nil: no default limits
	exempt     map[string]bool
	needRoute  bool // Handler must look up the route
	exemptWhen func(*http.Request) bool
	allow      []netip.Prefix
	trusted    []netip.Prefix
	proxyHdr   string
	forwarded  bool
	v6bits     int
	key        Key
	headers    Headers
	denied     func(http.ResponseWriter, *http.Request, limit.Decision)
	shared     map[string]*check
	_          noCopy
}

// New returns a Middleware that counts requests in s, configured by opts.
// With no options it applies no limits until [Middleware.Limit] wraps a
// handler; it keys clients by connection address and sends
// X-RateLimit-* headers.
//
// New fails, with an error wrapping [ErrConfig] that names the problem, on
// a bad limit string, a bad CIDR prefix, an unknown proxy header, an IPv6
// prefix outside 1..128, a duplicate route and a reference to an
// undeclared shared scope.
func New(s floodgate.Store, opts ...Option) (*Middleware, error) {
	if s == nil {
		return nil, configError("nil Store")
	}
	c := config{v6bits: 64, headers: HeadersXRateLimit}
	for _, o := range opts {
		o.apply(&c)
	}
	m := &Middleware{
		store:      s,
		routes:     map[string]*route{},
		exempt:     map[string]bool{},
		shared:     map[string]*check{},
		exemptWhen: c.exemptWhen,
		v6bits:     c.v6bits,
		key:        c.key,
		headers:    c.headers,
		denied:     c.denied,
	}
	m.enabled.Store(true)
	if c.v6bits < 1 || c.v6bits > 128 {
		return nil, configError("IPv6 prefix /%d is not in 1..128", c.v6bits)
	}
	var err error
	if m.allow, err = parsePrefixes("allow-list", c.allow); err != nil {
		return nil, err
	}
	if len(c.trusted) > 0 || c.proxyHdr != "" {
		switch h := http.CanonicalHeaderKey(c.proxyHdr); h {
		case "X-Forwarded-For", "Forwarded":
			m.proxyHdr, m.forwarded = h, h == "Forwarded"
		default:
			return nil, configError("trusted proxies: header %q is not X-Forwarded-For or Forwarded", c.proxyHdr)
		}
		if m.trusted, err = parsePrefixes("trusted proxies", c.trusted); err != nil {
			return nil, err
		}
	}
	for _, s := range c.shared {
		if s.name == "" {
			return nil, configError("shared scope with an empty name")
		}
		if m.shared[s.name] != nil {
			return nil, configError("shared scope %q declared twice", s.name)
		}
		ch, err := newCheck("s:"+s.name, s.name, s.limits)
		if err != nil {
			return nil, err
		}
		if ch == nil {
			return nil, configError("shared scope %q has no limits", s.name)
		}
		m.shared[s.name] = ch
	}
	if c.appSet {
		if m.app, err = newCheck("a:", "app", c.app); err != nil {
			return nil, err
		}
		if m.app == nil {
			return nil, configError("application-wide limits are empty")
		}
	}
	for _, p := range c.exempt {
		m.exempt[p] = true
	}
	for i := range c.routes {
		s := &c.routes[i]
		if s.pattern == "" {
			return nil, configError("route with an empty pattern")
		}
		if m.routes[s.pattern] != nil {
			return nil, configError("route %q declared twice", s.pattern)
		}
		if m.exempt[s.pattern] {
			return nil, configError("route %q is both limited and exempt", s.pattern)
		}
		rt, err := m.newRoute(s, "r:"+s.pattern, false)
		if err != nil {
			return nil, err
		}
		m.routes[s.pattern] = rt
	}
	if c.def != nil {
		if m.def, err = m.newRoute(c.def, "d:", true); err != nil {
			return nil, err
		}
	}
	m.needRoute = len(m.routes) > 0 || m.def != nil || len(m.exempt) > 0
	return m, nil
}

// Handler returns next wrapped in the Middleware: every request that
// passes through it counts against the application-wide limits and, when
// Handler can tell its route, against the route's limits ([WithRoute]) or
// the default ones ([WithDefaultLimits]).
//
// Handler tells the route by the pattern that next, when it is an
// *http.ServeMux (or has the same Handler method), would choose, or else
// by r.Pattern. So wrap a ServeMux, or a handler inside one; with other
// routers, use [Middleware.Limit] per route and Handler for the
// application-wide limits. A route whose ServeMux handler was wrapped by
// Limit gets no default limits. Its signature fits routers that take
// func(http.Handler) http.Handler middleware, such as chi's Use.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	h := &appHandler{m: m, next: next}
	if rt, ok := next.(router); ok {
		h.mux = rt
	}
	return h
}

// router is the route lookup of *http.ServeMux.
type router interface {
	Handler(r *http.Request) (h http.Handler, pattern string)
}

type appHandler struct {
	m    *Middleware
	next http.Handler
	mux  router
}

func (h *appHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	if !m.enabled.Load() {
		h.next.ServeHTTP(w, r)
		return
	}
	var rt *route
	pattern := ""
	if m.needRoute {
		pattern = r.Pattern
		own := false
		if h.mux != nil {
			var found http.Handler
			found, pattern = h.mux.Handler(r)
			_, own = found.(*limited)
		}
		if m.exempt[pattern] {
			h.next.ServeHTTP(w, r)
			return
		}
		if rt = m.routes[pattern]; rt == nil && !own && pattern != "" {
			rt = m.def
		}
	}
	m.serve(w, r, h.next, rt, pattern, true)
}

// Limit returns middleware that limits the handlers it wraps by limits
// ([limit.ParseMany] syntax, such as "5/minute" or "2/second;10/minute"),
// adjusted by opts: the Go counterpart of @limiter.limit("5/minute").
// Each call makes a route with its own budget per client (see [Scope]);
// wrapping several handlers with one call's result makes them share it.
//
// Limit panics, with an error wrapping [ErrConfig], on a bad limit string
// or an undeclared shared scope, like regexp.MustCompile: use it for
// limits written in source code, and [WithRoute] for limits read from
// configuration, whose errors New returns. Application-wide limits are
// applied by [Middleware.Handler], not here.
func (m *Middleware) Limit(limits string, opts ...RouteOption) func(http.Handler) http.Handler {
	n := m.limitCalls.Add(1)
	s := &routeSpec{pattern: "limit " + limits + " #" + strconv.FormatInt(n, 10), limits: limits, opts: opts}
	rt, err := m.newRoute(s, "l:"+s.pattern, false)
	if err != nil {
		panic(err)
	}
	return func(next http.Handler) http.Handler { return &limited{m: m, rt: rt, next: next} }
}

type limited struct {
	m    *Middleware
	rt   *route
	next http.Handler
}

func (l *limited) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.m.enabled.Load() {
		l.next.ServeHTTP(w, r)
		return
	}
	l.m.serve(w, r, l.next, l.rt, "", false)
}

// SetEnabled turns limiting on or off at run time; a disabled Middleware
// passes every request through untouched, without headers. New returns an
// enabled Middleware.
func (m *Middleware) SetEnabled(on bool) { m.enabled.Store(on) }

// Enabled reports whether the Middleware is limiting requests.
func (m *Middleware) Enabled() bool { return m.enabled.Load() }

// Reset makes every client's budget whole again, for tests: it moves the
// Middleware to fresh storage keys, and the old counters expire by the
// storage's own eviction. It affects this Middleware only, not other
// processes sharing a Redis store.
func (m *Middleware) Reset() { m.gen.Add(1) }

// serve runs the checks of one request and calls next or the denied
// handler.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler, rt *route, pattern string, withApp bool) {
	if m.exemptWhen != nil && m.exemptWhen(r) {
		next.ServeHTTP(w, r)
		return
	}
	var ip clientAddr
	if len(m.allow) > 0 {
		if a := ip.get(m, r); a.IsValid() && contains(m.allow, a) {
			next.ServeHTTP(w, r)
			return
		}
	}
	var st state
	ctx := r.Context()
	if withApp && m.app != nil {
		if !m.run(ctx, r, &st, m.app, m.app.limits, nil, &m.key, &ip, "", 1) {
			m.deny(w, r, &st)
			return
		}
	}
	if rt != nil {
		if !m.runRoute(ctx, r, &st, rt, pattern, &ip) {
			m.deny(w, r, &st)
			return
		}
	}
	if st.set {
		m.writeHeaders(w.Header(), &st, false)
	}
	next.ServeHTTP(w, r)
}

func (m *Middleware) runRoute(ctx context.Context, r *http.Request, st *state, rt *route, pattern string, ip *clientAddr) bool {
	cost := int64(1)
	if rt.cost != nil {
		if cost = rt.cost(r); cost <= 0 {
			return true
		}
	}
	key := &m.key
	if rt.key != nil {
		key = rt.key
	}
	for _, sh := range rt.shared {
		if !m.run(ctx, r, st, sh, sh.limits, nil, key, ip, "", cost) {
			return false
		}
	}
	ch := rt.own
	if mc := rt.methods[r.Method]; mc != nil {
		ch = mc
	}
	if ch == nil {
		return true
	}
	limits, dyn := ch.limits, []limit.Limit(nil)
	if rt.dynamic != nil {
		if d := rt.dynamic(r); len(d) > 0 {
			limits, dyn = d, d
		}
	}
	if len(limits) == 0 {
		return true
	}
	if !rt.perPattern {
		pattern = ""
	}
	return m.run(ctx, r, st, ch, limits, dyn, key, ip, pattern, cost)
}

// state tracks the decision the response headers describe: the denying
// one, or the allowed one with the fewest remaining units.
type state struct {
	d   limit.Decision
	pol *policy
	ch  *check
	set bool
}

// run checks one scope; it reports false when the request is denied.
func (m *Middleware) run(ctx context.Context, r *http.Request, st *state, ch *check, limits, dyn []limit.Limit, k *Key, ip *clientAddr, pattern string, cost int64) bool {
	var buf [192]byte
	b := buf[:0]
	if g := m.gen.Load(); g != 0 {
		b = append(b, 'g')
		b = strconv.AppendUint(b, g, 10)
		b = append(b, '|')
	}
	b = append(b, ch.scope...)
	b = append(b, pattern...)
	b = append(b, '|')
	b = m.appendKey(b, k, r, ip)
	d, err := m.store.AllowN(ctx, string(b), cost, limits...)
	if err != nil {
		if ctx.Err() != nil {
			return false // the client is gone; its request goes nowhere
		}
		m.report(ch, err)
	}
	if !d.Allowed || !st.set || d.Remaining < st.d.Remaining {
		st.d, st.ch, st.set = d, ch, true
		st.pol = ch.policy(d.Limit, dyn != nil)
	}
	return d.Allowed
}

// report logs the first store error, once: failures are the store's to
// handle and log (floodgate.Fallback logs each outage once and calls the
// error hook), and the Decision that came with the error, its failure
// policy's, stands.
func (m *Middleware) report(ch *check, err error) {
	if m.storeErr.CompareAndSwap(false, true) {
		slog.Default().Warn("httplimit: the store failed; requests are decided by its failure policy "+
			"(this is logged once; floodgate.Fallback logs each outage)", "scope", ch.name, "error", err)
	}
}

// deny writes the headers and the denied response.
func (m *Middleware) deny(w http.ResponseWriter, r *http.Request, st *state) {
	m.writeHeaders(w.Header(), st, true)
	if m.denied != nil {
		m.denied(w, r, st.d)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(st.pol.body)
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	if d > math.MaxInt64-time.Second {
		return int64(d / time.Second)
	}
	return int64((d + time.Second - 1) / time.Second)
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
