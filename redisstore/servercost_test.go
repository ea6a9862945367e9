package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/redis/rueidis"
)

// BenchmarkServerCost measures what one decision costs the Redis server:
// b.N single-limit decisions per strategy, from 32 goroutines over 10 000
// keys, against a fresh redis-server, reporting INFO commandstats'
// usec_per_call of EVALSHA as server-µs/call. Redis's own CPU time per
// call is far less noisy than wall time on a shared machine. Run it as
//
//	go test -run '^$' -bench ServerCost -benchtime 100000x -count 5 ./redisstore
//
// and quote the medians. strategy=reference is the floor to compare
// with: a script of INCR and PEXPIRE, run the same way.
func BenchmarkServerCost(b *testing.B) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	l := limit.PerHour(1000) // every decision allowed: about ten per key
	for _, strategy := range []string{"reference", "sliding-window", "fixed-window", "gcra", "moving-window"} {
		b.Run("strategy="+strategy, func(b *testing.B) {
			r := storetest.StartRedis(b)
			ctx := context.Background()
			allow := referenceAllow(b, r)
			if strategy != "reference" {
				s, err := redisstore.Open("redis://" + r.Addr() + "?timeout=2s&strategy=" + strategy)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				allow = func(key string) error {
					d, err := s.AllowN(ctx, key, 1, l)
					if err == nil && !d.Allowed {
						err = fmt.Errorf("AllowN(%q) = %+v, want allowed", key, d)
					}
					return err
				}
			}
			if err := allow("fixture"); err != nil {
				b.Fatalf("fixture: %v", err)
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
						if err := allow(keys[i%len(keys)]); err != nil {
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
				b.Fatalf("a decision failed: %v", bad)
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

// referenceAllow returns a decision of the cheapest useful kind: a script
// that counts with INCR and sets a TTL with PEXPIRE.
func referenceAllow(b *testing.B, r *storetest.Redis) func(key string) error {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.Addr()}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	incr := rueidis.NewLuaScript("local v = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], 60000) return v")
	return func(key string) error {
		return incr.Exec(context.Background(), c, []string{key}, nil).Error()
	}
}
