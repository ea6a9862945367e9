// Package floodgate is the contract of Floodgate, a rate limiter for Go
// services: the [Store] interface that every storage and every wrapper
// satisfies, the wrappers ([NewFallback], which owns failure handling,
// [NewLease] and [Observe]), and [Open], which composes stores from a URI
// as the Python limits library does.
//
//	memory://            the in-memory engine as a Store ([NewMemory])
//	redis://host:6379/0  a shared Redis (package redisstore, registered on import),
//	                     wrapped by NewFallback, backed by an in-memory engine
//
// # Which call should I use?
//
// In process, with no network and no errors, use the engine: engine.New,
// then Engine.Allow(key, limit) (0 allocations for a known key) or
// Engine.AllowN(key, n, limits...) for the full Decision. Where the
// storage is a deployment choice, use a Store from Open: Store.AllowN(ctx,
// key, n, limits...) means the same as Engine.AllowN, on any storage.
// Package httplimit takes a Store. To wait for a request instead of
// refusing it (an outgoing call to a rate-limited API, shared by every
// instance on Redis), use [Wait]. To decide several keys all or nothing,
// use Store.AllowAll; a Store that decides one key at a time implements
// it with [AllowEach].
//
// # Composition
//
// A wrapper is a Store that holds a Store, as a net/http middleware is a
// Handler that holds a Handler. Open("redis://…?failure=memory&lease=1%")
// builds
//
//	NewLease(NewFallback(redisstore.Open(…), FallbackConfig{Policy: FailMemory,
//	        Backup: NewMemory(same strategy, max-keys)}), LeaseConfig{Percent: 1})
//
// and a service may build the same by hand, or put its own Store
// anywhere in the chain: the contract carries every capability (AllowAll,
// Refund, and Info for metrics and health), so a wrapper forwards all of it and
// a Store written outside this module composes like the ones inside.
// Schemes register themselves with [Register], as database/sql drivers
// do, so a service that only limits in memory never links a Redis client:
// importing package redisstore is what makes redis:// known.
//
// # Time
//
// Time comes from a clock (package clock): the engine's, and the
// wrappers' (FallbackConfig.Clock, LeaseConfig.Clock, or [WithClock] for
// everything Open builds in this process). Tests drive a clock.Manual;
// there are no methods that take the time as an argument. A network store
// judges by its server's clock.
//
// # Failures
//
// Failures have one home, [NewFallback]: stores report errors and hold no
// policy. A caller's own cancellation or deadline is never a store
// failure, so a client that hangs up can neither switch a limit off
// (under "open") nor on for everyone (under "closed"). The fallback logs
// one line per change of state, never one per request, and calls the one
// error hook ([WithErrorHandler]) for every decision its policy made.
//
// # Concurrency
//
// Every Store here is safe for concurrent use. Close releases background
// goroutines and connections.
package floodgate
