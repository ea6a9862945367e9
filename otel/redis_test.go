package otel_test

import (
	"bufio"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	_ "github.com/floodgate-go/floodgate/redisstore" // registers redis://
)

// redisServer is a redis-server process on a loopback port, started by
// the test: internal/storetest cannot be imported from this module, so
// this is the few lines of it that the test needs.
type redisServer struct {
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not on PATH and CI is set: %v", err)
		}
		t.Skip("redis-server is not on PATH (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &redisServer{port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	r.start(t)
	t.Cleanup(r.kill)
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	require.NoError(t, r.cmd.Start(), "starting redis-server")
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", r.addr(), 100*time.Millisecond)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return false
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		return err == nil && line == "+PONG\r\n"
	}, 10*time.Second, 10*time.Millisecond, "redis-server on %s never answered PING", r.addr())
}

func (r *redisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
