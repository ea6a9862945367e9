package sethvargo_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	golimiter "github.com/sethvargo/go-limiter"
	"github.com/sethvargo/go-limiter/memorystore"

	"github.com/floodgate-go/floodgate/adapters/sethvargo"
)

// BenchmarkStore compares the adapter on Floodgate's in-memory engine
// with go-limiter's own memorystore, through Take, over 1024 keys and a
// limit that the benchmark never reaches.
//
//	go test -run '^$' -bench . -count 6 | tee a.txt; benchstat a.txt
func BenchmarkStore(b *testing.B) {
	const tokens, interval = 1 << 28, time.Hour
	impls := []struct {
		name string
		new  func(b *testing.B) golimiter.Store
	}{
		{"floodgate", func(b *testing.B) golimiter.Store {
			s, err := sethvargo.Open("memory://", &sethvargo.Config{Tokens: tokens, Interval: interval})
			if err != nil {
				b.Fatalf("sethvargo.Open: %v", err)
			}
			return s
		}},
		{"sethvargo-memorystore", func(b *testing.B) golimiter.Store {
			s, err := memorystore.New(&memorystore.Config{Tokens: tokens, Interval: interval})
			if err != nil {
				b.Fatalf("memorystore.New: %v", err)
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
		s := impl.new(b)
		b.Cleanup(func() { _ = s.Close(ctx) })
		for _, k := range keys { // fixture: every key known and far from its limit
			if _, _, _, ok, err := s.Take(ctx, k); !ok || err != nil {
				b.Fatalf("%s: Take(%q) = %t, %v; want ok", impl.name, k, ok, err)
			}
		}
		b.Run("impl="+impl.name+"/op=take/par=serial", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, _, _, ok, _ := s.Take(ctx, keys[i&1023]); !ok {
					b.Fatal("denied")
				}
				i++
			}
		})
		b.Run("impl="+impl.name+"/op=take/par=parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, _, _, ok, _ := s.Take(ctx, keys[i&1023]); !ok {
						b.Error("denied")
						return
					}
					i++
				}
			})
		})
	}
}
