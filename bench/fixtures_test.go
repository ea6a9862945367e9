package bench

import (
	"flag"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// unreachable is the limit of every allow workload: each column takes the
// largest limit it can express (see adapters.go), so that a denial is a
// wrong answer.
var unreachable = Spec{Unreachable: true}

// exhausted is the limit of the deny workload: one request per hour.
var exhausted = Spec{Count: 1, Window: time.Hour}

// quick reports whether the run is a smoke run (-short, or -benchtime=Nx
// with N ≤ 10, as .ci/run's -benchtime=1x), in which the memory-heavy
// fixtures shrink tenfold.
func quick() bool {
	if testing.Short() {
		return true
	}
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return false
	}
	v := f.Value.String()
	if !strings.HasSuffix(v, "x") {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v, "x"))
	return err == nil && n <= 10
}

// numKeys is the key count of the many-key workloads: BENCH_KEYS when set,
// else 1,000,000, or 100,000 in a smoke run.
func numKeys(b *testing.B) int {
	if s := os.Getenv("BENCH_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_KEYS=%q: want a positive integer", s)
		}
		return n
	}
	if quick() {
		return 100_000
	}
	return 1_000_000
}

// keyName returns the i-th distinct key, an IPv4-style client address
// such as "10.3.14.159": the kind of key rate limiters see.
func keyName(i int) string {
	return "10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
}

// freshKeys returns keys i0..i0+n-1 as new strings.
func freshKeys(i0, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = keyName(i0 + i)
	}
	return ks
}

var (
	keysMu    sync.Mutex
	keysCache = map[int][]string{}
)

// sharedKeys returns n keys shared by the workloads that only read them.
func sharedKeys(n int) []string {
	keysMu.Lock()
	defer keysMu.Unlock()
	if ks, ok := keysCache[n]; ok {
		return ks
	}
	ks := freshKeys(0, n)
	keysCache[n] = ks
	return ks
}

// shuffled returns a copy of keys in a random order (fixed seed, so that
// every column sees the same order).
func shuffled(keys []string) []string {
	out := append([]string(nil), keys...)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// zipfSeq returns m key indices drawn from zipf(s=1.1) over n keys.
// Rank 0 is the most frequent; callers map ranks to shuffled keys so that
// the hot keys do not share a prefix.
func zipfSeq(n, m int) []uint32 {
	r := rand.New(rand.NewPCG(3, 4))
	z := rand.NewZipf(r, 1.1, 1, uint64(n-1))
	seq := make([]uint32, m)
	for i := range seq {
		seq[i] = uint32(z.Uint64())
	}
	return seq
}

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// prefill allows every key once and fails the benchmark unless each was
// allowed: the fixture check of the many-key workloads.
func prefill(b *testing.B, l Limiter, keys []string) {
	b.Helper()
	for _, k := range keys {
		if !l.Allow(k) {
			b.Fatalf("fixture: Allow(%q) = false on first sight under an unreachable limit", k)
		}
	}
}

// reportWrong reports wrong answers per call; any non-zero value flags the
// column in RESULTS.md.
func reportWrong(b *testing.B, wrong int64) {
	b.ReportMetric(float64(wrong)/float64(max(b.N, 1)), "wrong/op")
}
