package throttled_test

import (
	"context"
	"strconv"
	"testing"

	gthrottled "github.com/throttled/throttled/v2"
	"github.com/throttled/throttled/v2/store/memstore"

	fgthrottled "github.com/floodgate-go/floodgate/adapters/throttled"
)

// BenchmarkLimiter compares the Store with throttled's own memstore
// (unbounded, its default for maxKeys 0; and LRU-capped), through
// throttled's GCRA limiter, over 1024 keys and a quota never reached
// whose keys stay live (each request moves the key's theoretical arrival
// time 3.5 s on), so every request after the first is a get and a
// compare-and-swap.
//
//	go test -run '^$' -bench Limiter -count 6 | tee a.txt; benchstat a.txt
func BenchmarkLimiter(b *testing.B) {
	impls := []struct {
		name string
		new  func(b *testing.B) gthrottled.GCRAStoreCtx
	}{
		{"floodgate", func(b *testing.B) gthrottled.GCRAStoreCtx {
			s := fgthrottled.New()
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"memstore", func(b *testing.B) gthrottled.GCRAStoreCtx {
			s, err := memstore.NewCtx(0)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"memstore-lru", func(b *testing.B) gthrottled.GCRAStoreCtx {
			s, err := memstore.NewCtx(1 << 16)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	for _, impl := range impls {
		rl, err := gthrottled.NewGCRARateLimiterCtx(impl.new(b), gthrottled.RateQuota{MaxRate: gthrottled.PerHour(1 << 10), MaxBurst: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys { // fixture: every key known and far from its limit
			if limited, _, err := rl.RateLimitCtx(ctx, k, 1); limited || err != nil {
				b.Fatalf("%s: RateLimitCtx(%q) = %t, %v; want allowed", impl.name, k, limited, err)
			}
		}
		b.Run("impl="+impl.name+"/op=ratelimit/par=serial", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if limited, _, _ := rl.RateLimitCtx(ctx, keys[i&1023], 1); limited {
					b.Fatal("limited")
				}
				i++
			}
		})
		b.Run("impl="+impl.name+"/op=ratelimit/par=parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if limited, _, _ := rl.RateLimitCtx(ctx, keys[i&1023], 1); limited {
						b.Error("limited")
						return
					}
					i++
				}
			})
		})
	}
}
