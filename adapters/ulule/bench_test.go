package ulule_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	limiter "github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/floodgate-go/floodgate/adapters/ulule"
)

// BenchmarkStore compares the adapter on Floodgate's in-memory engine
// with ulule's own default memory store, through ulule's Limiter.Get,
// over 1024 keys and a rate that the benchmark never reaches.
//
//	go test -run '^$' -bench . -count 6 | tee a.txt; benchstat a.txt
func BenchmarkStore(b *testing.B) {
	impls := []struct {
		name string
		new  func(b *testing.B) limiter.Store
	}{
		{"floodgate", func(b *testing.B) limiter.Store {
			s, err := ulule.Open("memory://")
			if err != nil {
				b.Fatalf("ulule.Open: %v", err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"ulule-memory", func(*testing.B) limiter.Store { return memory.NewStore() }},
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	rate := limiter.Rate{Limit: 1 << 28, Period: time.Hour}
	ctx := context.Background()
	for _, impl := range impls {
		lim := limiter.New(impl.new(b), rate)
		for _, k := range keys { // fixture: every key known and far from its limit
			if c, err := lim.Get(ctx, k); err != nil || c.Reached {
				b.Fatalf("%s: Get(%q) = %+v, %v; want not reached", impl.name, k, c, err)
			}
		}
		b.Run("impl="+impl.name+"/op=get/par=serial", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if c, _ := lim.Get(ctx, keys[i&1023]); c.Reached {
					b.Fatal("reached")
				}
				i++
			}
		})
		b.Run("impl="+impl.name+"/op=get/par=parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if c, _ := lim.Get(ctx, keys[i&1023]); c.Reached {
						b.Error("reached")
						return
					}
					i++
				}
			})
		})
	}
}
