package engine_test

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// unreachable is a limit no benchmark can exhaust, so every call is allowed.
var unreachable = limit.MustParse("500000000/day")

func strategies() []limit.Strategy {
	return []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA}
}

func allStrategies() []limit.Strategy {
	return append(strategies(), limit.MovingWindow)
}

// BenchmarkFloor is a padded atomic increment: the hardware floor that
// the hot-key target is measured against.
func BenchmarkFloor(b *testing.B) {
	b.ReportAllocs()
	var c struct {
		_ [64]byte
		n atomic.Int64
		_ [56]byte
	}
	for b.Loop() {
		c.n.Add(1)
	}
}

func BenchmarkAllowHotKey(b *testing.B) {
	for _, s := range strategies() {
		b.Run("strategy="+s.String(), func(b *testing.B) {
			allowHot(b, engine.New(engine.WithStrategy(s)))
		})
	}
}

// allowHot runs Allow on one key under an unreachable limit, and closes
// e at the end.
func allowHot(b *testing.B, e *engine.Engine) {
	b.Cleanup(func() { e.Close() })
	if !e.Allow("hot", unreachable) {
		b.Fatal("fixture: first Allow denied")
	}
	b.ReportAllocs()
	for b.Loop() {
		if !e.Allow("hot", unreachable) {
			b.Fatal("Allow denied under an unreachable limit")
		}
	}
}

// BenchmarkAllowNHotKey measures AllowN of cost 1 on one hot key under
// an unreachable daily limit, per strategy, with a count that fits the
// one-word cell (count=small, 5·10^8) and one that takes the wide path
// (count=large, 2^50). A build whose limit package refuses large counts
// skips count=large, so the small path can be compared across versions.
func BenchmarkAllowNHotKey(b *testing.B) {
	for _, s := range allStrategies() {
		for _, c := range []struct {
			name  string
			count int64
		}{{"small", 500_000_000}, {"large", 1 << 50}} {
			b.Run("strategy="+s.String()+"/count="+c.name, func(b *testing.B) {
				l, err := limit.New(c.count, 24*time.Hour)
				if err != nil {
					b.Skipf("limit.New(%d, 24h): %v", c.count, err)
				}
				e := engine.New(engine.WithStrategy(s))
				b.Cleanup(func() { e.Close() })
				if !e.AllowN("hot", 1, l).Allowed {
					b.Fatal("fixture: first AllowN denied")
				}
				b.ReportAllocs()
				for b.Loop() {
					if !e.AllowN("hot", 1, l).Allowed {
						b.Fatal("AllowN denied under an unreachable limit")
					}
				}
			})
		}
	}
}

func BenchmarkAllowHotKeyParallel(b *testing.B) {
	for _, s := range strategies() {
		b.Run("strategy="+s.String(), func(b *testing.B) {
			e := engine.New(engine.WithStrategy(s))
			b.Cleanup(func() { e.Close() })
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e.Allow("hot", unreachable)
				}
			})
		})
	}
}

func BenchmarkAllowDeny(b *testing.B) {
	e := engine.New()
	b.Cleanup(func() { e.Close() })
	l := limit.PerDay(1)
	if !e.Allow("spent", l) || e.Allow("spent", l) {
		b.Fatal("fixture: want one allow then a deny")
	}
	b.ReportAllocs()
	for b.Loop() {
		if e.Allow("spent", l) {
			b.Fatal("Allow allowed an exhausted key")
		}
	}
}

func BenchmarkAllowN(b *testing.B) {
	e := engine.New()
	b.Cleanup(func() { e.Close() })
	two := []limit.Limit{limit.MustParse("500000000/hour"), limit.MustParse("500000000/day")}
	b.ReportAllocs()
	for b.Loop() {
		if !e.AllowN("k", 1, two...).Allowed {
			b.Fatal("AllowN denied under unreachable limits")
		}
	}
}

func BenchmarkAllowManyKeys(b *testing.B) {
	const n = 1 << 20
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}
	e := engine.New(engine.WithSweepInterval(-1))
	b.Cleanup(func() { e.Close() })
	for _, k := range keys {
		e.Allow(k, unreachable)
	}
	if got := e.Len(); got != n {
		b.Fatalf("fixture: Len() = %d after inserting %d keys", got, n)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Allow(keys[i&(n-1)], unreachable)
		i += 7919 // a prime stride visits the keys in scattered order
	}
}

// BenchmarkMovingWindow measures the exact log in its steady state: the
// clock advances Period/Count per request, so each key's log holds Count
// entries, one expiring per request. It reports the heap bytes of one
// full key.
func BenchmarkMovingWindow(b *testing.B) {
	for _, n := range []int64{10, 1000, 100_000} {
		b.Run("limit="+strconv.FormatInt(n, 10), func(b *testing.B) {
			c := clock.NewManual(0)
			e := engine.New(engine.WithClock(c), engine.WithStrategy(limit.MovingWindow), engine.WithSweepInterval(-1))
			b.Cleanup(func() { e.Close() })
			l, err := limit.New(n, 100*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			step := 100 * time.Second / time.Duration(n)
			e.Allow("warm", l)
			before := heapBytes()
			for range n {
				if !e.Allow("k", l) {
					b.Fatal("fixture: denied while filling the log")
				}
				c.Advance(step)
			}
			perKey := float64(heapBytes() - before)
			b.ReportAllocs()
			for b.Loop() {
				if !e.Allow("k", l) {
					b.Fatal("denied in the steady state")
				}
				c.Advance(step)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}

func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
