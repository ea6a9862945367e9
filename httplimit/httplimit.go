package httplimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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
// [Middleware.Verify] at start-up. [Middleware.Reload] replaces its
// limits while it runs.
//
// The zero Middleware is not usable. A Middleware is safe for concurrent
// use and must not be copied.
type Middleware struct {
	store floodgate.Store
	// cur is the configuration in force, never modified once stored:
	// each request loads it once, so it sees one set of limits whole,
	// and Reload swaps in another.
	cur     atomic.Pointer[setup]
	enabled atomic.Bool

	storeErr      atomic.Bool // the first store error was logged
	unplaced      atomic.Bool // a request whose route could not be told was logged
	unplacedLimit atomic.Bool // the same, for Limit
	misplaced     atomic.Bool // a ServeMux serving declared patterns otherwise was logged
	noRefund      atomic.Bool // CountWhen on a store that cannot refund was logged

	mu       sync.Mutex        // serialises Reload, Handler and Limit; guards what follows
	handlers []*appHandler     // made by Handler, which Reload checks a new configuration against
	shared   map[string]*check // Shared budgets declared through Limit, by name
	_        noCopy
}

// setup is one configuration of a Middleware, built by New or Reload
// from options and never modified afterwards.
type setup struct {
	app        *check                   // nil: no application-wide limits
	routes     map[string]*route        // by pattern
	byPath     map[string][]methodRoute // route and exempt patterns with a method, by what follows it
	def        *route                   // nil: no default limits
	exempt     map[string]string        // pattern to itself
	needRoute  bool                     // Handler must look up the route
	routeFunc  func(*http.Request) string
	hook       func(*http.Request, Event)
	shadow     bool
	exemptWhen func(*http.Request, netip.Addr) bool
	trusted    []netip.Prefix
	proxyHdr   string // "": no trusted proxies
	forwarded  bool   // proxyHdr is Forwarded
	single     bool   // proxyHdr holds one address (X-Real-IP and kin)
	hops       int    // entries from the right of proxyHdr; 0: skip trusted ones
	key        Key
	headers    headerSet
	denied     func(http.ResponseWriter, *http.Request, limit.Decision)
	shared     map[string]*check // Shared budgets of the routes, by name
	log        *slog.Logger
	keys       *keyCache // storage keys of recent requests under this configuration
}

// New returns a Middleware that counts requests in s, configured by opts.
// With no options it applies no limits until [Middleware.Limit] wraps a
// handler; it keys clients by connection address and sends
// X-RateLimit-* headers.
//
// New fails, with an error wrapping [ErrConfig] that names the problem, on
// a bad limit string, a malformed route pattern, a duplicate route, a
// shared budget declared with different limits, a bad CIDR prefix and an
// unknown proxy or header name.
func New(s floodgate.Store, opts ...Option) (*Middleware, error) {
	if s == nil {
		return nil, configError("nil Store")
	}
	m := &Middleware{store: s, shared: map[string]*check{}}
	c, err := m.build(opts)
	if err != nil {
		return nil, err
	}
	m.cur.Store(c)
	m.enabled.Store(true)
	return m, nil
}

// Reload replaces the Middleware's configuration with the one opts
// describe, as [New] would build it, while requests are served: an
// operator raises a route's limit during an incident, or lowers it during
// an attack, without a deploy. opts replace every option given to New
// (pass the logger, hook, key and proxies again, not only the limits);
// limits of [Middleware.Limit] are declared in code and stay.
//
// Reload checks opts as New does, and the new routes against every
// handler [Middleware.Handler] made, as Handler checks them at start-up:
// a handler that could not tell the routes, or a wrapped ServeMux that
// does not serve a declared pattern under that pattern. On any problem it
// returns an error wrapping [ErrConfig] that names it and keeps the
// configuration in force. Otherwise the new one applies to every request
// that starts after Reload returns; a request in flight is decided wholly
// under the old one or wholly under the new one, never a mix.
//
// Counts carry over for a limit that is unchanged: a budget's storage
// key is its route (or scope) and the client, and the store counts each
// limit, count included, apart. So a route whose "5/minute" becomes
// "10/minute" starts a fresh count under the new limit (a client who had
// used 5 gets 10 more), and one whose limits stay the same keeps its
// count, whatever else changes. A lowered limit thus never counts what
// was spent under the old one: lower it further, rather than trust the
// carried-over count, when the point is to stop an attack in progress.
// Reload is safe for concurrent use; concurrent calls apply in turn.
func (m *Middleware) Reload(opts ...Option) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.build(opts)
	if err != nil {
		return err
	}
	for _, h := range m.handlers {
		if err := c.canPlace(h); err != nil {
			return err
		}
		if bad := c.misplacedOn(h.mux); len(bad) > 0 {
			return configError("the ServeMux does not serve these declared routes under the same pattern: %s", strings.Join(bad, ", "))
		}
	}
	m.cur.Store(c)
	return nil
}

// build checks opts and returns the configuration they describe. It
// holds m.mu, or runs before m is shared.
func (m *Middleware) build(opts []Option) (*setup, error) {
	c := config{log: slog.Default()}
	for _, o := range opts {
		o.apply(&c)
	}
	st := &setup{
		routes:     map[string]*route{},
		exempt:     map[string]string{},
		shared:     map[string]*check{},
		exemptWhen: c.exemptWhen,
		key:        c.key,
		headers:    xRateLimit,
		denied:     c.denied,
		log:        c.log,
		keys:       newKeyCache(),
	}
	var err error
	if c.headersSet {
		if st.headers, err = parseHeaders(c.headers); err != nil {
			return nil, err
		}
	}
	if c.proxySet {
		if err := st.setProxies(c.proxyHdr, c.hops, c.trusted); err != nil {
			return nil, err
		}
	}
	if c.appSet {
		if st.app, err = newCheck("a:", "app", c.app); err != nil {
			return nil, err
		}
		if st.app == nil {
			return nil, configError("application-wide limits are empty")
		}
	}
	for _, p := range c.exempt {
		if err := checkPattern(p); err != nil {
			return nil, err
		}
		st.exempt[p] = p
	}
	for i := range c.routes {
		s := &c.routes[i]
		if err := checkPattern(s.pattern); err != nil {
			return nil, err
		}
		if st.routes[s.pattern] != nil {
			return nil, configError("route %q declared twice", s.pattern)
		}
		if _, ok := st.exempt[s.pattern]; ok {
			return nil, configError("route %q is both limited and exempt", s.pattern)
		}
		rt, err := newRoute(s, "r:"+s.pattern, false, st.shared, m.shared)
		if err != nil {
			return nil, err
		}
		st.routes[s.pattern] = rt
	}
	if c.def != nil {
		if st.def, err = newRoute(c.def, "d:", true, st.shared, m.shared); err != nil {
			return nil, err
		}
	}
	st.needRoute = len(st.routes) > 0 || st.def != nil || len(st.exempt) > 0
	st.indexByPath()
	st.routeFunc = c.routeFunc
	st.hook, st.shadow = c.hook, c.shadow
	return st, nil
}

// setProxies validates and sets WithTrustedProxies.
func (m *setup) setProxies(header string, hops int, cidrs []string) error {
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
// its Handler method), the pattern the mux chooses. For a ServeMux route
// without wildcards Handler then calls the handler the mux chose, with
// r.Pattern set, as the mux would, so the request is routed once. With
// neither, route,
// default and exempt patterns could never match: Handler panics, with an
// error wrapping [ErrConfig] that names them, like regexp.MustCompile, so
// that the mistake stops the service at start-up. A ServeMux that serves
// a declared pattern under another pattern ("{id}" for "{itemID}",
// "/login" for "POST /login") or not at all is logged at Error, naming
// it, and Verify returns it as an error. The Middleware keeps each handler
// Handler returns, for [Middleware.Reload] to check new routes against:
// call Handler once per router, at start-up.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	h := &appHandler{m: m, next: next}
	if rt, ok := next.(router); ok {
		h.mux = rt
	}
	if _, ok := next.(*http.ServeMux); ok {
		h.reuse = muxReuse()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cur.Load()
	if err := c.canPlace(h); err != nil {
		panic(err)
	}
	if bad := c.misplacedOn(h.mux); len(bad) > 0 && m.misplaced.CompareAndSwap(false, true) {
		c.log.Error("httplimit: the ServeMux does not serve these declared routes under the same pattern, so their rules do not apply: "+
			"use exactly the patterns given to the mux, and refuse the mistake at start-up with Middleware.Verify (logged once)",
			"routes", strings.Join(bad, ", "))
	}
	m.handlers = append(m.handlers, h)
	return h
}

// canPlace reports a handler of Handler that could not tell the routes
// c declares.
func (m *setup) canPlace(h *appHandler) error {
	if !m.needRoute || m.routeFunc != nil || h.mux != nil {
		return nil
	}
	return configError("Handler wraps %T, which cannot tell a request's route, so the limits of %s would never apply: "+
		"wrap the *http.ServeMux itself, or pass WithRouteFunc (chi, gin, echo, or r.Pattern inside a ServeMux; see docs/http.md)",
		h.next, m.patternList())
}

// misplacedOn returns, quoted, the declared patterns that mux (nil: none)
// does not serve under the same pattern, when c asks mux for routes.
func (m *setup) misplacedOn(mux router) []string {
	if mux == nil || !m.needRoute || m.routeFunc != nil {
		return nil
	}
	var bad []string
	for _, p := range m.declared() {
		if got, err := muxPattern(mux, p); err != nil || got != p {
			bad = append(bad, strconv.Quote(p))
		}
	}
	return bad
}

// declared returns the patterns of WithRoute and WithExempt, sorted.
func (m *setup) declared() []string {
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
func (m *setup) patternList() string {
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
	m     *Middleware
	next  http.Handler
	mux   router
	reuse bool // next is an *http.ServeMux whose route may be reused (place)
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
	c := m.cur.Load() // once: the request sees one configuration
	next := h.next
	var rt *route
	pattern := ""
	if c.needRoute {
		var exempt bool
		pattern, rt, exempt, next = h.place(c, r)
		if exempt {
			next.ServeHTTP(w, r)
			return
		}
		if pattern == "" && c.routeFunc != nil {
			// The route function could not tell the route: the
			// default limits apply, under one budget for every such
			// request, and the request is counted even when no limit
			// applies, so that the metrics show it.
			rt = c.def
			if rt == nil && c.app == nil && c.hook != nil {
				c.hook(r, unplacedEvent)
			}
			if !m.unplaced.Load() {
				h.serveUnplaced(c, w, r, rt)
				return
			}
		}
	}
	m.serve(c, w, r, next, rt, pattern, true)
}

// unplacedEvent is the decision hook's Event for a request whose route
// the route function could not tell, when no limit applies to it.
var unplacedEvent = Event{Scope: "unplaced", Decision: limit.Decision{Allowed: true}}

// serveUnplaced serves a request whose route the function of
// WithRouteFunc could not tell, under rt (the default limits, or nil),
// and logs it once if the router then served it: a route the function
// does not see, whose own limits did not apply. A 404 or 405, the router finding no route, is not logged. (A
// wrapped ServeMux that finds no route answers the request itself, so
// Handler never logs it.)
func (h *appHandler) serveUnplaced(c *setup, w http.ResponseWriter, r *http.Request, rt *route) {
	code := 0 // 0: the router was not reached
	h.m.serve(c, w, r, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.next.ServeHTTP(sw, r)
		code = sw.code()
	}), rt, "", true)
	if code != 0 && code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		h.m.cannotPlace(c, r, code)
	}
}

// place returns the pattern of r's route ("" when it cannot be told), the
// route whose limits apply (nil: none) and whether the route is exempt.
//
// When h wraps an *http.ServeMux and the route's pattern has no
// wildcards, place also sets r.Pattern and returns in next the handler
// the mux chose, to be called in place of the mux: what the mux's
// ServeHTTP would do, without routing the request a second time (see
// reuse). Otherwise next is h.next.
func (h *appHandler) place(m *setup, r *http.Request) (pattern string, rt *route, exempt bool, next http.Handler) {
	own := false
	next = h.next
	switch {
	case m.routeFunc != nil:
		pattern = m.routeFunc(r)
	case h.mux != nil:
		var found http.Handler
		found, pattern = h.mux.Handler(r)
		_, own = found.(*limited)
		// r.Pattern "" (or this pattern, which has no wildcards) means
		// that no other mux left wildcard values in r, which the mux
		// would clear.
		if h.reuse && (r.Pattern == "" || r.Pattern == pattern) && r.RequestURI != "*" && strings.IndexByte(pattern, '{') < 0 {
			r.Pattern, next = pattern, found
		}
	}
	if pattern == "" {
		return "", nil, false, next
	}
	if _, path, ok := strings.Cut(pattern, " "); !ok || path == "" {
		// A router pattern without a method ("/login", from chi or
		// gin) also names the route declared with one ("POST /login"),
		// found by its path in one lookup, without building a string.
		for _, e := range m.byPath[pattern] {
			if e.method == r.Method {
				return e.pattern, e.rt, e.rt == nil, next
			}
		}
	}
	if _, ok := m.exempt[pattern]; ok {
		return pattern, nil, true, next
	}
	if rt = m.routes[pattern]; rt == nil && !own {
		rt = m.def
	}
	return pattern, rt, false, next
}

// methodRoute is a declared pattern with a method, as byPath finds it.
type methodRoute struct {
	method  string // "POST"
	pattern string // "POST /login"
	rt      *route // nil: exempt
}

// indexByPath fills m.byPath from the declared patterns.
func (m *setup) indexByPath() {
	m.byPath = map[string][]methodRoute{}
	for _, p := range m.declared() {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			continue
		}
		m.byPath[path] = append(m.byPath[path], methodRoute{method: method, pattern: p, rt: m.routes[p]})
	}
}

// muxReuse reports whether a handler that *http.ServeMux's Handler method
// returns may be called in place of the mux, with r.Pattern set, for a
// pattern without wildcards. The mux's ServeHTTP does exactly that
// (besides setting the wildcards' values, which such a pattern has none
// of, and refusing the request URI "*"), except under
// GODEBUG=httpmuxgo121=1, where it sets no r.Pattern: this finds out
// which, by serving one request.
var muxReuse = sync.OnceValue(func() bool {
	mux := http.NewServeMux()
	got := ""
	mux.Handle("/", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Pattern }))
	mux.ServeHTTP(&probeWriter{h: http.Header{}}, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}})
	return got == "/"
})

// cannotPlace logs, once and loudly, that the router served a request
// whose route the function of WithRouteFunc could not tell, so its
// route and default limits did not apply.
func (m *Middleware) cannotPlace(c *setup, r *http.Request, status int) {
	if m.unplaced.CompareAndSwap(false, true) {
		c.log.Error("httplimit: the router served a request whose route WithRouteFunc could not tell, so its route and exempt rules "+
			"did not apply, only the default limits if any (logged once): the route function does not see the router's pattern where the middleware runs; Middleware.Verify names such routes at start-up",
			"method", r.Method, "path", r.URL.Path, "status", status, "routes", c.patternList())
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
	m.mu.Lock()
	rt, err := newRoute(s, "l:"+limits+"|", true, m.shared, m.cur.Load().shared)
	m.mu.Unlock()
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
	c := l.m.cur.Load()
	pattern := r.Pattern
	if c.routeFunc != nil {
		pattern = c.routeFunc(r)
	}
	if pattern == "" && (l.rt.own != nil || len(l.rt.also) > 0) && !l.m.unplacedLimit.Load() && l.m.unplacedLimit.CompareAndSwap(false, true) {
		c.log.Warn("httplimit: Limit cannot tell the route of a request, so handlers wrapped by Limit with the same limits "+
			"share one budget (logged once): mount them in a ServeMux, pass WithRouteFunc, or share a budget by name with Shared",
			"method", r.Method, "path", r.URL.Path)
	}
	l.m.serve(c, w, r, l.next, l.rt, pattern, false)
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
func (m *Middleware) serve(c *setup, w http.ResponseWriter, r *http.Request, next http.Handler, rt *route, pattern string, withApp bool) {
	var ip clientAddr
	if c.exemptWhen != nil && c.exemptWhen(r, ip.get(c, r)) {
		next.ServeHTTP(w, r)
		return
	}
	var buf [4]pending
	ps := buf[:0]
	if withApp && c.app != nil {
		ps = append(ps, pending{ch: c.app, key: c.storageKey(c.app, "", c.key, r, &ip), n: 1, limits: c.app.limits})
	}
	if rt != nil {
		ps = c.routeCharges(ps, r, rt, pattern, &ip)
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
		// The charges go to the store through an interface, so they
		// escape: a pooled array keeps them off the heap per request.
		cs := chargePool.Get().(*[4]floodgate.Charge)
		charges := cs[:0]
		for _, p := range ps {
			charges = append(charges, floodgate.Charge{Key: p.key, N: p.n, Limits: p.limits})
		}
		d, at, err = m.store.AllowAll(ctx, charges...)
		at = max(at, 0)
		*cs = [4]floodgate.Charge{} // hold no request's keys in the pool
		chargePool.Put(cs)
	}
	fallback := false
	if err != nil {
		if ctx.Err() != nil {
			return // the client is gone; its request goes nowhere
		}
		m.report(c, ps[at].ch, err)
		fallback = errors.Is(err, floodgate.ErrStorage)
	}
	shadow := c.shadow || (rt != nil && rt.shadow)
	// A denial by a policy that did not count (failure=closed) has a
	// backoff to retry after but no window to reset: the limiter could
	// not decide, which is no rate limit, and the answer is a 503.
	unavailable := fallback && !d.Allowed && d.RetryAfter != limit.Never && d.ResetAfter == 0
	if c.hook != nil {
		c.hook(r, Event{Pattern: pattern, Scope: ps[at].ch.name, Key: ps[at].key, Limits: ps[at].limits,
			Decision: d, Shadow: shadow, Fallback: fallback, Unavailable: unavailable, Err: err})
	}
	st := state{d: d, ch: ps[at].ch, set: true, pol: ps[at].ch.policy(d.Limit, ps[at].dyn), unknown: fallback}
	if shadow {
		next.ServeHTTP(w, r)
		return
	}
	if !d.Allowed {
		if unavailable {
			c.unavailable(w, &st)
			return
		}
		c.deny(w, r, &st, rt)
		return
	}
	c.writeHeaders(w.Header(), &st, false)
	if rt == nil || rt.countWhen == nil {
		next.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	next.ServeHTTP(sw, r)
	if !rt.countWhen(sw.code()) {
		m.refund(c, ctx, ps)
	}
}

// refund gives back the route's charges of a request that CountWhen
// does not count.
func (m *Middleware) refund(c *setup, ctx context.Context, ps []pending) {
	ctx = context.WithoutCancel(ctx)
	for _, p := range ps {
		if !p.route {
			continue
		}
		err := m.store.Refund(ctx, p.key, p.n, p.limits...)
		if errors.Is(err, errors.ErrUnsupported) {
			if m.noRefund.CompareAndSwap(false, true) {
				c.log.Error("httplimit: CountWhen needs a store that can give units back; "+
					"every request is counted (logged once)", "store", m.store.Info().Kind, "error", err)
			}
			return
		}
		if err != nil {
			m.report(c, p.ch, err)
		}
	}
}

// routeCharges appends the charges of rt: its shared budgets, its own (or
// dynamic) limits and its AlsoBy limits.
func (m *setup) routeCharges(ps []pending, r *http.Request, rt *route, pattern string, ip *clientAddr) []pending {
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
// {client}scope pattern. The client in braces is the key's hash tag
// (Redis Cluster's, which redisstore honours), so on a cluster a
// request's scopes of one client lie in one hash slot and are one
// all-or-nothing call; clients, and so the load, still spread over the
// slots. The client part holds no braces (see appendValue). Its bytes are built on the stack; the string
// comes from the key cache, so a client's next request allocates none.
// For the default key, the connection's address, the cache finds the
// key by the address before anything is built.
func (m *setup) storageKey(ch *check, pattern string, k Key, r *http.Request, ip *clientAddr) string {
	if k == nil && m.proxyHdr == "" {
		h := m.keys.addrHash(ch, pattern, r.RemoteAddr)
		if key, ok := m.keys.byAddr(h, ch, pattern, r.RemoteAddr); ok {
			return key
		}
		var buf [192]byte
		return m.keys.rememberAddr(h, ch, pattern, r.RemoteAddr, m.appendStorageKey(buf[:0], ch, pattern, k, r, ip))
	}
	var buf [192]byte
	return m.keys.key(m.appendStorageKey(buf[:0], ch, pattern, k, r, ip))
}

// appendStorageKey appends the bytes of storageKey's key.
func (m *setup) appendStorageKey(b []byte, ch *check, pattern string, k Key, r *http.Request, ip *clientAddr) []byte {
	b = append(b, '{')
	b = append(m.appendKey(b, k, r, ip), '}')
	b = append(b, ch.scope...)
	return append(b, pattern...)
}

// report logs the first store error, once: failures are the store's to
// handle and log (floodgate.Fallback logs each outage once and calls the
// error hook), and the Decision that came with the error, its failure
// policy's, stands.
func (m *Middleware) report(c *setup, ch *check, err error) {
	if m.storeErr.CompareAndSwap(false, true) {
		c.log.Warn("httplimit: the store failed; requests are decided by its failure policy "+
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
func (m *setup) deny(w http.ResponseWriter, r *http.Request, st *state, rt *route) {
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

// chargePool holds the arrays of a multi-scope request's charges: four
// scopes (app, shared, route, AlsoBy) fit without growing.
var chargePool = sync.Pool{New: func() any { return new([4]floodgate.Charge) }}

// unavailableBody is the body of a denial by the failure policy.
var unavailableBody = []byte(`{"error":"rate limiter unavailable: the limit cannot be checked now; retry later"}` + "\n")

// unavailable writes the response to a request denied by the store's
// failure policy (failure=closed): 503 with Retry-After set to the
// policy's backoff, and no remaining count or reset time, which nobody
// knows.
func (m *setup) unavailable(w http.ResponseWriter, st *state) {
	h := w.Header()
	m.writeHeaders(h, st, true)
	h["Content-Type"] = []string{"application/json"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(unavailableBody)
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
