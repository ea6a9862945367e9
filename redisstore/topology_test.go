package redisstore_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file run the store against each Redis topology its
// URIs name, for real: a unix socket, TLS (one-way and mutual), a master
// with a replica behind Sentinel through a failover, and a cluster that
// loses a master.

// openURI opens a store on uri and closes it when t ends.
func openURI(t *testing.T, uri string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(uri, opts...)
	require.NoError(t, err, "Open(%q)", uri)
	t.Cleanup(func() { s.Close() })
	return s
}

// requireFiveThenDenied checks that s allows key exactly 5 requests of
// 5/minute and denies the 6th, every decision made by Redis.
func requireFiveThenDenied(t *testing.T, s *redisstore.Store, key string) {
	t.Helper()
	ctx := context.Background()
	l := limit.MustParse("5/minute")
	for i := 1; i <= 5; i++ {
		d, err := s.AllowN(ctx, key, 1, l)
		require.NoError(t, err, "AllowN(%q, 1, 5/minute) #%d returned an error, want a decision by Redis", key, i)
		assert.True(t, d.Allowed, "AllowN(%q, 1, 5/minute) #%d = %+v, want allowed", key, i, d)
		assert.EqualValues(t, 5-i, d.Remaining, "AllowN(%q, 1, 5/minute) #%d: Remaining", key, i)
	}
	d, err := s.AllowN(ctx, key, 1, l)
	require.NoError(t, err, "AllowN(%q, 1, 5/minute) #6 returned an error, want a decision by Redis", key)
	assert.False(t, d.Allowed, "AllowN(%q, 1, 5/minute) #6 = %+v, want denied", key, d)
	assert.Positive(t, d.RetryAfter, "AllowN(%q, 1, 5/minute) #6: RetryAfter", key)
}

// TestTopologyUnix runs decisions over a unix socket to a redis-server
// that listens on no TCP port.
func TestTopologyUnix(t *testing.T) {
	r := storetest.StartUnix(t)
	uri := "redis+unix://" + r.Sock + "?prefix=unix:&timeout=2s"
	s := openURI(t, uri)
	requireFiveThenDenied(t, s, "user 1")
	assert.Equal(t, "1", r.CLI(t, "EXISTS", "unix:{user 1}:s:5/60"),
		"EXISTS of the counter in the server behind %s", r.Sock)

	t.Run("db", func(t *testing.T) {
		s := openURI(t, "redis+unix://"+r.Sock+"?db=3&prefix=unixdb:&timeout=2s")
		requireFiveThenDenied(t, s, "user 1")
		assert.Equal(t, "1", r.CLI(t, "-n", "3", "EXISTS", "unixdb:{user 1}:s:5/60"),
			"EXISTS in db 3 of the key written through ?db=3")
		assert.Equal(t, "0", r.CLI(t, "-n", "0", "EXISTS", "unixdb:{user 1}:s:5/60"),
			"EXISTS in db 0 of the key written through ?db=3")
	})
}

// TestTopologyTLS runs decisions over TLS with certificates made by the
// test: the right CA works, a wrong CA or a missing client certificate is
// refused with an error that says why.
func TestTopologyTLS(t *testing.T) {
	certs := storetest.NewCerts(t)
	wrong := storetest.NewCerts(t) // another CA, which did not sign the server's certificate
	oneWay := storetest.StartTLS(t, certs, false)
	mutual := storetest.StartTLS(t, certs, true)
	base := func(r *storetest.Redis, prefix string) string {
		return "rediss://" + r.Addr() + "?prefix=" + prefix + ":&timeout=2s"
	}

	t.Run("right CA", func(t *testing.T) {
		s := openURI(t, base(oneWay, "ok"), redisstore.WithTLSConfig(certs.ClientConfig(false)))
		requireFiveThenDenied(t, s, "user 1")
		assert.Equal(t, "1", oneWay.CLI(t, "EXISTS", "ok:{user 1}:s:5/60"), "EXISTS of the key written over TLS")
	})

	t.Run("right CA without ServerName", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: certs.Pool, MinVersion: tls.VersionTLS12} // ServerName comes from the address
		s := openURI(t, base(oneWay, "nosni"), redisstore.WithTLSConfig(cfg))
		requireFiveThenDenied(t, s, "user 1")
	})

	t.Run("wrong CA", func(t *testing.T) {
		s, f, errs := openRecording(t, base(oneWay, "bad"), redisstore.WithTLSConfig(wrong.ClientConfig(false)))
		requireRefused(t, s, f, errs, "x509", "certificate")
	})

	t.Run("system roots", func(t *testing.T) {
		// The default rediss:// config trusts the system roots, which did
		// not sign the test CA.
		s, f, errs := openRecording(t, base(oneWay, "sys"))
		requireRefused(t, s, f, errs, "x509", "certificate")
	})

	t.Run("ssl_cert_reqs", func(t *testing.T) {
		s := openURI(t, base(oneWay, "none")+"&ssl_cert_reqs=none")
		requireFiveThenDenied(t, s, "user 1")
		for _, v := range []string{"required", "optional"} {
			t.Run(v, func(t *testing.T) {
				s, f, errs := openRecording(t, base(oneWay, v)+"&ssl_cert_reqs="+v)
				requireRefused(t, s, f, errs, "x509", "certificate")
			})
		}
		for _, uri := range []string{
			base(oneWay, "x") + "&ssl_cert_reqs=sometimes",
			"redis://" + oneWay.Addr() + "?ssl_cert_reqs=none",
		} {
			_, err := redisstore.Open(uri)
			assert.ErrorIs(t, err, floodgate.ErrURI, "Open(%q)", uri)
			assert.ErrorContains(t, err, "ssl_cert_reqs", "Open(%q)", uri)
		}
	})

	t.Run("mutual", func(t *testing.T) {
		t.Run("client certificate", func(t *testing.T) {
			s := openURI(t, base(mutual, "mtls"), redisstore.WithTLSConfig(certs.ClientConfig(true)))
			requireFiveThenDenied(t, s, "user 1")
		})
		// With TLS 1.2 the server refuses a client certificate inside
		// the handshake, so the client reads the server's alert. With
		// TLS 1.3 the client's handshake ends before the server checks
		// its certificate: the alert ("certificate required") and the
		// server's reset to the client's first write race, so the error
		// names one or the other.
		tls13 := []string{"certificate", "connection reset", "broken pipe", "EOF"}
		t.Run("no client certificate", func(t *testing.T) {
			t.Run("TLS 1.2", func(t *testing.T) {
				cfg := certs.ClientConfig(false)
				cfg.MaxVersion = tls.VersionTLS12
				s, f, errs := openRecording(t, base(mutual, "nocert12"), redisstore.WithTLSConfig(cfg))
				requireRefused(t, s, f, errs, "remote error: tls: handshake failure")
			})
			t.Run("TLS 1.3", func(t *testing.T) {
				s, f, errs := openRecording(t, base(mutual, "nocert13"), redisstore.WithTLSConfig(certs.ClientConfig(false)))
				requireRefused(t, s, f, errs, tls13...)
			})
		})
		t.Run("client certificate of another CA", func(t *testing.T) {
			t.Run("TLS 1.2", func(t *testing.T) {
				cfg := certs.ClientConfig(false)
				cfg.Certificates = []tls.Certificate{wrong.Client}
				cfg.MaxVersion = tls.VersionTLS12
				s, f, errs := openRecording(t, base(mutual, "othercert12"), redisstore.WithTLSConfig(cfg))
				requireRefused(t, s, f, errs, "remote error: tls: unknown certificate authority")
			})
			t.Run("TLS 1.3", func(t *testing.T) {
				cfg := certs.ClientConfig(false)
				cfg.Certificates = []tls.Certificate{wrong.Client}
				s, f, errs := openRecording(t, base(mutual, "othercert13"), redisstore.WithTLSConfig(cfg))
				requireRefused(t, s, f, errs, tls13...)
			})
		})
	})
}

// errLog records the errors a Fallback hands to its error hook.
type errLog chan error

// openRecording opens a store on uri and returns it with a fail-closed
// floodgate.NewFallback around it whose error hook records into the errLog.
func openRecording(t *testing.T, uri string, opts ...redisstore.Option) (*redisstore.Store, floodgate.Store, errLog) {
	t.Helper()
	s := openURI(t, uri, opts...)
	errs := make(errLog, 64)
	f := floodgate.NewFallback(s, floodgate.FallbackConfig{Policy: floodgate.FailClosed, OnError: func(err error) {
		select {
		case errs <- err:
		default:
		}
	}})
	return s, f, errs
}

// requireRefused checks that a decision on s fails with ErrUnavailable,
// denies (the store has no policy), and that its error names why,
// containing one of words; then that a decision through the fail-closed
// Fallback f denies and hands the error hook an error that names why.
func requireRefused(t *testing.T, s *redisstore.Store, f floodgate.Store, errs errLog, words ...string) {
	t.Helper()
	l := limit.MustParse("5/minute")
	d, err := s.AllowN(context.Background(), "user 1", 1, l)
	require.Error(t, err, "AllowN over a refused TLS connection returned %+v and no error, want an error", d)
	assert.ErrorIs(t, err, floodgate.ErrUnavailable, "AllowN over a refused TLS connection")
	assert.False(t, d.Allowed, "AllowN over a refused TLS connection = %+v, want a denial", d)
	mentions := func(e error) bool {
		for _, w := range words {
			if strings.Contains(e.Error(), w) {
				return true
			}
		}
		return false
	}
	assert.True(t, mentions(err), "AllowN over a refused TLS connection returned %q, want an error mentioning one of %q", err, words)

	d, err = f.AllowN(context.Background(), "user 1", 1, l)
	assert.ErrorIs(t, err, floodgate.ErrStorage, "Fallback.AllowN over a refused TLS connection")
	assert.False(t, d.Allowed, "Fallback(FailClosed).AllowN over a refused TLS connection = %+v, want denied", d)
	select {
	case e := <-errs:
		assert.True(t, mentions(e), "the error hook got %q, want an error mentioning one of %q", e, words)
	case <-time.After(5 * time.Second):
		t.Error("the Fallback's error hook got no error within 5s of a refused TLS connection")
	}
}

// itoa is strconv.Itoa, short.
func itoa(i int) string { return strconv.Itoa(i) }

// traffic makes decisions from a few goroutines, each on keys of its own,
// until stop is closed, and records when each error happened.
type traffic struct {
	mu     sync.Mutex
	errs   []trafficErr
	oks    []time.Time // when each successful decision returned
	stop   chan struct{}
	wg     sync.WaitGroup
	stopMu sync.Once
}

type trafficErr struct {
	at  time.Time
	key string
	err error
}

// startTraffic starts goroutines deciding keys chosen by key(g, i), paced
// a little, for at most limit; Stop ends them.
func startTraffic(t *testing.T, s floodgate.Store, goroutines int, bound time.Duration, key func(g, i int) string) *traffic {
	t.Helper()
	tr := &traffic{stop: make(chan struct{})}
	deadline := time.Now().Add(bound)
	l := limit.MustParse("1000/minute")
	for g := range goroutines {
		tr.wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				k := key(g, i)
				if _, err := s.AllowN(context.Background(), k, 1, l); err != nil {
					tr.mu.Lock()
					tr.errs = append(tr.errs, trafficErr{time.Now(), k, err})
					tr.mu.Unlock()
				} else {
					tr.mu.Lock()
					tr.oks = append(tr.oks, time.Now())
					tr.mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	t.Cleanup(tr.Stop)
	return tr
}

// Stop ends the traffic and waits for its goroutines.
func (tr *traffic) Stop() {
	tr.stopMu.Do(func() { close(tr.stop) })
	tr.wg.Wait()
}

// errors returns the errors recorded so far.
func (tr *traffic) errors() []trafficErr {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.errs)
}

// succeeded returns how many decisions succeeded in (from, to].
func (tr *traffic) succeeded(from, to time.Time) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, at := range tr.oks {
		if at.After(from) && !at.After(to) {
			n++
		}
	}
	return n
}

// summary counts errors by message, the key and address parts dropped.
func summary(errs []trafficErr) map[string]int {
	m := map[string]int{}
	for _, e := range errs {
		msg := e.err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Count(msg, ": ") > 2 {
			msg = msg[:i]
		}
		m[msg]++
	}
	return m
}

// TestTopologySentinel runs decisions through Sentinel while it fails
// the master over to its replica: the store follows the new master, and
// the test reports how many decisions failed and how long until the new
// master served them.
func TestTopologySentinel(t *testing.T) {
	master := storetest.StartRedis(t)
	replica := storetest.StartReplica(t, master)
	sentinel := storetest.StartSentinels(t, "mymaster", master, []*storetest.Redis{replica}, 1, 1)[0]
	uri := "redis+sentinel://" + sentinel.Addr() + "/mymaster?prefix=sent:&timeout=200ms"
	s := openURI(t, uri)

	t.Run("before failover", func(t *testing.T) {
		requireFiveThenDenied(t, s, "before")
		assert.Equal(t, "1", master.CLI(t, "EXISTS", "sent:{before}:s:5/60"), "EXISTS on the master %s", master.Addr())
	})

	tr := startTraffic(t, s, 4, 20*time.Second, func(g, i int) string { return "g" + itoa(g) + "-" + itoa(i%50) })
	time.Sleep(200 * time.Millisecond)
	require.Empty(t, summary(tr.errors()), "decisions through Sentinel before the failover")

	start := time.Now()
	require.Equal(t, "OK", sentinel.CLI(t, "SENTINEL", "FAILOVER", "mymaster"), "SENTINEL FAILOVER mymaster")
	for role(replica) != "master" {
		require.Less(t, time.Since(start), 10*time.Second,
			"ROLE of the replica %s 10s after SENTINEL FAILOVER = %q, want master", replica.Addr(), role(replica))
		time.Sleep(20 * time.Millisecond)
	}
	promotedAt := time.Now()
	promoted := promotedAt.Sub(start)

	// A key that appears on the new master now was decided there: the
	// new master replicates from no one.
	var served time.Duration
	var servedAt time.Time
	for i := 0; served == 0; i++ {
		require.Less(t, time.Since(start), 15*time.Second,
			"no decision was served by the new master %s within 15s of SENTINEL FAILOVER; traffic errors: %v",
			replica.Addr(), summary(tr.errors()))
		k := "probe-" + itoa(i)
		if _, err := s.AllowN(context.Background(), k, 1, limit.MustParse("5/minute")); err == nil &&
			exists(replica, "sent:{"+k+"}:s:5/60") {
			servedAt = time.Now()
			served = servedAt.Sub(start)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Then every decision succeeds again, on the new master.
	settled := time.Now()
	time.Sleep(time.Second)
	tr.Stop()
	errs := tr.errors()
	var late []trafficErr
	for _, e := range errs {
		if e.at.After(settled) {
			late = append(late, e)
		}
	}
	assert.Empty(t, summary(late), "traffic errors more than 0s after the new master first served a decision")
	t.Run("after failover", func(t *testing.T) {
		requireFiveThenDenied(t, s, "after")
		assert.Equal(t, "1", replica.CLI(t, "EXISTS", "sent:{after}:s:5/60"), "EXISTS on the new master %s", replica.Addr())
	})

	var last time.Duration
	if len(errs) > 0 {
		last = errs[len(errs)-1].at.Sub(start)
	}
	// Decisions that succeeded between the promotion and the first one
	// seen on the new master went, at least in part, to the old master,
	// whose data its resync from the new master then discards.
	t.Logf("sentinel failover: replica promoted %v after SENTINEL FAILOVER; "+
		"first decision served by the new master at %v (%d decisions succeeded in between, possibly on the old master); %d decision errors (of %d successful decisions), "+
		"the last at %v; errors by kind: %v",
		promoted.Round(time.Millisecond), served.Round(time.Millisecond), tr.succeeded(promotedAt, servedAt),
		len(errs), tr.succeeded(time.Time{}, time.Now()), last.Round(time.Millisecond), summary(errs))
	// Sentinel turns the old master into a replica only when its next
	// INFO (every 10s) still shows it a master; until then it accepts
	// writes from anyone still pointed at it.
	t.Logf("sentinel failover: %v after SENTINEL FAILOVER the old master's ROLE is %q",
		time.Since(start).Round(time.Millisecond), role(master))
}

// role returns the first word of ROLE on r ("master", "slave"), or ""
// when r did not answer.
func role(r *storetest.Redis) string {
	out, err := r.TryCLI("ROLE")
	if err != nil {
		return ""
	}
	return strings.Fields(out + " ")[0]
}

// exists reports whether key exists on r; false when r did not answer.
func exists(r *storetest.Redis, key string) bool {
	out, err := r.TryCLI("EXISTS", key)
	return err == nil && out == "1"
}

// keySlot is Redis Cluster's hash slot of a key without braces: CRC16
// (XMODEM) modulo 16384.
func keySlot(k string) int {
	var crc uint16
	for i := 0; i < len(k); i++ {
		crc ^= uint16(k[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// slotOwners maps each slot to the port of the master serving it, as
// CLUSTER NODES on n says.
func slotOwners(t *testing.T, n *storetest.Redis) [16384]int {
	t.Helper()
	var owners [16384]int
	for _, line := range strings.Split(n.CLI(t, "CLUSTER", "NODES"), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "master") {
			continue
		}
		hostPort, _, _ := strings.Cut(f[1], "@")
		_, portStr, _ := strings.Cut(hostPort, ":")
		port, err := strconv.Atoi(portStr)
		require.NoError(t, err, "port of CLUSTER NODES line %q", line)
		for _, r := range f[8:] {
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil { // a slot being migrated: [slot->-id]
				continue
			}
			for s := a; s <= b; s++ {
				owners[s] = port
			}
		}
	}
	return owners
}

// TestTopologyClusterNodeLoss kills one of three cluster masters with
// SIGKILL under traffic: keys whose slots live on the other masters keep
// being decided by Redis, keys on the dead master fail; once the dead
// master's replica is promoted its keys are decided by Redis again.
//
// The store keeps no health state, so a dead node fails only the calls
// whose keys live on it (branch topology skipped this test while the
// store marked itself down after 3 failures in a row).
func TestTopologyClusterNodeLoss(t *testing.T) {
	nodes := storetest.StartCluster(t, 3)
	victim := nodes[2]
	replica := storetest.StartClusterReplica(t, victim, nodes)
	for _, n := range nodes {
		// By default a cluster that lost a slot refuses every key
		// (CLUSTERDOWN) once it notices; serve the slots it still has.
		n.CLI(t, "CONFIG", "SET", "cluster-require-full-coverage", "no")
	}
	for _, k := range []string{"a", "user 1", "k17"} {
		assert.Equal(t, itoa(keySlot(k)), nodes[0].CLI(t, "CLUSTER", "KEYSLOT", k), "keySlot(%q) against CLUSTER KEYSLOT", k)
	}
	owners := slotOwners(t, nodes[0])
	onVictim := func(k string) bool { return owners[keySlot(k)] == victim.Port }
	var live, dead []string
	for i := 0; len(live) < 16 || len(dead) < 8; i++ {
		k := "k" + itoa(i)
		if onVictim(k) {
			dead = append(dead, k)
		} else {
			live = append(live, k)
		}
	}
	keys := append(slices.Clone(live[:16]), dead[:8]...)

	addrs := nodes[0].Addr() + "," + nodes[1].Addr() + "," + nodes[2].Addr()
	s := openURI(t, "redis+cluster://"+addrs+"?prefix=cl:&timeout=200ms")
	requireFiveThenDenied(t, s, "warm")

	tr := startTraffic(t, s, 3, 25*time.Second, func(g, i int) string { return keys[(g*7+i)%len(keys)] })
	time.Sleep(300 * time.Millisecond)
	require.Empty(t, summary(tr.errors()), "decisions on a healthy cluster")

	killed := time.Now()
	victim.Kill(t)
	// Before the cluster notices (cluster-node-timeout 2s) and promotes
	// the replica, only the dead master's keys may fail.
	time.Sleep(1500 * time.Millisecond)
	var liveErrs, deadErrs []trafficErr
	for _, e := range tr.errors() {
		if onVictim(e.key) {
			deadErrs = append(deadErrs, e)
		} else {
			liveErrs = append(liveErrs, e)
		}
	}
	liveOK := tr.succeeded(killed, time.Now())
	assert.NotEmpty(t, deadErrs, "decisions on keys of the killed master %s in the 1.5s after SIGKILL returned no error", victim.Addr())
	assert.Empty(t, summary(liveErrs), "errors on keys of the live masters in the 1.5s after SIGKILL of %s, want none", victim.Addr())
	t.Logf("cluster node loss, 1.5s after SIGKILL: %d errors on the dead master's keys, %d on the live masters' keys, %d decisions succeeded; errors by kind: %v",
		len(deadErrs), len(liveErrs), liveOK, summary(tr.errors()))

	for role(replica) != "master" {
		require.Less(t, time.Since(killed), 15*time.Second,
			"ROLE of the replica %s 15s after SIGKILL of its master = %q, want master", replica.Addr(), role(replica))
		time.Sleep(20 * time.Millisecond)
	}
	promoted := time.Since(killed)
	var served time.Duration
	for i := 0; served == 0; i++ {
		require.Less(t, time.Since(killed), 20*time.Second,
			"no decision on the dead master's slots was served by the promoted replica %s within 20s of SIGKILL; errors: %v",
			replica.Addr(), summary(tr.errors()))
		k := "p" + itoa(i)
		if !onVictim(k) {
			continue
		}
		if _, err := s.AllowN(context.Background(), k, 1, limit.MustParse("5/minute")); err == nil &&
			exists(replica, "cl:{"+k+"}:s:5/60") {
			served = time.Since(killed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	settled := time.Now()
	time.Sleep(time.Second)
	tr.Stop()
	var late []trafficErr
	for _, e := range tr.errors() {
		if e.at.After(settled) {
			late = append(late, e)
		}
	}
	assert.Empty(t, summary(late), "traffic errors after the promoted replica first served a decision")
	t.Logf("cluster node loss: replica promoted %v after SIGKILL, first decision on its slots served at %v; %d errors in all: %v",
		promoted.Round(time.Millisecond), served.Round(time.Millisecond), len(tr.errors()), summary(tr.errors()))
}

// TestTopologyClosePaused measures how long Close blocks while Redis is
// hung (SIGSTOP) and the dial timeout is 30s: right after pausing, and
// after decisions have failed on the hung connection. The store keeps no
// health checker (floodgate.Fallback owns health), so nothing of its own
// waits on Redis; it must return at the latest once Redis resumes.
func TestTopologyClosePaused(t *testing.T) {
	// How long the test waits for Close before resuming Redis.
	const wait = 3 * time.Second
	for _, tc := range []struct {
		name     string
		failures int // failed decisions made while Redis is paused, before Close
	}{
		{"idle", 0},
		{"after failures", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := storetest.StartRedis(t)
			s := openURI(t, "redis://"+r.Addr()+"?prefix=close:&timeout=100ms&dial-timeout=30s")
			requireFiveThenDenied(t, s, "warm")
			r.Pause(t)
			t.Cleanup(func() { r.Resume(t) })
			for i := range tc.failures {
				_, err := s.AllowN(context.Background(), "k", 1, limit.MustParse("5/minute"))
				require.ErrorIs(t, err, floodgate.ErrUnavailable, "AllowN #%d with Redis paused", i)
			}
			start := time.Now()
			closed := make(chan struct{})
			go func() { s.Close(); close(closed) }()
			select {
			case <-closed:
				t.Logf("Close with Redis paused (%s, dial-timeout=30s) returned after %v",
					tc.name, time.Since(start).Round(time.Millisecond))
				return
			case <-time.After(wait):
			}
			r.Resume(t)
			resumed := time.Now()
			select {
			case <-closed:
				t.Logf("Close with Redis paused (%s, dial-timeout=30s) blocked more than %v; it returned %v after SIGCONT",
					tc.name, wait, time.Since(resumed).Round(time.Millisecond))
			case <-time.After(5 * time.Second):
				t.Errorf("Close with Redis paused (%s) blocked %v, and had not returned 5s after SIGCONT",
					tc.name, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

// TestTopologyClusterNodeLossFallback kills one of three cluster masters
// (no replica) under mixed traffic through floodgate.Open: the keys on
// the dead master follow the failure policy, and the keys on the live
// masters keep being decided by Redis, with no error: the Fallback marks
// the store down only when nearly all of its calls fail, and a third of
// them failing fast (a refused dial fails faster than a round trip
// succeeds) used to trip its old rule of 3 failures in a row.
func TestTopologyClusterNodeLossFallback(t *testing.T) {
	nodes := storetest.StartCluster(t, 3)
	victim := nodes[2]
	for _, n := range nodes {
		n.CLI(t, "CONFIG", "SET", "cluster-require-full-coverage", "no")
	}
	owners := slotOwners(t, nodes[0])
	onVictim := func(k string) bool { return owners[keySlot(k)] == victim.Port }
	var live, dead []string
	for i := 0; len(live) < 16 || len(dead) < 8; i++ {
		k := "k" + itoa(i)
		if onVictim(k) {
			dead = append(dead, k)
		} else {
			live = append(live, k)
		}
	}
	keys := append(slices.Clone(live[:16]), dead[:8]...)

	var logs logCount
	addrs := nodes[0].Addr() + "," + nodes[1].Addr() + "," + nodes[2].Addr()
	uri := "redis+cluster://" + addrs + "?prefix=clf:&timeout=200ms&failure=closed&backoff=100ms"
	s, err := floodgate.Open(uri, floodgate.WithLogger(slog.New(&logs)))
	require.NoError(t, err, "floodgate.Open(%q)", uri)
	t.Cleanup(func() { s.Close() })
	require.Eventually(t, func() bool {
		_, err := s.AllowN(context.Background(), "warm", 1, limit.PerMinute(5))
		return err == nil
	},
		5*time.Second, 10*time.Millisecond, "the cluster never answered")

	tr := startTraffic(t, s, 3, 10*time.Second, func(g, i int) string { return keys[(g*7+i)%len(keys)] })
	time.Sleep(300 * time.Millisecond)
	require.Empty(t, summary(tr.errors()), "decisions on a healthy cluster")

	killed := time.Now()
	victim.Kill(t)
	var downSeen atomic.Int64
	for time.Since(killed) < 3*time.Second {
		if !s.Info().Up {
			downSeen.Add(1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr.Stop()
	var liveErrs, deadErrs []trafficErr
	for _, e := range tr.errors() {
		if onVictim(e.key) {
			deadErrs = append(deadErrs, e)
		} else {
			liveErrs = append(liveErrs, e)
		}
	}
	ok3 := tr.succeeded(killed, time.Now())
	t.Logf("cluster node loss through floodgate.Open, 3s after SIGKILL: %d errors on the dead master's keys, %d on the live masters' keys, %d decisions by Redis; Fallback tripped %d times (seen down in %d of ~600 polls); errors by kind: %v",
		len(deadErrs), len(liveErrs), ok3, logs.count("store unavailable"), downSeen.Load(), summary(tr.errors()))
	assert.NotEmpty(t, deadErrs, "decisions on keys of the killed master returned no error")
	for _, e := range deadErrs {
		assert.ErrorIs(t, e.err, floodgate.ErrStorage, "error on key %q of the killed master", e.key)
	}
	assert.Empty(t, liveErrs, "errors on keys of the live masters: the Fallback must not mark the whole store down for one dead node")
	assert.Zero(t, logs.count("store unavailable"), "the Fallback tripped on mixed traffic")
}

// logCount is a slog.Handler that keeps the messages it is handed.
type logCount struct {
	mu  sync.Mutex
	msg []string
}

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCount) WithGroup(string) slog.Handler            { return l }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msg = append(l.msg, r.Message)
	return nil
}

// count returns how many messages contain sub.
func (l *logCount) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msg {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}
