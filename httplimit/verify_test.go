package httplimit_test

import (
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/httplimit"
)

// logging is a middleware that hides the ServeMux it wraps, as most do.
func logging(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(w, r) })
}

// loginMux serves POST /login and GET /items/{itemID}.
func loginMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /login", ok)
	mux.Handle("GET /items/{itemID}", ok)
	return mux
}

func byPattern(r *http.Request) string { return r.Pattern }

// TestVerify mounts the Middleware in shapes that start fine and limit
// nothing, and in the shapes that work: Verify accepts
// exactly those that enforce the declared route (the sixth login is a
// 429), and names the route and the reason for the others.
func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []httplimit.Option
		mount func(m *httplimit.Middleware) http.Handler
		want  []string // what Verify's error says; none when it passes
	}{
		{"mux wrapped directly", nil,
			func(m *httplimit.Middleware) http.Handler { return m.Handler(loginMux()) }, nil},
		{"other middleware around the Handler", nil,
			func(m *httplimit.Middleware) http.Handler { return logging(m.Handler(loginMux())) }, nil},
		{"Handler inside the mux's route, with r.Pattern", []httplimit.Option{httplimit.WithRouteFunc(byPattern)},
			func(m *httplimit.Middleware) http.Handler {
				mux := http.NewServeMux()
				mux.Handle("POST /login", m.Handler(ok))
				return mux
			}, nil},
		{"route function of another router", []httplimit.Option{httplimit.WithRouteFunc(func(*http.Request) string { return "/login" })},
			func(m *httplimit.Middleware) http.Handler { return m.Handler(logging(loginMux())) }, nil},
		{"route function that finds no route where it runs", []httplimit.Option{httplimit.WithRouteFunc(byPattern)},
			func(m *httplimit.Middleware) http.Handler { return m.Handler(loginMux()) }, // r.Pattern is empty before the mux
			[]string{`"POST /login"`, "route function found no route"}},
		{"Middleware missing from the route's chain", []httplimit.Option{httplimit.WithRouteFunc(byPattern)},
			func(m *httplimit.Middleware) http.Handler {
				mux := http.NewServeMux()
				mux.Handle("POST /login", ok)
				mux.Handle("GET /items/{itemID}", m.Handler(ok))
				return mux
			}, []string{`"POST /login"`, "never reached the Middleware"}},
		{"Limit only, not Handler", nil,
			func(m *httplimit.Middleware) http.Handler {
				mux := http.NewServeMux()
				mux.Handle("POST /login", m.Limit("5/minute")(ok))
				return mux
			}, []string{`"POST /login"`, "only handlers of Limit"}},
		{"handler that panics", []httplimit.Option{httplimit.WithRouteFunc(byPattern)},
			func(*httplimit.Middleware) http.Handler {
				return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
			}, []string{`"POST /login"`, "panic", "boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t)
			m := newMiddleware(t, l, append([]httplimit.Option{httplimit.WithRoute("POST /login", "5/minute")}, tc.opts...)...)
			h := tc.mount(m)
			err := m.Verify(h)
			if len(tc.want) > 0 {
				require.ErrorIs(t, err, httplimit.ErrConfig, "Verify on a handler that does not limit POST /login")
				for _, w := range tc.want {
					assert.Contains(t, err.Error(), w, "Verify's error")
				}
				return
			}
			require.NoError(t, err, "Verify")
			assert.Equal(t, 5, countAllowed(t, serve(t, h), 6, "POST", "/login"), "a verified handler enforces the route: the sixth login is a 429")
		})
	}
}

// TestVerifyPatterns: Verify builds a request for each kind of pattern
// and wildcard, and reports a pattern the router serves otherwise.
func TestVerifyPatterns(t *testing.T) {
	t.Run("ServeMux", func(t *testing.T) {
		patterns := []string{"GET /items/{id}", "GET /files/{path...}", "GET /{$}", "example.org/hosted", "/any", "DELETE /a/{x}/b/{y}", "GET /tree/"}
		mux := http.NewServeMux()
		var opts []httplimit.Option
		for _, p := range patterns {
			mux.Handle(p, ok)
			opts = append(opts, httplimit.WithRoute(p, "1/minute"))
		}
		mux.Handle("GET /health", ok)
		l, _ := newLimiter(t)
		m := newMiddleware(t, l, append(opts, httplimit.WithExempt("GET /health"))...)
		assert.NoError(t, m.Verify(m.Handler(mux)))
	})
	t.Run("other routers' syntax", func(t *testing.T) {
		// A route function standing for chi, gin and echo: it knows their
		// patterns, and routes by matching the path.
		routes := map[string]*regexp.Regexp{
			"/n/{id:[0-9]+}":      regexp.MustCompile(`^/n/[0-9]+$`),
			"/g/:id/edit":         regexp.MustCompile(`^/g/[^/]+/edit$`),
			"/static/*filepath":   regexp.MustCompile(`^/static/.+$`),
			"/chi/*":              regexp.MustCompile(`^/chi/.+$`),
			"/u/{user}-{project}": regexp.MustCompile(`^/u/[^/]+-[^/]+$`),
		}
		fn := func(r *http.Request) string {
			for p, re := range routes {
				if re.MatchString(r.URL.Path) {
					return p
				}
			}
			return ""
		}
		l, _ := newLimiter(t)
		var opts []httplimit.Option
		for p := range routes {
			opts = append(opts, httplimit.WithRoute("GET "+p, "1/minute"))
		}
		m := newMiddleware(t, l, append(opts, httplimit.WithRouteFunc(fn))...)
		assert.NoError(t, m.Verify(m.Handler(ok)))
	})
	for _, tc := range []struct{ declared, want string }{
		{"GET /items/{id}", `was placed on the route "GET /items/{itemID}"`},
		{"/login", "serves no such route"},
		{"GET /login", "serves no such route"},
		{"POST /logins", "serves no such route"},
	} {
		t.Run("mismatch "+tc.declared, func(t *testing.T) {
			l, _ := newLimiter(t)
			m := newMiddleware(t, l, httplimit.WithRoute(tc.declared, "5/minute"), httplimit.WithExempt("GET /health"))
			err := m.Verify(m.Handler(loginMux()))
			require.ErrorIs(t, err, httplimit.ErrConfig, "WithRoute(%q) on a mux without it", tc.declared)
			assert.Contains(t, err.Error(), `route "`+tc.declared+`"`)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), `route "GET /health"`, "exempt patterns are checked too")
		})
	}
}

// TestVerifyCountsNothing: Verify's requests reach neither the store nor
// the application, the decision hook, nor another Middleware in the
// chain, and Verify works on a disabled Middleware.
func TestVerifyCountsNothing(t *testing.T) {
	l, _ := newLimiter(t)
	var calls, events atomic.Int64
	app := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) })
	hook := httplimit.WithDecisionHook(func(*http.Request, httplimit.Event) { events.Add(1) })
	inner := newMiddleware(t, l, hook, httplimit.WithAppLimits("1/minute"), httplimit.WithRoute("POST /login", "1/minute"))
	l2, _ := newLimiter(t) // the app budgets of two Middlewares on one store would be one
	outer := newMiddleware(t, l2, hook, httplimit.WithAppLimits("1/minute"), httplimit.WithRouteFunc(byPattern))
	mux := http.NewServeMux()
	mux.Handle("POST /login", app)
	h := outer.Handler(inner.Handler(mux))

	for range 3 {
		require.NoError(t, inner.Verify(h), "Verify through another Middleware")
	}
	inner.SetEnabled(false)
	require.NoError(t, inner.Verify(h), "Verify on a disabled Middleware")
	inner.SetEnabled(true)
	assert.Zero(t, calls.Load(), "the application got Verify's requests")
	assert.Zero(t, events.Load(), "the decision hook saw Verify's requests")

	srv := serve(t, h)
	r := do(t, srv, "POST", "/login")
	assert.Equal(t, 200, r.code, "the first real login: Verify counted nothing in either Middleware")
	assert.Equal(t, "0", r.h.Get("X-RateLimit-Remaining"))
	assert.Equal(t, 429, do(t, srv, "POST", "/login").code, "the second real login")
	assert.Equal(t, int64(1), calls.Load())
}

// TestVerifyNamesEveryRoute: one error names each route that fails.
func TestVerifyNamesEveryRoute(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l, httplimit.WithRoute("POST /login", "5/minute"), httplimit.WithRoute("POST /register", "5/minute"),
		httplimit.WithRoute("GET /items/{itemID}", "5/minute"))
	err := m.Verify(m.Handler(loginMux()))
	require.ErrorIs(t, err, httplimit.ErrConfig)
	assert.Equal(t, 1, strings.Count(err.Error(), `route "`), "only POST /register fails: %v", err)
	assert.Contains(t, err.Error(), `route "POST /register"`)
}
