package httplimit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/httplimit"
)

// TestServeMuxUnchanged: Handler over a ServeMux, which calls the handler
// the mux chose for a route without wildcards instead of routing the
// request twice, serves every request as the mux alone does: pattern,
// path values, redirects, 404 and 405, HEAD, a mux inside a mux.
func TestServeMuxUnchanged(t *testing.T) {
	show := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pattern=%q id=%q outer=%q", r.Pattern, r.PathValue("id"), r.PathValue("v"))
	})
	inner := http.NewServeMux()
	inner.Handle("GET /static", show)
	inner.Handle("GET /items/{id}", show)
	inner.Handle("/dir/", show)
	inner.Handle("GET /exact/{$}", show)
	inner.Handle("example.com/host", show)
	outer := http.NewServeMux()
	outer.Handle("/api/{v}/", http.StripPrefix("/api/x", inner))

	l, _ := newLimiter(t)
	m := newMiddleware(t, l, httplimit.WithDefaultLimits("1000/minute"), httplimit.WithExempt("/dir/"))
	for _, tc := range []struct {
		name     string
		plain, h http.Handler
	}{
		{"ServeMux", inner, m.Handler(inner)},
		{"ServeMux in a ServeMux", outer, func() http.Handler {
			o := http.NewServeMux()
			o.Handle("/api/{v}/", http.StripPrefix("/api/x", m.Handler(inner)))
			return o
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, limited := serve(t, tc.plain), serve(t, tc.h)
			prefix := ""
			if tc.plain == outer {
				prefix = "/api/x"
			}
			for _, rq := range []struct{ method, path, host string }{
				{"GET", "/static", ""}, {"HEAD", "/static", ""}, {"POST", "/static", ""},
				{"GET", "/items/7", ""}, {"GET", "/items/", ""}, {"GET", "/dir", ""}, {"GET", "/dir/a/b", ""},
				{"GET", "/exact/", ""}, {"GET", "/exact/x", ""}, {"GET", "/nowhere", ""}, {"GET", "/static/../static", ""},
				{"GET", "/host", "example.com"}, {"GET", "/host", "other.example"},
			} {
				want, got := fetch(t, plain, rq.method, prefix+rq.path, rq.host), fetch(t, limited, rq.method, prefix+rq.path, rq.host)
				assert.Equal(t, want, got, "%s %s (Host %q): the limited mux against the mux alone", rq.method, rq.path, rq.host)
			}
		})
	}

	// The request URI "*" (OPTIONS *) is refused by the mux, as alone.
	w := httptest.NewRecorder()
	r := httptest.NewRequest("OPTIONS", "*", nil)
	m.Handler(inner).ServeHTTP(w, r)
	assert.Equal(t, http.StatusBadRequest, w.Code, "OPTIONS *")
}

// fetch returns a request's status, Location and body, not following
// redirects.
func fetch(t *testing.T, srv *httptest.Server, method, path, host string) string {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return fmt.Sprintf("%d location=%q %s", resp.StatusCode, resp.Header.Get("Location"), b)
}
