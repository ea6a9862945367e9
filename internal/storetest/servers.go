package storetest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file starts the Redis topologies other than a plain TCP server and
// a cluster: a unix socket, TLS, and a master with replicas watched by
// Sentinel. Every process is killed by t.Cleanup.

// StartUnix starts a redis-server that listens only on a unix socket
// (port 0) and waits until it answers PING there. The socket's path is
// r.Sock; it lives in a short temporary directory, because a socket path
// is limited to about 100 bytes.
func StartUnix(t testing.TB, extra ...string) *Redis {
	t.Helper()
	RequireRedis(t)
	dir, err := os.MkdirTemp("", "fgsock")
	if err != nil {
		t.Fatalf("MkdirTemp for the unix socket: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "redis.sock")
	r := &Redis{Sock: sock, dir: t.TempDir(), cli: []string{"-s", sock}}
	r.args = append([]string{"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no"}, extra...)
	r.probe = func() error {
		c, err := net.DialTimeout("unix", sock, 200*time.Millisecond)
		if err != nil {
			return err
		}
		return pingConn(c)
	}
	if err := r.start(); err != nil {
		t.Fatalf("start redis-server on %s: %v", sock, err)
	}
	t.Cleanup(r.kill)
	return r
}

// Certs is a throwaway PKI for TLS tests: a CA, a server certificate for
// 127.0.0.1 and localhost, and a client certificate, all signed by the CA
// and written as PEM files under a t.TempDir().
type Certs struct {
	CAFile, CertFile, KeyFile     string // the CA and the server's pair
	ClientCertFile, ClientKeyFile string
	Pool                          *x509.CertPool  // trusts only this CA
	Client                        tls.Certificate // the client's pair
}

// NewCerts makes a CA and the certificates it signs. Each call makes a new
// CA, so a second Certs is the "wrong CA" of the first.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("NewCerts: %s: %v", what, err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err, "CA key")
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "floodgate test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err, "CA certificate")
	ca, err := x509.ParseCertificate(caDER)
	must(err, "parse CA certificate")

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		t.Helper()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err, cn+" key")
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		must(err, cn+" certificate")
		kder, err := x509.MarshalECPrivateKey(key)
		must(err, cn+" key encoding")
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		must(os.WriteFile(p, b, 0o600), "write "+p)
		return p
	}
	c := &Certs{Pool: x509.NewCertPool()}
	c.Pool.AddCert(ca)
	c.CAFile = write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	sc, sk := issue(2, "redis-server", x509.ExtKeyUsageServerAuth)
	c.CertFile, c.KeyFile = write("server.pem", sc), write("server-key.pem", sk)
	cc, ck := issue(3, "floodgate client", x509.ExtKeyUsageClientAuth)
	c.ClientCertFile, c.ClientKeyFile = write("client.pem", cc), write("client-key.pem", ck)
	c.Client, err = tls.X509KeyPair(cc, ck)
	must(err, "client key pair")
	return c
}

// ClientConfig returns a TLS config that trusts c's CA and, when withCert,
// presents c's client certificate.
func (c *Certs) ClientConfig(withCert bool) *tls.Config {
	cfg := &tls.Config{RootCAs: c.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if withCert {
		cfg.Certificates = []tls.Certificate{c.Client}
	}
	return cfg
}

// RequireTLS skips t when redis-server was built without TLS support, and
// fails it when the CI environment variable is set.
func RequireTLS(t testing.TB) {
	t.Helper()
	RequireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// With TLS built in, the server stops at the missing certificate;
	// without it, tls-port is an unknown directive.
	out, _ := exec.CommandContext(ctx, "redis-server", "--port", "0", "--tls-port", "1").CombinedOutput()
	if strings.Contains(string(out), "tls-cert-file") {
		return
	}
	msg := fmt.Sprintf("redis-server has no TLS support (redis-server --port 0 --tls-port 1 printed %q, not a complaint about tls-cert-file)", out)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// StartTLS starts a redis-server that speaks only TLS (port 0, tls-port
// r.Port) with c's server certificate, and waits until it answers PING
// over TLS. With mutual, it requires a client certificate signed by c's
// CA (tls-auth-clients yes); otherwise it asks for none.
func StartTLS(t testing.TB, c *Certs, mutual bool) *Redis {
	t.Helper()
	RequireTLS(t)
	auth := "no"
	if mutual {
		auth = "yes"
	}
	var lastErr error
	for range 3 { // the free port may be taken between FreePort and the bind
		r := &Redis{Port: FreePort(t), dir: t.TempDir()}
		r.args = []string{"--port", "0", "--tls-port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
			"--tls-cert-file", c.CertFile, "--tls-key-file", c.KeyFile, "--tls-ca-cert-file", c.CAFile,
			"--tls-auth-clients", auth,
			"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no"}
		r.cli = []string{"-h", "127.0.0.1", "-p", strconv.Itoa(r.Port), "--tls",
			"--cacert", c.CAFile, "--cert", c.ClientCertFile, "--key", c.ClientKeyFile}
		cfg := c.ClientConfig(true)
		r.probe = func() error {
			d := &net.Dialer{Timeout: 200 * time.Millisecond}
			conn, err := tls.DialWithDialer(d, "tcp", r.Addr(), cfg)
			if err != nil {
				return err
			}
			return pingConn(conn)
		}
		if lastErr = r.start(); lastErr == nil {
			t.Cleanup(r.kill)
			return r
		}
	}
	t.Fatalf("start redis-server with TLS: %v", lastErr)
	return nil
}

// StartReplica starts a redis-server replicating master and waits until
// its link to the master is up and the master counts it online.
func StartReplica(t testing.TB, master *Redis, extra ...string) *Redis {
	t.Helper()
	// Redis 7 syncs replicas diskless by default, after waiting 5s for
	// more replicas to join; one replica need not wait.
	master.CLI(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	r := StartRedis(t, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}, extra...)...)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.CLI(t, "INFO", "replication"), "master_link_status:up") ||
		!strings.Contains(master.CLI(t, "INFO", "replication"), "port="+strconv.Itoa(r.Port)+",state=online") {
		if time.Now().After(deadline) {
			t.Fatalf("replica %s of %s not in sync within 10s:\nreplica: %s\nmaster: %s", r.Addr(), master.Addr(),
				r.CLI(t, "INFO", "replication"), master.CLI(t, "INFO", "replication"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// SentinelDownAfter and SentinelFailoverTimeout are the short
// down-after-milliseconds and failover-timeout of StartSentinels.
const (
	SentinelDownAfter       = time.Second
	SentinelFailoverTimeout = 5 * time.Second
)

// StartSentinels starts n redis-sentinel processes monitoring master
// under name with the given quorum, each with its config file in a
// t.TempDir(), and waits until every one of them lists replicas (which
// must already be in sync, see StartReplica) as healthy replicas, so
// that a failover can choose one.
func StartSentinels(t testing.TB, name string, master *Redis, replicas []*Redis, quorum, n int) []*Redis {
	t.Helper()
	RequireRedis(t)
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-sentinel is not on PATH and CI is set: install redis-sentinel (apt-get install redis-sentinel): %v", err)
		}
		t.Skip("redis-sentinel is not on PATH; install it to run the Sentinel tests (CI fails instead of skipping)")
	}
	out := make([]*Redis, n)
	for i := range out {
		var lastErr error
		for range 3 { // the free port may be taken between FreePort and the bind
			s := &Redis{Port: FreePort(t), dir: t.TempDir(), bin: "redis-sentinel"}
			conf := filepath.Join(s.dir, "sentinel.conf")
			body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"+
				"sentinel monitor %s 127.0.0.1 %d %d\n"+
				"sentinel down-after-milliseconds %s %d\n"+
				"sentinel failover-timeout %s %d\n"+
				"sentinel parallel-syncs %s 1\n",
				s.Port, s.dir, name, master.Port, quorum,
				name, SentinelDownAfter.Milliseconds(), name, SentinelFailoverTimeout.Milliseconds(), name)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatalf("write %s: %v", conf, err)
			}
			s.args = []string{conf}
			if lastErr = s.start(); lastErr == nil {
				t.Cleanup(s.kill)
				out[i] = s
				break
			}
		}
		if out[i] == nil {
			t.Fatalf("start redis-sentinel: %v", lastErr)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range out {
		for {
			got := s.CLI(t, "SENTINEL", "REPLICAS", name)
			ok := true
			for _, r := range replicas {
				ok = ok && strings.Contains(got, strconv.Itoa(r.Port))
			}
			if ok && !strings.Contains(got, "s_down") && !strings.Contains(got, "disconnected") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s does not list the replicas of %s as healthy within 15s: SENTINEL REPLICAS %s = %s",
					s.Addr(), name, name, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// pingConn sends PING on c, expects +PONG and closes c.
func pingConn(c net.Conn) error {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// StartClusterReplica starts a cluster-mode redis-server, as StartCluster
// does, joins it to master's cluster as master's replica (redis-cli
// --cluster add-node --cluster-slave), and waits until it is in sync and
// every one of nodes knows it as a replica, so that it can win a
// failover election.
func StartClusterReplica(t testing.TB, master *Redis, nodes []*Redis) *Redis {
	t.Helper()
	id := master.CLI(t, "CLUSTER", "MYID")
	master.CLI(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	r := StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "2000")
	out, err := exec.Command("redis-cli", "--cluster", "add-node", r.Addr(), master.Addr(),
		"--cluster-slave", "--cluster-master-id", id).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster add-node %s %s --cluster-slave: %v: %s", r.Addr(), master.Addr(), err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := strings.Contains(r.CLI(t, "INFO", "replication"), "master_link_status:up")
		for _, n := range nodes {
			ok = ok && strings.Contains(n.CLI(t, "CLUSTER", "NODES"), r.Addr()+"@")
		}
		if ok && strings.Contains(r.CLI(t, "CLUSTER", "INFO"), "cluster_state:ok") {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster replica %s of %s not in sync and known to all nodes within 15s: %s\n%s", r.Addr(), master.Addr(),
				r.CLI(t, "INFO", "replication"), nodes[0].CLI(t, "CLUSTER", "NODES"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TryCLI is CLI that returns redis-cli's error instead of failing the
// test, for polling a server that may drop connections meanwhile (Sentinel
// kills the clients of a replica it promotes).
func (r *Redis) TryCLI(args ...string) (string, error) {
	conn := r.cli
	if conn == nil {
		conn = []string{"-h", "127.0.0.1", "-p", strconv.Itoa(r.Port)}
	}
	out, err := exec.Command("redis-cli", append(slices.Clip(conn), args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("redis-cli %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
