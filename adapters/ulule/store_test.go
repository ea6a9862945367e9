package ulule_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	limiter "github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	"github.com/ulule/limiter/v3/drivers/store/tests"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/adapters/ulule"
	"github.com/floodgate-go/floodgate/internal/windowtest"
	_ "github.com/floodgate-go/floodgate/redisstore"
)

// backend is one floodgate store the adapter is tested on.
type backend struct {
	name string
	uri  func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"memory", func(*testing.T) string { return "memory://" }},
		{"redis", func(t *testing.T) string { return "redis://" + startRedis(t) }},
	}
}

func open(t *testing.T, uri string, opts ...ulule.Option) *ulule.Store {
	t.Helper()
	s, err := ulule.Open(uri, opts...)
	require.NoError(t, err, "ulule.Open(%q)", uri)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPeerSuite runs ulule's own published store suite
// (drivers/store/tests) against the adapter, on memory and on Redis.
// The moving window passes it too, on memory. (The sliding window does
// not: its Reset, when usage returns to zero, can be up to two periods
// away, and the suite wants at most one.)
func TestPeerSuite(t *testing.T) {
	all := append(backends(),
		backend{"memory-moving-window", func(*testing.T) string { return "memory://?strategy=moving-window" }})
	for _, b := range all {
		t.Run("backend="+b.name, func(t *testing.T) {
			uri := b.uri(t)
			t.Run("suite=TestStoreSequentialAccess", func(t *testing.T) {
				tests.TestStoreSequentialAccess(t, open(t, uri))
			})
			t.Run("suite=TestStoreConcurrentAccess", func(t *testing.T) {
				tests.TestStoreConcurrentAccess(t, open(t, uri))
			})
		})
	}
}

// TestMiddleware serves ulule's stdlib middleware over the adapter on a
// real loopback server: the first Limit requests pass with ulule's
// headers, the next ones get 429.
func TestMiddleware(t *testing.T) {
	for _, b := range backends() {
		t.Run("backend="+b.name, func(t *testing.T) {
			const n = 5
			store := open(t, b.uri(t))
			rate := limiter.Rate{Limit: n, Period: time.Minute}
			windowtest.InOne(t, []time.Duration{rate.Period}, func(t require.TestingT, key string) {
				mw := stdlib.NewMiddleware(limiter.New(store, rate), stdlib.WithKeyGetter(func(*http.Request) string { return key }))
				srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					_, _ = w.Write([]byte("ok"))
				})))
				defer srv.Close()
				for i := 1; i <= n+2; i++ {
					before := time.Now()
					resp, err := srv.Client().Get(srv.URL)
					after := time.Now()
					require.NoError(t, err, "GET %d", i)
					_ = resp.Body.Close()
					want, remaining := http.StatusOK, n-i
					if i > n {
						want, remaining = http.StatusTooManyRequests, 0
					}
					assert.Equal(t, want, resp.StatusCode, "GET %d: status", i)
					assert.Equal(t, strconv.Itoa(n), resp.Header.Get("X-RateLimit-Limit"), "GET %d: X-RateLimit-Limit", i)
					assert.Equal(t, strconv.Itoa(remaining), resp.Header.Get("X-RateLimit-Remaining"), "GET %d: X-RateLimit-Remaining", i)
					reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
					require.NoError(t, err, "GET %d: X-RateLimit-Reset %q", i, resp.Header.Get("X-RateLimit-Reset"))
					// The decision was made between before and after: its
					// window ends within the period (60 s, plus a second of
					// rounding up) of a time between the two.
					assert.True(t, before.Unix() <= reset && reset <= after.Unix()+61,
						"GET %d: X-RateLimit-Reset %d, want within the period of the request, in [%d, %d]", i, reset, before.Unix(), after.Unix()+61)
				}
			})
		})
	}
}

// TestContext walks one key through Get, Increment, Peek and Reset and
// checks every field of ulule's Context against what ulule's own memory
// store answers for the same calls.
func TestContext(t *testing.T) {
	type step struct {
		op        string // get, inc, peek, reset
		n         int64
		remaining int64
		reached   bool
	}
	for _, b := range backends() {
		t.Run("backend="+b.name, func(t *testing.T) {
			store := open(t, b.uri(t))
			rate := limiter.Rate{Limit: 4, Period: time.Hour}
			steps := []step{
				{op: "peek", remaining: 4},
				{op: "get", remaining: 3},
				{op: "inc", n: 2, remaining: 1},
				{op: "peek", remaining: 1},
				{op: "inc", n: 3, remaining: 0, reached: true}, // does not fit: ulule counts it all
				{op: "peek", remaining: 0, reached: true},
				{op: "get", remaining: 0, reached: true},
				{op: "reset", remaining: 4},
				{op: "inc", n: 4, remaining: 0},
				{op: "peek", remaining: 0},
				{op: "get", remaining: 0, reached: true},
				{op: "reset", remaining: 4},
				{op: "inc", n: 5, remaining: 0, reached: true},
				{op: "peek", remaining: 0, reached: true},
			}
			ctx := context.Background()
			windowtest.InOne(t, []time.Duration{rate.Period}, func(t require.TestingT, key string) {
				for i, s := range steps {
					var (
						c   limiter.Context
						err error
					)
					before := time.Now()
					switch s.op {
					case "get":
						c, err = store.Get(ctx, key, rate)
					case "inc":
						c, err = store.Increment(ctx, key, s.n, rate)
					case "peek":
						c, err = store.Peek(ctx, key, rate)
					case "reset":
						c, err = store.Reset(ctx, key, rate)
					}
					after := time.Now()
					require.NoError(t, err, "step %d: %s(%d)", i, s.op, s.n)
					assert.Equal(t, rate.Limit, c.Limit, "step %d: %s(%d): Limit", i, s.op, s.n)
					assert.Equal(t, s.remaining, c.Remaining, "step %d: %s(%d): Remaining", i, s.op, s.n)
					assert.Equal(t, s.reached, c.Reached, "step %d: %s(%d): Reached", i, s.op, s.n)
					assert.True(t, before.Unix() <= c.Reset && c.Reset <= after.Add(time.Hour).Unix()+1,
						"step %d: %s(%d): Reset %d, want within the hour of the call, in [%d, %d]", i, s.op, s.n, c.Reset, before.Unix(), after.Add(time.Hour).Unix()+1)
				}
			})
		})
	}
}

// TestSubSecond checks a rate of 3 per 500ms: the fourth request is
// reached, and a new window allows again. Redis and memory judge by
// their own clocks, so the test waits for real, at most two periods.
func TestSubSecond(t *testing.T) {
	for _, b := range backends() {
		t.Run("backend="+b.name, func(t *testing.T) {
			store := open(t, b.uri(t))
			rate := limiter.Rate{Limit: 3, Period: 500 * time.Millisecond}
			ctx := context.Background()
			reached := 0
			for range 4 {
				c, err := store.Get(ctx, "k", rate)
				require.NoError(t, err, "Get")
				if c.Reached {
					reached++
				}
			}
			// The window may have turned during the four calls; then
			// fewer were reached. Never more than one.
			assert.LessOrEqual(t, reached, 1, "4 Gets under 3/500ms: reached count")
			// A Peek asked two periods after the last Get finds the
			// usage gone, however long it takes to answer.
			deadline := time.Now().Add(2 * rate.Period)
			for {
				asked := time.Now()
				c, err := store.Peek(ctx, "k", rate)
				require.NoError(t, err, "Peek")
				if c.Remaining == rate.Limit {
					break
				}
				require.True(t, asked.Before(deadline), "Peek: Remaining %d two periods later, want %d", c.Remaining, rate.Limit)
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestRate checks that rates with no Floodgate limit fail with ErrRate.
func TestRate(t *testing.T) {
	store := open(t, "memory://")
	for _, r := range []limiter.Rate{
		{Limit: 0, Period: time.Second},
		{Limit: -1, Period: time.Second},
		{Limit: 1<<53 - 1, Period: time.Second}, // the adapter needs Limit < MaxCount
		{Limit: 1, Period: 0},
		{Limit: 1, Period: 1500 * time.Microsecond},
	} {
		t.Run(fmt.Sprintf("limit=%d/period=%v", r.Limit, r.Period), func(t *testing.T) {
			_, err := store.Get(context.Background(), "k", r)
			assert.ErrorIs(t, err, ulule.ErrRate, "Get under %+v", r)
			_, err = store.Peek(context.Background(), "k", r)
			assert.ErrorIs(t, err, ulule.ErrRate, "Peek under %+v", r)
			_, err = store.Reset(context.Background(), "k", r)
			assert.ErrorIs(t, err, ulule.ErrRate, "Reset under %+v", r)
		})
	}
}

// TestPrefix checks that two prefixes count apart in one store, and that
// Open keeps a strategy that the URI names.
func TestPrefix(t *testing.T) {
	fg, err := floodgate.Open("memory://?strategy=sliding-window")
	require.NoError(t, err)
	t.Cleanup(func() { _ = fg.Close() })
	a, b := ulule.New(fg, ulule.WithPrefix("a")), ulule.New(fg)
	rate := limiter.Rate{Limit: 1, Period: time.Minute}
	ca, err := a.Get(context.Background(), "k", rate)
	require.NoError(t, err)
	cb, err := b.Get(context.Background(), "k", rate)
	require.NoError(t, err)
	assert.False(t, ca.Reached, "first Get with prefix a")
	assert.False(t, cb.Reached, "first Get with the default prefix")
	d, err := fg.Peek(context.Background(), "limiter:k", mustLimit(t, 2, time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(0), d.Remaining, "Peek of limiter:k under 2/minute after one Get (ulule's rate + the marker unit)")
}

// TestFailurePolicy checks that a Redis that cannot be reached is
// decided by floodgate.Open's failure policy with no error, so ulule's
// middleware answers by the policy instead of OnError; and that a closed
// store is an error.
func TestFailurePolicy(t *testing.T) {
	t.Run("redis=down/failure=memory", func(t *testing.T) {
		store := open(t, "redis://127.0.0.1:1?timeout=50ms&dial-timeout=50ms")
		rate := limiter.Rate{Limit: 2, Period: time.Minute}
		var reached []bool
		for range 3 {
			c, err := store.Get(context.Background(), "k", rate)
			require.NoError(t, err, "Get while Redis is down: the policy decides")
			reached = append(reached, c.Reached)
		}
		assert.Equal(t, []bool{false, false, true}, reached, "Gets under 2/minute decided by the in-memory backup")
	})
	t.Run("closed", func(t *testing.T) {
		store := open(t, "memory://")
		require.NoError(t, store.Close())
		_, err := store.Get(context.Background(), "k", limiter.Rate{Limit: 1, Period: time.Second})
		assert.True(t, errors.Is(err, floodgate.ErrClosed), "Get after Close: got %v, want ErrClosed", err)
	})
}
