// Package sethvargo lets a service that uses github.com/sethvargo/go-limiter
// keep its httplimit middleware and its calls, and count in a Floodgate
// store: the in-memory engine or a Redis shared by every instance, with
// Floodgate's failure policy in front of Redis.
//
// [Store] implements go-limiter's limiter.Store. The swap is one line:
//
//	store, err := memorystore.New(&memorystore.Config{Tokens: 5, Interval: time.Minute}) // before
//	store, err := sethvargo.Open("memory://", &sethvargo.Config{Tokens: 5, Interval: time.Minute})
//	store, err := sethvargo.Open("redis://10.0.0.7:6379/0", &sethvargo.Config{Tokens: 5, Interval: time.Minute})
//
// # Semantics
//
// Take is one AllowN of one unit under the key's limit: Config's Tokens
// per Interval, or the limit that Set gave the key. Its reset is the unix
// nanosecond at which a token is available again: the end of the window
// when the take was allowed, and when it was denied the time the store's
// RetryAfter names. go-limiter's memorystore refills a key's whole bucket
// at each tick of a window that starts at the key's first request; [Open]
// picks Floodgate's fixed-window strategy unless the URI names another,
// which refills the same way, at ticks aligned to the epoch (on Redis, to
// the server clock). Any strategy works; gcra refills smoothly.
//
// Get peeks: it counts nothing. For a key never seen it returns the
// key's limit and a full bucket, where memorystore returns 0, 0 because
// it has no bucket yet.
//
// # Set and Burst: local, bounded overrides
//
// The counts live in the floodgate store, shared by every instance on
// Redis. The per-key limits of Set and the extra tokens of Burst live in
// this process, in a map of at most Config.MaxOverrides keys (default
// [DefaultMaxOverrides]): call Set on every instance, for example from
// configuration at start-up. An override that has not been used for
// Config.OverrideTTL (default 12h, as memorystore's SweepMinTTL) may be
// dropped, and the key returns to the default limit, as memorystore's
// sweep does; when the map is full, Set and Burst first drop such
// overrides and then the least recently used one. Take reads the map
// without locks and skips it while it is empty.
//
// Burst gives a key extra tokens until the end of its current window
// (the store's ResetAfter), taken once the window's own tokens are spent.
//
// # Failures
//
// A store from floodgate.Open in front of Redis is a floodgate.Fallback:
// when Redis fails, its failure policy decides and Take returns that
// decision with no error (the Fallback logs the outage). A closed store
// returns limiter.ErrStopped; a caller's cancelled context returns its
// error.
package sethvargo
