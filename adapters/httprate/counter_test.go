package httprate_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	gohttprate "github.com/go-chi/httprate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fghttprate "github.com/floodgate-go/floodgate/adapters/httprate"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
)

func newCounter(t testing.TB, opts ...engine.Option) *fghttprate.Counter {
	t.Helper()
	c := fghttprate.New(opts...)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestMiddleware runs httprate's middleware on a real loopback server
// with the Counter: per client, N requests pass, then 429; another client
// is unaffected.
func TestMiddleware(t *testing.T) { testMiddleware(t, newCounter(t)) }

// testMiddleware is TestMiddleware on counter, which holds no count yet.
func testMiddleware(t *testing.T, counter gohttprate.LimitCounter) {
	t.Helper()
	const n = 5
	mw := gohttprate.Limit(n, time.Hour,
		gohttprate.WithKeyFuncs(func(r *http.Request) (string, error) { return r.Header.Get("X-Client"), nil }),
		gohttprate.WithLimitCounter(counter))
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})))
	t.Cleanup(srv.Close)
	get := func(client string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("X-Client", client)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	// A request in the last instant of an hour would see a new window.
	if now := time.Now(); now.Truncate(time.Hour).Add(time.Hour).Sub(now) < 5*time.Second {
		time.Sleep(6 * time.Second)
	}
	for i := range n {
		resp := get("alice")
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d of %d", i+1, n)
		assert.Equal(t, strconv.Itoa(n-1-i), resp.Header.Get("X-RateLimit-Remaining"), "request %d", i+1)
	}
	resp := get("alice")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "request %d", n+1)
	assert.Equal(t, "3600", resp.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, get("bob").StatusCode, "another client")
}

// TestSameAsLocalCounter plays random sequences of IncrementBy and Get,
// over windows that stay, advance by one or jump, on httprate's own
// in-memory counter and on the Counter: every Get answers the same. The
// 7 s window does not divide the time from year 1 to the Unix epoch, so
// httprate's grid and the engine's differ there.
func TestSameAsLocalCounter(t *testing.T) {
	testSameAsLocalCounter(t, 3000, func(t *testing.T) gohttprate.LimitCounter {
		return newCounter(t, engine.WithSweepInterval(-1))
	})
}

// testSameAsLocalCounter is TestSameAsLocalCounter with ops operations
// per window on a counter that newOurs returns, empty, for each window.
func testSameAsLocalCounter(t *testing.T, ops int, newOurs func(t *testing.T) gohttprate.LimitCounter) {
	t.Helper()
	for _, w := range []time.Duration{time.Second, 7 * time.Second, time.Minute, 250 * time.Millisecond} {
		t.Run(fmt.Sprintf("window=%v", w), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(w)))
			ours := newOurs(t)
			ours.Config(10, w)
			theirs := gohttprate.NewLocalLimitCounter(w)
			theirs.Config(10, w)
			win := time.Now().UTC().Truncate(w)
			keys := []string{"a", "b", "c"}
			for i := range ops {
				switch r := rng.IntN(20); {
				case r == 0:
					win = win.Add(w * time.Duration(2+rng.IntN(3))) // a jump: both forget
				case r < 3:
					win = win.Add(w)
				}
				key := keys[rng.IntN(len(keys))]
				if rng.IntN(2) == 0 {
					amount := 1 + rng.IntN(3)
					require.NoError(t, ours.IncrementBy(key, win, amount))
					require.NoError(t, theirs.IncrementBy(key, win, amount))
					continue
				}
				c1, p1, err := ours.Get(key, win, win.Add(-w))
				require.NoError(t, err)
				c2, p2, _ := theirs.Get(key, win, win.Add(-w))
				if c1 != c2 || p1 != p2 {
					t.Fatalf("op %d: Get(%q, %v) = %d, %d; httprate's local counter %d, %d", i, key, win, c1, p1, c2, p2)
				}
			}
		})
	}
}

// TestBoundedMemory: keys of windows that are over are evicted.
func TestBoundedMemory(t *testing.T) {
	c := newCounter(t, engine.WithSweepInterval(-1))
	c.Config(100, time.Second)
	start := time.Now().Truncate(time.Second)
	for i := range 10000 {
		require.NoError(t, c.Increment("client-"+strconv.Itoa(i), start))
	}
	require.Equal(t, 10000, c.Engine().Len())
	engineinternal.SweepAt(c.Engine(), time.Duration(start.Add(3*time.Second).UnixNano()))
	assert.Equal(t, 0, c.Engine().Len(), "Len after a sweep three windows on")
}

func TestMaxKeys(t *testing.T) {
	c := newCounter(t, engine.WithMaxKeys(1), engine.WithShards(1), engine.WithSweepInterval(-1))
	c.Config(100, time.Second)
	now := time.Now().Truncate(time.Second)
	require.NoError(t, c.Increment("a", now))
	assert.ErrorIs(t, c.Increment("b", now), engine.ErrFull, "Increment of a second key under WithMaxKeys(1)")
	assert.NoError(t, c.Increment("a", now), "Increment of the known key at the cap")
}

func TestNegativeIncrement(t *testing.T) {
	c := newCounter(t)
	c.Config(100, time.Minute)
	now := time.Now().Truncate(time.Minute)
	require.NoError(t, c.IncrementBy("k", now, 5))
	require.NoError(t, c.IncrementBy("k", now, -2))
	require.NoError(t, c.IncrementBy("k", now, 0))
	cur, prev, err := c.Get("k", now, now.Add(-time.Minute))
	require.NoError(t, err)
	assert.Equal(t, [2]int{3, 0}, [2]int{cur, prev})
	require.NoError(t, c.IncrementBy("k", now, -10))
	cur, _, _ = c.Get("k", now, now.Add(-time.Minute))
	assert.Equal(t, 0, cur, "never below 0")
}

func TestConfigErrors(t *testing.T) {
	c := newCounter(t)
	now := time.Now()
	assert.ErrorIs(t, c.Increment("k", now), fghttprate.ErrWindow, "Increment before Config")
	c.Config(10, 1500*time.Microsecond)
	_, _, err := c.Get("k", now, now)
	assert.ErrorIs(t, err, fghttprate.ErrWindow, "Get with a window of 1.5ms")
	c.Config(math.MaxInt, time.Second) // a request limit beyond the cell still counts
	assert.NoError(t, c.Increment("k", now))
}

func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("AllocsPerRun")
	}
	c := newCounter(t)
	c.Config(1000, time.Minute)
	now := time.Now().Truncate(time.Minute)
	require.NoError(t, c.Increment("known", now))
	if got := testing.AllocsPerRun(100, func() { _ = c.Increment("known", now) }); got != 0 {
		t.Errorf("Increment of a known key: %v allocations, want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _, _, _ = c.Get("known", now, now) }); got != 0 {
		t.Errorf("Get: %v allocations, want 0", got)
	}
}
