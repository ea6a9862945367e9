package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
)

// BenchmarkServerCost measures what one decision costs the Redis server:
// b.N single-limit decisions per strategy, from 32 goroutines over 10 000
// keys, against a fresh redis-server, reporting INFO commandstats'
// usec_per_call of EVALSHA as server-µs/call. Redis's own CPU time per
// call is far less noisy than wall time on a shared machine. Run it as
//
//	go test -run '^$' -bench ServerCost -benchtime 100000x -count 5 ./redisstore
//
// and quote the medians.
func BenchmarkServerCost(b *testing.B) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	l := limit.PerHour(1000) // every decision allowed: about ten per key
	for _, strategy := range []string{"sliding-window", "fixed-window", "gcra", "moving-window"} {
		b.Run("strategy="+strategy, func(b *testing.B) {
			r := storetest.StartRedis(b)
			s, err := redisstore.Open("redis://" + r.Addr() + "?timeout=2s&strategy=" + strategy)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			ctx := context.Background()
			if d, err := s.AllowN(ctx, "fixture", 1, l); err != nil || !d.Allowed {
				b.Fatalf("fixture: AllowN = %+v, %v; want allowed, no error", d, err)
			}
			r.CLI(b, "CONFIG", "RESETSTAT")
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			var mu sync.Mutex
			var bad error
			const workers = 32
			for w := range workers {
				wg.Go(func() {
					for i := w; i < b.N; i += workers {
						if d, err := s.AllowN(ctx, keys[i%len(keys)], 1, l); err != nil || !d.Allowed {
							mu.Lock()
							bad = err
							mu.Unlock()
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if bad != nil {
				b.Fatalf("a decision failed or was denied: %v", bad)
			}
			b.ReportMetric(serverUsec(b, r, "evalsha"), "server-µs/call")
		})
	}
}

// serverUsec returns usec_per_call of cmd from INFO commandstats.
func serverUsec(tb testing.TB, r *storetest.Redis, cmd string) float64 {
	tb.Helper()
	for _, line := range strings.Split(r.CLI(tb, "INFO", "commandstats"), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "usec_per_call="); ok {
				u, err := strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatalf("INFO commandstats: %s: %v", line, err)
				}
				return u
			}
		}
	}
	tb.Fatalf("INFO commandstats has no cmdstat_%s", cmd)
	return 0
}
