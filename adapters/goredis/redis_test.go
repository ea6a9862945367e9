package goredis_test

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// server is a redis-server started by a test.
type server struct {
	addr string // "127.0.0.1:port"
	stop func() // kills it and waits for it; idempotent
}

// startRedis starts a redis-server without persistence on a free
// loopback port, waits until it answers PING, and kills it in Cleanup.
// It skips t when redis-server is not on PATH, unless CI is set, where it
// fails: CI must run the Redis tests. (internal/storetest has the same
// helper, but internal packages of the main module cannot be imported
// from this module.)
func startRedis(t testing.TB) server {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not on PATH and CI is set: %v", bin, err)
			}
			t.Skipf("%s is not on PATH; install redis-server to run the Redis tests", bin)
		}
	}
	for range 3 { // the free port may be taken between Close and the bind
		if s, ok := tryRedis(t); ok {
			return s
		}
	}
	t.Fatalf("redis-server did not answer PING on any of 3 free ports")
	return server{}
}

func tryRedis(t testing.TB) (server, bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:0: %v", err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	kill := func() { _ = cmd.Process.Kill(); <-exited }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return server{}, false // it could not bind: try another port
		default:
		}
		out, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", port, "ping").Output()
		if err == nil && string(out) == "PONG\n" {
			t.Cleanup(kill)
			return server{addr: "127.0.0.1:" + port, stop: kill}, true
		}
	}
	kill()
	return server{}, false
}
