// Package redistest starts real redis-server processes for tests, as
// net/http/httptest starts real HTTP servers: on a free loopback port,
// without persistence, killed when the test ends. The adapter, metrics
// and example modules use it to run their Redis tests against a real
// server (the main module's own suites use internal/storetest, which has
// clusters, Sentinel and TLS too).
//
// A test that calls [Start] is skipped when redis-server is not on PATH,
// unless the CI environment variable is set: then it fails, because CI
// must run the Redis tests.
package redistest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is one redis-server process. Its methods are for the test
// goroutine; the zero Server is not usable.
type Server struct {
	// Port is the loopback port the server listens on; it stays the
	// same across Restart.
	Port int

	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts a redis-server on a free loopback port and waits until it
// answers PING; t's Cleanup kills it.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redistest: redis-server is not on PATH and CI is set: %v", err)
		}
		t.Skip("redistest: redis-server is not on PATH (apt-get install redis-server)")
	}
	s := &Server{dir: t.TempDir()}
	t.Cleanup(s.Kill)
	for range 3 { // a free port may be taken between Close and the bind
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: listen on 127.0.0.1:0: %v", err)
		}
		s.Port = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if s.start() {
			return s
		}
	}
	t.Fatalf("redistest: redis-server did not answer PING on any of 3 free ports")
	return nil
}

// Addr returns the server's address, 127.0.0.1:Port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URI returns a storage URI for the server: redis://127.0.0.1:Port.
func (s *Server) URI() string { return "redis://" + s.Addr() }

// Kill stops the server with SIGKILL and waits for it. It is idempotent.
func (s *Server) Kill() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
	}
}

// Restart kills the server if it runs and starts a new, empty one on the
// same port.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	if !s.start() {
		t.Fatalf("redistest: redis-server did not come back on %s", s.Addr())
	}
}

// start runs redis-server on s.Port and reports whether it answered PING
// within 10 seconds.
func (s *Server) start() bool {
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := cmd.Start(); err != nil {
		return false
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case <-exited:
			s.cmd = nil
			return false // it could not bind
		default:
		}
		if ping(s.Addr()) {
			return true
		}
	}
	s.Kill()
	return false
}

// ping reports whether addr answers PING with +PONG.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
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
}
