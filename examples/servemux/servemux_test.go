package servemuxexample_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/examples/internal/login"
	"github.com/floodgate-go/floodgate/examples/internal/logintest"
	servemuxexample "github.com/floodgate-go/floodgate/examples/servemux"
	"github.com/floodgate-go/floodgate/httplimit"
)

// serve starts h on a loopback server for the test's lifetime.

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

func TestApp(t *testing.T) { logintest.RunApp(t, servemuxexample.App) }

// TestShapes: every way of mounting the Middleware on a ServeMux is
// either enforced (the sixth login is a 429) or refused at start-up with
// an error that names the pattern. None limits nothing silently.
func TestShapes(t *testing.T) {
	t.Run("Wrap(mux) is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, httplimit.WithRoute(login.Pattern, login.Limit))
		h, err := m.Wrap(loginMux())
		require.NoError(t, err, "Wrap(mux)")
		logintest.RequireLimited(t, logintest.Serve(t, h))
	})
	t.Run("logging(Wrap(mux)) is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, httplimit.WithRoute(login.Pattern, login.Limit))
		h, err := m.Wrap(loginMux())
		require.NoError(t, err, "Wrap(mux)")
		logintest.RequireLimited(t, logintest.Serve(t, logging(h)))
	})
	t.Run("Wrap(logging(mux)) is refused", func(t *testing.T) {
		m := logintest.NewMiddleware(t, httplimit.WithRoute(login.Pattern, login.Limit))
		h, err := m.Wrap(logging(loginMux()))
		require.ErrorIs(t, err, httplimit.ErrConfig, "Wrap(logging(mux)) returned handler %v, want an error: logging hides the mux's routes", h)
		assert.Contains(t, err.Error(), `"POST /login"`, "Wrap's error should name the unenforceable pattern")
		assert.Nil(t, h, "Wrap returned an error and a handler")
	})
	t.Run("Handler(logging(mux)) panics at start-up", func(t *testing.T) {
		m := logintest.NewMiddleware(t, httplimit.WithRoute(login.Pattern, login.Limit))
		var err error
		func() {
			defer func() { err, _ = recover().(error) }()
			m.Handler(logging(loginMux()))
		}()
		require.ErrorIs(t, err, httplimit.ErrConfig, "Handler(logging(mux)): want a panic with a configuration error")
		assert.Contains(t, err.Error(), `"POST /login"`, "the panic should name the unenforceable pattern")
	})
	t.Run("Limit inside the mux is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t)
		mux := http.NewServeMux()
		mux.Handle(login.Pattern, m.Limit(login.Limit)(http.HandlerFunc(login.Handler)))
		logintest.RequireLimited(t, logintest.Serve(t, logging(mux)))
	})
}

// TestMismatchedPatterns: a declared pattern that the mux serves under
// another pattern, or not at all, is an error naming it.
func TestMismatchedPatterns(t *testing.T) {
	for _, tc := range []struct {
		name, declared, served string
	}{
		{"wildcard renamed", "GET /items/{id}", "GET /items/{itemID}"},
		{"method missing", "/login", "POST /login"},
		{"method differs", "GET /login", "POST /login"},
		{"path differs", "POST /signin", "POST /login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc(tc.served, login.Handler)
			m := logintest.NewMiddleware(t, httplimit.WithRoute(tc.declared, login.Limit))
			_, err := m.Wrap(mux)
			require.ErrorIs(t, err, httplimit.ErrConfig, "WithRoute(%q) on a mux serving %q: Wrap returned no error", tc.declared, tc.served)
			assert.Contains(t, err.Error(), `"`+tc.declared+`"`, "Wrap's error should name the declared pattern")
		})
	}
}
