//go:build !race

package httplimit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/floodgate-go/floodgate/httplimit"
)

// discard is a ResponseWriter whose header map is reused, so only the
// Middleware's own allocations are counted.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func TestAllocsPerAllowedRequest(t *testing.T) {
	tests := []struct {
		name   string
		limits string
		opts   []httplimit.Option
		want   float64
	}{
		{"small numbers", "1000/second", nil, 2},
		{"large numbers", "100000/second", nil, 3},
		{"IETF fields", "1000/second", []httplimit.Option{httplimit.WithHeaders("X-RateLimit", "RateLimit")}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t)
			m := newMiddleware(t, l, tc.opts...)
			h := m.Limit(tc.limits)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "192.0.2.1:1234"
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, r) // the key's first use may allocate in storage
			got := testing.AllocsPerRun(100, func() {
				clear(w.h)
				h.ServeHTTP(w, r)
			})
			assert.LessOrEqual(t, got, tc.want, "allocations per allowed request (%s)", tc.limits)
		})
	}
}
