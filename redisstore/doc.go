// Package redisstore keeps Floodgate's counters in Redis, so that every
// instance of a service behind a load balancer shares one limit. It gives
// the memory engine's answers (the same four strategies and the same
// integer formulas, see engine/doc.go, at microsecond resolution) in one
// round trip per decision, with concurrent decisions sharing script
// calls, works on
// a single Redis, Sentinel and Redis Cluster, and never stops a service
// from starting. A [Store] satisfies floodgate.Store.
//
// Importing the package registers its schemes with floodgate.Open, as a
// database/sql driver does:
//
//	import _ "github.com/floodgate-go/floodgate/redisstore"
//
// floodgate.Open("redis://…") then wraps the store in a
// floodgate.Fallback, which owns the failure policy; [Open] here is the
// store alone, which reports failures and has no policy.
//
// # When to move from memory to Redis
//
// Stay on memory:// while one process serves the traffic, or while a
// per-instance limit is what you want (N instances allow N times the
// limit). It makes no round trip and cannot fail. Move to Redis when
// several instances must share one limit (a login limit per account, a
// quota per API key), or when counts must survive a restart. The cost is
// a round trip per decision (concurrent decisions share script calls) and
// a dependency that can fail, which floodgate.Fallback handles. The
// numbers are in docs/performance.md.
//
// # URIs
//
//	redis://[user:pass@]host[:port][/db]                       port 6379 by default
//	rediss://[user:pass@]host[:port][/db]                      TLS
//	redis+unix://[user:pass@]/path/to/redis.sock[?db=N]
//	redis+sentinel://[user:pass@]host:port[,host:port…]/service-name[?db=N]
//	redis+cluster://[user:pass@]host:port[,host:port…]
//
// Query parameters, all optional:
//
//	strategy=sliding-window|fixed-window|gcra|moving-window
//	                                       default sliding-window
//	prefix=floodgate:                      key prefix, no braces
//	timeout=50ms                           budget of one decision
//	dial-timeout=1s                        connecting
//	pool-size=N                            connections per node (power of 2)
//	client-name=floodgate                  CLIENT SETNAME
//	socket_timeout=0.05                    redis-py's name for timeout, in seconds
//	socket_connect_timeout=1               redis-py's name for dial-timeout
//	ssl_cert_reqs=none|optional|required   rediss:// only; none skips
//	                                       verifying the server (default
//	                                       required; optional verifies too)
//
// floodgate.Open also reads failure=memory|open|closed, backoff=1s and
// max-keys=N (the key cap of the in-memory backup) and passes the rest
// here. A host is required, so are the ports of Sentinel and Cluster
// nodes and the service name of a Sentinel URI; a malformed URI, a
// malformed escape, a repeated or an unknown parameter fails Open with an
// error wrapping floodgate.ErrURI that names the problem.
//
// # One round trip, atomic, on the server's clock
//
// A decision is one script call, EVALSHA of a script cached by SHA-1; if
// Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH) the client
// sends the script once with EVAL and goes on with EVALSHA. The script
// reads the time with redis.call('TIME'), so instances whose clocks
// disagree still agree on every window; it reads each limit's counter,
// decides, and only if every limit allows writes them all back: a
// request denied by one limit consumes none of the others, and no other
// client can interleave. Denied requests and Peek write nothing, except
// that the moving window drops members that stopped counting. User keys
// reach the script only as KEYS, limits only as ARGV; nothing a user
// sends becomes script text.
//
// # Coalescing
//
// Decisions share script calls under load. A decision goes to Redis at
// once when fewer than two calls are in flight on its lane (the Redis
// server, or on a cluster the hash slot of its key); otherwise it waits
// for one of them, and the call that finishes hands its place to the
// decisions queued meanwhile, which go together, up to 32, as one call of
// the batch script: one EVALSHA, one TIME, one reply, each decision
// checked and written in queue order as if it were alone (two on one key
// see each other, one after the other). A lone decision goes in the
// caller's goroutine, as one call of the single script, whose arguments
// and run are shorter than the batch script's: it pays no added latency,
// and Redis runs no batch driver for it. Redis's
// cost per call (reading, parsing, the script's
// entry, the reply) is shared by up to 32 decisions; the numbers are in
// docs/scale.md. Each caller gets its own Decision and its own error: a
// call that fails fails each of its decisions as it would have failed
// alone (floodgate.ErrUnavailable, or the caller's ctx.Err() when its
// context ended), and data a script did not write in one key fails only
// the decisions on that key. The time budget holds per decision: one
// still queued when its budget runs out (Redis slow to answer the calls
// ahead, or hung) leaves the queue uncounted and fails as its own call
// would have (floodgate.ErrUnavailable wrapping
// context.DeadlineExceeded); one already sent waits for its call, which
// has a budget of its own.
// Coalescing is always on; through an [Evaler] each decision is one call
// of its own (the Evaler runs one script call per caller).
//
// [Store.AllowAll] sends every charge of a request in one call of the
// batch script, all or nothing: the script checks every charge without
// counting and counts them all only if none denies, so a denial takes no
// units and needs no refund. That holds on a single Redis and, on a
// cluster, when every charge's key lives in one hash slot (one user key
// under several limits, or keys that share a hash tag, as httplimit's
// scopes of one client do). Charges on
// keys of several slots are one such call per slot, all sent at once
// (one round trip of latency); when a slot denies, the charges that the
// other slots counted are refunded, all at once, with the refund window
// that floodgate.AllowEach describes; docs/scale.md has the trade-off.
//
// The arithmetic is the engine's, in microseconds (Redis's TIME
// resolution): the script compares prev·(P−r) with (L−cur−n)·P exactly,
// as plain Lua numbers when either product is below 2^53 (nearly every
// limit), else with Dekker's exact product (lua/prelude.lua's le), exact
// for counts up to 2^53 − 1 and periods up to 2^52 µs; it returns the
// counts; Go computes Remaining, RetryAfter and ResetAfter with the
// engine's integer formulas. [Store.AllowNAt] and [Store.PeekAt] take the
// time as an argument instead, for tests and replays. One difference: a
// reading older than a counter's window (a failover to a server whose
// clock is behind) is judged at the start of that counter's window, per
// key, where the engine keeps one high-water window per limit.
//
// The scripts are files in the package's lua directory, embedded in the
// binary. Each strategy is three functions over one decision (check,
// deny, apply: window.lua for the sliding and fixed window, gcra.lua,
// moving.lua), after one shared prelude.lua that holds the exact wide
// arithmetic and the checks on foreign data, and a driver applies them:
// batch.lua to the K decisions of a call, independent or all or nothing
// (a batch, AllowAll), single.lua to one decision (a lone decision, every
// decision through an Evaler, and refund.lua's layout). The arithmetic of each strategy is
// written once, whichever driver runs it. The one-decision layout,
// documented at the top of prelude.lua:
//
//	KEYS[i]      the state of limit i
//	ARGV[1]      the cost n
//	ARGV[2]      "1" to count an allowed request, "0" to only look
//	ARGV[3]      the strategy's key tag: "s:", "f:", "g:" or "m:"
//	ARGV[4]      now in µs since the Unix epoch, or "" for TIME
//	ARGV[4+i]    limit i: count, period in µs and burst, 7 bytes each,
//	             unsigned little-endian (struct.pack '<I7I7I7')
//
// Each file names the engine and internal/decide functions it mirrors.
//
// Each strategy has its own scripts; a Store runs one. Every decision is
// the engine's Decision at the server time truncated to the microsecond:
// the scripts decide on whole microseconds, return the state they saw and
// the time they read, and Go computes the durations in nanoseconds. So
// Remaining and Allowed change only on microsecond boundaries, while
// RetryAfter and ResetAfter keep the engine's nanosecond values (GCRA's
// tick k starts at ⌈k·P/L⌉ ns, not on a microsecond). When a request of
// several limits is denied, the scripts return every limit's state, not
// only the first denier's, and Go merges the Decisions with the engine's
// rule (internal/decide.Merge): RetryAfter is the largest of the limits'
// own waits, Remaining the least. On Redis that wait is exact at the
// microsecond: where it is not a whole number of microseconds, the
// request is allowed from the first whole microsecond at or after
// now+RetryAfter.
//
// GCRA keeps the tat in ticks of P/L, exactly: tick(t) = ⌊t·L/P⌋ is the
// same in microseconds as in nanoseconds. An absolute tick (t·L/P, up to
// 2^80 for a count near limit.MaxCount, 2^104 for one near 2^53) does not
// fit a Lua number, nor, for large counts, 64 bits, so the script splits
// every tick as e·L + j with e = ⌊t/P⌋ and 0 ≤ j < L, computes j =
// ⌊r·L/P⌋ by one division when r·L < 2^53 and by correcting an estimate
// with exact products otherwise, and adds costs and bursts to the pairs
// with exact carries. Go counts the ticks from the start of the reading's
// window e, which changes no Decision and keeps them in 64 bits.
//
// The moving window keeps one sorted-set member per allowed request (two
// at one microsecond share one, as the engine's entries do), scored by
// its time in microseconds, named "h:l:n": its cost n and the running
// total h·2^52 + l of the units logged before it. Each call judges the
// key at the newer of now and its newest member, removes the members that
// no longer count (score ≤ last − p: the boundary is exclusive), finds the
// oldest member that counts and takes the units counting as the
// difference of two totals; a denial finds the member whose expiry frees
// enough room by a search on ranks that interpolates on the totals. So
// one request costs a handful of O(log N) commands and one member
// whatever its cost. Only the cleanup writes on a denial or a Peek, as
// the engine's expiry does; a cost above the count is denied without a
// write.
//
// Data the scripts did not write is an error reply, never an answer
// (the store returns ErrReply and a denying Decision): a counter or
// bucket that does not parse or holds numbers beyond 2^53, a GCRA j not
// below the count, a moving-window score that is not a whole number in
// [0, 2^53) (checked at both ends of the sorted set, which bounds every
// member) or a member that is not "h:l:n" (checked on every member read;
// a score of 1e30 would format as LLONG_MIN and switch the limit off).
// Refund checks the values it changes the same way.
//
// # Keys
//
// Each (key, limit) pair is one Redis key at
//
//	prefix{key}:X:count/seconds[/burst]
//
// where X names the strategy and /burst appears only when the limit's
// burst (limit.Limit.Burst) differs from its count. Every key has a
// millisecond TTL equal to how long it still matters, so idle keys vanish
// by themselves:
//
//	X  strategy        value                                    TTL
//	s  sliding window  21 bytes: epoch, prev, cur               2P − r
//	f  fixed window    21 bytes: epoch, prev, cur               P − r
//	g  GCRA            string "e j" (tat = e·L+j)               until full again
//	m  moving window   sorted set, one member "h:l:n" per       newest member + P
//	                   request (at most count members)
//
// A window counter's three numbers are 7-byte little-endian unsigned
// integers (Lua's struct.pack '<I7I7I7'); the text "epoch prev cur" of
// earlier versions is still read, and rewritten in binary by the next
// write. The first three are one short string per key whatever the
// traffic; a moving-window key grows with its requests, up to count
// members: choose it for small counts, or for few requests of large
// costs. Sizes per key and Redis's time per decision are in
// docs/performance.md. The moving window's time grows with the logarithm
// of the members per key, not with the cost of a request; throughput
// through the client is bound by the round trip, not by the script.
//
// The user key is the hash tag, so all limits
// of one key share a cluster slot and a multi-limit decision is one
// script call on one node, in a cluster too (and coalesced with the
// decisions of its slot). Keys longer than 128 bytes,
// keys holding a brace and keys starting with '#' are replaced by '#' and
// 40 hex digits of their SHA-256, so a 1 MiB key costs 60 bytes in Redis
// and no user key can break the hash tag. A user key that holds a hash
// tag of its own, as Redis Cluster reads one (the text of its first
// "{…}", when not empty), is placed by that tag instead, the user key (or
// its digest) following in the Redis key: keys that share a tag share a
// slot, so one AllowAll over them is one call on a cluster. httplimit
// tags each storage key with its client. A tag that many keys share puts
// them all on one master.
//
// # When Redis fails
//
// Open never waits for Redis: it returns at once and connects in the
// background. Until the first connection succeeds, a call waits for it
// at most its budget. After that every call has a budget (timeout, 50 ms
// by default), and a call that cannot decide returns a denying Decision
// and an error:
//
//   - ctx.Err() when the caller's context ended first (the client hung
//     up): the caller's event, which says nothing about Redis;
//   - an error wrapping floodgate.ErrUnavailable when Redis could not be
//     reached, ran out of budget, or answered that it cannot serve
//     (LOADING, BUSY, READONLY, MASTERDOWN, CLUSTERDOWN, …);
//   - an error wrapping [ErrReply] when Redis answered this request with
//     an error (WRONGTYPE on a key of another type); other keys still
//     work;
//   - floodgate.ErrClosed after Close.
//
// The store keeps no health state and has no failure policy:
// floodgate.Fallback counts failures, marks the store down, logs each
// change once, and decides by its policy (memory, open or closed). The
// store logs one thing itself, once, after it connects: a warning when
// the server's maxmemory-policy evicts keys (allkeys-*, volatile-*),
// since counters could then vanish under memory pressure; it goes to the
// logger of [WithLogger], or slog.Default. A server that refuses CONFIG
// GET is not checked, and neither is a store given by [WithEvaler].
//
// On a cluster, a dead node fails only the calls whose keys live on it,
// at once (a refused dial), until its replica is promoted; the keys of
// the live masters keep being decided. Through floodgate.Open, the
// Fallback marks the store down only when nearly all of a backoff's
// calls fail, so a dead node's share of the keys follows the policy while
// the live masters keep deciding.
//
// # Client
//
// The store uses github.com/redis/rueidis, which pipelines the commands
// of all goroutines over a few connections (auto-pipelining), so Redis
// reads and writes many commands per system call, where a client that
// takes a pooled connection per call pays a system call each way per
// command; on a few cores those system calls are the bottleneck. The
// comparison with go-redis v9 is in docs/performance.md.
//
// A service that already runs another client can keep it: [WithEvaler]
// takes an [Evaler], a two-method seam (run a script by EVALSHA with an
// EVAL fallback, delete keys) through which the store then makes every
// round trip, and never dials; the library itself depends on no client
// but rueidis. The module github.com/floodgate-go/floodgate/adapters/goredis
// implements it with go-redis v9 (single, cluster and failover clients):
// goredis.New(client) returns a Store with the same Decisions, the same
// errors (ErrReply, floodgate.ErrUnavailable, the caller's ctx.Err()) and
// the same time budget, at go-redis's speed. The maxmemory-policy check
// is skipped for such a store.
//
// # Concurrency
//
// A Store is safe for concurrent use. Decisions share the client's
// pipelined connections and, under load, script calls (Coalescing); a
// batch is sent by the goroutine of its first decision, which was
// waiting anyway, so the only goroutines of a Store are the client's and
// one that connects and then checks the maxmemory-policy, which ends
// after that check or at Close.
package redisstore
