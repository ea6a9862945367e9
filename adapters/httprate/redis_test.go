package httprate_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	gohttprate "github.com/go-chi/httprate"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fghttprate "github.com/floodgate-go/floodgate/adapters/httprate"
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

// TestRedis runs, on a real redis-server, httprate's middleware end to
// end (N allowed, then 429) and the random sequences whose every Get must
// equal httprate's local counter's. Every counter has a prefix of its own.
func TestRedis(t *testing.T) {
	c := newRedisClient(t)
	t.Run("middleware", func(t *testing.T) { testMiddleware(t, fghttprate.NewRedis(c, "mw:")) })
	n := 0
	t.Run("same-as-local-counter", func(t *testing.T) {
		testSameAsLocalCounter(t, 3000, func(*testing.T) gohttprate.LimitCounter {
			n++
			return fghttprate.NewRedis(c, "seq"+strconv.Itoa(n)+":")
		})
	})
}

// TestRedisKeys: the key of a count, its TTL of two windows, negative
// amounts (never below 0), an empty key (an empty hash tag) and the
// configuration errors.
func TestRedisKeys(t *testing.T) {
	c := newRedisClient(t)
	ctx := context.Background()
	rc := fghttprate.NewRedis(c, "p:")
	now := time.Now()
	assert.ErrorIs(t, rc.Increment("k", now), fghttprate.ErrWindow, "Increment before Config")
	rc.Config(10, 1500*time.Microsecond)
	_, _, err := rc.Get("k", now, now)
	assert.ErrorIs(t, err, fghttprate.ErrWindow, "Get with a window of 1.5ms")

	rc.Config(10, time.Minute)
	win := now.Truncate(time.Minute)
	require.NoError(t, rc.IncrementBy("k", win, 5))
	key := "p:{k}:" + strconv.FormatInt(win.UnixMilli(), 10)
	got, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
	require.NoError(t, err, "GET %s", key)
	assert.Equal(t, "5", got, "GET %s after IncrementBy(k, 5)", key)
	ms, err := c.Do(ctx, c.B().Pttl().Key(key).Build()).AsInt64()
	require.NoError(t, err, "PTTL %s", key)
	assert.InDelta(t, 2*time.Minute.Milliseconds(), ms, 1000, "PTTL %s: two windows", key)

	require.NoError(t, rc.IncrementBy("k", win, -2))
	require.NoError(t, rc.IncrementBy("k", win, 0))
	require.NoError(t, rc.IncrementBy("k", win.Add(-time.Minute), 4))
	cur, prev, err := rc.Get("k", win, win.Add(-time.Minute))
	require.NoError(t, err)
	assert.Equal(t, [2]int{3, 4}, [2]int{cur, prev}, "Get(k) after 5, -2, 0 and 4 in the previous window")
	require.NoError(t, rc.IncrementBy("k", win, -10))
	cur, _, err = rc.Get("k", win, win.Add(-time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 0, cur, "Get(k) after -10: never below 0")

	for _, k := range []string{"", "}", "{}"} {
		require.NoError(t, rc.IncrementBy(k, win, 2), "IncrementBy(%q)", k)
		require.NoError(t, rc.IncrementBy(k, win.Add(-time.Minute), 1), "IncrementBy(%q) in the previous window", k)
		cur, prev, err := rc.Get(k, win, win.Add(-time.Minute))
		require.NoError(t, err, "Get(%q)", k)
		assert.Equal(t, [2]int{2, 1}, [2]int{cur, prev}, "Get(%q)", k)
	}
}
