package httplimit_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/httplimit"
)

// tagsKey is the context key of a request's record of the configuration
// sets that touched it.
type tagsKey struct{}

// reloadSet is configuration set i of TestReloadUnderTraffic: three
// limits whose counts name the set, and a key function and decision hook
// that record the set on the request.
func reloadSet(i int) []httplimit.Option {
	base := 1_000_000 + 10*i
	tag := func(r *http.Request) {
		if ts, ok := r.Context().Value(tagsKey{}).(*[]int); ok {
			*ts = append(*ts, i)
		}
	}
	key := func(r *http.Request) (string, bool) { tag(r); return "client", true }
	return []httplimit.Option{
		httplimit.Key(key),
		httplimit.WithAppLimits(fmt.Sprintf("%d/hour", base+1)),
		httplimit.WithRoute("GET /api/v1/groups", fmt.Sprintf("%d/hour", base+2),
			httplimit.AlsoBy("user", key, fmt.Sprintf("%d/hour", base+3))),
		httplimit.WithDecisionHook(func(r *http.Request, e httplimit.Event) {
			tag(r)
			if ts, ok := r.Context().Value(tagsKey{}).(*[]int); ok && len(e.Limits) == 1 {
				*ts = append(*ts, setOf(e.Limits[0].Count()))
			}
		}),
	}
}

// setOf returns the set whose limit has count n, or -1.
func setOf(n int64) int {
	i, k := (n-1_000_000)/10, (n-1_000_000)%10
	if n < 1_000_000 || k < 1 || k > 3 {
		return -1
	}
	return int(i)
}

// TestReloadUnderTraffic reloads the limits again and again while many
// clients send requests through a real server, and checks that every
// request was decided by one set whole: its key functions (one call per
// check), its decision hook, the hook's limits and the response's
// X-RateLimit-Limit all name the same set.
func TestReloadUnderTraffic(t *testing.T) {
	const sets, clients, minRequests, minReloads = 4, 8, 100, 200
	l, _ := newLimiter(t)
	m := newMiddleware(t, l, reloadSet(0)...)
	h := m.Handler(apiMux())
	require.NoError(t, m.Verify(h))
	var (
		mixed   atomic.Int64
		mixMu   sync.Mutex
		example string
	)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tags []int
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tagsKey{}, &tags)))
		n, _ := strconv.ParseInt(w.Header().Get("X-RateLimit-Limit"), 10, 64)
		tags = append(tags, setOf(n))
		// app key, route key, AlsoBy key, hook, hook's limits, header
		if len(tags) != 6 || countDistinct(tags) != 1 || tags[0] < 0 {
			if mixed.Add(1) == 1 {
				mixMu.Lock()
				example = fmt.Sprint(tags)
				mixMu.Unlock()
			}
		}
	}))

	var reloads atomic.Int64
	stop := make(chan struct{})
	reloaded := make(chan error, 1)
	go func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				reloaded <- nil
				return
			default:
			}
			if err := m.Reload(reloadSet(i % sets)...); err != nil {
				reloaded <- err
				return
			}
			reloads.Add(1)
		}
	}()
	var wg sync.WaitGroup
	seen := make([]map[string]bool, clients)
	for c := range clients {
		seen[c] = map[string]bool{}
		wg.Go(func() {
			for n := 0; n < minRequests || reloads.Load() < minReloads; n++ {
				resp, err := srv.Client().Get(srv.URL + "/api/v1/groups")
				if !assert.NoError(t, err) {
					return
				}
				resp.Body.Close()
				if !assert.Equal(t, http.StatusOK, resp.StatusCode) {
					return
				}
				seen[c][resp.Header.Get("X-RateLimit-Limit")] = true
			}
		})
	}
	wg.Wait()
	close(stop)
	require.NoError(t, <-reloaded, "Reload")
	limits := map[string]bool{}
	for _, s := range seen {
		for k := range s {
			limits[k] = true
		}
	}
	t.Logf("%d reloads; X-RateLimit-Limit values seen: %v", reloads.Load(), limits)
	assert.Zero(t, mixed.Load(), "requests that saw a mix of limit sets (first: %s)", example)
	assert.GreaterOrEqual(t, len(limits), 2, "responses of more than one set: the reloads took effect")
}

func countDistinct(xs []int) int {
	seen := map[int]bool{}
	for _, x := range xs {
		seen[x] = true
	}
	return len(seen)
}

// TestReloadCarriesCounts: a limit that is unchanged keeps its count; one
// whose count changes starts afresh.
func TestReloadCarriesCounts(t *testing.T) {
	l, _ := newLimiter(t)
	opts := func(groups string) []httplimit.Option {
		return []httplimit.Option{
			httplimit.WithRoute("POST /api/v1/auth/login", "3/minute"),
			httplimit.WithRoute("GET /api/v1/groups", groups),
		}
	}
	m := newMiddleware(t, l, opts("3/minute")...)
	srv := serve(t, m.Handler(apiMux()))
	assert.Equal(t, 2, countAllowed(t, srv, 2, "POST", "/api/v1/auth/login"))
	assert.Equal(t, 3, countAllowed(t, srv, 4, "GET", "/api/v1/groups"), "groups at 3/minute")

	require.NoError(t, m.Reload(opts("5/minute")...))
	assert.Equal(t, 1, countAllowed(t, srv, 3, "POST", "/api/v1/auth/login"), "login, unchanged: 2 of 3 were used before the reload")
	r := do(t, srv, "GET", "/api/v1/groups")
	assert.Equal(t, http.StatusOK, r.code, "groups at 5/minute: a fresh count")
	assert.Equal(t, [2]string{"5", "4"}, [2]string{r.h.Get("X-RateLimit-Limit"), r.h.Get("X-RateLimit-Remaining")})
	assert.Equal(t, 4, countAllowed(t, srv, 6, "GET", "/api/v1/groups"), "groups at 5/minute")

	require.NoError(t, m.Reload(opts("3/minute")...))
	assert.Equal(t, 0, countAllowed(t, srv, 1, "GET", "/api/v1/groups"), "groups back at 3/minute: its old count, used up, is still there")
}

// TestReloadRefused: a configuration New or Handler would refuse is
// refused by Reload, with an error naming the problem, and the old one
// stays in force.
func TestReloadRefused(t *testing.T) {
	base := []httplimit.Option{httplimit.WithRoute("POST /api/v1/auth/login", "2/minute")}
	tests := []struct {
		name    string
		hidden  bool // Handler wraps the mux behind a plain handler, with app limits only
		opts    []httplimit.Option
		problem string
	}{
		{"bad limit", false, []httplimit.Option{httplimit.WithRoute("POST /api/v1/auth/login", "5/fortnight")}, "fortnight"},
		{"duplicate route", false, []httplimit.Option{httplimit.WithRoute("GET /api/v1/groups", "1/minute"), httplimit.WithRoute("GET /api/v1/groups", "2/minute")}, "declared twice"},
		{"route the mux does not serve", false, []httplimit.Option{httplimit.WithRoute("POST /api/v1/auth/logon", "1/minute")}, `"POST /api/v1/auth/logon"`},
		{"wildcard of another name", false, []httplimit.Option{httplimit.WithRoute("GET /api/v1/groups/{groupID}", "1/minute")}, `"GET /api/v1/groups/{groupID}"`},
		{"bad header family", false, append([]httplimit.Option{httplimit.WithHeaders("Draft")}, base...), "Draft"},
		{"routes on a handler that cannot tell them", true, base, "cannot tell a request's route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t)
			m := newMiddleware(t, l, base...)
			h := m.Handler(apiMux())
			if tc.hidden {
				// Fine until routes are declared.
				m = newMiddleware(t, l, httplimit.WithAppLimits("2/minute"))
				h = m.Handler(http.HandlerFunc(apiMux().ServeHTTP))
			}
			srv := serve(t, h)
			assert.Equal(t, "2", do(t, srv, "POST", "/api/v1/auth/login").h.Get("X-RateLimit-Limit"), "before")
			err := m.Reload(tc.opts...)
			require.ErrorIs(t, err, httplimit.ErrConfig)
			assert.Contains(t, err.Error(), tc.problem)
			assert.Equal(t, 1, countAllowed(t, srv, 2, "POST", "/api/v1/auth/login"), "after the refused Reload, the old 2/minute")
		})
	}
}

// BenchmarkReload is the cost of one Reload of a service's limits: ten
// routes, a default and application-wide limits, checked against the
// ServeMux that Handler wraps.
func BenchmarkReload(b *testing.B) {
	l, _ := newLimiter(b)
	mux := http.NewServeMux()
	opts := []httplimit.Option{httplimit.WithAppLimits("1000/minute"), httplimit.WithDefaultLimits("100/minute")}
	for i := range 10 {
		p := fmt.Sprintf("GET /api/v1/r%d/{id}", i)
		mux.Handle(p, ok)
		opts = append(opts, httplimit.WithRoute(p, "5/minute;100/hour"))
	}
	m, err := httplimit.New(l, opts...)
	require.NoError(b, err)
	m.Handler(mux)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Reload(opts...); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReloadSharedWithLimit: a Shared budget that a handler of Limit
// declared keeps its limits: a reload that gives it others is refused.
func TestReloadSharedWithLimit(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l, httplimit.WithRoute("POST /api/v1/auth/login", "10/minute", httplimit.Shared("auth", "3/minute")))
	mux := apiMux()
	mux.Handle("POST /api/v1/auth/reset", m.Limit("10/minute", httplimit.Shared("auth", "3/minute"))(ok))
	srv := serve(t, m.Handler(mux))
	assert.Equal(t, 2, countAllowed(t, srv, 2, "POST", "/api/v1/auth/reset"))

	err := m.Reload(httplimit.WithRoute("POST /api/v1/auth/login", "10/minute", httplimit.Shared("auth", "5/minute")))
	require.ErrorIs(t, err, httplimit.ErrConfig)
	assert.Contains(t, err.Error(), `Shared("auth", "5/minute")`)
	require.NoError(t, m.Reload(httplimit.WithRoute("POST /api/v1/auth/login", "20/minute", httplimit.Shared("auth", "3/minute"))))
	assert.Equal(t, 1, countAllowed(t, srv, 3, "POST", "/api/v1/auth/login"), "the shared budget carried over: 2 of 3 used through Limit")
}
