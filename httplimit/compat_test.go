package httplimit_test

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
)

// lastDecision records the decision hook's last Decision.
type lastDecision struct{ d limit.Decision }

func (l *lastDecision) hook(_ *http.Request, e httplimit.Event) { l.d = e.Decision }

// responseDate parses a reply's own Date header, which net/http's server
// sets when it writes the response: the clock the header values are
// compared with, so no test reads the wall clock.
func responseDate(t *testing.T, r reply) time.Time {
	t.Helper()
	date, err := http.ParseTime(r.h.Get("Date"))
	require.NoError(t, err, "the response's Date header %q", r.h.Get("Date"))
	return date
}

// assertAround checks that got seconds lie within want (a duration
// rounded up to seconds) of the response's Date, give or take the second
// that can pass between the two readings of the server's clock.
func assertAround(t *testing.T, got, date time.Time, want time.Duration, what string) {
	t.Helper()
	delta := got.Sub(date)
	lo, hi := want.Truncate(time.Second)-time.Second, want.Truncate(time.Second)+2*time.Second
	assert.True(t, delta >= lo && delta <= hi, "%s: %v after the response's Date %v, want %v (between %v and %v)",
		what, delta, date, want, lo, hi)
}

// TestRetryAfterHTTPDate: WithHeaders("Retry-After: http-date") sends a
// denial's Retry-After as an HTTP date, the response's Date plus the
// decision's wait, as SlowAPI's retry_after="http-date" does; without it
// Retry-After stays delta seconds.
func TestRetryAfterHTTPDate(t *testing.T) {
	l, _ := newLimiter(t)
	var last lastDecision
	m := newMiddleware(t, l, httplimit.WithRoute("POST /login", "5/minute"),
		httplimit.WithHeaders("X-RateLimit", "Retry-After: http-date"), httplimit.WithDecisionHook(last.hook))
	mux := http.NewServeMux()
	mux.Handle("POST /login", ok)
	srv := serve(t, m.Handler(mux))
	for i := range 5 {
		r := do(t, srv, "POST", "/login")
		require.Equal(t, http.StatusOK, r.code, "login %d of 5/minute", i+1)
		assert.Empty(t, r.h.Values("Retry-After"), "login %d: an allowed response has no Retry-After", i+1)
	}
	r := do(t, srv, "POST", "/login")
	require.Equal(t, http.StatusTooManyRequests, r.code, "sixth login of 5/minute")
	at, err := http.ParseTime(r.h.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q is not an HTTP date", r.h.Get("Retry-After"))
	require.Positive(t, last.d.RetryAfter, "the denial's Decision.RetryAfter")
	assertAround(t, at, responseDate(t, r), last.d.RetryAfter, "Retry-After")
	assert.Regexp(t, `^\d+$`, r.h.Get("X-RateLimit-Reset"), "X-RateLimit-Reset stays delta seconds")

	t.Run("default is delta seconds", func(t *testing.T) {
		l, _ := newLimiter(t)
		m := newMiddleware(t, l)
		srv := serve(t, m.Limit("1/minute")(ok))
		require.Equal(t, http.StatusOK, do(t, srv, "GET", "/").code)
		r := do(t, srv, "GET", "/")
		require.Equal(t, http.StatusTooManyRequests, r.code)
		assert.Regexp(t, `^\d+$`, r.h.Get("Retry-After"), "Retry-After without the option")
	})
	t.Run("503 under failure=closed", func(t *testing.T) {
		st := storeDown(t, deadAddr(t), "closed") // backoff=7s
		m := newMiddleware(t, st, httplimit.WithRoute("POST /login", "5/minute"),
			httplimit.WithHeaders("Retry-After: http-date"), httplimit.WithLogger(slog.New(slog.DiscardHandler)))
		mux := http.NewServeMux()
		mux.Handle("POST /login", ok)
		r := do(t, serve(t, m.Handler(mux)), "POST", "/login")
		require.Equal(t, http.StatusServiceUnavailable, r.code, "login with Redis down under failure=closed")
		at, err := http.ParseTime(r.h.Get("Retry-After"))
		require.NoError(t, err, "Retry-After %q is not an HTTP date", r.h.Get("Retry-After"))
		assertAround(t, at, responseDate(t, r), 7*time.Second, "Retry-After of the backoff")
	})
}

// TestResetUnixTime: WithHeaders("X-RateLimit-Reset: unix") sends
// X-RateLimit-Reset as a Unix time, the response's Date plus the
// decision's reset, with the rest of the X-RateLimit family, which it
// implies.
func TestResetUnixTime(t *testing.T) {
	l, _ := newLimiter(t)
	var last lastDecision
	m := newMiddleware(t, l, httplimit.WithHeaders("x-ratelimit-reset:UNIX"), httplimit.WithDecisionHook(last.hook))
	srv := serve(t, m.Limit("2/minute")(ok))
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		r := do(t, srv, "GET", "/")
		require.Equal(t, want, r.code, "request %d of 2/minute", i+1)
		assert.Equal(t, "2", r.h.Get("X-RateLimit-Limit"), "request %d: X-RateLimit-Limit", i+1)
		assert.Equal(t, strconv.Itoa(max(1-i, 0)), r.h.Get("X-RateLimit-Remaining"), "request %d: X-RateLimit-Remaining", i+1)
		unix, err := strconv.ParseInt(r.h.Get("X-RateLimit-Reset"), 10, 64)
		require.NoError(t, err, "request %d: X-RateLimit-Reset %q", i+1, r.h.Get("X-RateLimit-Reset"))
		require.Positive(t, last.d.ResetAfter, "request %d: Decision.ResetAfter", i+1)
		assertAround(t, time.Unix(unix, 0), responseDate(t, r), last.d.ResetAfter, "X-RateLimit-Reset")
		if want == http.StatusTooManyRequests {
			assert.Regexp(t, `^\d+$`, r.h.Get("Retry-After"), "Retry-After stays delta seconds")
		}
	}
}

// TestDeniedHandlerPerRoute: WithDeniedHandler passed to WithRoute,
// WithDefaultLimits or Limit answers that route's denials, in place of
// the Middleware's; other routes keep the Middleware's. The rate-limit
// headers are set before either runs.
func TestDeniedHandlerPerRoute(t *testing.T) {
	answer := func(body string) func(http.ResponseWriter, *http.Request, limit.Decision) {
		return func(w http.ResponseWriter, _ *http.Request, d limit.Decision) {
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, body+" "+d.Limit.String())
		}
	}
	l, _ := newLimiter(t)
	m := newMiddleware(t, l,
		httplimit.WithDeniedHandler(answer("middleware")),
		httplimit.WithRoute("POST /login", "1/minute", httplimit.WithDeniedHandler(answer("login"))),
		httplimit.WithRoute("POST /register", "1/minute"),
		httplimit.WithDefaultLimits("1/minute", httplimit.WithDeniedHandler(answer("default"))))
	mux := http.NewServeMux()
	for _, p := range []string{"POST /login", "POST /register", "GET /items"} {
		mux.Handle(p, ok)
	}
	mux.Handle("GET /one", m.Limit("1/minute", httplimit.WithDeniedHandler(answer("limit")))(ok))
	srv := serve(t, m.Handler(mux))
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/login", "login 1/minute"},
		{"POST", "/register", "middleware 1/minute"},
		{"GET", "/items", "default 1/minute"},
		{"GET", "/one", "limit 1/minute"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			require.Equal(t, http.StatusOK, do(t, srv, tc.method, tc.path).code, "first request")
			r := do(t, srv, tc.method, tc.path)
			require.Equal(t, http.StatusTooManyRequests, r.code, "second request of 1/minute")
			assert.Equal(t, tc.want, r.body, "the denied handler that answered")
			assert.NotEmpty(t, r.h.Get("Retry-After"), "Retry-After is set before the denied handler runs")
		})
	}
}
