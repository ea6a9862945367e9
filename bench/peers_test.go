package bench

import (
	"runtime"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// eachImpl runs f as one sub-benchmark per column, named impl=NAME. Floors
// are skipped where they are not meaningful (withFloors false).
func eachImpl(b *testing.B, withFloors bool, f func(b *testing.B, im Impl)) {
	for _, im := range Impls() {
		if im.Floor && !withFloors {
			continue
		}
		b.Run("impl="+im.Name, func(b *testing.B) { f(b, im) })
	}
}

func build(b *testing.B, im Impl, s Spec) Limiter {
	l := im.New(s)
	b.Cleanup(l.Close)
	return l
}

// settle collects garbage before timing starts, so that a column does not
// pay for the collection of the previous column's fixtures.
func settle() { runtime.GC() }

// BenchmarkHotKey: one known key, one goroutine, an unreachable limit.
func BenchmarkHotKey(b *testing.B) {
	eachImpl(b, true, func(b *testing.B, im Impl) {
		const hot = "10.0.0.1"
		s := unreachable
		s.Keys = []string{hot}
		l := build(b, im, s)
		if !l.Allow(hot) {
			b.Fatal("fixture: first Allow of the hot key denied")
		}
		settle()
		b.ReportAllocs()
		var wrong int64
		for b.Loop() {
			if !l.Allow(hot) {
				wrong++
			}
		}
		reportWrong(b, wrong)
	})
}

// BenchmarkHotKeyParallel: one known key from every goroutine.
func BenchmarkHotKeyParallel(b *testing.B) {
	eachImpl(b, true, func(b *testing.B, im Impl) {
		const hot = "10.0.0.1"
		s := unreachable
		s.Keys = []string{hot}
		l := build(b, im, s)
		if !l.Allow(hot) {
			b.Fatal("fixture: first Allow of the hot key denied")
		}
		settle()
		b.ReportAllocs()
		b.ResetTimer()
		var wrong atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			var w int64
			for pb.Next() {
				if !l.Allow(hot) {
					w++
				}
			}
			wrong.Add(w)
		})
		reportWrong(b, wrong.Load())
	})
}

// BenchmarkManyKeys: numKeys keys, all inserted before timing, visited
// sequentially in a random order.
func BenchmarkManyKeys(b *testing.B) {
	n := numKeys(b)
	keys := sharedKeys(n)
	order := shuffled(keys)
	eachImpl(b, true, func(b *testing.B, im Impl) {
		s := unreachable
		s.Keys = keys
		l := build(b, im, s)
		prefill(b, l, keys)
		settle()
		b.ReportAllocs()
		var wrong int64
		i := 0
		for b.Loop() {
			if !l.Allow(order[i]) {
				wrong++
			}
			if i++; i == len(order) {
				i = 0
			}
		}
		reportWrong(b, wrong)
	})
}

// BenchmarkZipfParallel: numKeys keys, all inserted before timing, drawn
// from zipf(s=1.1) by every goroutine.
func BenchmarkZipfParallel(b *testing.B) {
	n := numKeys(b)
	keys := sharedKeys(n)
	byRank := shuffled(keys)
	const seqLen = 1 << 20
	seq := zipfSeq(n, seqLen)
	eachImpl(b, true, func(b *testing.B, im Impl) {
		s := unreachable
		s.Keys = keys
		l := build(b, im, s)
		prefill(b, l, keys)
		b.ReportAllocs()
		var wrong atomic.Int64
		var start atomic.Uint32
		settle()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// Goroutines start far apart in the sequence.
			i := int(start.Add(1)*7919) % seqLen
			var w int64
			for pb.Next() {
				if !l.Allow(byRank[seq[i]]) {
					w++
				}
				if i++; i == seqLen {
					i = 0
				}
			}
			wrong.Add(w)
		})
		reportWrong(b, wrong.Load())
	})
}

// BenchmarkDeny: one exhausted key (1 per hour, already used), one
// goroutine. Every allow is a wrong answer.
func BenchmarkDeny(b *testing.B) {
	eachImpl(b, false, func(b *testing.B, im Impl) {
		const key = "10.0.0.2"
		l := build(b, im, exhausted)
		if !l.Allow(key) || l.Allow(key) {
			b.Fatal("fixture: want one allow, then a deny")
		}
		settle()
		b.ReportAllocs()
		var wrong int64
		for b.Loop() {
			if l.Allow(key) {
				wrong++
			}
		}
		reportWrong(b, wrong)
	})
}

// BenchmarkInsert inserts numKeys distinct new keys into a fresh limiter
// per op. It reports ns/insert and allocs/insert over the timed loop, and
// B/key: the live heap that one limiter holding numKeys keys adds, after a
// GC, measured once before timing with keys that only the limiter keeps
// alive (so a column that stores the key string pays for it).
func BenchmarkInsert(b *testing.B) {
	n := numKeys(b)
	eachImpl(b, false, func(b *testing.B, im Impl) {
		// Memory, untimed.
		before := liveHeap()
		l := im.New(unreachable)
		fresh := freshKeys(0, n)
		prefill(b, l, fresh)
		fresh = nil
		after := liveHeap()
		l.Close()
		bytesPerKey := float64(int64(after)-int64(before)) / float64(n)
		l = nil

		keys := sharedKeys(n)
		b.ReportAllocs()
		var wrong int64
		m0 := mallocs()
		for b.Loop() {
			l := im.New(unreachable)
			for _, k := range keys {
				if !l.Allow(k) {
					wrong++
				}
			}
			l.Close()
		}
		m1 := mallocs()
		inserts := float64(b.N) * float64(n)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/inserts, "ns/insert")
		b.ReportMetric(float64(m1-m0)/inserts, "allocs/insert")
		// Reported after the loop: b.Loop's first call resets the metrics.
		b.ReportMetric(bytesPerKey, "B/key")
		b.ReportMetric(float64(wrong)/inserts, "wrong/op")
	})
}

// BenchmarkChurn: 10·numKeys distinct keys arrive in churnEpochs waves, one
// wave per window (1000 per second each), with eviction on. Columns that
// accept a fake clock run on one that the benchmark moves a window ahead
// after each wave (then calls their sweep); the others (sethvargo, ulule)
// run on real time, sleeping 1.25 windows after each wave while their
// sweepers, set to a quarter window, evict. It reports MB-steady, the
// median of the live heap the limiter adds, sampled after each wave of the
// second half, after the sweep; MB-peak, the largest live heap sampled
// right after a wave, before time moves on; and ns/insert.
func BenchmarkChurn(b *testing.B) {
	n := numKeys(b)
	epochs := 10
	if quick() {
		epochs = 5
	}
	perEpoch := 10 * n / epochs
	eachImpl(b, false, func(b *testing.B, im Impl) {
		b.ReportAllocs()
		var samples, peak []float64
		var wrong, inserted int64
		var busy time.Duration
		for b.Loop() {
			b.StopTimer()
			samples, peak = samples[:0], peak[:0]
			base := liveHeap()
			s := Spec{Count: 1000, Window: time.Second, Evict: true, LRUKeys: 2 * perEpoch}
			if im.Virtual {
				s.Clock = NewVirtualClock()
			}
			l := im.New(s)
			for e := range epochs {
				keys := freshKeys(e*perEpoch, perEpoch)
				b.StartTimer()
				t0 := time.Now()
				for _, k := range keys {
					if !l.Allow(k) {
						wrong++
					}
				}
				busy += time.Since(t0)
				b.StopTimer()
				inserted += int64(len(keys))
				keys = nil
				if e >= epochs/2 {
					peak = append(peak, float64(int64(liveHeap())-int64(base))/1e6)
				}
				if s.Clock != nil {
					s.Clock.Advance(s.Window)
					if sw, ok := l.(Sweeper); ok {
						sw.Sweep()
					}
				} else {
					time.Sleep(s.Window + s.Window/4)
				}
				if e >= epochs/2 {
					samples = append(samples, float64(int64(liveHeap())-int64(base))/1e6)
				}
			}
			l.Close()
			b.StartTimer()
		}
		sort.Float64s(samples)
		b.ReportMetric(samples[len(samples)/2], "MB-steady")
		b.ReportMetric(slices.Max(peak), "MB-peak")
		b.ReportMetric(float64(busy.Nanoseconds())/float64(inserted), "ns/insert")
		b.ReportMetric(float64(wrong)/float64(inserted), "wrong/op")
	})
}
