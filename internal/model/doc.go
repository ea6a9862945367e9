// Package model is Floodgate's reference rate limiter: slow, simple and
// obviously correct, the oracle that the fuzz targets and tests compare the
// engine against. It is written from the semantics documented in package
// engine (engine/doc.go), not from the engine's code, and it must never
// be imported by non-test code.
//
// # Algorithm
//
// The model knows all four strategies. Everything lives in plain maps
// behind one mutex.
//
// Sliding and fixed window: for each limit of
// count L and period P the model keeps hw, the newest window number any
// request or sweep of the limit has used; for each (key, limit) pair it
// keeps the window it last counted in and the counts of that window and
// the one before. A request at time now (negative times count as 0) is
// judged in window e = ⌊now/P⌋ at r = now − e·P, or, when e is older than
// hw, at the start of window hw. All comparisons and divisions use
// math/big, so nothing can overflow or round.
//
// GCRA: each (key, limit) pair keeps its tat in ticks of P/L, as a
// math/big integer (a pair with none has tat 0); tick(t) = ⌊t·L/P⌋ and
// at(j) = ⌈j·P/L⌉ are computed exactly.
//
// Moving window: each (key, limit) pair keeps a plain list of its
// allowed requests, (time, cost), oldest first and never pruned; a
// request sums the entries that count at the judged time.
//
// The model answers every question with the documented formulas, written
// out in the order engine/doc.go gives them; see [Limiter.AllowN].
//
// # Choices
//
// Where engine/doc.go is silent, the model follows the method
// documentation of engine.Engine, and fuzz/README.md lists each such
// choice:
//
//   - AllowN with no limits is allowed, whatever its cost, with a zero
//     Decision otherwise.
//   - A cost n < 1, or a list holding a zero Limit, is rejected before
//     any limit is judged: its Decision (naming the first limit, or the
//     zero Limit) has Remaining and ResetAfter 0, RetryAfter
//     limit.Never, and it does not move hw.
//   - Every limit of a list is judged, also after a denial. A denied
//     call's RetryAfter is found by search, not by formula: for each
//     limit, the least wait after which its own admission test passes
//     (bisection over time), and the call's wait is the largest; the
//     search panics when it disagrees with the closed form. Remaining
//     is the least over every limit, read without the request; Limit
//     and ResetAfter are those of the limit with the largest wait (the
//     first on ties).
//   - A Peek is a request: it moves hw.
//   - Sweep moves hw of every limit the model has been given, by any
//     call, and changes no count: evicting never changes an answer.
//   - A list that names one limit twice is judged and counted as if it
//     named it once, as engine.Engine.AllowN documents.
//   - GCRA: the Decision of a denied request reads tat' as base =
//     max(tat, k), so Remaining is at most B and a stale tat (or an
//     evicted bucket) gives the same answer as a full bucket.
//   - Moving window: a reading older than the pair's newest entry is
//     judged at that entry's time (which entries count, and the time an
//     allowed request is logged at), but ResetAfter and RetryAfter are
//     measured from the reading itself, so that RetryAfter is the least
//     wait after which the cost is allowed. "The key's newest entry" is
//     read per (key, limit) pair.
//
// # Concurrency
//
// A Limiter is safe for concurrent use, one call at a time. It is not
// fast, and does not try to be.
package model
