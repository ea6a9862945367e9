// Package httprate lets a service that uses github.com/go-chi/httprate
// keep its middleware, and count in Floodgate's in-memory engine: the
// engine's sliding-window cells hold exactly the current and previous
// window counts that httprate's LimitCounter reads.
//
// [Counter] implements httprate.LimitCounter. The swap is one option:
//
//	r.Use(httprate.LimitBy(100, time.Minute, httprate.KeyByIP)) // before
//	r.Use(httprate.LimitBy(100, time.Minute, httprate.KeyByIP,
//		httprate.WithLimitCounter(fghttprate.New()))) // after
//
// # Semantics
//
// httprate decides: it reads a key's two counts with Get, weighs them
// and, when the request fits, adds it with IncrementBy. Get reads the two
// counts of the engine's sliding-window cell and IncrementBy adds to the
// current one (a negative amount is a Refund), both at the window start
// that httprate passes, in Unix nanoseconds: calls that the engine keeps
// for this adapter, outside its API. httprate aligns a custom counter's windows with
// time.Truncate and the engine aligns them to multiples of the window
// since the Unix epoch; the two grids differ for windows that do not
// divide a day, but every httprate window start lies in exactly one
// engine window and consecutive starts in consecutive windows, so each
// httprate window has its own count either way.
//
// Counts are kept per key (httprate's local counter hashes keys to 64
// bits with xxh3; the engine with a per-process seeded maphash) and
// saturate at limit.MaxCount (2^29−1) per window. Keys whose windows are
// over are evicted by the engine's sweeper (every 10 s by default), so
// memory follows the keys counted in the last three windows;
// engine.WithMaxKeys caps them, and a new key at the cap makes
// IncrementBy fail with engine.ErrFull (httprate answers its OnError,
// by default 428).
//
// # Limits
//
// One Counter per RateLimiter: Config, which httprate calls from
// NewRateLimiter, sets the window of every later call. The window must
// be a whole number of milliseconds from 1 ms to limit.MaxPeriod;
// otherwise every call returns an error wrapping [ErrWindow]. A Counter
// keeps the counts in this process.
//
// # On Redis
//
// Instances that share their counts use [RedisCounter] ([NewRedis] on a
// rueidis client) instead: the count of a key in the window starting at
// w is the Redis key prefix{key}:<w in Unix ms>; IncrementBy is one
// script (INCRBY, never below 0, and PEXPIRE of two windows) and Get one
// MGET of the current and previous windows' keys.
package httprate
