// Package goredis runs Floodgate's Redis store through a go-redis v9
// client that a service already has, instead of the store's own rueidis
// client: [New] returns a redisstore.Store whose round trips (one EVALSHA
// per decision, with an EVAL fallback on NOSCRIPT, and DEL for Reset; no
// coalescing of concurrent decisions, and AllowAll charge by charge with
// refunds, floodgate.AllowEach) go through the client, so the service keeps one client, its hooks
// (tracing, metrics; they see the caller's context values) and its
// configuration.
//
// The Decisions are the rueidis-backed store's, for every strategy (the
// same Lua decides, one decision per call: the tests compare both on one
// redis-server), and so are the errors: redisstore.ErrReply for an error
// reply about the request (WRONGTYPE, a counter the scripts did not
// write), floodgate.ErrUnavailable when Redis cannot serve, the caller's
// ctx.Err() when the caller's context ended before the call. The store
// has no failure policy; wrap it in floodgate.NewFallback for one.
//
// It works with a single client, a failover (Sentinel) client and a
// cluster client: the keys of one call share a hash slot by design. It is
// slower than the rueidis store, which pipelines all goroutines' calls
// over a few connections where go-redis takes a pooled connection per call
// (README.md, Benchmarks). The maxmemory-policy check is not made.
//
// A Store from New is safe for concurrent use, as the client is.
package goredis
