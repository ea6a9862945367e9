package logintest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
)

// Serve starts h on a loopback httptest.Server, closed by t.Cleanup, and
// returns its URL.
func Serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Memory returns an in-memory store, closed by t.Cleanup.
func Memory(t *testing.T) floodgate.Store {
	t.Helper()
	s := floodgate.NewMemory()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewMiddleware returns a Middleware on a fresh in-memory store.
func NewMiddleware(t *testing.T, opts ...httplimit.Option) *httplimit.Middleware {
	t.Helper()
	m, err := httplimit.New(Memory(t), opts...)
	require.NoError(t, err, "httplimit.New")
	return m
}

// RunApp checks a router's example app built by app on a fresh store:
// the right and wrong passwords answer 200 and 401, and the sixth login
// is a 429.
func RunApp(t *testing.T, app func(floodgate.Store) (http.Handler, error)) {
	t.Run("right and wrong password", func(t *testing.T) {
		h, err := app(Memory(t))
		require.NoError(t, err, "App")
		RequireLogin(t, Serve(t, h))
	})
	t.Run("sixth login is 429", func(t *testing.T) {
		h, err := app(Memory(t))
		require.NoError(t, err, "App")
		RequireLimited(t, Serve(t, h))
	})
}
