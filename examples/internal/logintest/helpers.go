package logintest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
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

// ServeVerified checks with m.Verify that h limits every route declared
// to m, then serves h as Serve does and returns its URL.
func ServeVerified(t *testing.T, m *httplimit.Middleware, h http.Handler) string {
	t.Helper()
	require.NoError(t, m.Verify(h), "Verify")
	return Serve(t, h)
}

// RequireSilent checks a mounting that starts fine and limits nothing:
// the sixth login on h is not a 429, and m.Verify(h) fails with a
// configuration error that names pattern and contains why.
func RequireSilent(t *testing.T, m *httplimit.Middleware, h http.Handler, pattern, why string) {
	t.Helper()
	rs, err := Attempts(Serve(t, h))
	require.NoError(t, err)
	assert.NotEqual(t, http.StatusTooManyRequests, rs[5].Status,
		"sixth login: got %v; if this mounting now enforces the limit, the test of its refusal can go", rs[5])
	err = m.Verify(h)
	require.ErrorIs(t, err, httplimit.ErrConfig, "Verify on a handler that leaves %s unlimited", pattern)
	assert.Contains(t, err.Error(), `route "`+pattern+`"`, "Verify's error should name the route")
	assert.Contains(t, err.Error(), why, "Verify's error should say why")
}
