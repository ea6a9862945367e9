package servemuxexample_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	servemuxexample "github.com/floodgate-go/floodgate/examples/servemux"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/internal/login"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

// logging stands for any middleware that wraps the mux: it hides the
// mux's route lookup.
func logging(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(w, r) })
}

func loginMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(login.Pattern, login.Handler)
	return mux
}

func TestApp(t *testing.T) { routertest.RunApp(t, servemuxexample.App) }

// TestShapes: every way of mounting the Middleware on a ServeMux is
// either enforced (the sixth login is a 429) or refused at start-up with
// an error that names the pattern. None limits nothing silently.
func TestShapes(t *testing.T) {
	route := httplimit.WithRoute(login.Pattern, login.Limit)
	t.Run("Handler(mux) is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route)
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, m.Handler(loginMux())))
	})
	t.Run("logging(Handler(mux)) is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route)
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, logging(m.Handler(loginMux()))))
	})
	t.Run("Handler(logging(mux)) panics at start-up", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route)
		var err error
		func() {
			defer func() { err, _ = recover().(error) }()
			m.Handler(logging(loginMux()))
		}()
		require.ErrorIs(t, err, httplimit.ErrConfig, "Handler(logging(mux)): want a panic with a configuration error")
		assert.Contains(t, err.Error(), `"POST /login"`, "the panic should name the unenforceable pattern")
	})
	t.Run("Handler inside the mux's route, with r.Pattern, is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route, httplimit.WithRouteFunc(func(r *http.Request) string { return r.Pattern }))
		mux := http.NewServeMux()
		mux.Handle(login.Pattern, m.Handler(http.HandlerFunc(login.Handler)))
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, mux))
	})
	t.Run("Limit inside the mux is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t)
		mux := http.NewServeMux()
		mux.Handle(login.Pattern, m.Limit(login.Limit)(http.HandlerFunc(login.Handler)))
		routertest.RequireLimited(t, routertest.Serve(t, logging(mux)))
	})
	t.Run("WithRoute but only Limit in the mux is refused", func(t *testing.T) {
		m := routertest.NewMiddleware(t, httplimit.WithRoute(login.Pattern, "1/minute"))
		mux := http.NewServeMux()
		mux.Handle(login.Pattern, m.Limit("100/minute")(http.HandlerFunc(login.Handler)))
		routertest.RequireSilent(t, m, mux, login.Pattern, "only handlers of Limit")
	})
}

// TestMismatchedPatterns: a declared pattern that the mux serves under
// another pattern, or not at all, starts fine and limits nothing; Verify
// refuses it, naming it.
func TestMismatchedPatterns(t *testing.T) {
	for _, tc := range []struct {
		name, declared, served, why string
	}{
		{"wildcard renamed", "POST /{action}", "POST /{name}", `placed on the route "POST /{name}"`},
		{"method missing", "/login", "POST /login", "serves no such route"},
		{"method differs", "GET /login", "POST /login", "serves no such route"},
		{"path differs", "POST /signin", "POST /login", "serves no such route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc(tc.served, login.Handler)
			m := routertest.NewMiddleware(t, httplimit.WithRoute(tc.declared, login.Limit))
			routertest.RequireSilent(t, m, m.Handler(mux), tc.declared, tc.why)
		})
	}
}
