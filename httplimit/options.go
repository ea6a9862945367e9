package httplimit

import (
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/floodgate-go/floodgate/limit"
)

// Option configures a Middleware. Options are built by the With functions,
// [Key] and [Shadow], and passed to [New]; with none, New applies the
// defaults each of them documents.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config collects options; New validates it and builds the Middleware.
type config struct {
	routes     []routeSpec
	def        *routeSpec
	app        string
	appSet     bool
	exempt     []string
	exemptWhen func(*http.Request, netip.Addr) bool
	proxyHdr   string
	proxySet   bool
	hops       int
	trusted    []string
	key        Key
	headers    []string
	headersSet bool
	denied     func(http.ResponseWriter, *http.Request, limit.Decision)
	routeFunc  func(*http.Request) string
	hook       func(*http.Request, Event)
	shadow     bool
	log        *slog.Logger
}

// WithRoute sets the limits of the route registered under pattern, for
// instance "5/minute" or "2/second;10/minute" ([limit.ParseMany] syntax),
// adjusted by opts. [Middleware.Handler] recognises the route by its
// pattern: exactly the string given to http.ServeMux.Handle (such as
// "POST /api/v1/auth/login"), or the one the function of [WithRouteFunc]
// reports; a pattern without a method from another router ("/login")
// also names the route declared with one. Each route counts against its
// own budget per client; use [Shared] to share one. [Middleware.Verify]
// checks, at start-up, that a handler limits every declared route.
//
// An empty limits string is allowed when opts add limits ([Shared] or
// [Dynamic]). New reports a bad limit string, a malformed or duplicate
// pattern and a pattern that is also exempt. Default: no route limits.
func WithRoute(pattern, limits string, opts ...RouteOption) Option {
	return optionFunc(func(c *config) {
		c.routes = append(c.routes, routeSpec{pattern: pattern, limits: limits, opts: opts})
	})
}

// WithRouteFunc sets how [Middleware.Handler] learns the route that
// serves a request, for routers other than a directly wrapped ServeMux:
// fn returns the route's pattern, or "" when no route matches. A pattern
// without a method ("/login") also names a route declared with one
// ("POST /login"). Each router has a package, in a module of its own,
// that sets it (docs/http.md, "On every router"):
//
//	chi:  httplimit/chilimit RouteFunc(router), which asks chi which
//	      route will serve the request (top-level Use middleware runs
//	      before chi routes, so RoutePattern() is still empty there)
//	gin:  limit inside gin, where c.FullPath() is known (ginlimit Adapt)
//	echo: limit inside echo, where c.Path() is known (echolimit Adapt)
//	ServeMux, with Handler inside a route: r.Pattern
//
// A function that returns "" for a request whose route is declared leaves
// it unlimited by its route: call [Middleware.Verify] on the finished
// handler at start-up, which reports it naming the route; at run time the
// Middleware logs the first such request at Error. Default: none; Handler
// asks the ServeMux it wraps.
func WithRouteFunc(fn func(*http.Request) string) Option {
	return optionFunc(func(c *config) { c.routeFunc = fn })
}

// WithDefaultLimits sets the limits of every route [Middleware.Handler]
// recognises that has no limits of its own (no [WithRoute], not wrapped by
// [Middleware.Limit], not exempt). Each such route keeps its own budget
// per client, as if it had been given these limits with WithRoute; opts
// work as they do there, so [Dynamic] can set other limits for writes
// than for reads. A request whose route the function of [WithRouteFunc]
// cannot tell (a route the function does not see, or the router's 404)
// gets the default limits too, in one budget per client that all such
// requests share; a request a wrapped ServeMux finds no route for (its
// 404) gets none, only the application-wide ones. Default: none.
func WithDefaultLimits(limits string, opts ...RouteOption) Option {
	return optionFunc(func(c *config) {
		c.def = &routeSpec{pattern: "default", limits: limits, opts: opts}
	})
}

// WithAppLimits sets application-wide limits: one budget per client shared
// by every request that passes through [Middleware.Handler], whatever its
// route, checked with the route's own limits. Exempt requests do not
// count; application-wide limits are always keyed by the Middleware's
// [Key], and every request costs 1 against them. Default: none.
func WithAppLimits(limits string) Option {
	return optionFunc(func(c *config) { c.app, c.appSet = limits, true })
}

// WithExempt exempts the routes registered under the given patterns, as
// [Middleware.Handler] recognises them (see [WithRoute]), from every
// limit, the application-wide ones included; [Middleware.Verify] checks
// them as it checks limited routes. Exempt responses carry no rate-limit
// headers. It may be repeated. Default: none.
func WithExempt(patterns ...string) Option {
	return optionFunc(func(c *config) { c.exempt = append(c.exempt, patterns...) })
}

// WithExemptWhen exempts from every limit the requests for which fn
// reports true. fn receives the client's address as the Middleware
// resolves it (see [WithTrustedProxies]; the zero Addr on a Unix socket),
// so an allow-list of networks is
//
//	office := netip.MustParsePrefix("10.0.0.0/8")
//	httplimit.WithExemptWhen(func(_ *http.Request, client netip.Addr) bool { return office.Contains(client) })
//
// fn runs on every request before anything is counted, so it must be cheap
// and must not trust anything the client can forge. To exempt whole
// routes, use [WithExempt], which [Middleware.Verify] can check. Default:
// no predicate.
func WithExemptWhen(fn func(r *http.Request, client netip.Addr) bool) Option {
	return optionFunc(func(c *config) { c.exemptWhen = fn })
}

// WithTrustedProxies makes the client address come from header, which
// proxies of yours set, instead of the connection's address.
//
// "X-Forwarded-For" and "Forwarded" (RFC 7239) are lists to which each
// proxy appends the address it saw, read right to left. With cidrs, the
// list is read only when the connection comes from one of them, and the
// client is the first address not in cidrs. With hops > 0, the client is
// the hops-th entry from the right, whatever the proxies' addresses (a
// cloud load balancer whose addresses change); with cidrs too, only from
// those peers. Entries further left were written by the client and are
// never read.
//
// "X-Real-IP", "CF-Connecting-IP" (Cloudflare) and "True-Client-IP"
// (Akamai, Cloudflare Enterprise) hold one address, which the proxy sets:
// hops is 0 or 1, and the header is read from peers in cidrs or, with
// hops 1 and no cidrs, from any peer.
//
// A missing header, a garbled or "unknown" entry, fewer entries than hops
// or more than 64 fall back to the connection's address: a bad header
// never means "unlimited". Name only the header your proxies set: a
// proxy that passes the other one through unchanged would let clients
// choose their address. New reports another header, hops outside 0..64,
// neither hops nor cidrs, and a malformed prefix. Default: no trusted
// proxies; the client address is the connection's.
func WithTrustedProxies(header string, hops int, cidrs ...string) Option {
	return optionFunc(func(c *config) { c.proxyHdr, c.hops, c.trusted, c.proxySet = header, hops, cidrs, true })
}

// WithHeaders chooses the rate-limit response headers by family:
//
//	"X-RateLimit"  X-RateLimit-Limit (the limit's count),
//	               X-RateLimit-Remaining and X-RateLimit-Reset, in delta
//	               seconds (not a Unix time): Decision.ResetAfter rounded up
//	"RateLimit"    RateLimit-Policy and RateLimit in the syntax of
//	               draft-ietf-httpapi-ratelimit-headers, which may still
//	               change:
//	               RateLimit-Policy: "POST /api/v1/auth/login";q=5;w=60
//	               RateLimit: "POST /api/v1/auth/login";r=4;t=60
//
// Two more names change formats, for clients written against SlowAPI:
//
//	"Retry-After: http-date"   Retry-After as an HTTP date
//	                           (Fri, 04 Dec 2026 15:04:05 GMT), the moment
//	                           the request may be retried, rounded up to
//	                           a second, in place of delta seconds
//	"X-RateLimit-Reset: unix"  X-RateLimit-Reset as a Unix time in
//	                           seconds, rounded up, in place of delta
//	                           seconds; it implies "X-RateLimit"
//
// Both read the server's wall clock, so clients with a skewed clock see
// a skewed wait; delta seconds do not have that flaw, which is why they
// are the default.
//
// The IETF policy is named after its route, shared scope, "app" or
// "default", followed by the limit when the scope has several. Names are
// case-insensitive, and spaces in them are ignored; New reports another.
// WithHeaders() sends none, except Retry-After on denials, which is
// always sent. Default: "X-RateLimit", delta seconds.
func WithHeaders(families ...string) Option {
	return optionFunc(func(c *config) { c.headers, c.headersSet = families, true })
}

// WithDeniedHandler replaces the response to a denied request. fn runs
// after the rate-limit headers and Retry-After are set, and must write the
// whole response. d is the denying Decision. Default: status 429 with
// Content-Type application/json and a body such as
// {"error":"rate limit exceeded: 5 per 1 minute"}. fn is not called for
// a request the store's failure policy denied without counting
// (failure=closed): that is always a 503 saying the limiter is
// unavailable, since no rate limit was exceeded.
//
// Passed to [New] it answers every denial; passed to [WithRoute],
// [WithDefaultLimits] or [Middleware.Limit], the denials of requests on
// that route (or scope), whichever of its limits denied them, in place of
// the Middleware's: SlowAPI's per-route error handler.
func WithDeniedHandler(fn func(w http.ResponseWriter, r *http.Request, d limit.Decision)) interface {
	Option
	RouteOption
} {
	return deniedOption(fn)
}

type deniedOption func(w http.ResponseWriter, r *http.Request, d limit.Decision)

func (o deniedOption) apply(c *config)         { c.denied = o }
func (o deniedOption) applyRoute(s *routeSpec) { s.denied = o }

// WithLogger sets the logger of the Middleware's few log lines, each
// written once per Middleware, never per request. At Error, each a
// configured limit that cannot be applied: a request the router served
// whose route WithRouteFunc could not tell (a 404 or 405, the router
// finding no route, is never logged), a ServeMux that serves a declared
// pattern under another one, CountWhen on a store that cannot refund. At
// Warn, the first store failure.
// Store outages themselves are logged by the store's floodgate.Fallback
// (floodgate.WithLogger). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.log = l
		}
	})
}

// WithDecisionHook sets a function called once per checked request,
// allowed or denied, with the decision that decided it: the place for
// metrics and audit logs. It runs on the request's goroutine before the
// handler or the denial, so it must be fast. A request whose route the
// function of [WithRouteFunc] cannot tell is reported even when no limit
// applies to it (no default and no application-wide limits): with
// Scope "unplaced", no Limits and an allowed Decision, so that the
// metrics count what passed unlimited. Default: none.
func WithDecisionHook(fn func(r *http.Request, e Event)) Option {
	return optionFunc(func(c *config) { c.hook = fn })
}

// Event is one request's rate-limit decision, given to the function of
// [WithDecisionHook]. It is a plain value, safe to copy and to keep.
type Event struct {
	// Pattern is the route's pattern, "" when the route is unknown.
	Pattern string
	// Scope names the checks that decided: "app", a route pattern, a
	// shared scope, "pattern by name" for [AlsoBy], or "unplaced" for a
	// request whose route could not be told and that no limit applies
	// to. Its cardinality is that of the configuration, fit for a metric
	// label.
	Scope string
	// Key is the storage key that was counted: client in braces, scope and route
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
	// Fallback reports that the store could not decide and its failure
	// policy did (Err wraps floodgate.ErrStorage). A denial then is a
	// 503, not a 429, unless the policy's in-memory count denied it
	// (failure=memory); an allowed response carries no remaining count
	// or reset time.
	Fallback bool
	// Unavailable reports a denial by the failure policy that counted
	// nothing (failure=closed): the middleware answers it with 503 and
	// Retry-After set to the policy's backoff, not with 429. It is the
	// one test for a 503; metrics count it apart from the denials.
	Unavailable bool
	// Err is the store's error, if it failed; Decision is then its
	// failure policy's.
	Err error
}

// RouteOption adjusts one route's limits in [WithRoute],
// [WithDefaultLimits] or [Middleware.Limit]. Build one with [Shared],
// [Cost], [Dynamic], [AlsoBy], [CountWhen], [Shadow], [WithDeniedHandler]
// or a [Key].
type RouteOption interface{ applyRoute(*routeSpec) }

type routeOptionFunc func(*routeSpec)

func (f routeOptionFunc) applyRoute(s *routeSpec) { f(s) }

type routeSpec struct {
	pattern string
	limits  string
	opts    []RouteOption
	// set by the options:
	shared    []sharedSpec
	cost      func(*http.Request) int64
	dynamic   func(*http.Request) []limit.Limit
	key       Key
	keySet    bool
	also      []alsoSpec
	countWhen func(status int) bool
	shadow    bool
	denied    func(http.ResponseWriter, *http.Request, limit.Decision)
}

type sharedSpec struct{ name, limits string }

type alsoSpec struct {
	name, limits string
	key          Key
}

// Shared makes the route also draw from the budget named name, with
// limits, that every route declaring Shared(name, …) draws from: one
// budget per client, in addition to the route's own limits. It is
// SlowAPI's shared_limit. Give every route the same limits for one name
// (New and Limit compare them, parsed); a route that only shares may
// have empty limits of its own. It may be repeated for several budgets.
// The budget's identity is name, never the routes or their order.
func Shared(name, limits string) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.shared = append(s.shared, sharedSpec{name, limits}) })
}

// Cost sets how many units a request costs against the route's own and
// shared limits; application-wide limits always count 1. A cost above a
// limit's count can never be allowed (429 without Retry-After). A cost
// of 0 or less skips the route's own and shared checks. Default: 1.
func Cost(fn func(*http.Request) int64) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.cost = fn })
}

// Dynamic chooses the route's limits per request, for instance by the
// user's tier or the request's method. A non-empty result replaces the
// route's static limits; nil keeps them. Return slices built once, not
// per request: each distinct limit is its own budget, and headers for
// limits not declared up front cost a few allocations per request.
func Dynamic(fn func(*http.Request) []limit.Limit) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.dynamic = fn })
}

// AlsoBy adds limits to the route that count under a key of their own,
// named name: the second decorator of SlowAPI. The common case is a login
// route limited to 5/minute per client address and 20/hour per account
// name, so that neither many addresses against one account nor one
// address against many accounts gets through:
//
//	httplimit.WithRoute("POST /login", "5/minute",
//		httplimit.AlsoBy("account", accountName, "20/hour"))
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
// back after the response when count says so (Store.Refund). A budget
// that is used up still denies. Only the route's own and AlsoBy limits
// are given back, not application-wide or shared ones. Default: every
// request counts.
func CountWhen(count func(status int) bool) RouteOption {
	return routeOptionFunc(func(s *routeSpec) { s.countWhen = count })
}

// Shadow puts requests in shadow mode: they are decided, counted and
// reported to [WithDecisionHook] as usual (Event.Shadow), but never
// denied, and their responses carry no rate-limit headers. It is how a
// new limit is rolled out: watch what it would deny, then remove Shadow.
// Passed to [New] it applies to every request; passed to [WithRoute],
// [WithDefaultLimits] or [Middleware.Limit], to that route. Default:
// enforcing.
func Shadow() interface {
	Option
	RouteOption
} {
	return shadowOption{}
}

type shadowOption struct{}

func (shadowOption) apply(c *config)         { c.shadow = true }
func (shadowOption) applyRoute(s *routeSpec) { s.shadow = true }
