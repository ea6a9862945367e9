package storetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server process that a test started on a free loopback
// port. Cleanup kills it by PID.
type Redis struct {
	Port   int    // TCP port; the TLS port for StartTLS; 0 for StartUnix
	Sock   string // unix socket path for StartUnix; "" otherwise
	args   []string
	dir    string
	cmd    *exec.Cmd
	exited chan error // receives the process's exit; nil when not running

	// Set by the starters in servers.go; zero for a plain redis-server.
	bin   string       // executable; "" means redis-server
	probe func() error // readiness check; nil means PING over TCP on Port
	cli   []string     // redis-cli connection arguments; nil means -h 127.0.0.1 -p Port
}

// Addr returns "127.0.0.1:port".
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// RequireRedis skips t when redis-server is not on PATH, unless the CI
// environment variable is set, in which case it fails t: CI must run the
// Redis tests.
func RequireRedis(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not on PATH and CI is set: install redis-server (apt-get install redis-server): %v", err)
		}
		t.Skip("redis-server is not on PATH; install it to run the Redis tests (CI fails instead of skipping)")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil && os.Getenv("CI") != "" {
		t.Fatalf("redis-cli is not on PATH and CI is set: %v", err)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
// redis-server does not accept port 0, so the port is found by listening
// on :0 and closing.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:0: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartRedis starts a redis-server without persistence on a free port,
// with extra command-line arguments, and waits until it answers PING.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	RequireRedis(t)
	var lastErr error
	for range 3 { // the free port may be taken between FreePort and the bind
		r, err := startOn(t, FreePort(t), extra)
		if err == nil {
			return r
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

// StartRedisOnPort starts a redis-server like StartRedis, on port.
func StartRedisOnPort(t testing.TB, port int, extra ...string) *Redis {
	t.Helper()
	RequireRedis(t)
	r, err := startOn(t, port, extra)
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	return r
}

func startOn(t testing.TB, port int, extra []string) (*Redis, error) {
	r := &Redis{Port: port, dir: t.TempDir()}
	r.args = append([]string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no"}, extra...)
	if err := r.start(); err != nil {
		return nil, err
	}
	t.Cleanup(r.kill)
	return r, nil
}

func (r *Redis) start() error {
	bin, probe := r.bin, r.probe
	if bin == "" {
		bin = "redis-server"
	}
	if probe == nil {
		probe = r.ping
	}
	r.cmd = exec.Command(bin, r.args...)
	r.cmd.Dir = r.dir
	if err := r.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("%s on port %d exited at start: %v", bin, r.Port, err)
		default:
		}
		if probe() == nil {
			// Keep reaping in the background; kill waits on exited.
			r.exited = exited
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = r.cmd.Process.Kill()
	<-exited
	return fmt.Errorf("%s on port %d did not answer PING within 10s", bin, r.Port)
}

// ping sends PING on a fresh connection and expects +PONG.
func (r *Redis) ping() error {
	c, err := net.DialTimeout("tcp", r.Addr(), 200*time.Millisecond)
	if err != nil {
		return err
	}
	return pingConn(c)
}

// Kill sends SIGKILL to the server and waits for it to exit.
func (r *Redis) Kill(t testing.TB) {
	t.Helper()
	r.kill()
}

func (r *Redis) kill() {
	if r.cmd == nil || r.exited == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT)
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.exited = nil
}

// Restart starts the server again on the same port, after Kill.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.kill()
	if err := r.start(); err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
}

// Pause stops the server with SIGSTOP: it keeps its connections but
// answers nothing until Resume.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP redis-server: %v", err)
	}
}

// Resume continues a paused server.
func (r *Redis) Resume(t testing.TB) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT redis-server: %v", err)
	}
}

// CLI runs redis-cli against the server and returns its trimmed output.
func (r *Redis) CLI(t testing.TB, args ...string) string {
	t.Helper()
	out, err := r.TryCLI(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Time returns the server's clock (TIME) since the Unix epoch, to the
// microsecond.
func (r *Redis) Time(t testing.TB) time.Duration {
	t.Helper()
	f := strings.Fields(r.CLI(t, "TIME"))
	if len(f) != 2 {
		t.Fatalf("TIME: %q", f)
	}
	sec, err1 := strconv.ParseInt(f[0], 10, 64)
	us, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("TIME: %q", f)
	}
	return time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond
}

// StartCluster starts n redis-server processes in cluster mode, joins
// them with redis-cli --cluster create (no replicas), and waits until
// every node reports cluster_state:ok.
func StartCluster(t testing.TB, n int) []*Redis {
	t.Helper()
	nodes := make([]*Redis, n)
	addrs := make([]string, n)
	for i := range nodes {
		nodes[i] = StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
		addrs[i] = nodes[i].Addr()
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v: %s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range nodes {
		for !strings.Contains(nd.CLI(t, "cluster", "info"), "cluster_state:ok") {
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within 20s: %s", nd.Addr(), nd.CLI(t, "cluster", "info"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}
