// Package httplimit is net/http middleware on a floodgate.Store:
// per-route limits, default and application-wide limits, shared budgets,
// per-request cost, client keys that survive proxies, exemptions, standard
// rate-limit headers and 429 responses with Retry-After.
//
// # Wiring
//
// Build a [Middleware] with [New], wrap a whole http.ServeMux with
// [Middleware.Handler], naming routes by their ServeMux patterns in
// [WithRoute], and prove at start-up with [Middleware.Verify] that the
// finished handler limits every declared route; or wrap single handlers
// with [Middleware.Limit], which is also the shape of chi middleware
// (func(http.Handler) http.Handler):
//
//	m, err := httplimit.New(store,
//		httplimit.WithRoute("POST /api/v1/auth/login", "5/minute"),
//		httplimit.WithDefaultLimits("200/minute"),
//		httplimit.WithExempt("GET /health"))
//	…
//	h := m.Handler(mux)
//	if err := m.Verify(h); err != nil { … } // names each route h does not limit
//	http.ListenAndServe(":8080", h)
//
// # Checks
//
// A request that is not exempt is checked, in this order, against the
// application-wide limits ([WithAppLimits], only under Handler), the
// shared budgets its route draws from ([Shared]) and the route's own
// limits (from [WithRoute], [Middleware.Limit] or [WithDefaultLimits];
// chosen per request with [Dynamic]), and the route's limits under keys
// of their own ([AlsoBy]: per address and per account on a login). All
// of them are decided together, all or nothing (Store.AllowAll): a
// request denied by any limit counts against none (SlowAPI leaves the
// earlier scopes counted). [CountWhen] gives the route's units back
// after the response when its status should not count ("only failed
// logins"), and [Shadow] decides and reports without denying.
// [WithDecisionHook] sees every decision.
//
// The storage key of a check is the client [Key] in braces followed by
// the scope (route pattern, shared budget name, the limits string and
// route of [Middleware.Limit], …): what was declared, never registration
// order, so routes never share budgets by accident and instances that
// register routes in different orders share them on one Redis. The
// braced client is the key's hash tag on Redis Cluster: the scopes of
// one client (app-wide, shared, the route's own) share a hash slot, so
// the Redis store decides them in one call, while clients spread over
// the cluster; an [AlsoBy] key is its own client, in a slot of its own.
//
// # Reloading
//
// [Middleware.Reload] replaces the limits and options of a running
// Middleware, checked as New and Handler check them; each request is
// decided wholly by the old set or wholly by the new one. Counts carry
// over for every limit that is unchanged; a limit whose count changes
// starts a fresh count, since its storage key is its own.
//
// # Routes
//
// Handler learns a request's route from the *http.ServeMux it wraps, or
// from [WithRouteFunc] for other routers (chi, gin, echo; docs/http.md has
// a table). A configured route limit is never silently off: Handler
// panics, naming the patterns, when it wraps a handler that cannot tell
// routes at all; [Middleware.Verify] sends one marked request per
// declared route through the finished handler, which the Middleware
// answers itself without counting, and reports each route the Middleware
// did not see, or could not place on its pattern; and a request that
// the router served but whose route [WithRouteFunc] could not tell is
// logged once, at Error. A 404 or 405 (the router found no route) is not
// logged: no configured limit was skipped.
//
// # Clients
//
// By default a client is its connection's address, IPv6 grouped by /64,
// so that one host cannot multiply its budget by rotating addresses (a
// [Key] returning [Middleware.ClientIP] whole keys each address apart).
// Behind proxies, [WithTrustedProxies] reads
// X-Forwarded-For, Forwarded or a single-address header, only from
// trusted peers or a known number of hops; a missing, garbled or spoofed
// header falls back to the connection's address and never means
// "unlimited". A [Key] keys by anything else: an API key header, the
// authenticated user. [WithExempt] exempts routes, [WithExemptWhen]
// requests (an allow-list of networks, internal callers).
//
// # Responses
//
// Every checked response, allowed or denied, carries
//
//	X-RateLimit-Limit: 5         the limit's count
//	X-RateLimit-Remaining: 4     units left after this request
//	X-RateLimit-Reset: 60        seconds (a delta, not a Unix time) until
//	                             the limit is whole again: ResetAfter
//	                             rounded up
//
// describing the limit closest to exhaustion (the denying one on a
// denial). [WithHeaders] adds RateLimit-Policy and RateLimit in the
// syntax of draft-ietf-httpapi-ratelimit-headers. A denied request gets
// status 429, Retry-After in seconds (Decision.RetryAfter rounded up) and
// the JSON body {"error":"rate limit exceeded: 5 per 1 minute"}; replace
// it with [WithDeniedHandler], for the Middleware or per route. For
// clients written against SlowAPI, [WithHeaders] also takes
// "Retry-After: http-date" and "X-RateLimit-Reset: unix", which send
// those two as an HTTP date and a Unix time. A request whose cost exceeds
// the limit can never be allowed (Decision.RetryAfter is limit.Never): it gets 429 with
// no Retry-After, since no wait helps, and a body that says so; the
// denied handler receives the same Decision.
//
// # Failures
//
// Failures are the store's to handle: the Middleware uses the Decision
// the store returned with an error, which for a store from floodgate.Open
// is its failure policy's (floodgate.Fallback: memory, open or closed;
// it logs each outage once and calls the one error hook). The response
// says that the policy decided, not the limit:
//
//   - a denial by failure=closed, which counted nothing, is status 503
//     with Retry-After set to the policy's backoff and the JSON body
//     {"error":"rate limiter unavailable: …"}, never a 429;
//   - an allowed response carries X-RateLimit-Limit (and
//     RateLimit-Policy) but no X-RateLimit-Remaining, X-RateLimit-Reset
//     or RateLimit, which nobody knows while the store is down;
//   - a denial by failure=memory's in-memory count is a 429 as usual.
//
// The decision hook's [Event] has Fallback set for each of them. A
// request whose client hung up is dropped, never counted as a store
// failure. Errors never reach the client, and the Middleware never
// panics on a request.
//
// # Cost
//
// An allowed request of a client seen recently costs one allocation in
// the Middleware: a block holding the response's header values and the
// digits they are cut from, sized to them: 48 bytes for the default
// headers when every number is below 4096, 64 or 80 when one is not, 160
// with the IETF fields or Retry-After. Storage keys come from
// a cache of the keys of recent requests in each configuration of a
// Middleware (4096 slots, found for the default key by the connection's
// address without building the key; Reload starts an empty one): a
// client's first request, or one whose slot another client
// took, allocates its key too. Constant header strings are computed once
// per limit.
//
// # Concurrency
//
// A Middleware and the handlers it returns are safe for concurrent use.
package httplimit
