// Package decide holds Floodgate's decision arithmetic: the pure functions
// that turn counts and times into a [limit.Decision] for the four
// strategies. The memory engine calls them on the state it loads from its
// cells and logs, and the Redis store's decoders call them on the numbers
// its Lua scripts return, so both answer with one set of formulas (see
// engine/doc.go for the formulas themselves) and a fix is made once.
//
// Everything here is a function of its arguments: no state, no clock, no
// allocation. Times are nanoseconds on the caller's time base (the engine
// clock, or the Unix epoch for Redis); counts and periods come from the
// Limit. The types are small values, safe to copy and to use from any
// goroutine.
//
// The Lua scripts in package redisstore repeat the parts of this
// arithmetic that must run inside Redis (whether a request fits, the tick
// of a time); each script's comment names the functions it mirrors.
package decide
