package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// demoProcess is the demo binary running with -log-format json.
type demoProcess struct {
	cmd  *exec.Cmd
	base string
	logs chan map[string]any // its log records, in order
}

// startDemoBinary runs bin with args on a free loopback port until the
// test ends.
func startDemoBinary(t *testing.T, bin string, args ...string) *demoProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &demoProcess{cmd: cmd, logs: make(chan map[string]any, 100)}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			assert.NoError(t, err, "the demo's exit after SIGTERM")
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the demo did not exit after SIGTERM")
		}
	})
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			var rec map[string]any
			if json.Unmarshal(lines.Bytes(), &rec) == nil {
				p.logs <- rec
			}
		}
		close(p.logs)
	}()
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan(), "the demo printed nothing")
	first := lines.Text()
	require.Contains(t, first, "listening on 127.0.0.1:")
	p.base = "http://" + strings.Fields(strings.SplitAfter(first, "listening on ")[1])[0]
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	return p
}

// hangup sends the demo SIGHUP and returns the log record of the reload.
func (p *demoProcess) hangup(t *testing.T) map[string]any {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	for {
		select {
		case rec, ok := <-p.logs:
			require.True(t, ok, "the demo's stderr closed before it logged the reload")
			if msg, _ := rec["msg"].(string); strings.Contains(msg, "limits") && strings.Contains(msg, "reloaded") {
				return rec
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no reload logged 10 s after SIGHUP")
		}
	}
}

// limitOf returns the status and X-RateLimit-Limit of one GET.
func (p *demoProcess) limitOf(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-RateLimit-Limit")
}

// TestSIGHUPReloadsLimits runs the demo binary with a limits file,
// changes the file, sends SIGHUP and sees the new limits; a bad file is
// refused, logged, and the limits in force stay.
func TestSIGHUPReloadsLimits(t *testing.T) {
	bin := buildDemo(t)
	file := filepath.Join(t.TempDir(), "limits")
	write := func(s string) { require.NoError(t, os.WriteFile(file, []byte(s), 0o600)) }
	write("# the demo's limits\nGET /api/v1/groups=2/minute\n")
	p := startDemoBinary(t, bin, "-limits-file", file)

	code, l := p.limitOf(t, "/api/v1/groups")
	assert.Equal(t, [2]any{200, "2"}, [2]any{code, l}, "at start-up, from the file")
	code, _ = p.limitOf(t, "/api/v1/groups")
	assert.Equal(t, 200, code)
	code, _ = p.limitOf(t, "/api/v1/groups")
	assert.Equal(t, 429, code, "the third at 2/minute")
	code, l = p.limitOf(t, "/api/v1/auth/me")
	assert.Equal(t, "100", l, "GET /api/v1/auth/me at -me-limit's default (status %d)", code)

	write("GET /api/v1/groups=5/minute\nme-limit=7/minute\n")
	rec := p.hangup(t)
	assert.Equal(t, "INFO", rec["level"], "the reload's log record: %v", rec)
	assert.Contains(t, rec["limits"], "GET /api/v1/groups=5/minute")
	code, l = p.limitOf(t, "/api/v1/groups")
	assert.Equal(t, [2]any{200, "5"}, [2]any{code, l}, "after SIGHUP: 5/minute, a fresh count")
	_, l = p.limitOf(t, "/api/v1/auth/me")
	assert.Equal(t, "7", l, "me-limit from the file")

	for _, bad := range []string{"GET /api/v1/groups=5/fortnight\n", "GET /api/v1/grops=5/minute\n", "me-limit 7/minute\n"} {
		write(bad)
		rec = p.hangup(t)
		assert.Equal(t, "ERROR", rec["level"], "a bad file (%q) is logged at Error: %v", bad, rec)
		code, l = p.limitOf(t, "/api/v1/groups")
		assert.Equal(t, [2]any{200, "5"}, [2]any{code, l}, "after a bad file (%q): the limits in force stay", bad)
	}
	assert.Contains(t, rec["error"], "me-limit 7/minute", "the error names the bad line")

	require.NoError(t, os.Remove(file))
	rec = p.hangup(t)
	assert.Equal(t, "ERROR", rec["level"], "a missing file: %v", rec)
}

// TestLimitsFileRefusedAtStartUp: a limits file that cannot be applied
// stops start-up, naming the problem.
func TestLimitsFileRefusedAtStartUp(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"bad line", "auth-limit 5/minute\n", `line 1: "auth-limit 5/minute": want NAME=LIMITS`},
		{"unknown name", "\n# x\nburst=5\n", `line 3: "burst" is neither a route pattern nor one of account-limit, auth-limit`},
		{"twice", "auth-limit=5/minute\nauth-limit=6/minute\n", `"auth-limit" is set twice`},
		{"bad limit", "auth-limit=5/fortnight\n", `"5/fortnight"`},
		{"route the demo does not serve", "GET /api/v1/grops=5/minute\n", `"GET /api/v1/grops"`},
		{"missing file", "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if tc.content != "" {
				require.NoError(t, os.WriteFile(file, []byte(tc.content), 0o600))
			}
			assert.ErrorContains(t, runRefused(t, []string{"-limits-file", file}, nil), tc.want)
		})
	}
}
