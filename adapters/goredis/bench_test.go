package goredis_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/floodgate-go/floodgate/adapters/goredis"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// BenchmarkDecide compares the store through go-redis with the store
// through its own rueidis client: AllowN of one limit, 64 goroutines over
// 1,000 keys, on one local redis-server, in one run.
func BenchmarkDecide(b *testing.B) {
	r := startRedis(b)
	c := redis.NewClient(&redis.Options{Addr: r.addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	b.Cleanup(func() { _ = c.Close() })
	viaGoRedis, err := goredis.New(c, "timeout=1s")
	require.NoError(b, err, "goredis.New")
	b.Cleanup(func() { _ = viaGoRedis.Close() })
	viaRueidis, err := redisstore.Open("redis://" + r.addr + "?timeout=1s")
	require.NoError(b, err, "redisstore.Open")
	b.Cleanup(func() { _ = viaRueidis.Close() })

	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	l := limit.PerSecond(limit.MaxCount)
	for _, bc := range []struct {
		name  string
		store *redisstore.Store
	}{{"go-redis", viaGoRedis}, {"rueidis", viaRueidis}} {
		b.Run("client="+bc.name+"/goroutines=64", func(b *testing.B) {
			ctx := context.Background()
			for _, k := range keys {
				d, err := bc.store.AllowN(ctx, k, 1, l)
				require.NoError(b, err, "AllowN(%s) before timing", k)
				require.True(b, d.Allowed, "AllowN(%s) before timing = %+v, want allowed", k, d)
			}
			var next atomic.Uint64
			var failed atomic.Int64
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((64 + procs - 1) / procs) // at least 64 goroutines
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := next.Add(7919)
				for pb.Next() {
					i++
					if _, err := bc.store.AllowN(ctx, keys[i%uint64(len(keys))], 1, l); err != nil {
						failed.Add(1)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			require.Zero(b, failed.Load(), "failed AllowN calls")
		})
	}
}
