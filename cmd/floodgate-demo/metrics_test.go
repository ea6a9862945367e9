package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/internal/logtest"
)

// TestMetricsAfterADenial: after a 429, GET /metrics shows the request
// counts per route and outcome, and /metrics itself is never limited.
func TestMetricsAfterADenial(t *testing.T) {
	srv, _ := demo(t)
	for range 6 {
		call(t, srv, "POST", "/api/v1/auth/register", `{}`)
	}
	var body string
	for range 3 {
		r := call(t, srv, "GET", "/metrics", "")
		require.Equal(t, http.StatusOK, r.code, "GET /metrics")
		body = r.body
	}
	for _, want := range []string{
		`floodgate_http_decisions_total{outcome="allowed",route="POST /api/v1/auth/register",scope="POST /api/v1/auth/register"} 5`,
		`floodgate_http_decisions_total{outcome="denied",route="POST /api/v1/auth/register",scope="POST /api/v1/auth/register"} 1`,
		`floodgate_decisions_total{limit="5/minute",outcome="denied",store="memory",strategy="sliding-window"} 1`,
		`floodgate_store_up{store="memory"} 1`,
		`floodgate_tracked_keys 1`,
		`go_goroutines `,
	} {
		assert.Contains(t, body, want, "GET /metrics after 6 registrations")
	}
	assert.NotContains(t, body, `route="GET /metrics"`, "/metrics must be exempt")
}

// TestLogFormatJSON: with -log-format json, a store outage (Redis on a
// port where nothing listens) is logged once, as one JSON object with
// structured attributes, however many requests it answers; its retry
// attribute is a duration string, not nanoseconds.
func TestLogFormatJSON(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &logtest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-log-format", "json",
			"-storage", "redis://127.0.0.1:" + strconv.Itoa(port) + "?timeout=100ms&backoff=1h"}, noEnv, lineWriter{pw}, stderr)
		pw.Close()
	}()
	first := make([]byte, 256)
	n, err := pr.Read(first)
	require.NoError(t, err, "reading the start-up line")
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	line := string(first[:n])
	require.Contains(t, line, "listening on 127.0.0.1:")
	base := "http://" + strings.Fields(strings.SplitAfter(line, "listening on ")[1])[0]
	for range 10 {
		resp, err := http.Get(base + "/api/v1/groups")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /api/v1/groups with Redis down: the memory policy allows")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "run after cancel")
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var warns []map[string]any
	for _, l := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), "stderr line %q is not JSON", l)
		if rec["level"] == "WARN" {
			warns = append(warns, rec)
		}
	}
	// One line from the store's Fallback (the outage) and one from the
	// middleware (its first store error), each once.
	require.Len(t, warns, 2, "WARN lines for one outage under 10 requests: %q", lines)
	byMsg := map[bool]map[string]any{}
	for _, w := range warns {
		byMsg[strings.HasPrefix(w["msg"].(string), "floodgate: store unavailable")] = w
	}
	require.Contains(t, byMsg, true, "the Fallback's outage line: %q", lines)
	require.Contains(t, byMsg, false, "the middleware's line: %q", lines)
	assert.Equal(t, "redis", byMsg[true]["store"], "store attribute")
	assert.Equal(t, "memory", byMsg[true]["policy"], "policy attribute")
	assert.Equal(t, "1h0m0s", byMsg[true]["retry"], "retry attribute: backoff=1h as a Go duration string, not nanoseconds")
	assert.Contains(t, byMsg[false]["msg"], "httplimit: the store failed")
}

func TestLogFormatRefused(t *testing.T) {
	_, err := parseConfig([]string{"-log-format", "xml"}, noEnv, io.Discard)
	assert.ErrorContains(t, err, "-log-format", "parseConfig(-log-format xml)")
}
