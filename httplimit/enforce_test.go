package httplimit_test

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/internal/storetest"
	_ "github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// redisStore opens a Redis-backed store on r for one test.
func redisStore(t *testing.T, r *storetest.Redis, prefix string) floodgate.Store {
	t.Helper()
	st, err := floodgate.Open("redis://" + r.Addr() + "?timeout=2s&prefix=" + prefix)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// onStores runs f on a memory store and on a real Redis.
func onStores(t *testing.T, f func(t *testing.T, newStore func() floodgate.Store)) {
	t.Run("store=memory", func(t *testing.T) {
		f(t, func() floodgate.Store { l, _ := newLimiter(t); return l })
	})
	t.Run("store=redis", func(t *testing.T) {
		r := storetest.StartRedis(t)
		var n atomic.Int64
		f(t, func() floodgate.Store { return redisStore(t, r, "h"+strconv.FormatInt(n.Add(1), 10)+":") })
	})
}

// TestStableBudgets: two instances on one Redis that declare the same
// routes in different orders share each route's budget.
func TestStableBudgets(t *testing.T) {
	r := storetest.StartRedis(t)
	st1, st2 := redisStore(t, r, "stable:"), redisStore(t, r, "stable:")
	build := func(st floodgate.Store, reversed bool) http.Handler {
		mux := http.NewServeMux()
		opts := []httplimit.Option{httplimit.WithRoute("POST /login", "5/minute"), httplimit.WithRoute("POST /register", "3/minute")}
		if reversed {
			opts[0], opts[1] = opts[1], opts[0]
		}
		m := newMiddleware(t, st, opts...)
		la, lb := m.Limit("4/minute"), m.Limit("4/minute")
		if reversed {
			la, lb = lb, la
		}
		mux.Handle("POST /login", ok)
		mux.Handle("POST /register", ok)
		mux.Handle("GET /a", la(ok))
		mux.Handle("GET /b", lb(ok))
		return m.Handler(mux)
	}
	a, b := serve(t, build(st1, false)), serve(t, build(st2, true))
	for _, tc := range []struct {
		method, path string
		limit        int
	}{{"POST", "/login", 5}, {"POST", "/register", 3}, {"GET", "/a", 4}, {"GET", "/b", 4}} {
		got := countAllowed(t, a, 2, tc.method, tc.path) + countAllowed(t, b, tc.limit, tc.method, tc.path)
		assert.Equal(t, tc.limit, got, "%s %s across two instances with different registration orders", tc.method, tc.path)
	}
}

// TestRouteDenialConsumesNothingElse: a request denied by its route limit
// counts against neither the application-wide limit nor its other keys.
func TestRouteDenialConsumesNothingElse(t *testing.T) {
	onStores(t, func(t *testing.T, newStore func() floodgate.Store) {
		m := newMiddleware(t, newStore(), httplimit.WithAppLimits("100/hour"), httplimit.WithRoute("POST /api/v1/auth/login", "2/minute"))
		srv := serve(t, m.Handler(apiMux()))
		assert.Equal(t, 2, countAllowed(t, srv, 7, "POST", "/api/v1/auth/login"))
		r := do(t, srv, "GET", "/api/v1/groups")
		assert.Equal(t, "97", r.h.Get("X-RateLimit-Remaining"), "the app-wide limit counted 2 logins and this request, not the 5 denied")
	})
}

// TestAlsoBy: a login limited per client address and per account name;
// one client spraying accounts and many clients on one account are both
// stopped, and a denial by one key consumes nothing of the other.
func TestAlsoBy(t *testing.T) {
	account := func(r *http.Request) (string, bool) { a := r.Header.Get("X-Account"); return a, a != "" }
	onStores(t, func(t *testing.T, newStore func() floodgate.Store) {
		m := newMiddleware(t, newStore(), httplimit.WithRoute("POST /api/v1/auth/login", "5/minute",
			httplimit.AlsoBy("account", account, "2/hour")))
		srv := serve(t, m.Handler(apiMux()))
		login := func(account string) int { return do(t, srv, "POST", "/api/v1/auth/login", "X-Account", account).code }
		assert.Equal(t, []int{200, 200, 429}, []int{login("alice"), login("alice"), login("alice")}, "2/hour per account")
		assert.Equal(t, []int{200, 200, 429}, []int{login("bob"), login("bob"), login("bob")}, "alice's denial cost the address nothing")
		assert.Equal(t, []int{200, 429}, []int{login("carol"), login("dave")}, "5/minute per address: 2+2+1 used")
	})
	t.Run("bad declarations", func(t *testing.T) {
		l, _ := newLimiter(t)
		for _, o := range []httplimit.RouteOption{
			httplimit.AlsoBy("", nil, "1/hour"),
			httplimit.AlsoBy("x", nil, "1/fortnight"),
			httplimit.AlsoBy("x", nil, ""),
		} {
			_, err := httplimit.New(l, httplimit.WithRoute("POST /x", "1/minute", o, httplimit.AlsoBy("y", nil, "1/hour")))
			assert.ErrorIs(t, err, httplimit.ErrConfig)
		}
		_, err := httplimit.New(l, httplimit.WithRoute("POST /x", "1/minute",
			httplimit.AlsoBy("x", nil, "1/hour"), httplimit.AlsoBy("x", nil, "2/hour")))
		assert.ErrorIs(t, err, httplimit.ErrConfig, "a repeated AlsoBy name")
	})
}

// TestCountWhen counts only failed logins, and gives units back on a 5xx.
func TestCountWhen(t *testing.T) {
	onStores(t, func(t *testing.T, newStore func() floodgate.Store) {
		m := newMiddleware(t, newStore(),
			httplimit.WithRoute("POST /login", "3/minute", httplimit.CountWhen(func(s int) bool { return s == http.StatusUnauthorized })),
			httplimit.WithRoute("GET /flaky", "2/minute", httplimit.CountWhen(func(s int) bool { return s < 500 })))
		mux := http.NewServeMux()
		mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Password") != "right" {
				w.WriteHeader(http.StatusUnauthorized)
			}
		})
		mux.HandleFunc("GET /flaky", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Fail") != "" {
				http.Error(w, "down", http.StatusBadGateway)
				return
			}
			_, _ = io.WriteString(w, "ok")
		})
		srv := serve(t, m.Handler(mux))
		for i := range 10 {
			assert.Equal(t, 200, do(t, srv, "POST", "/login", "X-Password", "right").code, "good login %d never counts", i)
		}
		codes := []int{}
		for range 4 {
			codes = append(codes, do(t, srv, "POST", "/login", "X-Password", "wrong").code)
		}
		assert.Equal(t, []int{401, 401, 401, 429}, codes, "three failed logins, then denied")
		assert.Equal(t, 429, do(t, srv, "POST", "/login", "X-Password", "right").code, "a used-up budget denies even the right password")

		for range 5 {
			assert.Equal(t, 502, do(t, srv, "GET", "/flaky", "X-Fail", "1").code, "5xx responses are given back")
		}
		assert.Equal(t, 2, countAllowed(t, srv, 3, "GET", "/flaky"), "the whole 2/minute after five 5xx")
	})
}

// TestShadow: shadow mode decides, counts and reports, and denies nothing.
func TestShadow(t *testing.T) {
	onStores(t, func(t *testing.T, newStore func() floodgate.Store) {
		var mu sync.Mutex
		var events []httplimit.Event
		hook := httplimit.WithDecisionHook(func(_ *http.Request, e httplimit.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		})
		t.Run("route", func(t *testing.T) {
			events = nil
			m := newMiddleware(t, newStore(), hook,
				httplimit.WithRoute("POST /api/v1/auth/login", "2/minute", httplimit.Shadow()),
				httplimit.WithRoute("POST /api/v1/auth/register", "2/minute"))
			srv := serve(t, m.Handler(apiMux()))
			assert.Equal(t, 5, countAllowed(t, srv, 5, "POST", "/api/v1/auth/login"), "a shadow route denies nothing")
			assert.Equal(t, 2, countAllowed(t, srv, 5, "POST", "/api/v1/auth/register"), "other routes still enforce")
			denied := 0
			for _, e := range events {
				if e.Pattern == "POST /api/v1/auth/login" {
					assert.True(t, e.Shadow)
					if !e.Decision.Allowed {
						denied++
					}
				}
			}
			assert.Equal(t, 3, denied, "the hook sees the three denials shadow mode let through")
		})
		t.Run("middleware", func(t *testing.T) {
			m := newMiddleware(t, newStore(), httplimit.Shadow(), httplimit.WithRoute("POST /api/v1/auth/login", "2/minute"))
			srv := serve(t, m.Handler(apiMux()))
			r := do(t, srv, "POST", "/api/v1/auth/login")
			assert.Empty(t, r.h.Get("X-RateLimit-Remaining"), "shadow mode sends no headers")
			assert.Equal(t, 4, countAllowed(t, srv, 4, "POST", "/api/v1/auth/login"))
		})
	})
}

// TestDecisionHook: the hook gets the scope, pattern, key, limits and
// Decision of allowed and denied requests alike.
func TestDecisionHook(t *testing.T) {
	l, _ := newLimiter(t)
	var got []httplimit.Event
	m := newMiddleware(t, l, httplimit.WithRoute("GET /api/v1/groups/{id}", "1/minute"),
		httplimit.WithDecisionHook(func(_ *http.Request, e httplimit.Event) { got = append(got, e) }))
	srv := serve(t, m.Handler(apiMux()))
	do(t, srv, "GET", "/api/v1/groups/7")
	do(t, srv, "GET", "/api/v1/groups/8")
	require.Len(t, got, 2)
	for i, e := range got {
		assert.Equal(t, "GET /api/v1/groups/{id}", e.Pattern)
		assert.Equal(t, "GET /api/v1/groups/{id}", e.Scope)
		assert.Contains(t, e.Key, "127.0.0.1", "the key holds the client")
		assert.Equal(t, "1 per 1 minute", e.Limits[0].Human())
		assert.Equal(t, i == 0, e.Decision.Allowed, "request %d", i)
		assert.NoError(t, e.Err)
	}
}
