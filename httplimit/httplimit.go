package httplimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
)

// ErrConfig is wrapped by every configuration error that [New] and
// [Middleware.Verify] return and that [Middleware.Limit] and
// [Middleware.Handler] panic with. The message names the problem.
var ErrConfig = errors.New("httplimit: invalid configuration")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// Middleware limits HTTP requests with a floodgate.Store. Build one with
// [New]; wrap a whole router with [Middleware.Handler] or single handlers
// with [Middleware.Limit], and check the finished handler with
// [Middleware.Verify] at start-up.
//
// The zero Middleware is not usable. A Middleware is safe for concurrent
// use and must not be copied.
type Middleware struct {
	store    floodgate.Store
	storeErr atomic.Bool // the first store error was logged
	enabled  atomic.Bool

	app           *check            // nil: no application-wide limits
	routes        map[string]*route // by pattern
	def           *route            // nil: no default limits
	exempt        map[string]bool
	needRoute     bool // Handler must look up the route
	routeFunc     func(*http.Request) string
	unplaced      atomic.Bool // a request whose route could not be told was logged
	unplacedLimit atomic.Bool // the same, for Limit
	misplaced     atomic.Bool // a ServeMux serving declared patterns otherwise was logged
	noRefund      atomic.Bool // CountWhen on a store that cannot refund was logged
	hook          func(*http.Request, Event)
	shadow        bool
	exemptWhen    func(*http.Request, netip.Addr) bool
	trusted       []netip.Prefix
	proxyHdr      string // "": no trusted proxies
	forwarded     bool   // proxyHdr is Forwarded
	single        bool   // proxyHdr holds one address (X-Real-IP and kin)
	hops          int    // entries from the right of proxyHdr; 0: skip trusted ones
	v6bits        int
	key           Key
	headers       headerSet
	denied        func(http.ResponseWriter, *http.Request, limit.Decision)
	sharedMu      sync.Mutex
	shared        map[string]*check // by name; guarded by sharedMu
	log           *slog.Logger
	_             noCopy
}

// New returns a Middleware that counts requests in s, configured by opts.
// With no options it applies no limits until [Middleware.Limit] wraps a
// handler; it keys clients by connection address and sends
// X-RateLimit-* headers.
//
// New fails, with an error wrapping [ErrConfig] that names the problem, on
// a bad limit string, a malformed route pattern, a duplicate route, a
// shared budget declared with different limits, a bad CIDR prefix, an
// unknown proxy or header name and an IPv6 prefix outside 1..128.
func New(s floodgate.Store, opts ...Option) (*Middleware, error) {
	if s == nil {
		return nil, configError("nil Store")
	}
	c := config{v6bits: 64, log: slog.Default()}
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
		headers:    xRateLimit,
		denied:     c.denied,
		log:        c.log,
	}
	m.enabled.Store(true)
	if c.v6bits < 1 || c.v6bits > 128 {
		return nil, configError("IPv6 prefix /%d is not in 1..128", c.v6bits)
	}
	var err error
	if c.headersSet {
		if m.headers, err = parseHeaders(c.headers); err != nil {
			return nil, err
		}
	}
	if c.proxySet {
		if err := m.setProxies(c.proxyHdr, c.hops, c.trusted); err != nil {
			return nil, err
		}
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
		if err := checkPattern(p); err != nil {
			return nil, err
		}
		m.exempt[p] = true
	}
	for i := range c.routes {
		s := &c.routes[i]
		if err := checkPattern(s.pattern); err != nil {
			return nil, err
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
	m.routeFunc = c.routeFunc
	m.hook, m.shadow = c.hook, c.shadow
	return m, nil
}

// setProxies validates and sets WithTrustedProxies.
func (m *Middleware) setProxies(header string, hops int, cidrs []string) error {
	switch h := http.CanonicalHeaderKey(header); h {
	case "X-Forwarded-For", "Forwarded":
		m.proxyHdr, m.forwarded = h, h == "Forwarded"
	case "X-Real-Ip", "Cf-Connecting-Ip", "True-Client-Ip":
		m.proxyHdr, m.single = h, true
	default:
		return configError("trusted proxies: header %q is not X-Forwarded-For, Forwarded, X-Real-IP, CF-Connecting-IP or True-Client-IP", header)
	}
	switch {
	case hops < 0 || hops > maxHops:
		return configError("trusted proxies: %d hops is not in 0..%d", hops, maxHops)
	case m.single && hops > 1:
		return configError("trusted proxies: %s holds one address, so hops is 0 or 1, not %d", header, hops)
	case hops == 0 && len(cidrs) == 0:
		return configError("trusted proxies: header %q given without the proxies' addresses or their number of hops", header)
	}
	m.hops = hops
	if m.single {
		m.hops = 0
	}
	var err error
	m.trusted, err = parsePrefixes("trusted proxies", cidrs)
	return err
}

// Handler returns next wrapped in the Middleware: every request that
// passes through it counts against the application-wide limits and
// against its route's limits ([WithRoute]) or the default ones
// ([WithDefaultLimits]). Its signature fits routers that take
// func(http.Handler) http.Handler middleware, such as chi's Use. Call
// [Middleware.Verify] on the finished handler at start-up: it proves
// that every declared route is limited.
//
// Handler tells a request's route by, in this order: the function of
// [WithRouteFunc] (chi, gin, echo, or a handler inside a ServeMux, whose
// requests carry r.Pattern); or, when next is an *http.ServeMux (or has
// its Handler method), the pattern the mux chooses. With neither, route,
// default and exempt patterns could never match: Handler panics, with an
// error wrapping [ErrConfig] that names them, like regexp.MustCompile, so
// that the mistake stops the service at start-up. A ServeMux that serves
// a declared pattern under another pattern ("{id}" for "{itemID}",
// "/login" for "POST /login") or not at all is logged at Error, naming
// it, and Verify returns it as an error.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	h := &appHandler{m: m, next: next}
	if rt, ok := next.(router); ok {
		h.mux = rt
	}
	if !m.needRoute || m.routeFunc != nil {
		return h
	}
	if h.mux == nil {
		panic(configError("Handler wraps %T, which cannot tell a request's route, so the limits of %s would never apply: "+
			"wrap the *http.ServeMux itself, or pass WithRouteFunc (chi, gin, echo, or r.Pattern inside a ServeMux; see docs/http.md)",
			next, m.patternList()))
	}
	var bad []string
	for _, p := range m.declared() {
		if got, err := muxPattern(h.mux, p); err != nil || got != p {
			bad = append(bad, strconv.Quote(p))
		}
	}
	if len(bad) > 0 && m.misplaced.CompareAndSwap(false, true) {
		m.log.Error("httplimit: the ServeMux does not serve these declared routes under the same pattern, so their rules do not apply: "+
			"use exactly the patterns given to the mux, and refuse the mistake at start-up with Middleware.Verify (logged once)",
			"routes", strings.Join(bad, ", "))
	}
	return h
}

// declared returns the patterns of WithRoute and WithExempt, sorted.
func (m *Middleware) declared() []string {
	ps := make([]string, 0, len(m.routes)+len(m.exempt))
	for p := range m.routes {
		ps = append(ps, p)
	}
	for p := range m.exempt {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// patternList names what route lookups serve, for errors and logs.
func (m *Middleware) patternList() string {
	var parts []string
	for _, p := range m.declared() {
		parts = append(parts, strconv.Quote(p))
	}
	if m.def != nil {
		parts = append(parts, "the default limits")
	}
	return strings.Join(parts, ", ")
}

// checkPattern reports a route pattern that no router could serve: the
// ServeMux syntax [METHOD ][HOST]/[PATH], with balanced wildcards.
func checkPattern(p string) error {
	rest := p
	if m, r, ok := strings.Cut(p, " "); ok {
		for _, c := range m {
			if c < 'A' || c > 'Z' {
				return configError("route %q: %q is not an HTTP method", p, m)
			}
		}
		rest = strings.TrimLeft(r, " ")
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return configError("route %q: a pattern is [METHOD ][HOST]/PATH", p)
	}
	depth := 0
	for _, c := range rest[i:] {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth < 0 || depth > 1 {
			return configError("route %q: unbalanced { }", p)
		}
	}
	if depth != 0 {
		return configError("route %q: unbalanced { }", p)
	}
	return nil
}

// muxPattern returns the pattern under which mux serves the request
// Verify builds for pattern.
func muxPattern(mux router, pattern string) (string, error) {
	r, err := probeRequest(pattern)
	if err != nil {
		return "", err
	}
	_, got := mux.Handler(r)
	return got, nil
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
	if verifying.Load() != 0 && h.answerProbe(w, r) {
		return
	}
	if !m.enabled.Load() {
		h.next.ServeHTTP(w, r)
		return
	}
	var rt *route
	pattern := ""
	if m.needRoute {
		var exempt bool
		pattern, rt, exempt = h.place(r)
		if exempt {
			h.next.ServeHTTP(w, r)
			return
		}
		if pattern == "" && m.routeFunc != nil && !m.unplaced.Load() {
			h.serveUnplaced(w, r, rt)
			return
		}
	}
	m.serve(w, r, h.next, rt, pattern, true)
}

// serveUnplaced serves a request whose route the function of
// WithRouteFunc could not tell, and logs it once if the router then
// served it: a route the function does not see, whose limits did not
// apply. A 404 or 405, the router finding no route, is not logged. (A
// wrapped ServeMux that finds no route answers the request itself, so
// Handler never logs it.)
func (h *appHandler) serveUnplaced(w http.ResponseWriter, r *http.Request, rt *route) {
	code := 0 // 0: the router was not reached
	h.m.serve(w, r, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.next.ServeHTTP(sw, r)
		code = sw.code()
	}), rt, "", true)
	if code != 0 && code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		h.m.cannotPlace(r, code)
	}
}

// place returns the pattern of r's route ("" when it cannot be told), the
// route whose limits apply (nil: none) and whether the route is exempt.
func (h *appHandler) place(r *http.Request) (pattern string, rt *route, exempt bool) {
	m := h.m
	own := false
	switch {
	case m.routeFunc != nil:
		pattern = m.routeFunc(r)
	case h.mux != nil:
		var found http.Handler
		found, pattern = h.mux.Handler(r)
		_, own = found.(*limited)
	}
	if pattern == "" {
		return "", nil, false
	}
	if _, path, ok := strings.Cut(pattern, " "); !ok || path == "" {
		// A router pattern without a method ("/login", from chi or
		// gin) also names the route declared with one ("POST /login").
		if withMethod := r.Method + " " + pattern; m.routes[withMethod] != nil || m.exempt[withMethod] {
			pattern = withMethod
		}
	}
	if m.exempt[pattern] {
		return pattern, nil, true
	}
	if rt = m.routes[pattern]; rt == nil && !own {
		rt = m.def
	}
	return pattern, rt, false
}

// cannotPlace logs, once and loudly, that the router served a request
// whose route the function of WithRouteFunc could not tell, so its
// route and default limits did not apply.
func (m *Middleware) cannotPlace(r *http.Request, status int) {
	if m.unplaced.CompareAndSwap(false, true) {
		m.log.Error("httplimit: the router served a request whose route WithRouteFunc could not tell, so its route, default and exempt rules "+
			"did not apply (logged once): the route function does not see the router's pattern where the middleware runs; Middleware.Verify names such routes at start-up",
			"method", r.Method, "path", r.URL.Path, "status", status, "routes", m.patternList())
	}
}

// Limit returns middleware that limits the handlers it wraps by limits
// ([limit.ParseMany] syntax, such as "5/minute" or "2/second;10/minute"),
// adjusted by opts: the Go counterpart of @limiter.limit("5/minute"). It
// is the way to limit one handler in code; [WithRoute] is the way for
// limits read from configuration, whose errors New returns.
//
// A budget's identity is what was declared, never call order: the limits
// string and the route that serves the request (its pattern from
// [WithRouteFunc], or r.Pattern inside a ServeMux), so every instance of
// a service counts a route in the same budget however its routes were
// registered; [Shared] names a budget that handlers share. A request
// whose route cannot be told counts in the budget of the limits string
// alone, and is logged once.
//
// Limit panics, with an error wrapping [ErrConfig], on a bad limit string
// or a shared budget declared with other limits, like regexp.MustCompile.
// Application-wide limits are applied by [Middleware.Handler], not here.
func (m *Middleware) Limit(limits string, opts ...RouteOption) func(http.Handler) http.Handler {
	s := &routeSpec{pattern: "limit " + limits, limits: limits, opts: opts}
	rt, err := m.newRoute(s, "l:"+limits+"|", true)
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
	if verifying.Load() != 0 && l.answerProbe(w, r) {
		return
	}
	if !l.m.enabled.Load() {
		l.next.ServeHTTP(w, r)
		return
	}
	pattern := r.Pattern
	if l.m.routeFunc != nil {
		pattern = l.m.routeFunc(r)
	}
	if pattern == "" && (l.rt.own != nil || len(l.rt.also) > 0) && l.m.unplacedLimit.CompareAndSwap(false, true) {
		l.m.log.Warn("httplimit: Limit cannot tell the route of a request, so handlers wrapped by Limit with the same limits "+
			"share one budget (logged once): mount them in a ServeMux, pass WithRouteFunc, or share a budget by name with Shared",
			"method", r.Method, "path", r.URL.Path)
	}
	l.m.serve(w, r, l.next, l.rt, pattern, false)
}

// SetEnabled turns limiting on or off at run time; a disabled Middleware
// passes every request through untouched, without headers, and counts
// nothing: the switch for tests and for an emergency. New returns an
// enabled Middleware.
func (m *Middleware) SetEnabled(on bool) { m.enabled.Store(on) }

// pending is one scope's part of a request's decision: a floodgate.Charge
// and what the response needs to describe it.
type pending struct {
	ch     *check
	key    string
	n      int64
	limits []limit.Limit
	dyn    bool // limits chosen at request time
	route  bool // the route's own or AlsoBy limits: CountWhen refunds them
}

// serve runs the checks of one request, all or nothing, and calls next or
// the denied handler.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler, rt *route, pattern string, withApp bool) {
	var ip clientAddr
	if m.exemptWhen != nil && m.exemptWhen(r, ip.get(m, r)) {
		next.ServeHTTP(w, r)
		return
	}
	var buf [4]pending
	ps := buf[:0]
	if withApp && m.app != nil {
		ps = append(ps, pending{ch: m.app, key: m.storageKey(m.app, "", m.key, r, &ip), n: 1, limits: m.app.limits})
	}
	if rt != nil {
		ps = m.routeCharges(ps, r, rt, pattern, &ip)
	}
	if len(ps) == 0 {
		next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	var (
		d   limit.Decision
		at  int
		err error
	)
	if len(ps) == 1 {
		d, err = m.store.AllowN(ctx, ps[0].key, ps[0].n, ps[0].limits...)
	} else {
		var cs [4]floodgate.Charge
		charges := cs[:0]
		for _, p := range ps {
			charges = append(charges, floodgate.Charge{Key: p.key, N: p.n, Limits: p.limits})
		}
		d, at, err = m.store.AllowAll(ctx, charges...)
		at = max(at, 0)
	}
	fallback := false
	if err != nil {
		if ctx.Err() != nil {
			return // the client is gone; its request goes nowhere
		}
		m.report(ps[at].ch, err)
		fallback = errors.Is(err, floodgate.ErrStorage)
	}
	shadow := m.shadow || (rt != nil && rt.shadow)
	if m.hook != nil {
		m.hook(r, Event{Pattern: pattern, Scope: ps[at].ch.name, Key: ps[at].key, Limits: ps[at].limits,
			Decision: d, Shadow: shadow, Fallback: fallback, Err: err})
	}
	st := state{d: d, ch: ps[at].ch, set: true, pol: ps[at].ch.policy(d.Limit, ps[at].dyn), unknown: fallback}
	if shadow {
		next.ServeHTTP(w, r)
		return
	}
	if !d.Allowed {
		if fallback && d.RetryAfter != limit.Never && d.ResetAfter == 0 {
			// The policy denied without counting (failure=closed): the
			// limiter could not decide, which is no rate limit.
			m.unavailable(w, &st)
			return
		}
		m.deny(w, r, &st, rt)
		return
	}
	m.writeHeaders(w.Header(), &st, false)
	if rt == nil || rt.countWhen == nil {
		next.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	next.ServeHTTP(sw, r)
	if !rt.countWhen(sw.code()) {
		m.refund(ctx, ps)
	}
}

// refund gives back the route's charges of a request that CountWhen
// does not count.
func (m *Middleware) refund(ctx context.Context, ps []pending) {
	ctx = context.WithoutCancel(ctx)
	for _, p := range ps {
		if !p.route {
			continue
		}
		err := m.store.Refund(ctx, p.key, p.n, p.limits...)
		if errors.Is(err, errors.ErrUnsupported) {
			if m.noRefund.CompareAndSwap(false, true) {
				m.log.Error("httplimit: CountWhen needs a store that can give units back; "+
					"every request is counted (logged once)", "store", m.store.Info().Kind, "error", err)
			}
			return
		}
		if err != nil {
			m.report(p.ch, err)
		}
	}
}

// routeCharges appends the charges of rt: its shared budgets, its own (or
// dynamic) limits and its AlsoBy limits.
func (m *Middleware) routeCharges(ps []pending, r *http.Request, rt *route, pattern string, ip *clientAddr) []pending {
	cost := int64(1)
	if rt.cost != nil {
		if cost = rt.cost(r); cost <= 0 {
			return ps
		}
	}
	key := m.key
	if rt.ownKey {
		key = rt.key
	}
	for _, sh := range rt.shared {
		ps = append(ps, pending{ch: sh, key: m.storageKey(sh, "", key, r, ip), n: cost, limits: sh.limits})
	}
	if !rt.perPattern {
		pattern = ""
	}
	if ch := rt.own; ch != nil {
		limits, dyn := ch.limits, false
		if rt.dynamic != nil {
			if d := rt.dynamic(r); len(d) > 0 {
				limits, dyn = d, true
			}
		}
		if len(limits) > 0 {
			ps = append(ps, pending{ch: ch, key: m.storageKey(ch, pattern, key, r, ip), n: cost, limits: limits, dyn: dyn, route: true})
		}
	}
	for _, a := range rt.also {
		ps = append(ps, pending{ch: a.ch, key: m.storageKey(a.ch, pattern, a.key, r, ip), n: cost, limits: a.ch.limits, route: true})
	}
	return ps
}

// state tracks the decision the response headers describe: the denying
// one, or the allowed one with the fewest remaining units.
type state struct {
	d   limit.Decision
	pol *policy
	ch  *check
	set bool
	// unknown: the store failed and its failure policy decided, so
	// the client's remaining units and reset time are not known.
	unknown bool
}

// storageKey returns the key under which a scope counts a client:
// scope pattern|client.
func (m *Middleware) storageKey(ch *check, pattern string, k Key, r *http.Request, ip *clientAddr) string {
	var buf [192]byte
	b := buf[:0]
	b = append(b, ch.scope...)
	b = append(b, pattern...)
	b = append(b, '|')
	b = m.appendKey(b, k, r, ip)
	return string(b)
}

// report logs the first store error, once: failures are the store's to
// handle and log (floodgate.Fallback logs each outage once and calls the
// error hook), and the Decision that came with the error, its failure
// policy's, stands.
func (m *Middleware) report(ch *check, err error) {
	if m.storeErr.CompareAndSwap(false, true) {
		m.log.Warn("httplimit: the store failed; requests are decided by its failure policy "+
			"(this is logged once; floodgate.Fallback logs each outage)", "scope", ch.name, "error", err)
	}
}

// statusWriter records the status a handler writes, for CountWhen.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// deny writes the headers and the denied response: rt's denied handler
// (rt may be nil), the Middleware's, or the default 429.
func (m *Middleware) deny(w http.ResponseWriter, r *http.Request, st *state, rt *route) {
	m.writeHeaders(w.Header(), st, true)
	if rt != nil && rt.denied != nil {
		rt.denied(w, r, st.d)
		return
	}
	if m.denied != nil {
		m.denied(w, r, st.d)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusTooManyRequests)
	if st.d.RetryAfter == limit.Never {
		_, _ = w.Write(st.pol.neverBody)
		return
	}
	_, _ = w.Write(st.pol.body)
}

// unavailableBody is the body of a denial by the failure policy.
var unavailableBody = []byte(`{"error":"rate limiter unavailable: the limit cannot be checked now; retry later"}` + "\n")

// unavailable writes the response to a request denied by the store's
// failure policy (failure=closed): 503 with Retry-After set to the
// policy's backoff, and no remaining count or reset time, which nobody
// knows.
func (m *Middleware) unavailable(w http.ResponseWriter, st *state) {
	h := w.Header()
	m.writeHeaders(h, st, true)
	h["Content-Type"] = []string{"application/json"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(unavailableBody)
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
