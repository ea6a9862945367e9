package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/logtest"
	"github.com/floodgate-go/floodgate/internal/redistest"
)

const annLogin = `{"username":"ann","password":"correct horse"}`

// TestLoginCountsEveryRequest: by default every login counts against
// 5/minute per client, successful ones too: 8 correct logins in a row
// get 5×200, then 429.
func TestLoginCountsEveryRequest(t *testing.T) {
	srv, _ := demo(t)
	r := call(t, srv, "POST", "/api/v1/auth/register", annLogin)
	require.Equal(t, http.StatusCreated, r.code, "register: %s", r.body)
	var codes []int
	var remaining []string
	for range 8 {
		r := call(t, srv, "POST", "/api/v1/auth/login", annLogin)
		codes = append(codes, r.code)
		remaining = append(remaining, r.h.Get("X-RateLimit-Remaining"))
	}
	assert.Equal(t, []int{200, 200, 200, 200, 200, 429, 429, 429}, codes, "8 correct logins by one client")
	assert.Equal(t, []string{"4", "3", "2", "1", "0", "0", "0", "0"}, remaining, "X-RateLimit-Remaining of each")
}

// TestCountFailedLoginsOnly: -count-failed-logins-only is the other
// choice: correct logins never count, failed ones do.
func TestCountFailedLoginsOnly(t *testing.T) {
	srv, _ := demo(t, "-count-failed-logins-only")
	r := call(t, srv, "POST", "/api/v1/auth/register", annLogin)
	require.Equal(t, http.StatusCreated, r.code, "register: %s", r.body)
	var codes []int
	for range 8 {
		codes = append(codes, call(t, srv, "POST", "/api/v1/auth/login", annLogin).code)
	}
	assert.Equal(t, []int{200, 200, 200, 200, 200, 200, 200, 200}, codes, "8 correct logins with -count-failed-logins-only")
	codes = nil
	for range 6 {
		codes = append(codes, call(t, srv, "POST", "/api/v1/auth/login", `{"username":"ann","password":"wrong"}`).code)
	}
	assert.Equal(t, []int{401, 401, 401, 401, 401, 429}, codes, "6 failed logins with -count-failed-logins-only")
}

// TestUnkeyableBodyIs400: a login body the per-account limit cannot key
// is a 400 before any login is attempted, even with the right password;
// so rotating addresses with such bodies never get past the handler, and
// well-formed failed logins from rotating addresses hit the account
// limit.
func TestUnkeyableBodyIs400(t *testing.T) {
	srv, _ := demo(t, "-trusted-proxies", "127.0.0.1/32", "-auth-limit", "1000/minute")
	r := call(t, srv, "POST", "/api/v1/auth/register", `{"username":"alice","password":"correct horse"}`)
	require.Equal(t, http.StatusCreated, r.code, "register: %s", r.body)
	for _, body := range []string{
		`{"username":"alice","password":"correct horse"}x`,
		`{"username":"alice","password":"correct horse"}{}`,
		`{"username":"alice","password":"correct horse"} "alice"`,
		`{"username":"alice","password":"correct horse","admin":true}`,
		`{"password":"correct horse"}`,
		`{"username":"","password":"correct horse"}`,
		`null`,
		`[]`,
		``,
	} {
		for i := range 25 {
			r := call(t, srv, "POST", "/api/v1/auth/login", body, "X-Forwarded-For", "10.1.0."+strconv.Itoa(i+1))
			require.Equal(t, http.StatusBadRequest, r.code, "login %d with body %q (the right password): %s", i+1, body, r.body)
		}
	}
	r = call(t, srv, "POST", "/api/v1/auth/login", `{"username":"alice","password":"correct horse"} `)
	require.Equal(t, http.StatusOK, r.code, "login with trailing white space, the right password: %s", r.body)

	var codes []int
	for i := range 22 {
		r := call(t, srv, "POST", "/api/v1/auth/login", `{"username":"alice","password":"guess"}`, "X-Forwarded-For", "10.2.0."+strconv.Itoa(i+1))
		codes = append(codes, r.code)
	}
	want := make([]int, 22)
	for i := range want {
		want[i] = 401
	}
	// 20/hour per account: the correct login above counted, so 19 more.
	for i := 19; i < 22; i++ {
		want[i] = 429
	}
	assert.Equal(t, want, codes, "failed logins to alice from 22 addresses, at -account-limit 20/hour")
}

// slowRequests are requests that a slowloris client starts and never
// finishes.
var slowRequests = map[string]string{
	"partial headers":               "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Ty",
	"partial login body":            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"username\":\"al",
	"partial register body":         "POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{\"username\":",
	"whole JSON, then a stall":      "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{\"username\":\"alice\",\"password\":\"correct horse\"}",
	"partial body on a write route": "POST /api/v1/groups HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{\"na",
}

// TestSlowClientsDisconnected: with -read-timeout 300ms, connections
// that send part of a request and stall are closed by the server; the
// test only asserts they close before a generous deadline. A login body
// cut short is answered 400 (never a login), whatever it held so far.
func TestSlowClientsDisconnected(t *testing.T) {
	base := startDemo(t, "-read-timeout", "300ms", "-auth-limit", "1000/minute")
	addr := strings.TrimPrefix(base, "http://")
	for name, req := range slowRequests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			_, err = io.WriteString(c, req)
			require.NoError(t, err, "writing the partial request")
			require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
			got, err := io.ReadAll(c)
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection still open 20s after a partial request (read %q)", got)
			if err != nil {
				require.ErrorIs(t, err, syscall.ECONNRESET, "reading until the server closes")
			}
			if len(got) > 0 {
				assert.True(t, strings.HasPrefix(string(got), "HTTP/1.1 400") || strings.HasPrefix(string(got), "HTTP/1.1 408"),
					"the answer before closing, if any, refuses the request: %q", got)
			}
		})
	}
}

// TestBodyLimit: a body above -max-body is refused with 413.
func TestBodyLimit(t *testing.T) {
	base := startDemo(t, "-max-body", "100")
	body := `{"username":"ann","password":"` + strings.Repeat("x", 200) + `"}`
	for _, path := range []string{"/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/groups"} {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		require.NoError(t, err, "POST %s", path)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "POST %s with a %d-byte body at -max-body 100", path, len(body))
	}
}

// TestServerTimeoutFlags: the timeouts must be positive.
func TestServerTimeoutFlags(t *testing.T) {
	for _, args := range [][]string{{"-read-timeout", "0"}, {"-write-timeout", "-1s"}, {"-idle-timeout", "0s"}, {"-max-body", "0"}} {
		_, err := parseConfig(args, noEnv, io.Discard)
		assert.Error(t, err, "parseConfig(%q)", args)
	}
}

// TestNoSecretPrinted: a storage URI's password appears in no error, no
// usage text, no start-up line and no log line.
func TestNoSecretPrinted(t *testing.T) {
	const secret = "s3cret-pw"
	for _, uri := range []string{
		"redis://u:" + secret + "@localhost:6379?bogus=1",
		"redis://u:" + secret + "@local host:6379",
		"redis://:" + secret + "@[::1:6379/0",
		"redis://u:" + secret + "@h/abc",
		"redis://u:" + secret + "%zz@h",
		"rediss://u:" + secret + "@h:1?ssl_cert_reqs=maybe",
		"mongodb://u:" + secret + "@h",
	} {
		for _, how := range []string{"flag", "env"} {
			t.Run(how+" "+uri, func(t *testing.T) {
				args, env := []string{"-storage", uri}, map[string]string{}
				if how == "env" {
					args, env = nil, map[string]string{"FLOODGATE_STORAGE": uri}
				}
				out := &logtest.Buffer{}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, out, out)
				require.Error(t, err, "run with storage %q", uri)
				assert.ErrorIs(t, err, floodgate.ErrURI, "run with storage %q", uri)
				assert.NotContains(t, err.Error(), secret, "the error")
				assert.NotContains(t, out.String(), secret, "stdout and stderr")
			})
		}
	}
	t.Run("usage", func(t *testing.T) {
		out := &logtest.Buffer{}
		_, err := parseConfig([]string{"-nope"}, func(k string) string {
			if k == "FLOODGATE_STORAGE" {
				return "redis://u:" + secret + "@h"
			}
			return ""
		}, out)
		require.Error(t, err)
		require.Contains(t, out.String(), "-storage", "usage text")
		assert.NotContains(t, out.String(), secret, "usage text with FLOODGATE_STORAGE set")
	})
	t.Run("outage", func(t *testing.T) {
		srv := redistest.Start(t)
		srv.Kill()
		stdout, stderr := &logtest.Buffer{}, &logtest.Buffer{}
		base := startDemoLogs(t, stdout, stderr, "-storage", "redis://u:"+secret+"@"+srv.Addr()+"?timeout=100ms")
		for range 5 {
			resp, err := http.Get(base + "/api/v1/groups")
			require.NoError(t, err)
			resp.Body.Close()
		}
		assert.Contains(t, stderr.String(), "store unavailable", "the outage is logged")
		assert.NotContains(t, stdout.String()+stderr.String(), secret, "stdout and stderr of a demo with Redis down")
	})
}

// TestRedisDownFailClosed: the demo on a Redis that is down, under
// failure=closed, answers 503 with Retry-After set to the backoff, and
// /metrics counts the failure policy's denials.
func TestRedisDownFailClosed(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	base := startDemo(t, "-storage", srv.URI()+"?failure=closed&backoff=9s&timeout=100ms")
	for i := range 3 {
		resp, err := http.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(annLogin))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "login %d with Redis down: %s", i+1, b)
		assert.Equal(t, "9", resp.Header.Get("Retry-After"), "login %d: Retry-After", i+1)
		assert.Empty(t, resp.Header.Values("X-RateLimit-Remaining"), "login %d: Remaining is unknown", i+1)
		assert.Contains(t, string(b), "unavailable", "login %d: body", i+1)
	}
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var fallback []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "floodgate_fallback_decisions_total{") && strings.Contains(line, `outcome="denied"`) {
			fallback = append(fallback, line)
		}
	}
	assert.NotEmpty(t, fallback, "/metrics counts the failure policy's denials")
}
