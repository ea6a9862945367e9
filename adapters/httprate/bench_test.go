package httprate_test

import (
	"strconv"
	"testing"
	"time"

	gohttprate "github.com/go-chi/httprate"

	fghttprate "github.com/floodgate-go/floodgate/adapters/httprate"
)

// BenchmarkCounter compares the Counter with httprate's own default
// in-memory counter through what httprate's limiter calls per allowed
// request, Get then Increment, over 1024 keys in one window.
//
//	go test -run '^$' -bench Counter -count 6 | tee a.txt; benchstat a.txt
func BenchmarkCounter(b *testing.B) {
	const window = time.Hour
	impls := []struct {
		name string
		new  func(b *testing.B) gohttprate.LimitCounter
	}{
		{"floodgate", func(b *testing.B) gohttprate.LimitCounter {
			c := fghttprate.New()
			b.Cleanup(func() { _ = c.Close() })
			return c
		}},
		{"httprate-local", func(b *testing.B) gohttprate.LimitCounter {
			return gohttprate.NewLocalLimitCounter(window)
		}},
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	for _, impl := range impls {
		c := impl.new(b)
		c.Config(1<<20, window)
		cur := time.Now().UTC().Truncate(window)
		prev := cur.Add(-window)
		for _, k := range keys { // fixture: every key known
			if err := c.Increment(k, cur); err != nil {
				b.Fatalf("%s: Increment(%q): %v", impl.name, k, err)
			}
		}
		if n, _, _ := c.Get(keys[0], cur, prev); n != 1 {
			b.Fatalf("%s: Get after one Increment = %d, want 1", impl.name, n)
		}
		b.Run("impl="+impl.name+"/op=get+increment/par=serial", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := keys[i&1023]
				_, _, _ = c.Get(k, cur, prev)
				_ = c.Increment(k, cur)
				i++
			}
		})
		b.Run("impl="+impl.name+"/op=get+increment/par=parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					k := keys[i&1023]
					_, _, _ = c.Get(k, cur, prev)
					_ = c.Increment(k, cur)
					i++
				}
			})
		})
	}
}
