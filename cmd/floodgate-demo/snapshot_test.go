package main

import (
	"bufio"
	"bytes"
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

// buildDemo builds the demo binary into a temporary directory.
func buildDemo(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs the demo binary")
	}
	bin := filepath.Join(t.TempDir(), "floodgate-demo")
	gobin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command, to build the demo")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// process is a running demo binary.
type process struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
}

// startBinary runs the demo binary on a loopback port with args, and
// returns once it listens. The test's end kills it if it still runs.
func startBinary(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start(), "start %s", bin)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := bufio.NewScanner(out)
	require.True(t, lines.Scan(), "the demo printed nothing; stderr: %s", &stderr)
	first := lines.Text()
	go func() { // drain the rest
		for lines.Scan() {
		}
	}()
	require.Contains(t, first, "listening on 127.0.0.1:", "the demo's first line")
	return &process{cmd: cmd, url: "http://" + strings.Fields(strings.SplitAfter(first, "listening on ")[1])[0], stderr: &stderr}
}

// stop sends sig to the demo and waits for it to exit.
func (p *process) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	err := p.cmd.Wait()
	if sig == syscall.SIGTERM {
		require.NoError(t, err, "the demo's exit after SIGTERM; stderr: %s", p.stderr)
	}
}

// login posts one login and returns the status code.
func (p *process) login(t *testing.T) int {
	t.Helper()
	resp, err := http.Post(p.url+"/api/v1/auth/login", "application/json", strings.NewReader(annLogin))
	require.NoError(t, err, "POST login")
	resp.Body.Close()
	return resp.StatusCode
}

// TestSnapshotSurvivesRestart runs the demo binary twice on one
// snapshot: 5 logins, a clean stop (SIGTERM), a new process, and the 6th
// login is still denied. Without a snapshot the same restart forgets.
func TestSnapshotSurvivesRestart(t *testing.T) {
	bin := buildDemo(t)
	for _, tc := range []struct {
		name    string
		storage string
		sixth   int
	}{
		{"snapshot", "memory://?snapshot=" + filepath.Join(t.TempDir(), "limits.snap"), http.StatusTooManyRequests},
		{"no snapshot", "memory://", http.StatusUnauthorized}, // ann's account went with the process
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startBinary(t, bin, "-storage", tc.storage)
			for i := range 5 {
				require.Equal(t, http.StatusUnauthorized, a.login(t), "login %d before the restart (no such user: counted, 401)", i+1)
			}
			a.stop(t, syscall.SIGTERM)
			b := startBinary(t, bin, "-storage", tc.storage)
			assert.Equal(t, tc.sixth, b.login(t), "the 6th login, after a restart on %s", tc.storage)
			b.stop(t, syscall.SIGTERM)
		})
	}
}

// TestSnapshotKill9 kills the demo with SIGKILL between snapshots: the
// logins that a completed snapshot holds survive, and at most those made
// since the last snapshot are lost. No wall-clock assertion: the test
// waits for the file to be rewritten, twice, so that a whole write began
// after the logins it must hold.
func TestSnapshotKill9(t *testing.T) {
	bin := buildDemo(t)
	path := filepath.Join(t.TempDir(), "limits.snap")
	storage := "memory://?snapshot=" + path + "&snapshot-interval=20ms"
	args := []string{"-storage", storage, "-auth-limit", "5/hour"}
	a := startBinary(t, bin, args...)
	for i := range 3 {
		require.Equal(t, http.StatusUnauthorized, a.login(t), "login %d", i+1)
	}
	waitRewrites(t, path, 2)
	require.Equal(t, http.StatusUnauthorized, a.login(t), "login 4, after the last snapshot we waited for")
	a.stop(t, syscall.SIGKILL)

	b := startBinary(t, bin, args...)
	allowed := 0
	for b.login(t) != http.StatusTooManyRequests {
		allowed++
		require.LessOrEqual(t, allowed, 5, "logins allowed after the restart: the limit is 5")
	}
	assert.LessOrEqual(t, allowed, 2, "logins 1-3 were in a completed snapshot: at most 5-3 are left")
	assert.GreaterOrEqual(t, allowed, 1, "login 4 at most is lost: nothing else counts against the client")
	b.stop(t, syscall.SIGTERM)
}

// waitRewrites waits until the file at path has been replaced n times
// (its inode changes with each atomic rename).
func waitRewrites(t *testing.T, path string, n int) {
	t.Helper()
	ino := func() uint64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	last := ino()
	for seen := 0; seen < n; {
		time.Sleep(5 * time.Millisecond)
		if cur := ino(); cur != last {
			seen++
			last = cur
		}
	}
}
