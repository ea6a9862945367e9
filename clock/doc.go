// Package clock provides Floodgate's monotonic time: nanoseconds since the
// Unix epoch, which never go backwards when the wall clock is set. The
// system clocks read the wall clock once, when they are made, and add the
// monotonic time elapsed since: windows then start on Unix-epoch
// boundaries (a day at UTC midnight), as on Redis, whose scripts read
// TIME, and a wall clock stepped later changes nothing until the next
// process (or clock) starts.
//
// [System] reads the runtime's monotonic clock on every call. [Coarse]
// caches that reading in one atomic word refreshed by a background
// goroutine, trading up to one resolution (default 1 ms, more when the
// process is starved of CPU) of staleness for a read that costs an atomic
// load: a System read costs about as much as the rest of an engine
// decision (measured: docs/performance.md). [Manual] is the fake that
// tests drive by hand.
//
// # Concurrency
//
// All clocks are safe for concurrent use. A Coarse clock must be stopped
// with Stop when no longer needed; System and Manual need no cleanup.
package clock
