package engine_test

import (
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// snapKeys is the key count of the snapshot benchmarks.
const snapKeys = 1_000_000

// filledSnapEngine returns an engine of strategy s with a snapshot at
// path (written at Close only) and n keys counted under l.
func filledSnapEngine(b *testing.B, s limit.Strategy, path string, n int, l limit.Limit, opts ...engine.Option) (*engine.Engine, []string) {
	b.Helper()
	e := engine.New(append([]engine.Option{engine.WithStrategy(s), engine.WithSnapshot(path, -1, nil)}, opts...)...)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
		if !e.Allow(keys[i], l) {
			b.Fatalf("fixture: Allow(%q) denied", keys[i])
		}
	}
	if got := e.Len(); got != n {
		b.Fatalf("fixture: Len() = %d, want %d", got, n)
	}
	return e, keys
}

// BenchmarkSnapshotWrite writes the snapshot of a million keys, per
// strategy; B/key is the file's size per key.
func BenchmarkSnapshotWrite(b *testing.B) {
	l := limit.PerHour(100)
	for _, s := range allStrategies() {
		b.Run("strategy="+s.String()+"/keys=1M", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "snap")
			e, _ := filledSnapEngine(b, s, path, snapKeys, l)
			b.Cleanup(func() { e.Close() })
			b.ReportAllocs()
			for b.Loop() {
				if err := engine.WriteSnapshot(e); err != nil {
					b.Fatal(err)
				}
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/snapKeys, "B/key")
		})
	}
}

// BenchmarkSnapshotLoad restores a million keys: the time New takes
// with the snapshot, per strategy.
func BenchmarkSnapshotLoad(b *testing.B) {
	l := limit.PerHour(100)
	for _, s := range allStrategies() {
		b.Run("strategy="+s.String()+"/keys=1M", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "snap")
			// A stopped clock, shared by the writer and the readers: on
			// the system clock a GCRA tick (36 s here) could turn while a
			// million keys are filled, and the keys before it would be
			// full buckets again, not written, and Peek one unit higher.
			clk := clock.NewManual(time.Duration(1_765_000_000) * time.Second)
			e, keys := filledSnapEngine(b, s, path, snapKeys, l, engine.WithClock(clk))
			if err := e.Close(); err != nil {
				b.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := engine.New(engine.WithStrategy(s), engine.WithClock(clk), engine.WithSnapshot(path, -1, nil))
				b.StopTimer()
				if got := r.Peek(keys[len(keys)/2], l).Remaining; got != 98 {
					b.Fatalf("restored Peek Remaining = %d, want 98", got)
				}
				if err := r.Close(); err != nil { // rewrites the same state
					b.Fatal(err)
				}
				if err := os.WriteFile(path, data, 0o600); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkSnapshotPause measures the latency of single decisions on
// random keys of a million while another goroutine writes snapshots back
// to back (background=snapshot), against the same decisions with nothing
// else running (background=none) and with a goroutine that only burns
// CPU, touching no engine state (background=spin): what a snapshot adds
// beyond spin is its own, and what spin adds beyond none is the machine's
// contention for cores. It reports the largest latency and the 99th
// percentile as max-ns and p99-ns, and how many decisions waited more
// than 1 ms as over-1ms. The target: no decision waits more than 1 ms
// because of a snapshot (snapshot no worse than spin).
func BenchmarkSnapshotPause(b *testing.B) {
	l := limit.PerHour(1_000_000)
	for _, s := range allStrategies() {
		for _, bg := range []string{"none", "spin", "snapshot"} {
			b.Run("strategy="+s.String()+"/background="+bg, func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "snap")
				e, keys := filledSnapEngine(b, s, path, snapKeys, l)
				b.Cleanup(func() { e.Close() })
				var stop atomic.Bool
				var writes atomic.Int64
				var wg sync.WaitGroup
				switch bg {
				case "snapshot":
					wg.Go(func() {
						for !stop.Load() {
							if err := engine.WriteSnapshot(e); err != nil {
								b.Error(err)
								return
							}
							writes.Add(1)
						}
					})
				case "spin":
					wg.Go(func() {
						buf := make([]byte, 64<<10)
						for i := 0; !stop.Load(); i++ {
							buf[0] = byte(crc32.ChecksumIEEE(buf))
							if i%64 == 63 {
								runtime.Gosched() // as a write yields every 4,096 keys
							}
						}
					})
				}
				var h latencies
				rng := rand.New(rand.NewPCG(1, 2))
				runtime.GC() // the fixture's garbage, not the snapshot's
				b.ReportAllocs()
				for b.Loop() {
					k := keys[rng.IntN(len(keys))]
					t := time.Now()
					e.Allow(k, l)
					h.add(time.Since(t))
				}
				stop.Store(true)
				wg.Wait()
				b.ReportMetric(float64(h.max), "max-ns")
				b.ReportMetric(float64(h.quantile(0.99)), "p99-ns")
				b.ReportMetric(float64(h.over(time.Millisecond)), "over-1ms")
				if bg == "snapshot" {
					b.ReportMetric(float64(writes.Load()), "writes")
				}
			})
		}
	}
}

// latencies is a histogram of durations in 100 ns buckets up to 10 ms,
// with the exact maximum.
type latencies struct {
	n   [100_001]int64
	max time.Duration
}

func (h *latencies) add(d time.Duration) {
	h.max = max(h.max, d)
	h.n[min(int(d/100), len(h.n)-1)]++
}

// over returns how many durations were longer than d (a multiple of
// 100 ns, at most 10 ms).
func (h *latencies) over(d time.Duration) int64 {
	n := int64(0)
	for _, c := range h.n[d/100:] {
		n += c
	}
	return n
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *latencies) quantile(q float64) time.Duration {
	total := int64(0)
	for _, c := range h.n {
		total += c
	}
	want := int64(q * float64(total))
	seen := int64(0)
	for i, c := range h.n {
		if seen += c; seen >= want {
			return time.Duration(i+1) * 100
		}
	}
	return h.max
}

// BenchmarkSnapshotAllowHotKey is BenchmarkAllowHotKey (sliding window)
// with snapshots off and on: the cost of the registry lookup that an
// allowed decision adds when they are on.
func BenchmarkSnapshotAllowHotKey(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run("snapshot="+map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			var opts []engine.Option
			if on {
				opts = append(opts, engine.WithSnapshot(filepath.Join(b.TempDir(), "snap"), -1, nil))
			}
			allowHot(b, engine.New(opts...))
		})
	}
}
