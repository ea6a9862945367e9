package redisstore_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/redis/rueidis"
)

// BenchmarkClientOptions measures the rueidis options that shape
// pipelining (connections per node, a flush delay) under the load of
// BenchmarkAllowN, with one sliding-window limit. Its results chose the
// store's defaults; see docs/scale.md.
func BenchmarkClientOptions(b *testing.B) {
	r := storetest.StartRedis(b)
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	for _, conns := range []int{1, 2, 4} {
		for _, delay := range []time.Duration{0, 20 * time.Microsecond, 100 * time.Microsecond} {
			b.Run("conns="+strconv.Itoa(conns)+"/flush-delay="+delay.String(), func(b *testing.B) {
				c, err := rueidis.NewClient(rueidis.ClientOption{
					InitAddress: []string{r.Addr()}, ForceSingleClient: true, DisableCache: true, DisableRetry: true,
					PipelineMultiplex: map[int]int{1: -1, 2: 1, 4: 2}[conns], MaxFlushDelay: delay,
				})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(c.Close)
				s, err := redisstore.Open("redis://localhost?timeout=1s&prefix=opt:", redisstore.WithClient(c))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				l := limit.PerMinute(limit.MaxCount)
				ctx := context.Background()
				if d, err := s.AllowN(ctx, "fixture", 1, l); err != nil || !d.Allowed {
					b.Fatalf("fixture: AllowN = %+v, %v; want allowed, no error", d, err)
				}
				var next, failed atomic.Int64
				cpu0 := serverCPU(b, r)
				b.ReportAllocs()
				b.SetParallelism(max(1, (benchGoroutines+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if d, err := s.AllowN(ctx, keys[next.Add(1)%benchKeys], 1, l); err != nil || !d.Allowed {
							failed.Add(1)
						}
					}
				})
				b.StopTimer()
				if n := failed.Load(); n > 0 {
					b.Fatalf("%d of %d decisions failed or were denied", n, b.N)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
				b.ReportMetric((serverCPU(b, r)-cpu0).Seconds()*1e6/float64(b.N), "server-cpu-µs/decision")
			})
		}
	}
}

// serverCPU returns the CPU time redis-server has used, user and system,
// from INFO cpu.
func serverCPU(b *testing.B, r *storetest.Redis) time.Duration {
	b.Helper()
	var sum float64
	for _, line := range strings.Split(r.CLI(b, "INFO", "cpu"), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %s: %v", line, err)
			}
			sum += f
		}
	}
	return time.Duration(sum * float64(time.Second))
}
