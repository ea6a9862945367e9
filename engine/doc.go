// Package engine is Floodgate's in-memory rate limiter: per-(key, limit)
// counters in packed 64-bit cells of a sharded, lock-free table (package
// shard), judged by the sliding-window counter, the fixed window or GCRA,
// and exact per-key logs for the moving window.
//
// # Semantics
//
// Time is the engine clock's reading in nanoseconds, now ≥ 0 (negative
// readings count as 0). The default clock (a coarse clock, internal/coarse) reads
// time since the Unix epoch: the wall clock once, at New, plus the
// monotonic time elapsed since, so windows start on Unix-epoch
// boundaries exactly as on Redis (a day at UTC midnight), and a wall
// clock stepped later moves nothing. Time reaches the engine only
// through its clock (WithClock): a clock on the same base, such as a
// clock.Manual set to Unix-epoch times, gets Redis's answers for the same
// requests at the same instants. Window numbers near the present are
// large (⌊now/P⌋ ≈ 1.7·10^12 for P = 1 ms); the five epoch bits of a cell
// are relative to the limit's high-water window hw, which starts at 0
// and jumps to the present on the limit's first request (sweeping the
// still empty table once), so the invariants below hold unchanged. GCRA
// counts ticks of P/L since the Unix epoch, for every limit.
// For a limit of count L per period P,
// window number e = ⌊now/P⌋ starts at e·P, and r = now − e·P is the time
// into it. Each (key, limit) pair keeps cur, the cost counted in window e,
// and prev, the cost counted in window e−1 (windows are epoch-aligned, not
// aligned to the key's first request).
//
// Fixed window: a request of cost n is allowed iff cur + n ≤ L.
//
// Sliding-window counter (the default): the previous window still weighs
// the fraction of it that overlaps the last P, so a request of cost n is
// allowed iff
//
//	prev·(P−r)/P + cur + n ≤ L
//
// evaluated exactly in integers as prev·(P−r) ≤ (L−cur−n)·P.
//
// An allowed request adds n to cur. A denied request changes nothing. A
// cost n < 1 or a zero Limit is denied with RetryAfter limit.Never and
// counts nothing; so is a cost n > L, which can never fit.
//
// The Decision of a request (Peek: of a cost-1 request that is not
// counted) is, with cur including n when allowed:
//
//	Remaining  = max(0, L − cur − ⌈prev·(P−r)/P⌉)   (fixed: prev = 0)
//	ResetAfter = 2P − r  if cur > 0 (sliding);   P − r if cur > 0 (fixed)
//	           = P − r   if cur = 0 and prev > 0 (sliding)
//	           = 0       if nothing is counted
//	RetryAfter = 0 when allowed; when denied, the least wait after which
//	             the same cost is allowed:
//	   fixed:                  P − r
//	   sliding, cur+n ≤ L:     P − ⌊(L−cur−n)·P / prev⌋ − r
//	   sliding, cur+n > L:     (P − r) + P − ⌊(L−n)·P / cur⌋
//
// GCRA (a token bucket of B = limit.Burst() units refilled one unit per
// tick of P/L) keeps one number per key, tat, in ticks; with
// tick(t) = ⌊t·L/P⌋, k = tick(now), base = max(tat, k) and at(j) =
// ⌈j·P/L⌉, the nanosecond at which tick j begins:
//
//	allowed    iff base + n ≤ k + B; then tat = base + n
//	Remaining  = max(0, k + B − tat')      (tat' = the tat after the call)
//	ResetAfter = at(tat') − now if tat' > k, else 0
//	RetryAfter = at(base + n − B) − now when denied; limit.Never if n > B
//
// Moving window (an exact sliding log): an allowed request at time t
// counts while now − t < P, so it stops counting at exactly t + P (the
// boundary is exclusive, in allow, peek and every field). A request is
// allowed iff (units counted) + n ≤ L. A reading older than the pair's
// newest entry is judged at that entry's time (what counts, and where the
// request is logged), while RetryAfter and ResetAfter are measured from
// the reading itself.
//
//	Remaining  = L − (units counted, after the request)
//	ResetAfter = (newest entry's time) + P − now, or 0 when empty
//	RetryAfter = (time of the oldest entry whose expiry frees enough
//	             units for n) + P − now; limit.Never if n > L
//
// The log is exact but costs memory: a fixed header per key plus 16 bytes
// per entry, up to L entries (measured sizes: docs/performance.md).
// Decisions on one key take that key's mutex.
//
// A wait longer than a time.Duration holds (about 292 years, possible
// only with a large GCRA burst on a long period) is limit.Never.
//
// # Large counts
//
// Counts and GCRA bursts go up to limit.MaxCount = 2^53−1, and costs n up
// to the largest int64. Every formula above is evaluated exactly, as with
// unbounded integers (internal/model computes them with math/big and is
// the oracle): no float, no rounding, no saturation except of the final
// waits at limit.Never. In particular, with L and B up to 2^53−1 and n up
// to 2^63−1:
//
//   - the sliding window compares prev·(P−r) with (L−cur−n)·P as 128-bit
//     products (each side < 2^53·2^58), and its waits use
//     ⌊(L−cur−n)·P/prev⌋ and ⌊(L−n)·P/cur⌋ computed in 128 bits;
//     Remaining rounds the weighted previous window up, ⌈prev·(P−r)/P⌉;
//   - cur + n > L, base + n > k + B and Sum + n > L are decided without
//     wrapping (a cost above L or B is denied with limit.Never);
//   - GCRA ticks since the Unix epoch are unbounded (2^53 units per
//     millisecond reach 2^64 ticks within seconds): tick(t) = ⌊t·L/P⌋ =
//     ⌊t/P⌋·L + ⌊(t mod P)·L/P⌋ and at(j) = ⌈j·P/L⌉ = ⌊j/L⌋·P +
//     ⌈(j mod L)·P/L⌉, which is how the engine computes them
//     (decide.WideTicks); a reading older than the tat waits the whole
//     distance back to it, however far, up to limit.Never;
//   - Remaining is at most L (B for GCRA), so it fits the Decision's
//     int64.
//
// A Redis or other peer must give the same Decisions for the same
// requests at the same Unix-epoch instants; a float64 holds every count
// and burst up to MaxCount exactly, but not their products with a period
// nor GCRA ticks, which need integer arithmetic wider than 53 bits.
//
// Where the state lives is an implementation choice that changes no
// answer: limits whose count fits the cell's 29-bit fields (L ≤ 2^29−1,
// and for GCRA also B ≤ 2^29−1 and L ≤ P in nanoseconds, at most one unit
// per nanosecond) keep one lock-free 64-bit cell per key; other limits
// keep a two-word cell per key (53-bit counts, or GCRA's tat as a wide
// tick), in the slots of a table like the one-word cells' (internal/wide)
// and updated under a lock bit of the cell itself: one compare-and-swap
// and one store per decision (an Allow that keeps the second word: one
// compare-and-swap and no lock; for the window strategies every Allow but
// a window's first, for GCRA with a burst of at most 255 periods every
// one whose tat stays in its window), no mutex and no allocation per key
// (engine/wide.go). The path is chosen once per limit when the engine
// first meets it.
//
// For several limits at once (AllowN with a list), every limit must allow
// the request; if one denies, nothing is counted against any of them.
// When all allow, the Decision is that of the limit with the fewest
// Remaining (the first on ties). When the request is denied, every limit
// is read without it: RetryAfter is the least wait after which the whole
// request is allowed, the largest of the limits' own waits (a limit that
// alone would allow waits 0), exact to the nanosecond because each
// strategy's admission test is monotone in time while nothing else is
// counted (fixed window: the count only drops; sliding window:
// prev·(P−r) shrinks within a window, and admission at r = P−1 implies
// admission at the next window's start; GCRA: max(tat, k) − k only
// shrinks; moving window: entries only stop counting). Limit and
// ResetAfter are those of the limit with that largest wait (the first on
// ties), and Remaining is the fewest units left under any limit, so a
// denied Decision never claims units that one of the limits lacks. A
// cost below 1 or a zero Limit anywhere in the list makes a request that
// is never allowed: RetryAfter limit.Never, nothing judged.
//
// # Accuracy
//
// The fixed window never allows more than L in one epoch-aligned window,
// but up to 2L in a period that straddles a boundary. The sliding-window
// counter never allows more than L in one epoch-aligned window either,
// and its estimate assumes the previous window's requests were spread
// evenly: in any period-long interval it allows at most 2L in the worst
// case (all of the previous window's L requests in its last instant, then
// L more as the weight allows), and exactly matches a true sliding log
// when traffic is uniform.
//
// # Clock steps back
//
// Each limit remembers hw, the newest window number that any request or
// sweep of it has used. A reading in an older window (a goroutine that
// read the clock just before another one rolled the window, or a clock
// moved back) is judged as at the
// start of window hw: r = 0 in window hw. It never panics and never
// grants a fresh burst, because no count is ever older than what window
// hw already sees. Its RetryAfter and ResetAfter still count from the
// reading itself (decide.Later adds the gap), so the promise holds for
// every reading: denied at now+RetryAfter−1ns, allowed at now+RetryAfter.
// The Redis scripts report the same gap (a negative r) to the decoder.
//
// # Concurrency
//
// All methods are safe for concurrent use. A decision on a known key takes
// no lock: it loads the cell, decides, and publishes the new count with
// one compare-and-swap, retrying if another request got there first; the
// deny path performs no write at all. Only the first request of a key (or
// of a key whose table shard is being rebuilt) takes a shard lock.
//
// # Memory and eviction
//
// A live (key, limit) pair of a small limit costs one 16-byte slot, of a
// large one a 24-byte slot (a moving-window one a 16-byte slot and its
// log); tables keep between 2/3 and 7/8 of their slots used and shrink as
// keys go, so a live key costs between 18.3 and 24 bytes (27.4 and 36 on
// the wide path) at any number of keys (measured: docs/performance.md).
// The key itself is not stored (see package shard). A background sweeper (WithSweepInterval)
// evicts pairs whose newest count is three or more windows old (two for
// the fixed window), one shard
// at a time, and shrinks the tables. WithMaxKeys bounds the number of live
// keys of each limit, for every strategy and both paths: a new key beyond
// the cap is denied (RetryAfter the period) and counted in Full. Evicting never changes an answer for the window strategies; for
// GCRA (a bucket full for a whole period) and the moving window (a log
// whose newest entry is two periods old) it never changes the answer to a
// reading at most one period older than the sweep, while an older reading
// (a clock stepped far back) may find the key fresh.
// A cell stores its window number in five bits, which is exact
// because every limit is swept at least every sweepBarrier (10) windows:
// when the background sweeper falls that far behind (it was stopped by
// Close, or starved of CPU), the request that notices sweeps that limit
// in the foreground first.
//
// # Snapshots
//
// With WithSnapshot the engine keeps its state in a file across restarts
// (snapshot.go and snapshotfile.go: the format, the time translation,
// what a restore keeps). The key tables store no keys, so such an
// engine also keeps the text of every key it has counted, in a registry
// that each write prunes of keys whose cells are gone. A write reads
// cells with atomic loads, one registry shard at a time, and never holds
// a lock across I/O; a restore runs in New, before any request.
package engine
