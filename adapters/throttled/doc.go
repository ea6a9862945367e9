// Package throttled lets a service that uses github.com/throttled/throttled/v2
// keep its GCRA rate limiter and HTTP middleware, and keep the per-key
// state in Floodgate's in-memory engine instead of throttled's memstore.
//
// [Store] implements throttled.GCRAStoreCtx on the engine's key-value
// face (int64 values with a time to live, in the engine's sharded table).
// The swap is one line:
//
//	store, err := memstore.NewCtx(65536)                              // before
//	store := fgthrottled.New(engine.WithMaxKeys(65536))               // after
//
// # Semantics
//
// GetWithTime returns the key's value, or -1 when it is absent or
// expired, and time.Now() (throttled's storetest wants the wall clock
// read during the call). SetIfNotExistsWithTTL and CompareAndSwapWithTTL
// are the key-value face's set-if-absent and compare-and-swap at the
// engine's clock (Unix nanoseconds, one atomic load): the
// TTL that throttled's GCRA passes (the time until the key's theoretical
// arrival time) is kept to within 2 ms, never less, so a key leaves memory
// at the next sweep after its bucket is full again. A TTL ≤ 0 is one second, as in throttled's Redis stores, so no
// key is kept forever. memstore ignores TTLs and instead evicts the least
// recently used key at its cap; engine.WithMaxKeys refuses new keys at
// the cap instead (SetIfNotExistsWithTTL returns engine.ErrFull, which
// throttled's middleware answers with a 500) until the sweeper frees
// expired ones, so a flood of new keys never evicts a limited one.
//
// # Limits
//
// [Store] keeps the state in this process. Several instances that must
// share it use [RedisStore] instead ([NewRedis] on a rueidis client): the
// same contract on Redis, with the Redis server's clock.
package throttled
