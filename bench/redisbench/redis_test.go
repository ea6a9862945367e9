package redisbench

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	ulule "github.com/ulule/limiter/v3"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"
)

const (
	goroutines = 64
	numKeys    = 10_000
)

var keys = func() []string {
	k := make([]string, numKeys)
	for i := range k {
		k[i] = "user:" + strconv.Itoa(i)
	}
	return k
}()

// decider makes one decision on key; it reports an error when the
// limiter failed or denied (every limit here is out of reach).
type decider func(ctx context.Context, key string) error

// run drives d from 64 goroutines over the keys and reports decisions/s,
// the p99 latency and the Redis server's CPU time (user + sys, INFO cpu)
// per decision.
func run(b *testing.B, r *storetest.Redis, d decider) {
	ctx := context.Background()
	if err := d(ctx, "fixture-check"); err != nil {
		b.Fatalf("fixture: first decision failed: %v", err)
	}
	b.ReportAllocs()
	b.SetParallelism((goroutines + testingProcs() - 1) / testingProcs())
	var (
		mu   sync.Mutex
		lats []time.Duration
		next atomic.Int64
		errs atomic.Int64
	)
	cpu0 := serverCPU(b, r)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			k := keys[next.Add(1)%numKeys]
			t0 := time.Now()
			if err := d(ctx, k); err != nil {
				errs.Add(1)
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	b.StopTimer()
	elapsed := time.Since(start)
	cpu := serverCPU(b, r) - cpu0
	if n := errs.Load(); n > 0 {
		b.Fatalf("%d of %d decisions failed or were denied", n, b.N)
	}
	slices.Sort(lats)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
	b.ReportMetric(float64(lats[len(lats)*99/100]), "p99-ns")
	b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "redis-cpu-µs/op")
}

// serverCPU returns the CPU time redis-server has used, user + sys, from
// INFO cpu.
func serverCPU(b *testing.B, r *storetest.Redis) time.Duration {
	var total float64
	for _, line := range strings.Split(r.CLI(b, "INFO", "cpu"), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %q: %v", line, err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkRedisSerial is one goroutine deciding one key after another:
// the latency of a lone decision, which coalescing must not raise,
// reported as p50-ns and p99-ns.
func BenchmarkRedisSerial(b *testing.B) {
	r := storetest.StartRedis(b)
	s, err := redisstore.Open("redis://" + r.Addr() + "?prefix=bench:fs:&timeout=1s")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l := limit.PerHour(limit.MaxCount)
	ctx := context.Background()
	if d, err := s.AllowN(ctx, "fixture-check", 1, l); err != nil || !d.Allowed {
		b.Fatalf("fixture: AllowN = %+v, %v; want allowed", d, err)
	}
	b.Run("impl=floodgate", func(b *testing.B) {
		b.ReportAllocs()
		lats := make([]time.Duration, 0, 1<<16)
		i := 0
		for b.Loop() {
			t0 := time.Now()
			d, err := s.AllowN(ctx, keys[i%numKeys], 1, l)
			lats = append(lats, time.Since(t0))
			if err != nil || !d.Allowed {
				b.Fatalf("AllowN = %+v, %v; want allowed", d, err)
			}
			i++
		}
		slices.Sort(lats)
		b.ReportMetric(float64(lats[len(lats)/2]), "p50-ns")
		b.ReportMetric(float64(lats[len(lats)*99/100]), "p99-ns")
	})
}

func testingProcs() int { return max(1, runtimeProcs()) }

func BenchmarkRedis(b *testing.B) {
	r := storetest.StartRedis(b)
	addr := r.Addr()

	b.Run("impl=floodgate", func(b *testing.B) {
		s, err := redisstore.Open("redis://" + addr + "?prefix=bench:fg:&timeout=1s")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		l := limit.PerHour(limit.MaxCount)
		run(b, r, func(ctx context.Context, key string) error {
			d, err := s.AllowN(ctx, key, 1, l)
			if err == nil && !d.Allowed {
				return errDenied
			}
			return err
		})
	})
	b.Run("impl=floodgate-fixed", func(b *testing.B) {
		s, err := redisstore.Open("redis://" + addr + "?prefix=bench:fgf:&strategy=fixed-window&timeout=1s")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		l := limit.PerHour(limit.MaxCount)
		run(b, r, func(ctx context.Context, key string) error {
			d, err := s.AllowN(ctx, key, 1, l)
			if err == nil && !d.Allowed {
				return errDenied
			}
			return err
		})
	})
	b.Run("impl=floodgate-gcra", func(b *testing.B) {
		s, err := redisstore.Open("redis://" + addr + "?prefix=bench:fgg:&strategy=gcra&timeout=1s")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		l := limit.PerHour(limit.MaxCount)
		run(b, r, func(ctx context.Context, key string) error {
			d, err := s.AllowN(ctx, key, 1, l)
			if err == nil && !d.Allowed {
				return errDenied
			}
			return err
		})
	})
	b.Run("impl=floodgate-moving", func(b *testing.B) {
		s, err := redisstore.Open("redis://" + addr + "?prefix=bench:fgm:&strategy=moving-window&timeout=1s")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		// The log grows by one member per decision; a period of one
		// minute keeps each key's set at the size a busy key reaches.
		l := limit.PerMinute(limit.MaxCount)
		run(b, r, func(ctx context.Context, key string) error {
			d, err := s.AllowN(ctx, key, 1, l)
			if err == nil && !d.Allowed {
				return errDenied
			}
			return err
		})
	})
	b.Run("impl=redis_rate", func(b *testing.B) {
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: goroutines})
		defer c.Close()
		lim := redis_rate.NewLimiter(c)
		l := redis_rate.Limit{Rate: limit.MaxCount, Burst: limit.MaxCount, Period: time.Hour}
		run(b, r, func(ctx context.Context, key string) error {
			res, err := lim.Allow(ctx, "bench:rr:"+key, l)
			if err == nil && res.Allowed == 0 {
				return errDenied
			}
			return err
		})
	})
	b.Run("impl=ulule", func(b *testing.B) {
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: goroutines})
		defer c.Close()
		store, err := ulredis.NewStoreWithOptions(c, ulule.StoreOptions{Prefix: "bench:ul", MaxRetry: 3})
		if err != nil {
			b.Fatal(err)
		}
		lim := ulule.New(store, ulule.Rate{Period: time.Hour, Limit: limit.MaxCount})
		run(b, r, func(ctx context.Context, key string) error {
			res, err := lim.Get(ctx, key)
			if err == nil && res.Reached {
				return errDenied
			}
			return err
		})
	})
	b.Run("impl=reference-incr", func(b *testing.B) {
		// The floor of a useful script: INCR and PEXPIRE, through
		// rueidis, one call per decision.
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		s := rueidis.NewLuaScript("local v = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], 3600000) return v")
		run(b, r, func(ctx context.Context, key string) error {
			return s.Exec(ctx, c, []string{"bench:ref:{" + key + "}"}, nil).Error()
		})
	})
	b.Run("impl=ping-rueidis", func(b *testing.B) {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, r, func(ctx context.Context, _ string) error { return c.Do(ctx, c.B().Ping().Build()).Error() })
	})
	b.Run("impl=ping-go-redis", func(b *testing.B) {
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: goroutines})
		defer c.Close()
		run(b, r, func(ctx context.Context, _ string) error { return c.Ping(ctx).Err() })
	})
}

// clientScript is a stand-in for a limiter script: server clock, one
// read, one write with a millisecond TTL.
const clientScript = `
local t = redis.call('TIME')
local v = redis.call('GET', KEYS[1])
local c = 1
if v then c = tonumber(v) + 1 end
redis.call('SET', KEYS[1], c, 'PX', 60000)
return {tonumber(t[1]), c}
`

// BenchmarkClient is the measurement behind redisstore's choice of
// client: the same cached script through rueidis (auto-pipelined) and
// go-redis (a pooled connection per call).
func BenchmarkClient(b *testing.B) {
	r := storetest.StartRedis(b)
	addr := r.Addr()
	b.Run("client=rueidis", func(b *testing.B) {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		s := rueidis.NewLuaScript(clientScript)
		run(b, r, func(ctx context.Context, key string) error {
			return s.Exec(ctx, c, []string{"bench:cl:{" + key + "}"}, nil).Error()
		})
	})
	b.Run("client=go-redis", func(b *testing.B) {
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: goroutines})
		defer c.Close()
		s := goredis.NewScript(clientScript)
		run(b, r, func(ctx context.Context, key string) error {
			return s.Run(ctx, c, []string{"bench:cl:{" + key + "}"}).Err()
		})
	})
}
