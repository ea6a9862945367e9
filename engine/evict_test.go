package engine_test

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestEvictionReturnsMemory: for every strategy, after a million keys
// (the moving window: 250,000, each a log with one entry) go idle, one
// sweep returns the heap close to where it started: the evicted state is
// garbage and the tables shrink back to their minimum. Window and GCRA
// limits are measured at a small count (the one-word cell: 16-byte
// slots) and at a large one (10^9 per second, the two-word cell: 24-byte
// slots), each at most half a slot of free space per key (plus the
// padding after the last bucket: shard/probe.go).
func TestEvictionReturnsMemory(t *testing.T) {
	small, large := limit.PerSecond(10), limit.PerSecond(1_000_000_000)
	for _, tc := range []struct {
		s         limit.Strategy
		l         limit.Limit
		count     string
		n         int
		maxPerKey float64 // bytes per live key
	}{
		{limit.SlidingWindow, small, "small", 1_000_000, 24.5},
		{limit.FixedWindow, small, "small", 1_000_000, 24.5},
		{limit.GCRA, small, "small", 1_000_000, 24.5},
		{limit.SlidingWindow, large, "large", 1_000_000, 36.5},
		{limit.FixedWindow, large, "large", 1_000_000, 36.5},
		{limit.GCRA, large, "large", 1_000_000, 36.5},
		{limit.MovingWindow, small, "small", 250_000, 160},
	} {
		t.Run("strategy="+tc.s.String()+"/count="+tc.count, func(t *testing.T) {
			n := tc.n
			if testing.Short() {
				n /= 10
			}
			e, c := newEngine(t, tc.s, 0)
			l := tc.l
			keys := make([]string, n)
			for i := range keys {
				keys[i] = "key-" + strconv.Itoa(i)
			}
			e.Allow("warm-up", l) // create the limit's table before the baseline
			base := heapAlloc()
			for _, k := range keys {
				require.True(t, e.Allow(k, l), "Allow(%q) of a new key", k)
			}
			full := heapAlloc()
			require.Equal(t, n+1, e.Len(), "Len() after %d new keys", n)
			perKey := float64(full-base) / float64(n)
			t.Logf("%d keys: %.1f bytes per live key", n, perKey)
			assert.LessOrEqual(t, perKey, tc.maxPerKey, "bytes per live key")

			c.Set(3 * time.Second) // three windows later: everything is idle
			assert.Equal(t, n+1, engine.Sweep(e), "keys evicted")
			assert.Zero(t, e.Len(), "Len() after the sweep")
			after := heapAlloc()
			t.Logf("heap: base %d, full %d, after sweep %d", base, full, after)
			assert.Less(t, int64(after)-int64(base), int64(64<<10), "heap growth left after evicting every key")
			runtime.KeepAlive(keys)
		})
	}
}

// TestEvictionNeverLosesLiveCounts: sweeps that evict thousands of idle
// keys, and rebuild the shards under the hot keys' feet, run while
// goroutines hammer live keys; every live key still gets exactly its
// limit in the window.
func TestEvictionNeverLosesLiveCounts(t *testing.T) {
	for _, s := range []limit.Strategy{limit.FixedWindow, limit.SlidingWindow} {
		t.Run(s.String(), func(t *testing.T) {
			e, c := newEngine(t, s, 0, engine.WithShards(8))
			l := limit.PerHour(200)
			for i := range 20_000 {
				e.Allow("idle-"+strconv.Itoa(i), l)
			}
			c.Set(10 * time.Hour) // the idle keys' windows have expired
			const live = 16
			var allowed [live]atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			swept := make(chan int)
			go func() {
				total := 0
				for i := 0; ; i++ {
					if i >= 3 { // at least three sweeps, however fast the workers are
						select {
						case <-stop:
							swept <- total
							return
						default:
						}
					}
					total += engine.Sweep(e)
					runtime.Gosched()
				}
			}()
			for g := range 8 {
				wg.Go(func() {
					for i := range 600 {
						k := (g + i) % live
						if e.Allow("live-"+strconv.Itoa(k), l) {
							allowed[k].Add(1)
						}
						if i%50 == 0 {
							// New keys force inserts and growth while sweeps shrink.
							e.Allow("churn-"+strconv.Itoa(g)+"-"+strconv.Itoa(i), l)
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			<-swept
			// The first request at 10 h sweeps in the foreground, the
			// sweeper goroutine does the rest: no idle key survives.
			assert.LessOrEqual(t, e.Len(), live+8*12, "live keys left after sweeping")
			for k := range live {
				assert.EqualValues(t, 200, allowed[k].Load(), "live key %d allowed", k)
				assert.False(t, e.Allow("live-"+strconv.Itoa(k), l), "live key %d after its limit", k)
			}
		})
	}
}

// TestForegroundSweepKeepsWindowsExact: with the background sweeper off,
// a clock that jumps far ahead still sees exact answers: the first
// request that notices the jump sweeps first, so a cell's five-bit window
// number is never ambiguous.
func TestForegroundSweepKeepsWindowsExact(t *testing.T) {
	e, c := newEngine(t, limit.FixedWindow, 0)
	l := limit.PerSecond(2)
	for _, at := range []time.Duration{0, 32 * time.Second, 64 * time.Second, 1000 * time.Hour, 1000*time.Hour + 31*time.Second} {
		assert.True(t, allowAt(e, c, at, "k", 1, l).Allowed, "first request at %v", at)
		assert.True(t, allowAt(e, c, at, "k", 1, l).Allowed, "second request at %v", at)
		assert.False(t, allowAt(e, c, at, "k", 1, l).Allowed, "third request at %v", at)
	}
}

// TestBackgroundSweeper runs the real sweeper goroutine in a synctest
// bubble, where time is virtual.
func TestBackgroundSweeper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := engine.New(engine.WithSweepInterval(5 * time.Second))
		l := limit.PerSecond(1)
		for i := range 100 {
			e.Allow("k"+strconv.Itoa(i), l)
		}
		require.Equal(t, 100, e.Len())
		time.Sleep(6*time.Second + time.Millisecond)
		synctest.Wait()
		assert.Zero(t, e.Len(), "idle keys left after the sweeper ran")
		assert.Equal(t, uint64(100), e.Evicted(), "Evicted after the sweeper evicted 100 keys")
		e.Close()
		e.Close() // idempotent
	})
}

// TestEvictedCountsSweeps: Evicted adds up what the sweeps evicted.
func TestEvictedCountsSweeps(t *testing.T) {
	e, c := newEngine(t, limit.SlidingWindow, 0)
	l := limit.PerSecond(1)
	for i := range 10 {
		require.True(t, e.Allow("k"+strconv.Itoa(i), l), "first request of key %d", i)
	}
	require.Zero(t, e.Evicted(), "Evicted before any sweep")
	assert.Equal(t, 10, sweepAt(e, c, time.Minute), "Sweep a minute later")
	assert.Equal(t, uint64(10), e.Evicted(), "Evicted after evicting 10 pairs")
	assert.Zero(t, sweepAt(e, c, 2*time.Minute), "Sweep with nothing left")
	assert.Equal(t, uint64(10), e.Evicted(), "Evicted after an empty sweep")
}
