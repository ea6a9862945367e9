package httplimit_test

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/internal/redistest"
	"github.com/floodgate-go/floodgate/limit"
)

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// events records the decision hook's events.
type events struct {
	mu sync.Mutex
	es []httplimit.Event
}

func (e *events) hook(_ *http.Request, ev httplimit.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.es = append(e.es, ev)
}

func (e *events) all() []httplimit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]httplimit.Event(nil), e.es...)
}

// downRedis returns the address of a Redis that cannot answer: a port
// where nothing listens, or a real redis-server that was killed.
var downRedis = map[string]func(t *testing.T) string{
	"nothing listens": deadAddr,
	"redis-server killed": func(t *testing.T) string {
		srv := redistest.Start(t)
		srv.Kill()
		return srv.Addr()
	},
}

// storeDown opens a Redis store at addr, which cannot answer, under the
// failure policy.
func storeDown(t *testing.T, addr, policy string) floodgate.Store {
	t.Helper()
	uri := "redis://" + addr + "?failure=" + policy + "&backoff=7s&dial-timeout=200ms&timeout=200ms"
	st, err := floodgate.Open(uri, floodgate.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err, "floodgate.Open(%q)", uri)
	t.Cleanup(func() { st.Close() })
	return st
}

// TestFailClosedIs503: with Redis down under failure=closed, a limited
// route answers 503 with Retry-After set to the backoff and a body that
// says the limiter is unavailable, never a 429 that blames the client;
// the decision hook is told the failure policy decided.
func TestFailClosedIs503(t *testing.T) {
	for name, addr := range downRedis {
		t.Run(name, func(t *testing.T) {
			st := storeDown(t, addr(t), "closed")
			var ev events
			denied := false
			m := newMiddleware(t, st, httplimit.WithRoute("POST /login", "5/minute"), httplimit.WithDecisionHook(ev.hook),
				httplimit.WithHeaders("X-RateLimit", "RateLimit"), httplimit.WithLogger(slog.New(slog.DiscardHandler)),
				httplimit.WithDeniedHandler(func(w http.ResponseWriter, _ *http.Request, _ limit.Decision) {
					denied = true
					w.WriteHeader(http.StatusTeapot)
				}))
			mux := http.NewServeMux()
			mux.Handle("POST /login", ok)
			srv := serve(t, m.Handler(mux))
			for i := range 4 {
				r := do(t, srv, "POST", "/login")
				assert.Equal(t, http.StatusServiceUnavailable, r.code, "request %d with Redis down under failure=closed: %s", i+1, r.body)
				assert.Equal(t, "7", r.h.Get("Retry-After"), "request %d: Retry-After is the backoff=7s", i+1)
				assert.Contains(t, r.body, "rate limiter unavailable", "request %d: body", i+1)
				assert.Equal(t, "application/json", r.h.Get("Content-Type"), "request %d", i+1)
				for _, h := range []string{"X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit"} {
					assert.Empty(t, r.h.Values(h), "request %d: %s is unknown while Redis is down", i+1, h)
				}
				assert.Equal(t, "5", r.h.Get("X-RateLimit-Limit"), "request %d: the limit is known", i+1)
			}
			assert.False(t, denied, "the denied handler ran for a denial by the failure policy")
			es := ev.all()
			require.Len(t, es, 4, "decision hook events")
			for i, e := range es {
				assert.True(t, e.Fallback, "event %d: Fallback", i+1)
				assert.True(t, e.Unavailable, "event %d: Unavailable (failure=closed: the 503)", i+1)
				assert.False(t, e.Decision.Allowed, "event %d: Decision.Allowed", i+1)
				assert.ErrorIs(t, e.Err, floodgate.ErrStorage, "event %d: Err", i+1)
			}
		})
	}
}

// TestFailOpenInventsNothing: with Redis down under failure=open,
// requests are allowed with the limit but no remaining count or reset
// time, which nobody knows; the hook is told the failure policy decided.
func TestFailOpenInventsNothing(t *testing.T) {
	for name, addr := range downRedis {
		t.Run(name, func(t *testing.T) {
			st := storeDown(t, addr(t), "open")
			var ev events
			m := newMiddleware(t, st, httplimit.WithRoute("POST /login", "5/minute"), httplimit.WithDecisionHook(ev.hook),
				httplimit.WithHeaders("X-RateLimit", "RateLimit"), httplimit.WithLogger(slog.New(slog.DiscardHandler)))
			mux := http.NewServeMux()
			mux.Handle("POST /login", ok)
			srv := serve(t, m.Handler(mux))
			for i := range 8 {
				r := do(t, srv, "POST", "/login")
				require.Equal(t, http.StatusOK, r.code, "request %d with Redis down under failure=open: %s", i+1, r.body)
				for _, h := range []string{"X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit", "Retry-After"} {
					assert.Empty(t, r.h.Values(h), "request %d: %s is unknown while Redis is down", i+1, h)
				}
				assert.Equal(t, "5", r.h.Get("X-RateLimit-Limit"), "request %d: the limit is known", i+1)
				assert.Equal(t, `"POST /login";q=5;w=60`, r.h.Get("RateLimit-Policy"), "request %d", i+1)
			}
			es := ev.all()
			require.Len(t, es, 8, "decision hook events")
			for i, e := range es {
				assert.True(t, e.Fallback, "event %d: Fallback", i+1)
				assert.False(t, e.Unavailable, "event %d: Unavailable (failure=open: allowed)", i+1)
				assert.True(t, e.Decision.Allowed, "event %d: Decision.Allowed", i+1)
			}
		})
	}
}

// TestFailMemoryStillLimits: under failure=memory the in-memory count
// decides: its denial is a real rate limit, a 429 with its own
// Retry-After, and the hook still says the failure policy decided.
func TestFailMemoryStillLimits(t *testing.T) {
	st := storeDown(t, deadAddr(t), "memory")
	var ev events
	m := newMiddleware(t, st, httplimit.WithRoute("POST /login", "5/minute"), httplimit.WithDecisionHook(ev.hook),
		httplimit.WithLogger(slog.New(slog.DiscardHandler)))
	mux := http.NewServeMux()
	mux.Handle("POST /login", ok)
	srv := serve(t, m.Handler(mux))
	var codes []int
	for range 6 {
		r := do(t, srv, "POST", "/login")
		codes = append(codes, r.code)
		if r.code == http.StatusOK {
			assert.Empty(t, r.h.Values("X-RateLimit-Remaining"), "allowed by failure=memory: no Remaining shared with other instances is known")
		}
		if r.code == http.StatusTooManyRequests {
			retry, err := strconv.Atoi(r.h.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", r.h.Get("Retry-After"))
			assert.Greater(t, retry, 7, "Retry-After of the in-memory count's denial, not the backoff")
		}
	}
	assert.Equal(t, []int{200, 200, 200, 200, 200, 429}, codes, "six logins at 5/minute with Redis down under failure=memory")
	for i, e := range ev.all() {
		assert.True(t, e.Fallback, "event %d: Fallback", i+1)
		assert.False(t, e.Unavailable, "event %d: Unavailable (failure=memory: a 429)", i+1)
	}
}

// TestNoFallbackOnSuccess: a store that answers decides as usual, and
// the hook's Fallback stays false.
func TestNoFallbackOnSuccess(t *testing.T) {
	l, _ := newLimiter(t)
	var ev events
	m := newMiddleware(t, l, httplimit.WithRoute("POST /login", "1/minute"), httplimit.WithDecisionHook(ev.hook))
	mux := http.NewServeMux()
	mux.Handle("POST /login", ok)
	srv := serve(t, m.Handler(mux))
	assert.Equal(t, http.StatusOK, do(t, srv, "POST", "/login").code)
	r := do(t, srv, "POST", "/login")
	assert.Equal(t, http.StatusTooManyRequests, r.code, "second login at 1/minute")
	assert.Equal(t, "0", r.h.Get("X-RateLimit-Remaining"))
	for i, e := range ev.all() {
		assert.False(t, e.Fallback, "event %d: Fallback with a store that answers", i+1)
		assert.False(t, e.Unavailable, "event %d: Unavailable (a store that answers)", i+1)
	}
}
