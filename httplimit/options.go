package httplimit

import (
	"log/slog"
	"net/http"

	"github.com/floodgate-go/floodgate/limit"
)

// Option configures a Middleware. Options are built by the With functions
// and passed to [New]; with none, New applies the defaults each With
// function documents.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config collects options; New validates it and builds the Middleware.
type config struct {
	routes        []routeSpec
	def           *routeSpec
	app           string
	appSet        bool
	shared        []sharedSpec
	exempt        []string
	exemptWhen    func(*http.Request) bool
	allow         []string
	proxyHdr      string
	hops          int
	trusted       []string
	v6bits        int
	key           Key
	headers       Headers
	denied        func(http.ResponseWriter, *http.Request, limit.Decision)
	routeFunc     func(*http.Request) string
	hook          func(*http.Request, Event)
	shadow        bool
	shadowHeaders bool
	log           *slog.Logger
}

type sharedSpec struct{ name, limits string }

// WithRoute sets the limits of the route registered under pattern, for
// instance "5/minute" or "2/second;10/minute" ([limit.ParseMany] syntax),
// adjusted by opts. [Middleware.Handler] recognises the route by its
// pattern: exactly the string given to http.ServeMux.Handle (such as
// "POST /api/v1/auth/login"), or the request's Pattern field when the
// Middleware wraps a handler inside a ServeMux. Each route counts against
// its own budget per client; use [Shared] to share one.
//
// An empty limits string is allowed when opts add limits ([Shared],
// [Method] or [Dynamic]). New reports a bad limit string, a duplicate
// pattern and an unknown shared scope. Default: no route limits.
func WithRoute(pattern, limits string, opts ...RouteOption) Option {
	return optionFunc(func(c *config) {
		c.routes = append(c.routes, routeSpec{pattern: pattern, limits: limits, opts: opts})
	})
}

// WithRouteFunc sets how [Middleware.Handler] learns the route that
// serves a request, for routers other than a directly wrapped ServeMux:
// fn returns the route's pattern, or "" when no route matches. A pattern
// without a method ("/login") also names a route declared with one
// ("POST /login"). Runnable examples for each router live in the
// examples module (docs/http.md, "On every router"):
//
//	chi:  examples/chi RouteFunc(router), which asks chi which route will
//	      serve the request (top-level Use middleware runs before chi
//	      routes, so RoutePattern() is still empty there)
//	gin:  limit inside gin, where c.FullPath() is known (examples/gin Adapt)
//	echo: limit inside echo, where c.Path() is known (examples/echo Adapt)
//	ServeMux, with Handler inside a route: r.Pattern
//
// A function that returns "" for a request whose route is declared leaves
// it unlimited by its route: the Middleware logs the first such request
// at Error. Check a route function once with [Middleware.CheckRoutes] and
// a test request. Default: none; Handler asks the ServeMux it wraps.
func WithRouteFunc(fn func(*http.Request) string) Option {
	return optionFunc(func(c *config) { c.routeFunc = fn })
}

// WithDefaultLimits sets the limits of every route [Middleware.Handler]
// recognises that has no limits of its own (no [WithRoute], not wrapped by
// [Middleware.Limit], not exempt). Each such route keeps its own budget
// per client, as if it had been given these limits with WithRoute; opts
// work as they do there, so [Method] sets different defaults for writes
// than for reads. Requests whose route Handler cannot tell (a 404 from a
// ServeMux, or a router that reports no pattern) get no default limits,
// only the application-wide ones. Default: none.
func WithDefaultLimits(limits string, opts ...RouteOption) Option {
	return optionFunc(func(c *config) {
		c.def = &routeSpec{pattern: "default", limits: limits, opts: opts}
	})
}

// WithAppLimits sets application-wide limits: one budget per client shared
// by every request that passes through [Middleware.Handler], whatever its
// route, checked before the route's own limits. Exempt requests do not
// count. Default: none.
func WithAppLimits(limits string) Option {
	return optionFunc(func(c *config) { c.app, c.appSet = limits, true })
}

// WithShared declares a shared scope: routes that join it with
// [Shared](name) draw from one budget per client, in addition to their
// own limits. Default: no shared scopes.
func WithShared(name, limits string) Option {
	return optionFunc(func(c *config) { c.shared = append(c.shared, sharedSpec{name, limits}) })
}

// WithExempt exempts the routes registered under the given patterns, as
// [Middleware.Handler] recognises them (see [WithRoute]), from every
// limit, the application-wide ones included. Exempt responses carry no rate-limit
// headers. Default: none.
func WithExempt(patterns ...string) Option {
	return optionFunc(func(c *config) { c.exempt = append(c.exempt, patterns...) })
}

// WithExemptWhen exempts the requests for which fn reports true from every
// limit. fn runs on every request before anything is counted, so it must
// be cheap and must not trust anything the client can forge. Default: no
// predicate.
func WithExemptWhen(fn func(*http.Request) bool) Option {
	return optionFunc(func(c *config) { c.exemptWhen = fn })
}

// WithAllowList exempts clients whose address (after trusted-proxy
// resolution, before IPv6 grouping) lies in one of the CIDR prefixes, such
// as "10.0.0.0/8" or "2001:db8::/32"; a bare address means that one
// address. New reports a malformed prefix. Default: none.
func WithAllowList(cidrs ...string) Option {
	return optionFunc(func(c *config) { c.allow = append(c.allow, cidrs...) })
}

// WithTrustedProxies makes the client address come from header when the
// connection comes from one of the proxies in cidrs. "X-Forwarded-For" and
// "Forwarded" (RFC 7239) are read right to left, skipping addresses in
// cidrs; the first other address is the client. The single-address
// headers that CDNs and proxies set, "X-Real-IP", "CF-Connecting-IP"
// (Cloudflare) and "True-Client-IP" (Akamai, Cloudflare Enterprise), are
// read whole: one address, or the connection's address when the value is
// anything else.
//
// The header is ignored when the peer is not trusted, so clients cannot
// spoof it. A missing header, a garbled or "unknown" hop, or more than 64
// hops, fall back to the connection's address: a bad header never means
// "unlimited". Name only the header your proxies set: a proxy that passes
// the other one through unchanged would let clients choose their address.
// New reports a malformed prefix or another header. Default: no trusted
// proxies; the client address is the connection's.
func WithTrustedProxies(header string, cidrs ...string) Option {
	return optionFunc(func(c *config) { c.proxyHdr, c.trusted = header, cidrs })
}

// WithTrustedHops makes the client address come from X-Forwarded-For
// when a known number of proxies of yours, n, stand in front of the
// service, whatever their addresses (a cloud load balancer whose
// addresses change): each proxy appends the address it saw, so the
// client is the n-th entry from the right. Entries further left were
// written by the client and are never read. A header with fewer than n
// entries, or a garbled one, falls back to the connection's address. Use
// it instead of [WithTrustedProxies], not with it; n is 1 to 64. Default:
// 0, no header is trusted.
func WithTrustedHops(n int) Option { return optionFunc(func(c *config) { c.hops = n }) }

// WithIPv6Prefix sets how many leading bits of an IPv6 client address
// form its key, 1 to 128. Default 64: one budget per /64, the block a
// single host or customer usually holds, so one machine cannot multiply
// its budget by rotating addresses. 128 keys each address apart, which
// is fairer behind carrier-grade NAT and easier to evade. IPv4 addresses
// are always keyed whole.
func WithIPv6Prefix(bits int) Option { return optionFunc(func(c *config) { c.v6bits = bits }) }

// WithKey sets how requests are told apart: by client address
// ([KeyIP], the default), a header, the authenticated user, or a
// composite ([KeyOf]). [ByKey] overrides it for one route's own and shared
// checks; application-wide limits always use this key.
func WithKey(k Key) Option { return optionFunc(func(c *config) { c.key = k }) }

// WithHeaders chooses the rate-limit response headers. Default
// [HeadersXRateLimit]. WithHeaders(0) sends none, except Retry-After on
// denials, which is always sent. The IETF fields ([HeadersIETF]) follow
// draft-ietf-httpapi-ratelimit-headers, which may still change.
func WithHeaders(h Headers) Option { return optionFunc(func(c *config) { c.headers = h }) }

// WithDeniedHandler replaces the response to a denied request. fn runs
// after the rate-limit headers and Retry-After are set, and must write the
// whole response. d is the denying Decision. Default: status 429 with
// Content-Type application/json and a body such as
// {"error":"rate limit exceeded: 5 per 1 minute"}.
func WithDeniedHandler(fn func(w http.ResponseWriter, r *http.Request, d limit.Decision)) Option {
	return optionFunc(func(c *config) { c.denied = fn })
}

// WithLogger sets the logger of the Middleware's few log lines, each
// written once per Middleware, never per request: a request whose route
// cannot be told, CountWhen on a store that cannot refund, the first
// store failure. Store outages themselves are logged by the store's
// floodgate.Fallback (floodgate.WithLogger). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.log = l
		}
	})
}

// Headers selects rate-limit response headers; combine with |.
type Headers uint8

const (
	// HeadersXRateLimit sends X-RateLimit-Limit (the limit's count),
	// X-RateLimit-Remaining and X-RateLimit-Reset, in delta seconds
	// (not a Unix time): Decision.ResetAfter rounded up. Go writes them
	// in canonical case, X-Ratelimit-Limit; header names are
	// case-insensitive.
	HeadersXRateLimit Headers = 1 << iota
	// HeadersIETF sends RateLimit-Policy and RateLimit in the syntax of
	// draft-ietf-httpapi-ratelimit-headers:
	//
	//	RateLimit-Policy: "POST /api/v1/auth/login";q=5;w=60
	//	RateLimit: "POST /api/v1/auth/login";r=4;t=60
	//
	// The policy is named after its route, shared scope, "app" or
	// "default", followed by the limit when the scope has several.
	HeadersIETF
)

// RouteOption adjusts one route's limits in [WithRoute],
// [WithDefaultLimits] or [Middleware.Limit].
type RouteOption interface{ applyRoute(*routeSpec) }

type routeOptionFunc func(*routeSpec)

func (f routeOptionFunc) applyRoute(s *routeSpec) { f(s) }

type routeSpec struct {
	pattern string
	limits  string
	opts    []RouteOption
	// set by the options:
	scope     string
	shared    []string
	methods   []methodSpec
	cost      func(*http.Request) int64
	dynamic   func(*http.Request) []limit.Limit
	key       *Key
	also      []alsoSpec
	countWhen func(status int) bool
	shadow    bool
}

type alsoSpec struct {
	name, limits string
	key          Key
}

type methodSpec struct{ method, limits string }

// Shared makes the route also draw from the shared scope name, declared
// with [WithShared]. It may be repeated for several scopes.
func Shared(name string) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.shared = append(s.shared, name) })
}

// Scope names the route's own budget. Routes with the same scope name and
// the same limits share one budget per client. Default: the pattern for
// [WithRoute] and default routes; for [Middleware.Limit], the limits
// string and the pattern of the route serving the request. Budgets never
// depend on registration order, so instances that register routes in
// different orders share them on one Redis.
func Scope(name string) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.scope = name })
}

// Method sets different limits for requests with the given method
// ("POST", "DELETE", …) on this route; they replace the route's limits
// for that method and count in a budget of their own.
func Method(method, limits string) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.methods = append(s.methods, methodSpec{method, limits}) })
}

// Cost sets how many units a request costs against the route's own and
// shared limits; application-wide limits always count 1. A cost above a
// limit's count can never be allowed (429, Retry-After the limit's
// period). A cost of 0 or less skips the route's own and shared checks.
// Default: 1.
func Cost(fn func(*http.Request) int64) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.cost = fn })
}

// Dynamic chooses the route's limits per request, for instance by the
// user's tier. A non-empty result replaces the route's (or the method's)
// static limits; nil keeps them. Return slices built once, not per
// request: each distinct limit is its own budget, and headers for limits
// not declared up front cost a few allocations per request.
func Dynamic(fn func(*http.Request) []limit.Limit) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.dynamic = fn })
}

// ByKey sets how this route tells requests apart, replacing the
// Middleware's [WithKey] for the route's own limits and the shared scopes
// it joins.
func ByKey(k Key) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.key = &k })
}

// AlsoBy adds limits to the route that count under a key of their own,
// named name: the second decorator of SlowAPI. The common case is a login
// route limited to 5/minute per client address and 20/hour per account
// name, so that neither many addresses against one account nor one
// address against many accounts gets through:
//
//	httplimit.WithRoute("POST /login", "5/minute",
//		httplimit.AlsoBy("account", httplimit.KeyFunc(accountName), "20/hour"))
//
// The route's limits of every key are decided together, all or nothing:
// a request denied by one counts against none. The budget's identity is
// the route's and name, never declaration order. New reports a missing or
// repeated name and a bad limit string.
func AlsoBy(name string, key Key, limits string) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.also = append(s.also, alsoSpec{name, limits, key}) })
}

// CountWhen counts the route's requests only when count(status) reports
// true for the status of the response: "count only failed logins" is
// CountWhen(func(s int) bool { return s == 401 || s == 403 }), and "give
// the unit back on a 5xx" is CountWhen(func(s int) bool { return s < 500 }).
// Flask-Limiter calls it deduct_when.
//
// The request is counted before the handler runs, so concurrent requests
// cannot overrun the limit while handlers are busy, and the units come
// back after the response when count says so (Store.Refund; every store
// of this module refunds). A budget that is
// used up still denies. Only the route's own and AlsoBy limits are given
// back, not application-wide or shared ones. Default: every request
// counts.
func CountWhen(count func(status int) bool) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.countWhen = count })
}

// Shadow puts the route in shadow mode: its requests are decided,
// reported to [WithDecisionHook] and counted as usual, but never denied.
// It is how a new limit is rolled out: watch what it would deny, then
// remove Shadow. [WithShadow] does it for the whole Middleware.
func Shadow() RouteOption { return routeOptionFunc(func(s *routeSpec) { s.shadow = true }) }

// WithShadow puts the whole Middleware in shadow mode (see [Shadow]):
// every request is decided, counted and reported to the decision hook,
// and none is denied. headers chooses whether responses still carry the
// rate-limit headers. Default: enforcing.
func WithShadow(headers bool) Option {
	return optionFunc(func(c *config) { c.shadow, c.shadowHeaders = true, headers })
}

// WithDecisionHook sets a function called once per checked request,
// allowed or denied, with the decision that decided it: the place for
// metrics and audit logs. It runs on the request's goroutine before the
// handler or the denial, so it must be fast. Default: none.
func WithDecisionHook(fn func(r *http.Request, e Event)) Option {
	return optionFunc(func(c *config) { c.hook = fn })
}

// Event is one request's rate-limit decision, given to the function of
// [WithDecisionHook].
type Event struct {
	// Pattern is the route's pattern, "" when the route is unknown.
	Pattern string
	// Scope names the checks that decided: "app", a route pattern, a
	// shared scope, a [Scope] name, or "pattern by name" for [AlsoBy].
	// Its cardinality is that of the configuration, fit for a metric
	// label.
	Scope string
	// Key is the storage key that was counted: scope, route and client
	// key. It holds client data: never use it as a metric label.
	Key string
	// Limits are the limits of the deciding check.
	Limits []limit.Limit
	// Decision is the deciding Decision: the denial, or the allowed one
	// with the fewest units left.
	Decision limit.Decision
	// Shadow reports that the request was decided in shadow mode: a
	// denial here was not enforced.
	Shadow bool
	// Err is the store's error, if it failed; Decision is then its
	// failure policy's.
	Err error
}
