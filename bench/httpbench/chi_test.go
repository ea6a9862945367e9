package httpbench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
)

// TestChi runs httplimit in a real chi router: Handler as router-wide
// middleware (r.Use) for the application-wide limit, and Limit per route
// (r.With).
func TestChi(t *testing.T) {
	lim := floodgate.NewMemory()
	t.Cleanup(func() { _ = lim.Close() })
	m, err := httplimit.New(lim, httplimit.WithAppLimits("20/minute"))
	require.NoError(t, err)

	r := chi.NewRouter()
	r.Use(m.Handler)
	r.With(m.Limit("5/minute")).Post("/api/v1/auth/register", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	r.Get("/api/v1/groups", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "[]") })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	var codes []int
	for range 6 {
		resp, err := srv.Client().Post(srv.URL+"/api/v1/auth/register", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			assert.NotEmpty(t, resp.Header.Get("Retry-After"), "429 without Retry-After")
			assert.Equal(t, "5", resp.Header.Get("X-RateLimit-Limit"))
		}
	}
	assert.Equal(t, []int{201, 201, 201, 201, 201, 429}, codes, "six rapid registrations through chi")

	// The application-wide budget (20) has 14 left: 6 registrations
	// counted, the denied one included, since the app check runs first.
	allowed := 0
	for range 16 {
		resp, err := srv.Client().Get(srv.URL + "/api/v1/groups")
		require.NoError(t, err)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			allowed++
		}
	}
	assert.Equal(t, 14, allowed, "application-wide limit across chi routes")
}
