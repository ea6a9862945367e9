package throttled_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/throttled/throttled/v2/store/storetest"

	fgthrottled "github.com/floodgate-go/floodgate/adapters/throttled"
	"github.com/floodgate-go/floodgate/internal/redistest"
)

// newRedisClient starts a real redis-server for t and returns a rueidis
// client on it; t's Cleanup closes both.
func newRedisClient(t testing.TB) rueidis.Client {
	t.Helper()
	srv := redistest.Start(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	require.NoError(t, err, "rueidis.NewClient(%s)", srv.Addr())
	t.Cleanup(c.Close)
	return c
}

// TestRedis runs, on a real redis-server, throttled's own store suites,
// its HTTP middleware end to end (N allowed, then 429) and a concurrent
// burst. Every sub-test has a prefix of its own.
func TestRedis(t *testing.T) {
	c := newRedisClient(t)
	t.Run("TestGCRAStoreCtx", func(t *testing.T) { storetest.TestGCRAStoreCtx(t, fgthrottled.NewRedis(c, "ctx:")) })
	t.Run("TestGCRAStoreTTLCtx", func(t *testing.T) { storetest.TestGCRAStoreTTLCtx(t, fgthrottled.NewRedis(c, "ttl:")) })
	t.Run("middleware", func(t *testing.T) { testMiddleware(t, fgthrottled.NewRedis(c, "mw:")) })
	// With a round trip between each read and its compare-and-swap, 8
	// goroutines on one key can lose throttled's default 10 attempts (its
	// own Redis stores too: that is its contention policy), so the
	// attempts are raised: what is checked is that no swap is lost.
	t.Run("concurrent", func(t *testing.T) { testConcurrentRequests(t, fgthrottled.NewRedis(c, "burst:"), 1000) })
}

// TestRedisKeys: keys carry the prefix, values are decimal strings (as in
// throttled's own Redis stores), TTLs are in milliseconds, rounded up,
// with one second for a TTL ≤ 0, and the time is the server's.
func TestRedisKeys(t *testing.T) {
	c := newRedisClient(t)
	s := fgthrottled.NewRedis(c, "p:")
	ctx := context.Background()
	pttl := func(key string) int64 {
		t.Helper()
		ms, err := c.Do(ctx, c.B().Pttl().Key(key).Build()).AsInt64()
		require.NoError(t, err, "PTTL %s", key)
		return ms
	}

	ok, err := s.SetIfNotExistsWithTTL(ctx, "a", -42, 0)
	require.NoError(t, err)
	require.True(t, ok, "SetIfNotExistsWithTTL of a new key")
	got, err := c.Do(ctx, c.B().Get().Key("p:a").Build()).ToString()
	require.NoError(t, err, "GET p:a")
	assert.Equal(t, "-42", got, "GET p:a after SetIfNotExistsWithTTL(a, -42)")
	assert.InDelta(t, 1000, pttl("p:a"), 50, "PTTL after a TTL of 0")

	ok, err = s.SetIfNotExistsWithTTL(ctx, "a", 1, time.Hour)
	require.NoError(t, err)
	assert.False(t, ok, "SetIfNotExistsWithTTL of a present key")
	assert.LessOrEqual(t, pttl("p:a"), int64(1000), "PTTL: a refused SetIfNotExistsWithTTL keeps the TTL")

	ok, err = s.CompareAndSwapWithTTL(ctx, "a", -42, 7, 1500*time.Microsecond+time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "CompareAndSwapWithTTL(a, -42, 7)")
	assert.InDelta(t, 60002, pttl("p:a"), 50, "PTTL after a TTL of 1m0.0015s")

	v, now, err := s.GetWithTime(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, int64(7), v, "GetWithTime(a)")
	assert.WithinDuration(t, time.Now(), now, time.Second, "GetWithTime: the server's clock (same machine)")
	v, _, err = s.GetWithTime(ctx, "missing")
	require.NoError(t, err)
	assert.Equal(t, int64(-1), v, "GetWithTime of a missing key")

	ok, err = s.CompareAndSwapWithTTL(ctx, "missing", 0, 1, time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "CompareAndSwapWithTTL of a missing key")

	require.NoError(t, c.Do(ctx, c.B().Set().Key("p:foreign").Value("x").Build()).Error())
	_, _, err = s.GetWithTime(ctx, "foreign")
	assert.Error(t, err, "GetWithTime of a value that is no integer")
}

func TestRedisContext(t *testing.T) {
	s := fgthrottled.NewRedis(newRedisClient(t), "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.GetWithTime(ctx, "k")
	assert.ErrorIs(t, err, context.Canceled, "GetWithTime with a cancelled context")
	_, err = s.SetIfNotExistsWithTTL(ctx, "k", 1, 0)
	assert.ErrorIs(t, err, context.Canceled, "SetIfNotExistsWithTTL with a cancelled context")
	_, err = s.CompareAndSwapWithTTL(ctx, "k", 1, 2, 0)
	assert.ErrorIs(t, err, context.Canceled, "CompareAndSwapWithTTL with a cancelled context")
}
