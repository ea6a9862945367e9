package httplimit_test

import (
	"net/http/httptest"
	"testing"

	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/stretchr/testify/assert"
)

// TestSingleAddressHeadersAndHops: X-Real-IP and its kin are read only
// from trusted proxies (or any peer with one hop) and only when they hold
// one address; a hop count reads the n-th entry from the right and never
// what the client wrote further left.
func TestSingleAddressHeadersAndHops(t *testing.T) {
	l, _ := newLimiter(t)
	for _, tc := range []struct {
		name   string
		opt    httplimit.Option
		peer   string
		header []string // name, value pairs
		want   string
	}{
		{"X-Real-IP from a trusted proxy", httplimit.WithTrustedProxies("X-Real-IP", 0, "10.0.0.0/8"),
			"10.0.0.1:1234", []string{"X-Real-IP", "203.0.113.9"}, "203.0.113.9"},
		{"X-Real-IP spoofed by a client", httplimit.WithTrustedProxies("X-Real-IP", 0, "10.0.0.0/8"),
			"198.51.100.7:1234", []string{"X-Real-IP", "203.0.113.9"}, "198.51.100.7"},
		{"X-Real-IP garbled", httplimit.WithTrustedProxies("X-Real-IP", 0, "10.0.0.0/8"),
			"10.0.0.1:1234", []string{"X-Real-IP", "203.0.113.9, 10.0.0.2"}, "10.0.0.1"},
		{"X-Real-IP twice", httplimit.WithTrustedProxies("X-Real-IP", 0, "10.0.0.0/8"),
			"10.0.0.1:1234", []string{"X-Real-IP", "203.0.113.9", "X-Real-IP", "192.0.2.1"}, "10.0.0.1"},
		{"CF-Connecting-IP", httplimit.WithTrustedProxies("CF-Connecting-IP", 0, "173.245.48.0/20"),
			"173.245.48.5:443", []string{"Cf-Connecting-Ip", "2001:db8::5"}, "2001:db8::5"},
		{"True-Client-IP", httplimit.WithTrustedProxies("True-Client-IP", 0, "10.0.0.0/8"),
			"10.1.2.3:80", []string{"True-Client-IP", "192.0.2.44"}, "192.0.2.44"},
		{"one hop", httplimit.WithTrustedProxies("X-Forwarded-For", 1),
			"10.9.9.9:80", []string{"X-Forwarded-For", "6.6.6.6, 192.0.2.10"}, "192.0.2.10"},
		{"two hops", httplimit.WithTrustedProxies("X-Forwarded-For", 2),
			"10.9.9.9:80", []string{"X-Forwarded-For", "6.6.6.6, 192.0.2.10", "X-Forwarded-For", "10.1.1.1"}, "192.0.2.10"},
		{"fewer entries than hops", httplimit.WithTrustedProxies("X-Forwarded-For", 3),
			"10.9.9.9:80", []string{"X-Forwarded-For", "192.0.2.10, 10.1.1.1"}, "10.9.9.9"},
		{"garbled hop", httplimit.WithTrustedProxies("X-Forwarded-For", 1),
			"10.9.9.9:80", []string{"X-Forwarded-For", "6.6.6.6, not-an-ip"}, "10.9.9.9"},
		{"no header with hops", httplimit.WithTrustedProxies("X-Forwarded-For", 1), "10.9.9.9:80", nil, "10.9.9.9"},
		{"Forwarded with hops", httplimit.WithTrustedProxies("Forwarded", 1),
			"10.9.9.9:80", []string{"Forwarded", `for=6.6.6.6, for="[2001:db8::9]:443";proto=https`}, "2001:db8::9"},
		{"X-Real-IP from any peer with one hop", httplimit.WithTrustedProxies("X-Real-IP", 1),
			"198.51.100.7:1234", []string{"X-Real-IP", "203.0.113.9"}, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMiddleware(t, l, tc.opt)
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for i := 0; i+1 < len(tc.header); i += 2 {
				r.Header.Add(tc.header[i], tc.header[i+1])
			}
			assert.Equal(t, tc.want, m.ClientIP(r).String(), "ClientIP with %v from %s", tc.header, tc.peer)
		})
	}
	t.Run("hops and proxies together", func(t *testing.T) {
		m := newMiddleware(t, l, httplimit.WithTrustedProxies("X-Forwarded-For", 1, "10.0.0.0/8"))
		for _, tc := range []struct{ peer, want string }{
			{"10.9.9.9:80", "192.0.2.10"},       // a trusted peer: one hop from the right
			{"198.51.100.7:80", "198.51.100.7"}, // not one of ours: the header is ignored
		} {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			r.Header.Set("X-Forwarded-For", "6.6.6.6, 192.0.2.10")
			assert.Equal(t, tc.want, m.ClientIP(r).String(), "ClientIP with 1 hop and trusted proxies, from %s", tc.peer)
		}
	})
}
