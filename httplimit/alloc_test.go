//go:build !race

package httplimit_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/httplimit"
)

// discard is a ResponseWriter whose header map is reused, so only the
// Middleware's own allocations are counted.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// TestAllocsPerAllowedRequest: an allowed request of a client seen
// before costs one allocation, the block of its header values, whatever
// the numbers, header families or scopes, beside the ServeMux's own: its
// storage keys come from the key cache. On a wildcard route a wrapped
// ServeMux allocates the wildcards' values twice, once when Handler asks
// it for the route and once when it serves the request: that is one
// more.
func TestAllocsPerAllowedRequest(t *testing.T) {
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	limitOf := func(limits string) func(*httplimit.Middleware) http.Handler {
		return func(m *httplimit.Middleware) http.Handler { return m.Limit(limits)(nop) }
	}
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", nop)
	mux.Handle("GET /", nop)
	onMux := func(m *httplimit.Middleware) http.Handler { return m.Handler(mux) }
	tests := []struct {
		name    string
		handler func(*httplimit.Middleware) http.Handler
		opts    []httplimit.Option
		path    string
		want    float64 // beside the mux's own
	}{
		{"small numbers", limitOf("1000/second"), nil, "/", 1},
		{"large numbers", limitOf("100000/second"), nil, "/", 1},
		{"huge numbers", limitOf("536870911/hour"), nil, "/", 1},
		{"IETF fields", limitOf("100000/second"), []httplimit.Option{httplimit.WithHeaders("X-RateLimit", "RateLimit")}, "/", 1},
		{"ServeMux, static route", onMux, []httplimit.Option{httplimit.WithRoute("GET /", "100000/second")}, "/", 1},
		{"ServeMux, wildcard route", onMux, []httplimit.Option{httplimit.WithRoute("GET /items/{id}", "100000/second")}, "/items/7", 2},
		{"ServeMux, app and route limits", onMux, []httplimit.Option{
			httplimit.WithRoute("GET /", "100000/second"), httplimit.WithAppLimits("200000/second")}, "/", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t)
			m := newMiddleware(t, l, tc.opts...)
			h := tc.handler(m)
			r := httptest.NewRequest("GET", tc.path, nil)
			r.RemoteAddr = "192.0.2.1:1234"
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, r) // the key's first use may allocate in storage
			require.NotEmpty(t, w.h.Get("X-RateLimit-Remaining"), "headers of an allowed request")
			got := testing.AllocsPerRun(100, func() {
				clear(w.h)
				h.ServeHTTP(w, r)
			})
			own := 0.0 // the mux's
			if strings.HasPrefix(tc.name, "ServeMux") {
				own = testing.AllocsPerRun(100, func() { mux.ServeHTTP(w, r) })
			}
			assert.LessOrEqual(t, got-own, tc.want, "allocations per allowed request, beside the mux's %v", own)
		})
	}
}
