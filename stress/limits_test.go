package stress_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/seam"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	_ "github.com/floodgate-go/floodgate/redisstore" // the redis schemes
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// login is the limit of the rows: 5 failed logins per minute.
var login = limit.PerMinute(5)

// policies are the failure policies, as named in URIs.
var policies = []string{"memory", "open", "closed"}

// start is the fake time of every row: one second into a minute, so that
// no window turns while a row runs.
const start = storetest.T0 + time.Second

var prefixSeq atomic.Int64

// tally counts what the callers of one or more instances got, by who
// answered (Observation.Reason: "" for Redis or the local count).
type tally struct {
	mu      sync.Mutex
	allowed map[string]int // by reason
	denied  map[string]int
}

func newTally() *tally { return &tally{allowed: map[string]int{}, denied: map[string]int{}} }

func (c *tally) ObserveCall(o floodgate.Observation) {
	if o.Op != "allow" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.Decision.Allowed {
		c.allowed[o.Reason]++
	} else {
		c.denied[o.Reason]++
	}
}

func (c *tally) ObserveHealth(floodgate.Health) {}

// sum returns the counts of m whose reason is in reasons (all when none).
func (c *tally) sum(m map[string]int, reasons ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for r, v := range m {
		if len(reasons) == 0 {
			n += v
			continue
		}
		for _, want := range reasons {
			if r == want {
				n += v
			}
		}
	}
	return n
}

func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "allowed " + fmtCounts(c.allowed) + ", denied " + fmtCounts(c.denied)
}

func fmtCounts(m map[string]int) string {
	s := "{"
	for _, r := range []string{"", "budget", "down", "error"} {
		if v, ok := m[r]; ok {
			name := r
			if name == "" {
				name = "store"
			}
			s += " " + name + ":" + strconv.Itoa(v)
		}
	}
	return s + " }"
}

// instance is one store instance, as one process of a service opens it.
type instance struct {
	floodgate.Store
	ctx context.Context // carries the shared fake clock to Redis
}

// open opens an instance on addr (scheme://hosts) with the policy and
// extra URI parameters, reporting to c, at clk's time.
func open(t *testing.T, addr, policy, extra string, clk *clock.Manual, c *tally, prefix string) instance {
	t.Helper()
	uri := addr + "?failure=" + policy + "&prefix=" + prefix + "&" + extra
	st, err := floodgate.Open(uri, floodgate.WithClock(clk), floodgate.WithObserver(c),
		floodgate.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err, "Open(%q)", uri)
	t.Cleanup(func() { st.Close() })
	return instance{st, seam.WithClock(context.Background(), clk)}
}

// newPrefix returns a fresh key prefix, so rows sharing a server share no
// keys.
func newPrefix() string { return "s" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":" }

// warm waits until inst's Redis answers a call.
func warm(t *testing.T, inst instance) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := inst.AllowN(inst.ctx, "warm", 1, limit.PerDay(1<<30))
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "the store never reached Redis")
}

// flood sends calls requests for key from each of g goroutines to each
// instance and returns how many were allowed.
func flood(insts []instance, g, calls int, key func(inst, gor, i int) string) int {
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for ii, inst := range insts {
		for gi := range g {
			wg.Go(func() {
				for i := range calls {
					if d, _ := inst.AllowN(inst.ctx, key(ii, gi, i), 1, login); d.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	return int(allowed.Load())
}

// proxy forwards TCP connections to target, delaying every chunk the
// server sends by delay (in order): a Redis that is alive but slow; or
// dropping them: a replication link that loses writes.
type proxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64
	drop   atomic.Bool // discard what the server sends
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); io.Copy(s, c); s.Close() }()
			go func() { defer conns.Done(); p.slow(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

// slow copies from src to dst, each chunk delay after it arrived.
func (p *proxy) slow(dst, src net.Conn) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 && !p.drop.Load() {
				ch <- chunk{time.Now().Add(time.Duration(p.delay.Load())), b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			src.Close()
			return
		}
	}
}

// TestSlowRedis is the rows 1, 2, 3 and 6: Redis answers every
// call, but later than the 50 ms budget (a proxy adds 80 ms to every
// reply), while 128 goroutines of one instance send failed logins of one
// client. Under memory and closed the instance allows at most the limit;
// under open, at most the limit while the store is not marked down.
// Meanwhile innocent clients, one request each, are counted when the
// policy denies them.
func TestSlowRedis(t *testing.T) {
	r := storetest.StartRedis(t)
	for _, policy := range policies {
		t.Run("failure="+policy, func(t *testing.T) {
			p := startProxy(t, r.Addr())
			clk := clock.NewManual(start)
			c := newTally()
			inst := open(t, "redis://"+p.Addr(), policy, "timeout=50ms&backoff=1ms", clk, c, newPrefix())
			warm(t, inst)
			p.delay.Store(int64(80 * time.Millisecond))
			// The fake clock moves 1 ms (the backoff) per 10 ms: a store
			// marked down is probed again, and no window turns.
			stop := make(chan struct{})
			ticked := make(chan struct{})
			go func() {
				defer close(ticked)
				for {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
						clk.Advance(time.Millisecond)
					}
				}
			}()
			defer func() { close(stop); <-ticked }()
			// The step from fast to 80 ms: calls overrun the budget
			// until a probe has measured the new latency.
			learned, ok := 0, false
			for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); learned++ {
				_, err := inst.AllowN(inst.ctx, "learn", 1, limit.PerDay(1<<30))
				ok = err == nil
			}
			var innocents atomic.Int64 // innocent requests denied
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					for i := range 4 {
						if d, _ := inst.AllowN(inst.ctx, "innocent"+strconv.Itoa(g*4+i), 1, login); !d.Allowed {
							innocents.Add(1)
						}
					}
				})
			}
			at := newTally() // the attacker's calls only
			attacker := instance{floodgate.Observe(inst.Store, at), inst.ctx}
			got := flood([]instance{attacker}, 128, 4, func(int, int, int) string { return "attacker" })
			wg.Wait()
			t.Logf("failure=%s, Redis 80 ms late (learned in %d calls), 512 attacker calls: %d allowed of %v (%v); innocents denied %d of 64; all: %v",
				policy, learned, got, login, at, innocents.Load(), c)
			assert.True(t, ok, "no call answered by the slow Redis within 5 s: the budget did not follow its latency")
			if policy == "open" {
				// While the store is not marked down the local count
				// decides an overrun call: at most the limit from this
				// instance. While it is marked down, open allows all.
				assert.LessOrEqual(t, at.sum(at.allowed, "", "budget", "error"), int(login.Count()),
					"failure=open: attacker calls allowed by Redis or the local count")
				return
			}
			assert.LessOrEqual(t, got, int(login.Count()), "failure=%s: attacker calls allowed, Redis slow", policy)
			if policy == "closed" {
				// Slow is not down: once the latency is learned, calls
				// wait for Redis instead of the policy denying them.
				assert.LessOrEqual(t, innocents.Load(), int64(32), "failure=closed: innocent requests denied with Redis slow")
			}
		})
	}
}

// TestBurst is the burst row: 50 parallel requests on a cold key,
// from one instance and from three, while Redis answers in time, and
// while it answers the first request of each instance and then stops
// (SIGSTOP), so that the others' replies are late. Together they get at
// most K·L.
func TestBurst(t *testing.T) {
	r := storetest.StartRedis(t)
	for _, k := range []int{1, 3} {
		for _, stopped := range []bool{false, true} {
			for _, policy := range []string{"memory", "closed"} {
				name := "instances=" + strconv.Itoa(k) + "/redis=" + map[bool]string{false: "answering", true: "stopped"}[stopped] + "/failure=" + policy
				t.Run(name, func(t *testing.T) {
					clk := clock.NewManual(start)
					c := newTally()
					prefix := newPrefix()
					insts := make([]instance, k)
					for i := range insts {
						insts[i] = open(t, "redis://"+r.Addr(), policy, "timeout=50ms", clk, c, prefix)
						warm(t, insts[i])
					}
					got := 0
					if stopped {
						// Redis answers the burst's first requests, then
						// stops: the rest are late, and the local count
						// starts from what the first ones took.
						got = flood(insts, 1, 1, func(int, int, int) string { return "cold" })
						r.Pause(t)
					}
					got += flood(insts, 50/k, 1, func(int, int, int) string { return "cold" })
					if stopped {
						r.Resume(t)
					}
					t.Logf("%s: %d allowed of %v from %d instances; %v", name, got, login, k, c)
					assert.LessOrEqual(t, got, k*int(login.Count()), "%s: parallel requests allowed", name)
					if !stopped && k == 1 {
						assert.Equal(t, int(login.Count()), got, "%s: with Redis answering, exactly the limit", name)
					}
				})
			}
		}
	}
}

// TestRestart is the kill -9 row: one instance, a fixed window of
// 5/minute; 5 logins, then Redis killed (kill -9), 20 logins, then Redis
// restarted empty (no persistence), 20 logins. Under memory and closed
// the instance allows 5 in all; under open, 5 plus what it allowed while
// the store was marked down, and nothing after the restart.
func TestRestart(t *testing.T) {
	for _, policy := range policies {
		t.Run("failure="+policy, func(t *testing.T) {
			r := storetest.StartRedis(t)
			clk := clock.NewManual(start)
			c := newTally()
			inst := open(t, "redis://"+r.Addr(), policy, "timeout=50ms&backoff=1ms&strategy=fixed-window", clk, c, newPrefix())
			warm(t, inst)
			before := flood([]instance{inst}, 1, 5, func(int, int, int) string { return "attacker" })
			require.Equal(t, 5, before, "logins before the kill")
			r.Kill(t)
			during := flood([]instance{inst}, 4, 5, func(int, int, int) string { return "attacker" })
			r.Restart(t)
			// Recovery: the store is probed once per backoff of the fake clock.
			require.Eventually(t, func() bool {
				clk.Advance(time.Millisecond)
				_, err := inst.AllowN(inst.ctx, "probe", 1, limit.PerDay(1<<30))
				return err == nil
			}, 10*time.Second, 5*time.Millisecond, "no recovery after the restart")
			for range 20 { // connections opened before the restart fail once each
				inst.AllowN(inst.ctx, "settle", 1, limit.PerDay(1<<30))
			}
			after := flood([]instance{inst}, 4, 5, func(int, int, int) string { return "attacker" })
			t.Logf("failure=%s: %d before the kill, %d while down, %d after the restart; %v", policy, before, during, after, c)
			assert.Zero(t, after, "failure=%s: allowed after Redis came back empty", policy)
			if policy != "open" {
				assert.Zero(t, during, "failure=%s: allowed while Redis was dead", policy)
			}
		})
	}
}

// TestSentinelFailover is the failover row: a master, a replica
// and a Sentinel; 5 logins on the master while its replication stream is
// lost (the replica replicates through a proxy that drops it), then the
// master killed (kill -9) and the replica promoted without them. One
// instance allows 5 in all under memory.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Sentinel failover takes seconds")
	}
	master := storetest.StartRedis(t)
	link := startProxy(t, master.Addr())
	_, port, err := net.SplitHostPort(link.Addr())
	require.NoError(t, err)
	via, err := strconv.Atoi(port)
	require.NoError(t, err)
	replica := storetest.StartReplica(t, &storetest.Redis{Port: via})
	sentinel := storetest.StartSentinels(t, "stress", master, []*storetest.Redis{replica}, 1, 1)[0]
	clk := clock.NewManual(start)
	c := newTally()
	prefix := newPrefix()
	inst := open(t, "redis+sentinel://"+sentinel.Addr()+"/stress", "memory", "timeout=50ms&backoff=1ms", clk, c, prefix)
	warm(t, inst)
	link.drop.Store(true)
	before := flood([]instance{inst}, 1, 5, func(int, int, int) string { return "attacker" })
	require.Equal(t, 5, before, "logins before the failover")
	master.Kill(t)
	during := 0
	require.Eventually(t, func() bool {
		clk.Advance(time.Millisecond)
		during += flood([]instance{inst}, 1, 1, func(int, int, int) string { return "attacker" })
		role, err := replica.TryCLI("ROLE")
		return err == nil && strings.HasPrefix(role, "master")
	}, 30*time.Second, 20*time.Millisecond, "the replica was never promoted")
	require.Eventually(t, func() bool {
		clk.Advance(time.Millisecond)
		_, err := inst.AllowN(inst.ctx, "probe", 1, limit.PerDay(1<<30))
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "no decision by the new master")
	require.Empty(t, replica.CLI(t, "KEYS", prefix+"{attacker}*"), "the promoted replica kept the logins: the row tests nothing")
	after := flood([]instance{inst}, 4, 5, func(int, int, int) string { return "attacker" })
	t.Logf("sentinel failover, failure=memory: %d before, %d during, %d after; %v", before, during, after, c)
	assert.Zero(t, during+after, "logins allowed across the failover, beyond the 5 before it")
}
