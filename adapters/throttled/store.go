package throttled

import (
	"context"
	"time"

	gthrottled "github.com/throttled/throttled/v2"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/internal/kv"
)

// Store is a throttled.GCRAStoreCtx on the key-value face of Floodgate's
// in-memory engine. Build one with [New]; the zero Store is not usable.
// A Store is safe for concurrent use and must not be copied.
type Store struct {
	kv *kv.KV
}

var _ gthrottled.GCRAStoreCtx = (*Store)(nil)

// New returns a Store on the engine's key-value face, made with opts, and
// starts its sweeper: engine.WithMaxKeys caps the keys (default: none),
// engine.WithSweepInterval sets how often expired keys are evicted
// (default 10 s). Close stops it.
func New(opts ...engine.Option) *Store {
	return &Store{kv: engineinternal.NewKV(opts)}
}

const (
	// minTTL replaces a TTL ≤ 0, as throttled's Redis stores do.
	minTTL = time.Second
	// slack is added to every TTL. Writes count it from the engine's
	// default clock (one atomic load, where time.Now costs about 100 ns
	// on the development VM, 40% of a request), which lags time.Now by
	// up to its 1 ms resolution: with the slack, a key never expires
	// before its TTL, and GCRA does not mind a key kept a little longer
	// (a theoretical arrival time in the past counts as none).
	slack = time.Millisecond
)

// GetWithTime returns key's value, or -1 when key is absent or expired,
// and the current time. The error is the context's, if it is done.
func (s *Store) GetWithTime(ctx context.Context, key string) (int64, time.Time, error) {
	now := time.Now()
	if err := ctx.Err(); err != nil {
		return 0, now, err
	}
	v, ok := s.kv.GetAt(unix(now), key)
	if !ok {
		return -1, now, nil
	}
	return v, now, nil
}

// SetIfNotExistsWithTTL sets key to value, expiring after ttl (≤ 0: one
// second; plus at most 2 ms), if key is absent or expired, and reports
// whether it did. It
// returns engine.ErrFull when key is new and the KV is at its cap.
func (s *Store) SetIfNotExistsWithTTL(ctx context.Context, key string, value int64, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return s.kv.SetIfAbsent(key, value, positive(ttl)+slack)
}

// CompareAndSwapWithTTL sets key to next, expiring after ttl (≤ 0: one
// second; plus at most 2 ms), if key is present and holds old, and
// reports whether it did.
// A missing key reports false with no error.
func (s *Store) CompareAndSwapWithTTL(ctx context.Context, key string, old, next int64, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return s.kv.CompareAndSwap(key, old, next, positive(ttl)+slack), nil
}

// Close stops the Store's sweeper. It is idempotent and returns nil.
func (s *Store) Close() error { return s.kv.Close() }

// unix returns t as engine time: nanoseconds since the Unix epoch.
func unix(t time.Time) time.Duration { return time.Duration(t.UnixNano()) }

func positive(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return minTTL
	}
	return ttl
}
