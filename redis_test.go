package floodgate_test

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/model"
	"github.com/floodgate-go/floodgate/internal/seam"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var prefixSeq atomic.Int64

// redisURI returns a URI for addrs with a fresh key prefix, the given
// strategy and a budget generous enough for -race on two shared cores.
func redisURI(scheme, addrs string, s limit.Strategy, extra string) string {
	if !strings.Contains(extra, "timeout=") {
		extra += "&timeout=2s"
	}
	return scheme + "://" + addrs + "?strategy=" + s.String() +
		"&prefix=t" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":" + extra
}

func openStore(t *testing.T, uri string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(uri)
	require.NoError(t, err, "redisstore.Open(%q)", uri)
	t.Cleanup(func() { st.Close() })
	return st
}

// clockVar is a clock that reads whichever manual clock it was last
// pointed at: a store built before the suite runs (one that went
// through an outage first) then keeps the time of each sub-test.
type clockVar struct{ p atomic.Pointer[clock.Manual] }

func (c *clockVar) Now() time.Duration { return c.p.Load().Now() }

// TestContract runs the contract suite on every stack that Open builds
// over Redis, each on the suite's clock (WithClock) and also wrapped by
// Observe: the fallback over a Redis that is up, down (failure=memory:
// the backup engine answers every call, on the suite's clock, so the
// exact tables apply; under open and closed nothing counts, see
// TestRedisFailurePolicies) and back after an outage, the lease, and the
// whole stack with an Observer. The memory stacks run in memory_test.go,
// Redis alone in package redisstore.
func TestContract(t *testing.T) {
	r := storetest.StartRedis(t)
	open := func(addr, params string, opts ...floodgate.Option) storetest.Factory {
		return func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
			l, err := floodgate.Open(redisURI("redis", addr, s, params), append(opts, floodgate.WithClock(clk))...)
			require.NoError(t, err)
			t.Cleanup(func() { l.Close() })
			return l
		}
	}
	dead := "127.0.0.1:" + strconv.Itoa(storetest.FreePort(t))
	runStacks(t, "redis", map[string]storetest.Factory{
		"fallback/redis-up": open(r.Addr(), ""),
		"fallback/redis-down": func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
			st := open(dead, "&failure=memory&timeout=20ms")(t, s, clk)
			t.Cleanup(func() { assert.False(t, st.Info().Up, "Info().Up of a fallback whose Redis never answered") })
			return policyAnswers{t, st}
		},
		"fallback/redis-back": afterOutage(t, 2), // runStacks runs each factory alone and observed
		"lease/redis":         open(r.Addr(), "&lease=10"),
		"open/full-stack": func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
			return open(r.Addr(), "&lease=10", floodgate.WithObserver(newSameStore(t, "redis", s)))(t, s, clk)
		},
	})
}

// afterOutage opens, on a Redis of its own, as many stores per strategy
// as runs of the suite have sub-tests (storetest.Stores), each on a clock of its
// own, and takes them all through one outage (Redis killed, every store
// marked down, Redis restarted, every store up again); the Factory it
// returns hands out a fresh one per sub-test, set to the suite's clock.
// A store per sub-test, as every other stack gets: a store's local count
// (an in-memory engine) keeps one high-water window per limit, which a
// sub-test whose clock starts over at T0 would find moved on by another.
func afterOutage(t *testing.T, runs int) storetest.Factory {
	r := storetest.StartRedis(t)
	const backoff = 50 * time.Millisecond
	type outaged struct {
		st floodgate.Store
		cv *clockVar
	}
	pools := map[limit.Strategy][]outaged{}
	ctx := context.Background()
	outage := clock.NewManual(storetest.T0 - time.Hour)
	for _, s := range storetest.Strategies {
		for range runs * storetest.Stores(s) {
			cv := &clockVar{}
			cv.p.Store(outage)
			st, err := floodgate.Open(redisURI("redis", r.Addr(), s, "&timeout=500ms&backoff=50ms"), floodgate.WithClock(cv))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			require.Eventually(t, func() bool { _, err := st.AllowN(ctx, "warm", 1, limit.PerDay(9)); return err == nil },
				5*time.Second, 10*time.Millisecond, "strategy %v: Redis never answered", s)
			pools[s] = append(pools[s], outaged{st, cv})
		}
	}
	r.Kill(t)
	for s, pool := range pools {
		for _, o := range pool {
			for range 10 {
				_, err := o.st.AllowN(ctx, "outage", 1, limit.PerDay(9))
				require.ErrorIs(t, err, floodgate.ErrStorage, "strategy %v with Redis down", s)
			}
			require.False(t, o.st.Info().Up, "strategy %v: ten failures after one success mark the store down", s)
		}
	}
	r.Restart(t)
	for s, pool := range pools {
		for _, o := range pool {
			// Each backoff lets one call try Redis again; the first
			// commands on connections from before the restart may fail.
			ok := 0
			require.Eventually(t, func() bool {
				outage.Advance(backoff)
				if _, err := o.st.AllowN(ctx, "settle", 1, limit.PerDay(1<<20)); err != nil {
					ok = 0
					return false
				}
				ok++
				return ok >= 20
			}, 10*time.Second, time.Millisecond, "strategy %v: no 20 successful calls in a row after restarting Redis", s)
			require.True(t, o.st.Info().Up, "strategy %v after the restart", s)
		}
	}
	var mu sync.Mutex
	return func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
		mu.Lock()
		defer mu.Unlock()
		require.NotEmpty(t, pools[s], "strategy %v: the suite asked for more stores than storetest.Stores said", s)
		o := pools[s][0]
		pools[s] = pools[s][1:]
		o.cv.p.Store(clk)
		return o.st
	}
}

// TestMemoryMatchesRedis runs the same requests at the same Unix-epoch
// instants on the memory engine and on Redis, for every strategy, and
// requires identical Decisions: windows are aligned to the Unix epoch on
// both.
func TestMemoryMatchesRedis(t *testing.T) {
	r := storetest.StartRedis(t)
	storetest.RunSame(t, func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
		m := floodgate.NewMemory(engine.WithStrategy(s), engine.WithClock(clk))
		t.Cleanup(func() { m.Close() })
		return m
	}, func(t *testing.T, s limit.Strategy, _ *clock.Manual) floodgate.Store {
		return openStore(t, redisURI("redis", r.Addr(), s, ""))
	})
}

// TestRedisMatchesModel runs the same random operations, at the same
// times, on the reference model (the engine's semantics, engine/doc.go)
// and on Redis, judging at a manual clock's time carried by the ctx
// (internal/seam), for every strategy, and requires equal Decisions: the
// Lua script and the Go decoding implement the engine's arithmetic.
// Times increase, except that the clock of GCRA and the moving window
// also steps back.
func TestRedisMatchesModel(t *testing.T) {
	r := storetest.StartRedis(t)
	burst := func(l limit.Limit, b int64) limit.Limit {
		l, err := l.WithBurst(b)
		require.NoError(t, err)
		return l
	}
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			limits := []limit.Limit{
				limit.PerSecond(3), limit.PerMinute(7), limit.PerHour(1000),
				limit.MustParse("5/10 seconds"), limit.MustParse("536870911/10 years"),
			}
			if s == limit.GCRA {
				// Bursts matter only to GCRA; elsewhere a limit with a
				// burst is a second name for the same window.
				limits = append(limits, burst(limit.MustParse("3/10 seconds"), 8), burst(limit.PerSecond(10), 2),
					burst(limit.MustParse("7/10 years"), 40))
			}
			m := model.New(s)
			st := openStore(t, redisURI("redis", r.Addr(), s, ""))
			rng := rand.New(rand.NewPCG(1, uint64(s)))
			now := storetest.T0
			clk := clock.NewManual(now)
			ctx := seam.WithClock(context.Background(), clk)
			for i := range 1500 {
				step := time.Duration(rng.IntN(700_000)) * time.Microsecond
				if (s == limit.GCRA || s == limit.MovingWindow) && rng.IntN(10) == 0 {
					step = -3 * step // the clock steps back
				}
				now += step
				key := "k" + strconv.Itoa(rng.IntN(4))
				ls := []limit.Limit{limits[rng.IntN(len(limits))]}
				if rng.IntN(3) == 0 {
					ls = append(ls, limits[rng.IntN(len(limits))])
				}
				n := int64(1 + rng.IntN(3))
				if rng.IntN(20) == 0 {
					n = 9
				}
				var want, got limit.Decision
				var err error
				clk.Set(now)
				if rng.IntN(5) == 0 {
					want = m.Peek(now, key, ls...)
					got, err = st.Peek(ctx, key, ls...)
				} else {
					want = m.AllowN(now, key, n, ls...)
					got, err = st.AllowN(ctx, key, n, ls...)
				}
				require.NoError(t, err, "op %d", i)
				require.Equal(t, want, got, "op %d at T0+%v: key %s n=%d limits %v: model said %+v, Redis %+v",
					i, now-storetest.T0, key, n, ls, want, got)
			}
		})
	}
}

// TestRedisMatchesEngine is TestRedisMatchesModel for the strategies
// that internal/model does not implement (GCRA and the moving window):
// the memory engine is the oracle, on the manual clock that the calls to
// Redis carry, at times whole microseconds apart (Redis's resolution),
// including readings that step back.
func TestRedisMatchesEngine(t *testing.T) {
	r := storetest.StartRedis(t)
	burst := func(l limit.Limit, b int64) limit.Limit {
		l, err := l.WithBurst(b)
		require.NoError(t, err)
		return l
	}
	limits := []limit.Limit{
		limit.PerSecond(3), limit.PerMinute(7), limit.PerHour(1000),
		limit.MustParse("5/10 seconds"), limit.MustParse("7/3 seconds"),
		burst(limit.MustParse("3/10 seconds"), 8), burst(limit.PerSecond(10), 2),
		limit.MustParse("536870911/10 years"), burst(limit.MustParse("7/10 years"), 40),
	}
	for _, s := range []limit.Strategy{limit.GCRA, limit.MovingWindow} {
		for _, multi := range []bool{false, true} {
			t.Run("strategy="+s.String()+"/multi="+strconv.FormatBool(multi), func(t *testing.T) {
				now := storetest.T0
				clk := clock.NewManual(now)
				e := engine.New(engine.WithStrategy(s), engine.WithClock(clk))
				t.Cleanup(func() { e.Close() })
				st := openStore(t, redisURI("redis", r.Addr(), s, ""))
				rng := rand.New(rand.NewPCG(2, uint64(s)))
				ctx := seam.WithClock(context.Background(), clk)
				for i := range 2000 {
					step := time.Duration(rng.IntN(700_000)) * time.Microsecond
					if rng.IntN(10) == 0 {
						step = -3 * step // the clock steps back
					}
					now += step
					key := "k" + strconv.Itoa(rng.IntN(4))
					ls := []limit.Limit{limits[rng.IntN(len(limits))]}
					if multi && rng.IntN(2) == 0 {
						ls = append(ls, limits[rng.IntN(len(limits))])
					}
					n := int64(1 + rng.IntN(3))
					if rng.IntN(20) == 0 {
						n = 9
					}
					var want, got limit.Decision
					var err error
					op := "AllowN"
					clk.Set(now)
					if rng.IntN(5) == 0 {
						op = "Peek"
						want = e.Peek(key, ls...)
						got, err = st.Peek(ctx, key, ls...)
					} else {
						want = e.AllowN(key, n, ls...)
						got, err = st.AllowN(ctx, key, n, ls...)
					}
					require.NoError(t, err, "op %d", i)
					require.Equal(t, want, got, "op %d: %s at T0+%v (%s, n=%d, %v): engine said %+v, Redis %+v",
						i, op, now-storetest.T0, key, n, ls, want, got)
				}
			})
		}
	}
}

// TestRedisManyInstances runs K limiters, each with its own connections,
// on one shared limit: together they allow exactly the limit (for GCRA,
// exactly the burst: a unit drips back every P/L, and over ten years
// none does during the test).
func TestRedisManyInstances(t *testing.T) {
	r := storetest.StartRedis(t)
	decade, err := limit.New(150, limit.MaxPeriod)
	require.NoError(t, err)
	burst50, err := decade.WithBurst(50)
	require.NoError(t, err)
	for _, tc := range []struct {
		s    limit.Strategy
		l    limit.Limit
		want int64
	}{
		{limit.SlidingWindow, limit.PerDay(150), 150},
		{limit.FixedWindow, limit.PerDay(150), 150},
		{limit.MovingWindow, limit.PerDay(150), 150},
		{limit.GCRA, decade, 150},
		{limit.GCRA, burst50, 50},
	} {
		s, l := tc.s, tc.l
		t.Run("strategy="+s.String()+"/burst="+strconv.FormatInt(l.Burst(), 10), func(t *testing.T) {
			uri := redisURI("redis", r.Addr(), s, "")
			const k, perInstance = 4, 4
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for range k {
				lim, err := floodgate.Open(uri)
				require.NoError(t, err)
				t.Cleanup(func() { lim.Close() })
				for range perInstance {
					wg.Go(func() {
						for range 20 {
							d, err := lim.AllowN(context.Background(), "shared", 1, l)
							if !assert.NoError(t, err) {
								return
							}
							if d.Allowed {
								allowed.Add(1)
							}
						}
					})
				}
			}
			wg.Wait()
			assert.Equal(t, tc.want, allowed.Load(), "%d instances × %d goroutines × 20 requests under %v (burst %d)", k, perInstance, l, l.Burst())
		})
	}
}

func TestOpenRedisURIErrors(t *testing.T) {
	for _, uri := range []string{
		"redis://",
		"redis://:6379",
		"redis://localhost?socket_timeout=fast",
		"redis://localhost?socket_timeout=0",
		"redis://localhost?socket_connect_timeout=-1",
		"redis://localhost:0",
		"redis://localhost:notaport",
		"redis://localhost:6379/x",
		"redis://localhost:6379/-1",
		"redis://localhost:6379?timeout=fast",
		"redis://localhost:6379?timeout=-1s",
		"redis://localhost:6379?failure=maybe",
		"redis://localhost:6379?strategy=leaky-bucket",
		"redis://localhost:6379?strategy=GCRA",
		"redis://localhost:6379?strategy=moving_window",
		"redis://localhost:6379?prefix={app}",
		"redis://localhost:6379?pool-size=0",
		"redis://localhost:6379?colour=blue",
		"rediss://:6380",
		"redis+unix://",
		"redis+unix://host/path.sock",
		"redis+sentinel://localhost:26379",
		"redis+sentinel://localhost:26379/",
		"redis+sentinel://localhost/mymaster",
		"redis+sentinel://localhost:26379/a/b",
		"redis+cluster://",
		"redis+cluster://a:7000,b",
		"redis+cluster://a:7000,:7001",
		"redis+cluster://a:7000/1",
		"redis+cluster://a:7000?db=1",
	} {
		t.Run(uri, func(t *testing.T) {
			l, err := floodgate.Open(uri)
			if l != nil {
				l.Close()
			}
			assert.ErrorIs(t, err, floodgate.ErrURI, "Open(%q)", uri)
		})
	}
}

func TestOpenRedisURIForms(t *testing.T) {
	// Each opens at once, without a server, and closes cleanly.
	for _, uri := range []string{
		"redis://127.0.0.1:1",
		"redis://localhost",
		"redis://127.0.0.1:1?socket_timeout=0.05&socket_connect_timeout=2",
		"redis://user:secret@127.0.0.1:1/3?timeout=10ms&backoff=50ms&prefix=app:&failure=open&pool-size=8&dial-timeout=100ms",
		"rediss://127.0.0.1:1",
		"redis+unix:///nonexistent/redis.sock?db=2",
		"redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster?db=1",
		"redis+cluster://127.0.0.1:1,127.0.0.1:2?strategy=fixed-window",
		"redis://127.0.0.1:1?strategy=gcra",
		"redis+cluster://127.0.0.1:1,127.0.0.1:2?strategy=moving-window",
	} {
		t.Run(uri, func(t *testing.T) {
			l, err := floodgate.Open(uri)
			require.NoError(t, err, "Open(%q)", uri)
			require.NoError(t, l.Close())
		})
	}
}

// TestOpenRedisNeverWaits opens a Limiter on a server that accepts
// connections and never answers, with budgets of an hour: Open, which
// must not wait for Redis, returns; an Open that waited would hang the
// test until go test's -timeout.
func TestOpenRedisNeverWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	uri := "redis://" + ln.Addr().String() + "?timeout=1h&dial-timeout=1h"
	l, err := floodgate.Open(uri)
	require.NoError(t, err, "Open(%q)", uri)
	require.NoError(t, l.Close(), "Close")
}

// policyAnswers is a Fallback whose primary is down: every call that
// needs Redis must fail with ErrStorage (a bad request is answered
// without it), and the contract suite then judges the Decisions that the
// failure policy (here the memory backup) returned.
type policyAnswers struct {
	t *testing.T
	floodgate.Store
}

func (p policyAnswers) check(err error) error {
	if err != nil && !errors.Is(err, floodgate.ErrStorage) {
		p.t.Errorf("with Redis down a call returned %v, want an error wrapping ErrStorage", err)
	}
	return nil
}

func (p policyAnswers) AllowN(ctx context.Context, key string, n int64, ls ...limit.Limit) (limit.Decision, error) {
	d, err := p.Store.AllowN(ctx, key, n, ls...)
	return d, p.check(err)
}

func (p policyAnswers) Peek(ctx context.Context, key string, ls ...limit.Limit) (limit.Decision, error) {
	d, err := p.Store.Peek(ctx, key, ls...)
	return d, p.check(err)
}

func (p policyAnswers) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	d, i, err := p.Store.AllowAll(ctx, charges...)
	return d, i, p.check(err)
}

func (p policyAnswers) Reset(ctx context.Context, key string, ls ...limit.Limit) error {
	return p.check(p.Store.Reset(ctx, key, ls...))
}

func (p policyAnswers) Refund(ctx context.Context, key string, n int64, ls ...limit.Limit) error {
	return p.check(p.Store.Refund(ctx, key, n, ls...))
}

// TestRedisFailurePolicies opens a Limiter on a port where no Redis
// listens: each policy decides, every error wraps ErrStorage, and when
// Redis starts on that port it is used without a restart.
func TestRedisFailurePolicies(t *testing.T) {
	storetest.RequireRedis(t)
	l2 := limit.PerDay(2)
	for _, tc := range []struct {
		policy string
		want   func(*testing.T, []limit.Decision)
		after  bool // whether "user" is allowed once Redis is up: not after this instance used 2/day
	}{
		{"open", func(t *testing.T, ds []limit.Decision) {
			assert.True(t, ds[0].Allowed, "fail open: request 0")
			assert.True(t, ds[1].Allowed, "fail open: request 1")
			assert.False(t, ds[2].Allowed, "fail open, store not marked down: the local count denies what this instance alone used")
		}, false},
		{"closed", func(t *testing.T, ds []limit.Decision) {
			for i, d := range ds {
				assert.False(t, d.Allowed, "fail closed: request %d", i)
				assert.Equal(t, 100*time.Millisecond, d.RetryAfter, "fail closed: RetryAfter is the backoff")
			}
		}, true},
		{"memory", func(t *testing.T, ds []limit.Decision) {
			assert.True(t, ds[0].Allowed)
			assert.True(t, ds[1].Allowed)
			assert.False(t, ds[2].Allowed, "memory fallback enforces 2/day")
			assert.EqualValues(t, 1, ds[0].Remaining)
		}, false},
	} {
		t.Run("failure="+tc.policy, func(t *testing.T) {
			port := storetest.FreePort(t)
			var hooked atomic.Int64
			lim, err := floodgate.Open("redis://127.0.0.1:"+strconv.Itoa(port)+"?timeout=2s&backoff=100ms&failure="+tc.policy,
				floodgate.WithErrorHandler(func(error) { hooked.Add(1) }))
			require.NoError(t, err)
			t.Cleanup(func() { lim.Close() })

			ds := make([]limit.Decision, 3)
			for i := range ds {
				ds[i], err = lim.AllowN(context.Background(), "user", 1, l2)
				if i == 2 && tc.policy != "closed" {
					// This instance alone used 2/day: denied by its local count, Redis not asked.
					assert.NoError(t, err, "Allow %d with Redis down, denied by the local count", i)
					continue
				}
				assert.ErrorIs(t, err, floodgate.ErrStorage, "Allow %d with Redis down", i)
				assert.ErrorIs(t, err, floodgate.ErrUnavailable)
			}
			tc.want(t, ds)
			assert.GreaterOrEqual(t, hooked.Load(), int64(2), "every error reaches the hook")

			// Start Redis on that port: the limiter must use it within seconds.
			r := storetest.StartRedisOnPort(t, port)
			_ = r
			require.Eventually(t, func() bool {
				_, err := lim.AllowN(context.Background(), "probe", 1, l2)
				return err == nil
			}, 10*time.Second, 20*time.Millisecond, "Redis started on the port; the limiter did not recover")
			d, err := lim.AllowN(context.Background(), "user", 1, l2)
			require.NoError(t, err)
			assert.Equal(t, tc.after, d.Allowed, "Redis came back empty: allowed only when both it and the local count allow")
		})
	}
}

// TestOpenDeadRedisInfo is the contract-v2 issue's regression: Open of a
// Redis that never answers, with a lease and an Observer, describes the
// Redis store (Kind "redis", Strategy GCRA) through the lease and the
// fallback, reports Up false once the fallback has tripped, and every
// Observation and Health names that store. Open's clock (WithClock)
// times the fallback, so the trip needs no real time.
func TestOpenDeadRedisInfo(t *testing.T) {
	uri := "redis://127.0.0.1:" + strconv.Itoa(storetest.FreePort(t)) + "/0?strategy=gcra&lease=10"
	obs := &observations{}
	st, err := floodgate.Open(uri, floodgate.WithObserver(obs), floodgate.WithClock(clock.NewManual(storetest.T0)),
		floodgate.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err, "Open(%q)", uri)
	t.Cleanup(func() { st.Close() })
	l := limit.PerMinute(100)
	for i := range 4 {
		d, err := st.AllowN(context.Background(), "k", 1, l)
		require.ErrorIs(t, err, floodgate.ErrStorage, "call %d with Redis dead", i)
		assert.True(t, d.Allowed, "call %d: failure=memory, the backup allows", i)
	}
	in := st.Info()
	assert.Equal(t, "redis", in.Kind, "Info().Kind: %+v", in)
	assert.Equal(t, limit.GCRA, in.Strategy, "Info().Strategy: %+v", in)
	assert.False(t, in.Up, "Info().Up after the fallback tripped: %+v", in)
	calls, health := obs.snapshot()
	require.Len(t, calls, 4, "Observations")
	for i, c := range calls {
		assert.Equal(t, "redis", c.Store, "Observation %d: Store", i)
		assert.Equal(t, limit.GCRA, c.Strategy, "Observation %d: Strategy", i)
		assert.True(t, c.Fallback, "Observation %d: answered by the failure policy", i)
	}
	require.Len(t, health, 1, "ObserveHealth calls after the trip")
	assert.Equal(t, floodgate.Health{Store: "redis", Policy: floodgate.FailMemory, Err: health[0].Err}, health[0], "Health")
	assert.ErrorIs(t, health[0].Err, floodgate.ErrUnavailable, "Health.Err")
}
