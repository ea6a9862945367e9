// Package ulule lets a service that uses github.com/ulule/limiter/v3 keep
// its limiter, its middleware and its configuration, and count in a
// Floodgate store: the in-memory engine or a Redis shared by every
// instance, with Floodgate's failure policy in front of Redis.
//
// [Store] implements ulule's limiter.Store. The swap is one line:
//
//	store := memory.NewStore()                              // before
//	store, err := ulule.Open("memory://")                   // after
//	store, err := ulule.Open("redis://10.0.0.7:6379/0")     // after, shared
//
// # Semantics
//
// ulule's stores count every request, allowed or not, in a fixed window
// that starts at a key's first request, and report Reached once the count
// exceeds the rate's Limit. A Floodgate store counts only what it allows.
// The adapter gives ulule's answers exactly by asking Floodgate for one
// unit more than the rate: a rate of L per period becomes the Floodgate
// limit of L+1 per period, and the (L+1)-th unit records that the limit
// was reached in this window. Every field of ulule's Context depends on
// the count only through min(count, L+1) (Remaining is max(0, L−count),
// Reached is count > L), so the answers are ulule's, and the store never
// holds more than L+1 units per key and window.
//
// [Open] picks the fixed-window strategy unless the URI names another,
// because ulule's own stores are fixed windows and its published store
// suite assumes one: a key's count drops to 0 at once when its window
// ends, so Reset (the unix second when the whole limit is available
// again) is at most one period away. Floodgate's windows are aligned to
// the epoch (on Redis, to the server clock), not to a key's first
// request, which is the one difference from ulule's stores: the first
// window of a key may be shorter than the period. The moving window also
// passes ulule's suite (Reached then means "more than L units in the
// last period"). The sliding window gives the same Remaining and
// Reached, but its Reset can be up to two periods away, which ulule's
// suite refuses. GCRA is not supported: the marker unit would change
// its rate to (L+1) per period.
//
// A request of cost n that does not fit (Increment with n > 1) marks the
// window as reached by taking the units that are left, as ulule would
// have counted all n. Peek, Get, Increment and Reset are one store call
// each, except that rare case.
//
// # Failures
//
// A store from floodgate.Open in front of Redis is a floodgate.Fallback:
// when Redis fails, its failure policy decides and the adapter uses that
// decision, with no error, so ulule's middleware answers by the policy
// (the Fallback logs the outage). Other errors, such as a closed store or
// a caller's cancelled context, are returned, and ulule's middleware
// answers them with its OnError handler.
//
// # Rates
//
// A Rate is usable when its Limit is in 1..limit.MaxCount−1 and its
// Period is a whole number of milliseconds from 1ms to limit.MaxPeriod:
// sub-second periods such as 500ms work on memory and on Redis. Other
// rates fail every call with an error wrapping [ErrRate].
package ulule
