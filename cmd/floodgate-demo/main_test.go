package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/internal/redistest"
	fgprom "github.com/floodgate-go/floodgate/prometheus"
)

func noEnv(string) string { return "" }

// demo serves the demo's handler on a real server, on a fake clock.
func demo(t *testing.T, args ...string) (*httptest.Server, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(0)
	metrics := fgprom.New()
	lim := floodgate.Observe(floodgate.NewMemory(engine.WithClock(clk), engine.WithSweepInterval(-1)), metrics)
	t.Cleanup(func() { _ = lim.Close() })
	metrics.Watch(lim)
	c, err := parseConfig(args, noEnv, io.Discard)
	require.NoError(t, err, "parseConfig(%q)", args)
	h, err := newHandler(lim, c, metrics, slog.New(slog.DiscardHandler))
	require.NoError(t, err, "newHandler")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, clk
}

type reply struct {
	code int
	h    http.Header
	body string
}

func call(t *testing.T, srv *httptest.Server, method, path, body string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func TestSixthRegistrationIsDenied(t *testing.T) {
	srv, clk := demo(t)
	for i := range 5 {
		r := call(t, srv, "POST", "/api/v1/auth/register", `{"username":"u`+string(rune('a'+i))+`","password":"correct horse"}`)
		require.Equal(t, http.StatusCreated, r.code, "registration %d: %s", i+1, r.body)
		assert.Equal(t, "5", r.h.Get("X-RateLimit-Limit"))
		assert.Equal(t, string(rune('4'-i)), r.h.Get("X-RateLimit-Remaining"), "registration %d", i+1)
		assert.Equal(t, "120", r.h.Get("X-RateLimit-Reset"), "registration %d", i+1)
	}
	r := call(t, srv, "POST", "/api/v1/auth/register", `{"username":"uf","password":"correct horse"}`)
	assert.Equal(t, http.StatusTooManyRequests, r.code, "sixth registration")
	assert.Equal(t, "72", r.h.Get("Retry-After"), "sixth registration: Retry-After")
	assert.Equal(t, "0", r.h.Get("X-RateLimit-Remaining"))
	assert.JSONEq(t, `{"error":"rate limit exceeded: 5 per 1 minute"}`, r.body)

	// Login has its own budget.
	r = call(t, srv, "POST", "/api/v1/auth/login", `{"username":"ua","password":"correct horse"}`)
	require.Equal(t, http.StatusOK, r.code, "login: %s", r.body)
	assert.Equal(t, "4", r.h.Get("X-RateLimit-Remaining"), "login")

	// /health is never limited.
	for range 50 {
		r := call(t, srv, "GET", "/health", "")
		require.Equal(t, http.StatusOK, r.code)
		require.JSONEq(t, `{"status":"healthy"}`, r.body)
		require.Empty(t, r.h.Get("X-RateLimit-Limit"), "/health has rate-limit headers")
	}

	clk.Advance(72 * time.Second)
	r = call(t, srv, "POST", "/api/v1/auth/register", `{"username":"uf","password":"correct horse"}`)
	assert.Equal(t, http.StatusCreated, r.code, "registration after Retry-After: %s", r.body)
}

func TestAppFlowAndLimits(t *testing.T) {
	srv, _ := demo(t, "-write-limit", "3/minute", "-ietf-headers")
	r := call(t, srv, "POST", "/api/v1/auth/register", `{"username":"ann","password":"correct horse"}`)
	require.Equal(t, http.StatusCreated, r.code, r.body)
	r = call(t, srv, "POST", "/api/v1/auth/login", `{"username":"ann","password":"correct horse"}`)
	require.Equal(t, http.StatusOK, r.code, r.body)
	var tok struct{ Token string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &tok))
	r = call(t, srv, "GET", "/api/v1/auth/me", "", "Authorization", "Bearer "+tok.Token)
	require.Equal(t, http.StatusOK, r.code, r.body)
	assert.JSONEq(t, `{"username":"ann"}`, r.body)
	assert.Equal(t, [2]string{"100", "99"}, [2]string{r.h.Get("X-RateLimit-Limit"), r.h.Get("X-RateLimit-Remaining")}, "/me limits")
	assert.Equal(t, `"GET /api/v1/auth/me";q=100;w=60`, r.h.Get("RateLimit-Policy"))
	r = call(t, srv, "POST", "/api/v1/auth/logout", "", "Authorization", "Bearer "+tok.Token)
	assert.Equal(t, http.StatusNoContent, r.code)
	assert.Equal(t, "10", r.h.Get("X-RateLimit-Limit"), "logout limit")

	r = call(t, srv, "POST", "/api/v1/groups", `{"name":"family"}`)
	require.Equal(t, http.StatusCreated, r.code, r.body)
	assert.Equal(t, "3", r.h.Get("X-RateLimit-Limit"), "write limit")
	// Each (method, pattern) pair has its own budget: three writes to
	// the members route, then the fourth is denied.
	for i, name := range []string{"a", "b", "c"} {
		r = call(t, srv, "POST", "/api/v1/groups/1/members", `{"name":"`+name+`"}`)
		require.Equal(t, http.StatusCreated, r.code, "member %d: %s", i, r.body)
	}
	r = call(t, srv, "POST", "/api/v1/groups/1/members", `{"name":"d"}`)
	assert.Equal(t, http.StatusTooManyRequests, r.code, "fourth write")
	assert.NotEmpty(t, r.h.Get("Retry-After"))

	r = call(t, srv, "POST", "/api/v1/groups/1/exclusions", `{"giver":"a","receiver":"b"}`)
	require.Equal(t, http.StatusCreated, r.code, r.body)
	r = call(t, srv, "POST", "/api/v1/groups/1/draw", "")
	require.Equal(t, http.StatusOK, r.code, r.body)
	var d map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.body), &d))
	assert.Len(t, d, 3)
	assert.NotEqual(t, "b", d["a"], "the exclusion a→b is honoured")
	r = call(t, srv, "GET", "/api/v1/groups/1/draw", "")
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, [2]string{"200", "199"}, [2]string{r.h.Get("X-RateLimit-Limit"), r.h.Get("X-RateLimit-Remaining")}, "read limit")
}

// lineWriter hands run's output to the test through a pipe.
type lineWriter struct{ w *io.PipeWriter }

func (l lineWriter) Write(p []byte) (int, error) { return l.w.Write(p) }

func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string {
			if k == "FLOODGATE_STORAGE" {
				return "memory://?strategy=fixed-window"
			}
			return ""
		}, lineWriter{pw}, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	require.True(t, lines.Scan(), "run printed nothing")
	first := lines.Text()
	require.Contains(t, first, "listening on 127.0.0.1:")
	go func() { // drain the rest
		for lines.Scan() {
		}
	}()
	addr := strings.Fields(strings.SplitAfter(first, "listening on ")[1])[0]
	base := "http://" + addr

	resp, err := http.Get(base + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	codes := []int{}
	for range 6 {
		resp, err := http.Post(base+"/api/v1/auth/register", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
		}
	}
	assert.Equal(t, []int{400, 400, 400, 400, 400, 429}, codes, "bad bodies still count; the sixth is limited")

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "run after cancel")
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context was cancelled")
	}
}

// runRefused runs the demo, which must fail at start-up; a demo that
// starts anyway is stopped after a few seconds and reported.
func runRefused(t *testing.T, args []string, env map[string]string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, io.Discard, io.Discard)
	require.Error(t, err, "run(%q, env %v) started and served until stopped", args, env)
	return err
}

func TestRunRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown scheme", []string{"-storage", "mongo://x"}, nil, `unknown scheme "mongo"`},
		{"unknown scheme from the environment", nil, map[string]string{"FLOODGATE_STORAGE": "mongo://x"}, `unknown scheme "mongo"`},
		{"bad limit", []string{"-auth-limit", "5/fortnight"}, nil, `"5/fortnight"`},
		{"bad CIDR", []string{"-trusted-proxies", "10.0.0.0/33"}, nil, `"10.0.0.0/33"`},
		{"unknown flag", []string{"-nope"}, nil, "flag provided but not defined"},
		{"bad address", []string{"-addr", "256.0.0.1:bad"}, nil, "256.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, runRefused(t, tc.args, tc.env).Error(), tc.want)
		})
	}
}

// startDemo runs the demo with args until the test ends, and returns
// its base URL.
func startDemo(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), noEnv, lineWriter{pw}, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "run(%q) after cancel", args)
		case <-time.After(10 * time.Second):
			t.Errorf("run(%q) did not return after its context was cancelled", args)
		}
	})
	lines := bufio.NewScanner(pr)
	require.True(t, lines.Scan(), "run(%q) printed nothing", args)
	first := lines.Text()
	go func() { // drain the rest
		for lines.Scan() {
		}
	}()
	require.Contains(t, first, "listening on 127.0.0.1:", "run(%q)'s first line", args)
	return "http://" + strings.Fields(strings.SplitAfter(first, "listening on ")[1])[0]
}

// TestRunOnRedis runs two demos on one real redis-server: they share each
// client's budgets, as instances behind a load balancer must.
func TestRunOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startDemo(t, "-storage", srv.URI())
	b := startDemo(t, "-storage", srv.URI())
	var codes []int
	for i := range 6 {
		base := a
		if i%2 == 1 {
			base = b
		}
		resp, err := http.Post(base+"/api/v1/auth/register", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err, "registration %d", i+1)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	assert.Equal(t, []int{400, 400, 400, 400, 400, 429}, codes, "registrations alternating between two demos on one Redis: one 5/minute budget")
}

// TestRouteFlag: -route sets one route's limits, and a pattern the demo
// does not serve stops start-up, naming it (Verify).
func TestRouteFlag(t *testing.T) {
	srv, _ := demo(t, "-route", "GET /api/v1/groups=2/minute", "-route", "POST /api/v1/auth/register = 1/minute")
	var codes []int
	for range 3 {
		codes = append(codes, call(t, srv, "GET", "/api/v1/groups", "").code)
	}
	assert.Equal(t, []int{200, 200, 429}, codes, "GET /api/v1/groups with -route 2/minute")
	r := call(t, srv, "POST", "/api/v1/auth/register", `{}`)
	assert.Equal(t, "1", r.h.Get("X-RateLimit-Limit"), "register with -route 1/minute")

	for _, tc := range []struct{ flag, want string }{
		{"GET /api/v1/grups=5/minute", `route "GET /api/v1/grups"`},
		{"GET /api/v1/groups/{groupID}=5/minute", `route "GET /api/v1/groups/{groupID}"`},
		{"/api/v1/groups=5/minute", `route "/api/v1/groups"`},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			err := runRefused(t, []string{"-route", tc.flag}, nil)
			assert.ErrorIs(t, err, httplimit.ErrConfig, "-route %q", tc.flag)
			assert.Contains(t, err.Error(), tc.want, "-route %q: the error names the route", tc.flag)
		})
	}
	_, err := parseConfig([]string{"-route", "GET /x"}, noEnv, io.Discard)
	assert.ErrorContains(t, err, "PATTERN=LIMITS", "parseConfig(-route without =)")
}
