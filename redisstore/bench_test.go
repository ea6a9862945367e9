package redisstore_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
)

// benchGoroutines and benchKeys are the load of BenchmarkAllowN: 64
// goroutines over 10 000 keys, as in bench/redisbench.
const (
	benchGoroutines = 64
	benchKeys       = 10_000
)

// BenchmarkAllowN measures the store's client side against a real
// redis-server: allocations per decision and decisions/s, for each
// strategy, with one limit and with two (the multi-limit path), and
// Redis's own time per EVALSHA (INFO commandstats usec_per_call).
func BenchmarkAllowN(b *testing.B) {
	r := storetest.StartRedis(b)
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	for _, strategy := range []string{"sliding-window", "fixed-window", "gcra", "moving-window"} {
		for _, limits := range []string{"1", "2"} {
			b.Run("strategy="+strategy+"/limits="+limits, func(b *testing.B) {
				s, err := redisstore.Open("redis://" + r.Addr() + "?timeout=1s&prefix=b" + strategy + limits + ":&strategy=" + strategy)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				// The moving window keeps a member per unit; a minute
				// keeps each set at a busy key's size.
				ls := []limit.Limit{limit.PerMinute(limit.MaxCount)}
				if limits == "2" {
					ls = append(ls, limit.PerHour(limit.MaxCount))
				}
				ctx := context.Background()
				if d, err := s.AllowN(ctx, "fixture", 1, ls...); err != nil || !d.Allowed {
					b.Fatalf("fixture: AllowN = %+v, %v; want allowed, no error", d, err)
				}
				var next atomic.Int64
				var failed atomic.Int64
				r.CLI(b, "CONFIG", "RESETSTAT")
				b.ReportAllocs()
				b.SetParallelism(max(1, (benchGoroutines+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k := keys[next.Add(1)%benchKeys]
						if d, err := s.AllowN(ctx, k, 1, ls...); err != nil || !d.Allowed {
							failed.Add(1)
						}
					}
				})
				b.StopTimer()
				if n := failed.Load(); n > 0 {
					b.Fatalf("%d of %d decisions failed or were denied", n, b.N)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
				b.ReportMetric(evalshaUsec(b, r), "server-µs/call")
				b.ReportMetric(float64(b.N)/float64(calls(b, r, "evalsha")), "decisions/call")
			})
		}
	}
}

// evalshaUsec returns usec_per_call of EVALSHA from INFO commandstats.
func evalshaUsec(b *testing.B, r *storetest.Redis) float64 {
	b.Helper()
	for _, line := range strings.Split(r.CLI(b, "INFO", "commandstats"), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:")
		if !ok {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "usec_per_call="); ok {
				u, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("INFO commandstats: %s: %v", line, err)
				}
				return u
			}
		}
	}
	b.Fatal("INFO commandstats has no cmdstat_evalsha")
	return 0
}
