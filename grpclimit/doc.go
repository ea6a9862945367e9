// Package grpclimit is gRPC server middleware on a floodgate.Store:
// unary and stream interceptors that limit calls per full method name,
// per client.
//
// # Wiring
//
// Build an [Interceptor] with [New], install [Interceptor.Unary] and
// [Interceptor.Stream] on the server, register the services, then call
// [Interceptor.Check] before serving:
//
//	lim, err := grpclimit.New(store,
//		grpclimit.WithMethod("/shop.Cart/Checkout", "5/minute;1000/day"),
//		grpclimit.WithDefaultLimits("100/second"))
//	…
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(lim.Unary()),
//		grpc.ChainStreamInterceptor(lim.Stream()))
//	shop.RegisterCartServer(srv, cart)
//	if err := lim.Check(srv); err != nil { … } // a declared method nobody serves
//
// # Checks
//
// A call to a method declared with [WithMethod] counts one unit against
// that method's limits; a call to any other method counts against the
// limits of [WithDefaultLimits], each method in a budget of its own. A
// stream counts once, when it opens, not per message. The storage key is
// "grpc|" followed by the method and the client's key, so methods never
// share budgets by accident and instances share them on one Redis.
//
// A declared limit is never silently off: [New] refuses a malformed
// method name or limit string, naming the method; [Interceptor.Check]
// refuses a declared method that no registered service serves, naming
// it; and an Interceptor that serves calls before Check has passed logs
// so, once.
//
// # Clients
//
// By default a client is its peer's address, IPv6 grouped by /64
// ([WithIPv6Prefix]). Behind proxies, [WithTrustedProxies] reads a
// metadata key such as x-forwarded-for right to left, only from trusted
// peers; a missing, garbled or spoofed value falls back to the peer's
// address and never means "unlimited". [WithKeyMetadata] and
// [WithKeyFunc] key by other values, with the address standing in when
// they have none.
//
// # Responses
//
// Every checked call, allowed or denied, carries response header
// metadata describing the limit closest to exhaustion (the denying one on
// a denial), the same fields as httplimit's default headers:
//
//	x-ratelimit-limit: 5       the limit's count
//	x-ratelimit-remaining: 4   units left after this call
//	x-ratelimit-reset: 60      seconds until the limit is whole again
//	                           (Decision.ResetAfter rounded up)
//
// A denied call fails with codes.ResourceExhausted, the message
// "grpclimit: rate limit exceeded: 5 per 1 minute", a
// google.rpc.RetryInfo detail whose retry_delay is the Decision's exact
// RetryAfter, and retry-after metadata in seconds, rounded up. A call
// whose cost exceeds the limit can never be allowed (limit.Never): it
// gets neither RetryInfo nor retry-after, since no wait helps.
//
// # Failures
//
// Failures are the store's to handle: the Interceptor uses the Decision
// the store returned with an error, which for a store from floodgate.Open
// over a network is its failure policy's (memory, open or closed). The
// first store error is logged, once, and every one is counted
// ([Interceptor.StoreErrors]). A store error that came without a decision
// fails the call with codes.Unavailable: never allowed unchecked. A call
// whose client has gone is answered with its context's error and is not a
// store failure. Store errors never reach the client.
//
// # Reload
//
// [Interceptor.Reload] takes a new set of limits atomically, from the
// same options as New, while the server runs; it refuses, naming the
// problem, what New or Check would refuse, and keeps the limits in force.
// A call in flight is decided wholly under the old set or wholly under the
// new one. Counts carry over for each limit that is unchanged; a limit
// whose count changes starts a fresh count.
//
// # Concurrency
//
// An Interceptor and the interceptors it returns are safe for concurrent
// use, Reload included.
package grpclimit
