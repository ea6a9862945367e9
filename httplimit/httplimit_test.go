package httplimit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
)

// start is a fake time on a minute boundary, so window arithmetic in the
// expected headers is easy to follow: r = 0 in every minute window.
const start = 0 // see the report: the engine misjudges a first use far from 0

// newLimiter returns an in-memory Store on a fake clock.
func newLimiter(t testing.TB) (floodgate.Store, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(start)
	l := floodgate.NewMemory(engine.WithClock(clk), engine.WithSweepInterval(-1))
	t.Cleanup(func() { _ = l.Close() })
	return l, clk
}

func newMiddleware(t *testing.T, l floodgate.Store, opts ...httplimit.Option) *httplimit.Middleware {
	t.Helper()
	m, err := httplimit.New(l, opts...)
	require.NoError(t, err, "httplimit.New")
	return m
}

// ok answers 200 "ok".
var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

// apiMux is a small ServeMux with the routes the tests limit.
func apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, p := range []string{
		"GET /health",
		"POST /api/v1/auth/register",
		"POST /api/v1/auth/login",
		"GET /api/v1/auth/me",
		"GET /api/v1/groups",
		"POST /api/v1/groups",
		"GET /api/v1/groups/{id}",
		"GET /api/v1/groups/{id}/members",
	} {
		mux.Handle(p, ok)
	}
	return mux
}

// serve starts a real HTTP server on 127.0.0.1 for h.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	code int
	h    http.Header
	body string
}

// do sends one request through a real client; hdr holds name, value pairs.
func do(t *testing.T, srv *httptest.Server, method, path string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// rl returns the X-RateLimit triple and Retry-After of a reply.
func rl(r reply) [4]string {
	return [4]string{r.h.Get("X-RateLimit-Limit"), r.h.Get("X-RateLimit-Remaining"), r.h.Get("X-RateLimit-Reset"), r.h.Get("Retry-After")}
}

// countAllowed sends n requests and counts the 200s.
func countAllowed(t *testing.T, srv *httptest.Server, n int, method, path string, hdr ...string) int {
	t.Helper()
	allowed := 0
	for range n {
		r := do(t, srv, method, path, hdr...)
		switch r.code {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("%s %s: status %d, want 200 or 429", method, path, r.code)
		}
	}
	return allowed
}

func TestSixRapidRegistrations(t *testing.T) {
	l, clk := newLimiter(t)
	m := newMiddleware(t, l,
		httplimit.WithRoute("POST /api/v1/auth/register", "5/minute"),
		httplimit.WithExempt("GET /health"))
	srv := serve(t, m.Handler(apiMux()))

	// Sliding window at r = 0 with cur requests counted: Remaining 5−cur,
	// ResetAfter 2P − r = 120 s. The sixth: RetryAfter =
	// (P−r) + P − ⌊(L−n)·P/cur⌋ = 60 + 60 − ⌊4·60/5⌋ = 72 s.
	steps := []struct {
		code int
		want [4]string
	}{
		{200, [4]string{"5", "4", "120", ""}},
		{200, [4]string{"5", "3", "120", ""}},
		{200, [4]string{"5", "2", "120", ""}},
		{200, [4]string{"5", "1", "120", ""}},
		{200, [4]string{"5", "0", "120", ""}},
		{429, [4]string{"5", "0", "120", "72"}},
	}
	for i, s := range steps {
		r := do(t, srv, "POST", "/api/v1/auth/register")
		assert.Equal(t, s.code, r.code, "request %d: status", i+1)
		assert.Equal(t, s.want, rl(r), "request %d: [limit remaining reset retry-after]", i+1)
		if r.code == 429 {
			assert.Equal(t, `{"error":"rate limit exceeded: 5 per 1 minute"}`+"\n", r.body, "429 body")
			assert.Equal(t, "application/json", r.h.Get("Content-Type"))
		}
	}

	// /health is never limited and carries no headers.
	for range 20 {
		r := do(t, srv, "GET", "/health")
		require.Equal(t, 200, r.code, "GET /health")
		require.Empty(t, r.h.Get("X-RateLimit-Limit"), "GET /health carries rate-limit headers")
	}

	// 72 s later exactly one more fits: the previous window's 5 weigh
	// 5·(60−12)/60 = 4.
	clk.Advance(71 * time.Second)
	assert.Equal(t, 429, do(t, srv, "POST", "/api/v1/auth/register").code, "after 71 s")
	clk.Advance(time.Second)
	assert.Equal(t, 200, do(t, srv, "POST", "/api/v1/auth/register").code, "after 72 s")
}

func TestRetryAfterRoundsUp(t *testing.T) {
	l, clk := newLimiter(t)
	m := newMiddleware(t, l)
	srv := serve(t, m.Limit("1/second")(ok))
	clk.Set(start + 300*time.Millisecond)
	require.Equal(t, 200, do(t, srv, "GET", "/").code)
	r := do(t, srv, "GET", "/")
	require.Equal(t, 429, r.code)
	// RetryAfter = 1 s − 0.3 s + 1 s − 0 = 1.7 s, rounded up to 2;
	// ResetAfter = 2 s − 0.3 s = 1.7 s, rounded up to 2.
	assert.Equal(t, [4]string{"1", "0", "2", "2"}, rl(r))
}

func TestIETFHeaders(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l,
		httplimit.WithHeaders("X-RateLimit", "RateLimit"),
		httplimit.WithRoute("POST /api/v1/auth/login", "5/minute"),
		httplimit.WithRoute("GET /api/v1/auth/me", "2/second;10/minute"))
	srv := serve(t, m.Handler(apiMux()))

	r := do(t, srv, "POST", "/api/v1/auth/login")
	assert.Equal(t, `"POST /api/v1/auth/login";q=5;w=60`, r.h.Get("RateLimit-Policy"))
	assert.Equal(t, `"POST /api/v1/auth/login";r=4;t=120`, r.h.Get("RateLimit"))

	// Two limits: the headers describe the one closest to exhaustion.
	r = do(t, srv, "GET", "/api/v1/auth/me")
	assert.Equal(t, [4]string{"2", "1", "2", ""}, rl(r), "after one request")
	assert.Equal(t, `"GET /api/v1/auth/me 2/second";q=2;w=1`, r.h.Get("RateLimit-Policy"))
	assert.Equal(t, `"GET /api/v1/auth/me 2/second";r=1;t=2`, r.h.Get("RateLimit"))
}

func TestHeadersOff(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l, httplimit.WithHeaders())
	srv := serve(t, m.Limit("1/minute")(ok))
	r := do(t, srv, "GET", "/")
	assert.Equal(t, [4]string{}, rl(r), "allowed, headers off")
	r = do(t, srv, "GET", "/")
	assert.Equal(t, 429, r.code)
	assert.Equal(t, [4]string{"", "", "", "120"}, rl(r), "denied: Retry-After is always sent")
}

func TestSpoofedForwardedForIgnored(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l,
		httplimit.WithTrustedProxies("X-Forwarded-For", 0, "10.0.0.0/8"), // not 127.0.0.1
		httplimit.WithRoute("POST /api/v1/auth/login", "5/minute"))
	srv := serve(t, m.Handler(apiMux()))
	allowed := 0
	for i := range 10 {
		r := do(t, srv, "POST", "/api/v1/auth/login", "X-Forwarded-For", "198.51.100."+string(rune('0'+i)))
		if r.code == 200 {
			allowed++
		}
	}
	assert.Equal(t, 5, allowed, "rotating X-Forwarded-For from an untrusted peer must not escape the limit")
}

func TestTrustedProxyChain(t *testing.T) {
	tests := []struct {
		name, header string
		client       func(i int) string // header value for client i
	}{
		{"X-Forwarded-For", "X-Forwarded-For", func(i int) string {
			// client, then two trusted hops appended by our proxies
			return "203.0.113." + string(rune('1'+i)) + ", 10.0.0.7, 127.0.0.1"
		}},
		{"Forwarded", "Forwarded", func(i int) string {
			return `for=203.0.113.` + string(rune('1'+i)) + `;proto=https, for="10.0.0.7:8080"`
		}},
	}
	for _, tc := range tests {
		t.Run("header="+tc.name, func(t *testing.T) {
			l, _ := newLimiter(t)
			m := newMiddleware(t, l,
				httplimit.WithTrustedProxies(tc.header, 0, "127.0.0.1/32", "::1", "10.0.0.0/8"),
				httplimit.WithRoute("POST /api/v1/auth/login", "5/minute"))
			srv := serve(t, m.Handler(apiMux()))
			assert.Equal(t, 5, countAllowed(t, srv, 7, "POST", "/api/v1/auth/login", tc.header, tc.client(0)), "client 0")
			assert.Equal(t, 5, countAllowed(t, srv, 7, "POST", "/api/v1/auth/login", tc.header, tc.client(1)), "client 1 has its own budget")
			// No header, or a garbled one, means the connection's address:
			// a budget of its own, not "unlimited".
			assert.Equal(t, 3, countAllowed(t, srv, 3, "POST", "/api/v1/auth/login"), "no header")
			assert.Equal(t, 2, countAllowed(t, srv, 4, "POST", "/api/v1/auth/login", tc.header, "garbage, 10.0.0.7"), "garbled header")
		})
	}
}

func TestIPv6GroupedBy64(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l,
		httplimit.WithTrustedProxies("X-Forwarded-For", 0, "127.0.0.1", "::1"),
		httplimit.WithRoute("POST /api/v1/auth/login", "2/minute"))
	srv := serve(t, m.Handler(apiMux()))
	xff := "X-Forwarded-For"
	assert.Equal(t, 1, countAllowed(t, srv, 1, "POST", "/api/v1/auth/login", xff, "2001:db8:1:2::1"))
	assert.Equal(t, 1, countAllowed(t, srv, 3, "POST", "/api/v1/auth/login", xff, "2001:db8:1:2:ffff::9"), "same /64 shares the budget")
	assert.Equal(t, 2, countAllowed(t, srv, 3, "POST", "/api/v1/auth/login", xff, "2001:db8:1:3::1"), "next /64 has its own")

	// Each address apart (fairer behind carrier-grade NAT): a Key of
	// the whole address.
	var m128 *httplimit.Middleware
	perAddress := func(r *http.Request) (string, bool) { return m128.ClientIP(r).String(), true }
	m128 = newMiddleware(t, l,
		httplimit.WithTrustedProxies("X-Forwarded-For", 0, "127.0.0.1", "::1"),
		httplimit.Key(perAddress),
		httplimit.WithRoute("POST /api/v1/auth/login", "1/minute"))
	srv = serve(t, m128.Handler(apiMux()))
	assert.Equal(t, 1, countAllowed(t, srv, 2, "POST", "/api/v1/auth/login", xff, "2001:db8::1"))
	assert.Equal(t, 1, countAllowed(t, srv, 2, "POST", "/api/v1/auth/login", xff, "2001:db8::2"), "with /128 each address has its own")
}

func TestClientIP(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l, httplimit.WithTrustedProxies("X-Forwarded-For", 0, "10.0.0.0/8", "2001:db8:ffff::/48"))
	fwd := newMiddleware(t, l, httplimit.WithTrustedProxies("Forwarded", 0, "10.0.0.0/8"))
	tests := []struct {
		name   string
		m      *httplimit.Middleware
		remote string
		hdr    []string
		want   string
	}{
		{"plain v4", m, "192.0.2.1:1234", nil, "192.0.2.1"},
		{"plain v6", m, "[2001:db8::1%eth0]:1234", nil, "2001:db8::1"},
		{"v4-mapped", m, "[::ffff:192.0.2.1]:1234", nil, "192.0.2.1"},
		{"untrusted peer ignores header", m, "192.0.2.1:1", []string{"X-Forwarded-For", "1.2.3.4"}, "192.0.2.1"},
		{"trusted peer, one hop", m, "10.0.0.1:1", []string{"X-Forwarded-For", "1.2.3.4"}, "1.2.3.4"},
		{"spoofed prefix skipped", m, "10.0.0.1:1", []string{"X-Forwarded-For", "6.6.6.6, 1.2.3.4"}, "1.2.3.4"},
		{"trusted hops skipped", m, "10.0.0.1:1", []string{"X-Forwarded-For", "1.2.3.4, 10.9.9.9"}, "1.2.3.4"},
		{"several lines", m, "10.0.0.1:1", []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "1.2.3.4, 10.1.1.1"}, "1.2.3.4"},
		{"v6 hop", m, "[2001:db8:ffff::1]:1", []string{"X-Forwarded-For", "2001:db8::7"}, "2001:db8::7"},
		{"all trusted: leftmost", m, "10.0.0.1:1", []string{"X-Forwarded-For", "10.2.2.2, 10.3.3.3"}, "10.2.2.2"},
		{"garbled falls back to peer", m, "10.0.0.1:1", []string{"X-Forwarded-For", "1.2.3.4, nonsense"}, "10.0.0.1"},
		{"empty item falls back", m, "10.0.0.1:1", []string{"X-Forwarded-For", "1.2.3.4,,"}, "10.0.0.1"},
		{"empty header falls back", m, "10.0.0.1:1", []string{"X-Forwarded-For", ""}, "10.0.0.1"},
		{"too many hops", m, "10.0.0.1:1", []string{"X-Forwarded-For", "1.2.3.4" + strings.Repeat(", 10.0.0.2", 70)}, "10.0.0.1"},
		{"forwarded", fwd, "10.0.0.1:1", []string{"Forwarded", `for=192.0.2.60;proto=http;by=203.0.113.43`}, "192.0.2.60"},
		{"forwarded v6", fwd, "10.0.0.1:1", []string{"Forwarded", `for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"forwarded chain", fwd, "10.0.0.1:1", []string{"Forwarded", `for=6.6.6.6, For=192.0.2.60, for=10.0.0.9`}, "192.0.2.60"},
		{"forwarded unknown", fwd, "10.0.0.1:1", []string{"Forwarded", `for=unknown`}, "10.0.0.1"},
		{"forwarded ignores XFF", fwd, "10.0.0.1:1", []string{"X-Forwarded-For", "1.2.3.4"}, "10.0.0.1"},
		{"unix socket", m, "@", nil, "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				r.Header.Add(tc.hdr[i], tc.hdr[i+1])
			}
			assert.Equal(t, tc.want, tc.m.ClientIP(r).String(), "ClientIP(RemoteAddr %q, %q)", tc.remote, tc.hdr)
		})
	}
}

func TestExemptions(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	tests := []struct {
		name string
		opt  httplimit.Option
		hdr  []string
	}{
		{"allow-list by client address", httplimit.WithExemptWhen(func(_ *http.Request, client netip.Addr) bool { return loopback.Contains(client) }), nil},
		{"exempt-when header", httplimit.WithExemptWhen(func(r *http.Request, _ netip.Addr) bool { return r.Header.Get("X-Internal") == "yes" }), []string{"X-Internal", "yes"}},
		{"exempt route", httplimit.WithExempt("POST /api/v1/auth/login"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t)
			m := newMiddleware(t, l, tc.opt,
				httplimit.WithAppLimits("3/minute"),
				httplimit.WithDefaultLimits("3/minute"))
			srv := serve(t, m.Handler(apiMux()))
			for i := range 10 {
				r := do(t, srv, "POST", "/api/v1/auth/login", tc.hdr...)
				require.Equal(t, 200, r.code, "exempt request %d", i+1)
				require.Empty(t, r.h.Get("X-RateLimit-Limit"), "exempt request %d has headers", i+1)
			}
		})
	}
	t.Run("exempt-when false still limits", func(t *testing.T) {
		l, _ := newLimiter(t)
		var seen []netip.Addr
		m := newMiddleware(t, l, httplimit.WithExemptWhen(func(_ *http.Request, client netip.Addr) bool {
			seen = append(seen, client)
			return false
		}))
		srv := serve(t, m.Limit("3/minute")(ok))
		assert.Equal(t, 3, countAllowed(t, srv, 5, "GET", "/"))
		require.NotEmpty(t, seen)
		assert.Equal(t, "127.0.0.1", seen[0].String(), "the predicate gets the client address")
	})
}

func TestSetEnabled(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l, httplimit.WithAppLimits("2/minute"))
	srv := serve(t, m.Handler(apiMux()))
	assert.Equal(t, 2, countAllowed(t, srv, 4, "GET", "/api/v1/groups"), "enabled")

	m.SetEnabled(false)
	for range 5 {
		r := do(t, srv, "GET", "/api/v1/groups")
		require.Equal(t, 200, r.code, "disabled")
		require.Empty(t, r.h.Get("X-RateLimit-Limit"), "disabled: headers")
	}
	m.SetEnabled(true)
	assert.Equal(t, 429, do(t, srv, "GET", "/api/v1/groups").code, "re-enabled: the budget is still spent, and nothing counted while disabled")
}

func TestShared(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l,
		httplimit.WithRoute("POST /api/v1/auth/register", "", httplimit.Shared("auth", "3/minute")),
		httplimit.WithRoute("POST /api/v1/auth/login", "10/minute", httplimit.Shared("auth", "3 per minute")))
	srv := serve(t, m.Handler(apiMux()))
	assert.Equal(t, 2, countAllowed(t, srv, 2, "POST", "/api/v1/auth/register"))
	r := do(t, srv, "POST", "/api/v1/auth/login")
	assert.Equal(t, 200, r.code)
	assert.Equal(t, [4]string{"3", "0", "120", ""}, rl(r), "headers show the shared limit, closest to exhaustion")
	assert.Equal(t, 0, countAllowed(t, srv, 2, "POST", "/api/v1/auth/login"), "login after the shared budget is spent")
	assert.Equal(t, 0, countAllowed(t, srv, 2, "POST", "/api/v1/auth/register"), "register after the shared budget is spent")

	t.Run("one budget across Limit calls", func(t *testing.T) {
		a := m.Limit("", httplimit.Shared("pair", "2/minute"))(ok)
		b := m.Limit("", httplimit.Shared("pair", "2/minute"))(ok)
		mux := http.NewServeMux()
		mux.Handle("/a", a)
		mux.Handle("/b", b)
		srv := serve(t, mux)
		assert.Equal(t, 1, countAllowed(t, srv, 1, "GET", "/a"))
		assert.Equal(t, 1, countAllowed(t, srv, 3, "GET", "/b"))
	})
	t.Run("other limits for the same name", func(t *testing.T) {
		_, err := httplimit.New(l,
			httplimit.WithRoute("POST /a", "", httplimit.Shared("auth", "3/minute")),
			httplimit.WithRoute("POST /b", "", httplimit.Shared("auth", "4/minute")))
		require.ErrorIs(t, err, httplimit.ErrConfig, "Shared(auth) with 3/minute and 4/minute")
		assert.Contains(t, err.Error(), `"auth"`)
		assert.Panics(t, func() { m.Limit("", httplimit.Shared("pair", "5/minute")) }, "Limit with Shared(pair) under other limits")
	})
}

func TestDefaultAndAppLimits(t *testing.T) {
	l, _ := newLimiter(t)
	writes := []limit.Limit{limit.PerMinute(1)}
	m := newMiddleware(t, l,
		httplimit.WithDefaultLimits("3/minute", httplimit.Dynamic(func(r *http.Request) []limit.Limit {
			if r.Method == http.MethodPost {
				return writes
			}
			return nil
		})),
		httplimit.WithRoute("POST /api/v1/auth/login", "5/minute"),
		httplimit.WithExempt("GET /health"))
	srv := serve(t, m.Handler(apiMux()))

	assert.Equal(t, 3, countAllowed(t, srv, 5, "GET", "/api/v1/groups"), "default limits")
	assert.Equal(t, 3, countAllowed(t, srv, 5, "GET", "/api/v1/groups/7/members"), "each default route has its own budget")
	assert.Equal(t, 3, countAllowed(t, srv, 5, "GET", "/api/v1/groups/1"), "one budget per pattern, not per path")
	assert.Equal(t, 0, countAllowed(t, srv, 2, "GET", "/api/v1/groups/2"), "one budget per pattern, not per path")
	assert.Equal(t, 1, countAllowed(t, srv, 3, "POST", "/api/v1/groups"), "writes chosen by Dynamic")
	assert.Equal(t, 5, countAllowed(t, srv, 6, "POST", "/api/v1/auth/login"), "a route's own limits replace the defaults")
	for range 5 {
		r := do(t, srv, "GET", "/nowhere")
		require.Equal(t, 404, r.code, "no pattern, no default limits")
		require.Empty(t, r.h.Get("X-RateLimit-Limit"), "GET /nowhere: headers")
	}
}

func TestAppLimits(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l,
		httplimit.WithAppLimits("4/minute"),
		httplimit.WithRoute("POST /api/v1/auth/login", "10/minute"))
	srv := serve(t, m.Handler(apiMux()))
	r := do(t, srv, "POST", "/api/v1/auth/login")
	assert.Equal(t, [4]string{"4", "3", "120", ""}, rl(r), "the app limit is closest to exhaustion")
	assert.Equal(t, 2, countAllowed(t, srv, 2, "GET", "/api/v1/groups"))
	assert.Equal(t, 1, countAllowed(t, srv, 3, "GET", "/api/v1/auth/me"), "one budget across all routes")
	r = do(t, srv, "GET", "/nowhere")
	assert.Equal(t, 429, r.code, "unmatched requests count against the app limits too")
}

func TestCostDynamicAndMultiLimits(t *testing.T) {
	l, clk := newLimiter(t)
	m := newMiddleware(t, l)
	free, pro := []limit.Limit{limit.PerMinute(2)}, []limit.Limit{limit.PerMinute(5)}
	mux := http.NewServeMux()
	mux.Handle("/upload", m.Limit("10/minute", httplimit.Cost(func(r *http.Request) int64 {
		if r.URL.Query().Get("big") != "" {
			return 4
		}
		return 1
	}))(ok))
	mux.Handle("/search", m.Limit("", httplimit.Dynamic(func(r *http.Request) []limit.Limit {
		if r.Header.Get("X-Tier") == "pro" {
			return pro
		}
		return free
	}))(ok))
	mux.Handle("/burst", m.Limit("2/second;3/minute")(ok))
	mux.Handle("/huge", m.Limit("3/minute", httplimit.Cost(func(*http.Request) int64 { return 4 }))(ok))
	srv := serve(t, mux)

	assert.Equal(t, 2, countAllowed(t, srv, 3, "GET", "/upload?big=1"), "cost 4 against 10/minute")
	assert.Equal(t, 2, countAllowed(t, srv, 3, "GET", "/upload"), "the remaining 2 units")

	assert.Equal(t, 2, countAllowed(t, srv, 4, "GET", "/search"), "free tier")
	r := do(t, srv, "GET", "/search", "X-Tier", "pro")
	assert.Equal(t, [4]string{"5", "4", "120", ""}, rl(r), "pro tier headers")
	assert.Equal(t, 4, countAllowed(t, srv, 5, "GET", "/search", "X-Tier", "pro"), "pro tier")

	assert.Equal(t, 2, countAllowed(t, srv, 3, "GET", "/burst"), "2/second")
	clk.Advance(2 * time.Second) // the sliding second window is empty again
	assert.Equal(t, 1, countAllowed(t, srv, 3, "GET", "/burst"), "3/minute after two seconds")

	r = do(t, srv, "GET", "/huge")
	assert.Equal(t, 429, r.code, "a cost above the limit is never allowed")
	assert.Empty(t, r.h.Get("Retry-After"), "cost above the limit: no wait helps, so no Retry-After")
	assert.Contains(t, r.body, "request cost exceeds the limit", "the body says why no retry can succeed")
}

func TestKeys(t *testing.T) {
	type userKey struct{}
	withUser := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u := r.Header.Get("X-User"); u != "" {
				r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
			}
			next.ServeHTTP(w, r)
		})
	}
	header := func(name string) httplimit.Key {
		return func(r *http.Request) (string, bool) { v := r.Header.Get(name); return v, v != "" }
	}
	user := func(r *http.Request) (string, bool) { u, ok := r.Context().Value(userKey{}).(string); return u, ok }
	tests := []struct {
		name string
		key  httplimit.Key
		a, b []string // two clients that must not share a budget
	}{
		{"header", header("X-Api-Key"), []string{"X-Api-Key", "k1"}, []string{"X-Api-Key", "k2"}},
		{"huge header values are hashed apart", header("X-Api-Key"),
			[]string{"X-Api-Key", strings.Repeat("a", 8000)}, []string{"X-Api-Key", strings.Repeat("a", 7999) + "b"}},
		{"context user", user, []string{"X-User", "alice"}, []string{"X-User", "bob"}},
		{"query", func(r *http.Request) (string, bool) { return r.URL.Query().Get("t"), true }, nil, nil},
		{"missing value falls back to the address", header("X-Api-Key"), nil, []string{"X-Api-Key", "k"}},
		{"empty value falls back to the address", func(*http.Request) (string, bool) { return "", true }, nil, []string{"X-Other", "k"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t)
			m := newMiddleware(t, l, tc.key)
			srv := serve(t, withUser(m.Limit("2/minute")(ok)))
			pa, pb := "/", "/"
			if tc.a == nil && tc.b == nil {
				pa, pb = "/?t=a", "/?t=b"
			}
			assert.Equal(t, 2, countAllowed(t, srv, 3, "GET", pa, tc.a...), "client a")
			if tc.name == "empty value falls back to the address" {
				assert.Equal(t, 0, countAllowed(t, srv, 1, "GET", pb, tc.b...), "client b is the same address")
				return
			}
			assert.Equal(t, 2, countAllowed(t, srv, 3, "GET", pb, tc.b...), "client b")
			assert.Equal(t, 0, countAllowed(t, srv, 1, "GET", pa, tc.a...), "client a again")
		})
	}
	t.Run("route key overrides", func(t *testing.T) {
		l, _ := newLimiter(t)
		m := newMiddleware(t, l)
		srv := serve(t, m.Limit("1/minute", header("X-Api-Key"))(ok))
		assert.Equal(t, 1, countAllowed(t, srv, 2, "GET", "/", "X-Api-Key", "a"))
		assert.Equal(t, 1, countAllowed(t, srv, 2, "GET", "/", "X-Api-Key", "b"))
	})
	t.Run("a nil route key is the address", func(t *testing.T) {
		l, _ := newLimiter(t)
		m := newMiddleware(t, l, header("X-Api-Key"))
		srv := serve(t, m.Limit("1/minute", httplimit.Key(nil))(ok))
		assert.Equal(t, 1, countAllowed(t, srv, 2, "GET", "/", "X-Api-Key", "a"))
		assert.Equal(t, 0, countAllowed(t, srv, 2, "GET", "/", "X-Api-Key", "b"), "another API key, the same address")
	})
	t.Run("value and address joined with ClientIP", func(t *testing.T) {
		l, _ := newLimiter(t)
		var m *httplimit.Middleware
		m = newMiddleware(t, l, httplimit.Key(func(r *http.Request) (string, bool) {
			return r.Header.Get("X-Api-Key") + "@" + m.ClientIP(r).String(), true
		}))
		srv := serve(t, m.Limit("1/minute")(ok))
		assert.Equal(t, 1, countAllowed(t, srv, 2, "GET", "/", "X-Api-Key", "a"))
		assert.Equal(t, 1, countAllowed(t, srv, 2, "GET", "/", "X-Api-Key", "b"))
	})
}

// TestStandardMiddleware shows Limit and Handler in a plain
// func(http.Handler) http.Handler chain, the shape chi's Use and With
// take.
func TestStandardMiddleware(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l, httplimit.WithAppLimits("6/minute"))
	chain := func(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			h = mws[i](h)
		}
		return h
	}
	login := m.Limit("2/minute")
	srv := serve(t, chain(ok, m.Handler, login))
	r := do(t, srv, "POST", "/login")
	assert.Equal(t, [4]string{"2", "1", "120", ""}, rl(r), "the route limit is closer to exhaustion than the app limit")
	assert.Equal(t, 1, countAllowed(t, srv, 3, "POST", "/login"))
}

func TestLimitWrappedInServeMuxGetsNoDefault(t *testing.T) {
	l, _ := newLimiter(t)
	m := newMiddleware(t, l, httplimit.WithDefaultLimits("1/minute"))
	mux := http.NewServeMux()
	mux.Handle("POST /login", m.Limit("3/minute")(ok))
	mux.Handle("GET /other", ok)
	srv := serve(t, m.Handler(mux))
	assert.Equal(t, 3, countAllowed(t, srv, 4, "POST", "/login"), "own limits, not the default")
	assert.Equal(t, 1, countAllowed(t, srv, 2, "GET", "/other"), "default")
}

func TestDeniedHandler(t *testing.T) {
	l, _ := newLimiter(t)
	var got limit.Decision
	m := newMiddleware(t, l, httplimit.WithDeniedHandler(func(w http.ResponseWriter, _ *http.Request, d limit.Decision) {
		got = d
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "slow down")
	}))
	srv := serve(t, m.Limit("1/minute")(ok))
	require.Equal(t, 200, do(t, srv, "GET", "/").code)
	r := do(t, srv, "GET", "/")
	assert.Equal(t, 503, r.code)
	assert.Equal(t, "slow down", r.body)
	assert.Equal(t, "120", r.h.Get("Retry-After"), "headers are set before the denied handler runs")
	assert.False(t, got.Allowed)
	assert.Equal(t, limit.PerMinute(1), got.Limit)
}

func TestStoreFailureDecidesByTheStore(t *testing.T) {
	// A closed store is the one failure the in-memory store can produce:
	// it returns a denying Decision with ErrClosed, and the Middleware
	// uses that Decision (a store's failure policy is the store's) without
	// panicking or leaking error text.
	l, _ := newLimiter(t)
	m := newMiddleware(t, l)
	srv := serve(t, m.Limit("5/minute")(ok))
	require.NoError(t, l.Close())
	r := do(t, srv, "GET", "/")
	assert.Equal(t, 429, r.code, "the closed store's Decision denies")
	assert.NotContains(t, r.body, "floodgate:", "error text in the body")
}

func TestBadConfig(t *testing.T) {
	l, _ := newLimiter(t)
	tests := []struct {
		name string
		opt  httplimit.Option
		want string
	}{
		{"bad route limit", httplimit.WithRoute("GET /x", "5/fortnight"), "GET /x"},
		{"empty route", httplimit.WithRoute("GET /x", ""), "no limits"},
		{"bad default", httplimit.WithDefaultLimits("five per minute"), "default"},
		{"bad app", httplimit.WithAppLimits("0/minute"), "app"},
		{"bad shared", httplimit.WithRoute("GET /x", "", httplimit.Shared("auth", "1/week")), "auth"},
		{"empty shared", httplimit.WithRoute("GET /x", "", httplimit.Shared("auth", "")), "auth"},
		{"unnamed shared", httplimit.WithRoute("GET /x", "", httplimit.Shared("", "1/minute")), "empty name"},
		{"bad CIDR", httplimit.WithTrustedProxies("X-Forwarded-For", 0, "10.0.0.0/33"), "10.0.0.0/33"},
		{"malformed pattern", httplimit.WithRoute("login", "1/minute"), "login"},
		{"lowercase method", httplimit.WithRoute("post /login", "1/minute"), "post"},
		{"unbalanced wildcard", httplimit.WithRoute("GET /items/{id", "1/minute"), "unbalanced"},
		{"malformed exempt pattern", httplimit.WithExempt("health"), "health"},
		{"bad proxy header", httplimit.WithTrustedProxies("X-Client-IP", 0, "10.0.0.0/8"), "X-Client-IP"},
		{"proxy header without proxies or hops", httplimit.WithTrustedProxies("X-Real-IP", 0), "X-Real-IP"},
		{"bad hop count", httplimit.WithTrustedProxies("X-Forwarded-For", 65), "65"},
		{"negative hop count", httplimit.WithTrustedProxies("X-Forwarded-For", -1, "10.0.0.0/8"), "-1"},
		{"hops on a single-address header", httplimit.WithTrustedProxies("X-Real-IP", 2), "X-Real-IP"},
		{"bad header family", httplimit.WithHeaders("X-RateLimit", "Draft"), "Draft"},
		{"SlowAPI format that does not exist", httplimit.WithHeaders("Retry-After: unix"), "Retry-After: unix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := httplimit.New(l, tc.opt)
			require.Error(t, err, "New accepted a bad configuration")
			assert.Nil(t, m)
			assert.ErrorIs(t, err, httplimit.ErrConfig)
			assert.Contains(t, err.Error(), tc.want, "the error names the problem")
		})
	}
	t.Run("duplicate route", func(t *testing.T) {
		_, err := httplimit.New(l, httplimit.WithRoute("GET /x", "1/minute"), httplimit.WithRoute("GET /x", "2/minute"))
		assert.ErrorIs(t, err, httplimit.ErrConfig)
	})
	t.Run("nil limiter", func(t *testing.T) {
		_, err := httplimit.New(nil)
		assert.ErrorIs(t, err, httplimit.ErrConfig)
	})
	t.Run("Limit panics on a bad literal", func(t *testing.T) {
		m := newMiddleware(t, l)
		assert.PanicsWithError(t, `httplimit: invalid configuration: limit 5/fortnight: limit: invalid: "5/fortnight": unknown unit "fortnight" (want second, minute, hour, day, month or year)`,
			func() { m.Limit("5/fortnight") })
	})
}
