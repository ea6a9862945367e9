// Package model is Floodgate's reference rate limiter: slow, simple and
// obviously correct, the oracle that the fuzz targets and tests compare the
// engine against. It is written from the semantics documented in package
// engine (engine/doc.go), not from the engine's code, and it must never
// be imported by non-test code.
//
// # Algorithm
//
// Everything lives in plain maps behind one mutex. For each limit of
// count L and period P the model keeps hw, the newest window number any
// request or sweep of the limit has used; for each (key, limit) pair it
// keeps the window it last counted in and the counts of that window and
// the one before. A request at time now (negative times count as 0) is
// judged in window e = ⌊now/P⌋ at r = now − e·P, or, when e is older than
// hw, at the start of window hw. All comparisons and divisions use
// math/big, so nothing can overflow or round.
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
//   - A cost n < 1 or a zero Limit is rejected before it is judged: its
//     Decision has Remaining and ResetAfter 0 and it does not move hw.
//   - Limits are judged in order and judging stops at the first denial;
//     the limits after it do not move hw.
//   - A Peek is a request: it moves hw.
//   - Sweep moves hw of every limit the model has been given, by any
//     call, and changes no count: evicting never changes an answer.
//   - A list that names one limit twice is judged and counted as if it
//     named it once, as engine.Engine.AllowN documents.
//
// # Concurrency
//
// A Limiter is safe for concurrent use, one call at a time. It is not
// fast, and does not try to be.
package model
