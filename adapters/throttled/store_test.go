package throttled_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gthrottled "github.com/throttled/throttled/v2"
	"github.com/throttled/throttled/v2/store/memstore"
	"github.com/throttled/throttled/v2/store/storetest"

	fgthrottled "github.com/floodgate-go/floodgate/adapters/throttled"
	"github.com/floodgate-go/floodgate/engine"
)

func newStore(t testing.TB, opts ...engine.Option) *fgthrottled.Store {
	t.Helper()
	s := fgthrottled.New(opts...)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestStoretest runs throttled's own store suite: the GCRAStoreCtx
// contract, and TTL expiry (which sleeps one second for real).
func TestStoretest(t *testing.T) {
	t.Run("TestGCRAStoreCtx", func(t *testing.T) { storetest.TestGCRAStoreCtx(t, newStore(t)) })
	t.Run("TestGCRAStoreTTLCtx", func(t *testing.T) { storetest.TestGCRAStoreTTLCtx(t, newStore(t)) })
	t.Run("TestGCRAStoreCtx/capped", func(t *testing.T) {
		storetest.TestGCRAStoreCtx(t, newStore(t, engine.WithMaxKeys(10)))
	})
}

// BenchmarkStoretest is throttled's own parallel store benchmark, which
// the race detector runs in .ci/run.
func BenchmarkStoretest(b *testing.B) { storetest.BenchmarkGCRAStoreCtx(b, newStore(b)) }

// newLimiter returns throttled's GCRA limiter allowing n requests per
// hour at once on st.
func newLimiter(t testing.TB, st gthrottled.GCRAStoreCtx, n int) *gthrottled.GCRARateLimiterCtx {
	t.Helper()
	rl, err := gthrottled.NewGCRARateLimiterCtx(st, gthrottled.RateQuota{MaxRate: gthrottled.PerHour(n), MaxBurst: n - 1})
	require.NoError(t, err)
	return rl
}

// TestMiddleware runs throttled's HTTP middleware on a real loopback
// server: per client, N requests pass, then 429 with Retry-After; another
// client is unaffected.
func TestMiddleware(t *testing.T) { testMiddleware(t, newStore(t)) }

// testMiddleware is TestMiddleware on st, which holds no key yet.
func testMiddleware(t *testing.T, st gthrottled.GCRAStoreCtx) {
	t.Helper()
	const n = 5
	mw := gthrottled.HTTPRateLimiterCtx{
		RateLimiter: newLimiter(t, st, n),
		VaryBy:      &gthrottled.VaryBy{Headers: []string{"X-Client"}},
	}
	srv := httptest.NewServer(mw.RateLimit(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
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
	for i := range n {
		resp := get("alice")
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d of %d", i+1, n)
		assert.Equal(t, strconv.Itoa(n-1-i), resp.Header.Get("X-RateLimit-Remaining"), "request %d", i+1)
	}
	resp := get("alice")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "request %d", n+1)
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
	assert.InDelta(t, 3600/n, retry, 1, "Retry-After: one emission interval of %d/hour", n)
	assert.Equal(t, http.StatusOK, get("bob").StatusCode, "another client")
}

// TestSameAsMemstore plays one sequence of requests, quantities 0 to 3,
// on throttled's memstore and on Store: the answers are the same (an
// hourly quota, so the microseconds between the calls do not matter).
func TestSameAsMemstore(t *testing.T) {
	ms, err := memstore.NewCtx(0)
	require.NoError(t, err)
	ours, theirs := newLimiter(t, newStore(t), 4), newLimiter(t, ms, 4)
	ctx := context.Background()
	for i := range 40 {
		key, q := "k"+strconv.Itoa(i%3), i%4
		l1, r1, e1 := ours.RateLimitCtx(ctx, key, q)
		l2, r2, e2 := theirs.RateLimitCtx(ctx, key, q)
		require.NoError(t, e1)
		require.NoError(t, e2)
		if l1 != l2 || r1.Remaining != r2.Remaining || r1.Limit != r2.Limit {
			t.Fatalf("call %d: RateLimitCtx(%q, %d) = %v %+v on floodgate, %v %+v on memstore", i, key, q, l1, r1, l2, r2)
		}
	}
}

// TestConcurrentRequests sends many more requests than the burst from
// several goroutines: exactly the burst is allowed (no lost CAS).
func TestConcurrentRequests(t *testing.T) { testConcurrentRequests(t, newStore(t), 0) }

// testConcurrentRequests is TestConcurrentRequests on st, with
// throttled's limit on compare-and-swap attempts raised to casAttempts
// (0: throttled's default, 10).
func testConcurrentRequests(t *testing.T, st gthrottled.GCRAStoreCtx, casAttempts int) {
	t.Helper()
	const n, workers, per = 50, 8, 40
	rl := newLimiter(t, st, n)
	if casAttempts > 0 {
		rl.SetMaxCASAttemptsLimit(casAttempts)
	}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				limited, _, err := rl.RateLimitCtx(context.Background(), "hot", 1)
				if err != nil {
					t.Error(err)
					return
				}
				if !limited {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(n), allowed.Load(), "allowed of %d requests under a burst of %d", workers*per, n)
}

// TestMaxKeys: at the cap a new key is an error (500 in the middleware),
// while known keys go on being limited; expired keys make room.
func TestMaxKeys(t *testing.T) {
	s := newStore(t, engine.WithMaxKeys(2), engine.WithSweepInterval(-1))
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		ok, err := s.SetIfNotExistsWithTTL(ctx, k, 1, time.Millisecond)
		require.NoError(t, err)
		require.True(t, ok)
	}
	_, err := s.SetIfNotExistsWithTTL(ctx, "c", 1, time.Hour)
	assert.ErrorIs(t, err, engine.ErrFull, "SetIfNotExistsWithTTL of a third key under WithMaxKeys(2)")
	ok, err := s.CompareAndSwapWithTTL(ctx, "a", 1, 2, time.Hour)
	require.NoError(t, err)
	assert.True(t, ok, "CompareAndSwapWithTTL of a known key at the cap")
	// b expires; a sweep makes room for c.
	assert.Eventually(t, func() bool {
		fgthrottled.Sweep(s)
		ok, err := s.SetIfNotExistsWithTTL(ctx, "c", 1, time.Hour)
		return err == nil && ok
	}, 5*time.Second, 5*time.Millisecond, "SetIfNotExistsWithTTL once b expired and was swept")
}

func TestContext(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.GetWithTime(ctx, "k")
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.SetIfNotExistsWithTTL(ctx, "k", 1, 0)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.CompareAndSwapWithTTL(ctx, "k", 1, 2, 0)
	assert.True(t, errors.Is(err, context.Canceled))
}
