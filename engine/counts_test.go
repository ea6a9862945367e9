package engine_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/limit"
)

// countStep is one row of a Counts scenario: at time at, add n units to
// key (n = 0: only read), then CountsAt(at) must be cur, prev.
type countStep struct {
	at        time.Duration
	key       string
	n         int64
	cur, prev int64
}

func runCounts(t *testing.T, e *engine.Engine, l limit.Limit, steps []countStep) {
	t.Helper()
	for i, s := range steps {
		if s.n != 0 {
			require.True(t, engineinternal.AddAt(e, s.at, s.key, s.n, l), "step %d: AddAt(%v, %q, %d, %v)", i, s.at, s.key, s.n, l)
		}
		if cur, prev := engineinternal.CountsAt(e, s.at, s.key, l); cur != s.cur || prev != s.prev {
			t.Fatalf("step %d: CountsAt(%v, %q, %v) = %d, %d; want %d, %d", i, s.at, s.key, l, cur, prev, s.cur, s.prev)
		}
	}
}

func TestCountsSteps(t *testing.T) {
	l := limit.PerMinute(5)
	t.Run("sliding", func(t *testing.T) {
		e, _ := newEngine(t, limit.SlidingWindow, 0)
		runCounts(t, e, l, []countStep{
			{0, "k", 0, 0, 0},
			{0, "k", 1, 1, 0},
			{30 * sec, "k", 2, 3, 0},
			{59 * sec, "k", 9, 12, 0}, // beyond the limit: Add counts regardless
			{minute, "k", 0, 0, 12},
			{minute + sec, "k", 1, 1, 12},
			{3 * minute, "k", 0, 0, 0}, // two windows on: nothing left
			{3 * minute, "other", 0, 0, 0},
		})
	})
	t.Run("an older reading of a newer cell", func(t *testing.T) {
		e, _ := newEngine(t, limit.SlidingWindow, 0)
		runCounts(t, e, l, []countStep{
			{10 * sec, "k", 2, 2, 0},
			{minute, "k", 3, 3, 2},
			{59 * sec, "k", 0, 2, 0}, // window 0 is still remembered
			{-sec, "k", 0, 2, 0},     // a negative reading is time 0
			{2 * minute, "k", 0, 0, 3},
			{59 * sec, "k", 0, 2, 0}, // no write since: the cell still holds window 0
			{sec, "k", 1, 0, 0},      // counted in the newest window (2), as a request; window 0 is gone
			{2 * minute, "k", 0, 1, 3},
		})
	})
	t.Run("fixed", func(t *testing.T) {
		e, _ := newEngine(t, limit.FixedWindow, 0)
		runCounts(t, e, l, []countStep{
			{0, "k", 4, 4, 0},
			{minute, "k", 0, 0, 4}, // read before any write of window 1
			{minute, "k", 1, 1, 0}, // the fixed window keeps no previous count
		})
	})
	t.Run("saturates", func(t *testing.T) {
		const cellMax = 1<<29 - 1 // the one-word cell's count field
		e, _ := newEngine(t, limit.SlidingWindow, 0)
		runCounts(t, e, l, []countStep{
			{0, "k", cellMax - 1, cellMax - 1, 0},
			{0, "k", 5, cellMax, 0},
			{0, "k", 1 << 62, cellMax, 0},
			{minute, "k", 0, 0, cellMax},
		})
	})
	t.Run("agrees with AllowN", func(t *testing.T) {
		e, c := newEngine(t, limit.SlidingWindow, 0)
		for i := range 5 {
			c.Set(time.Duration(i) * sec)
			require.True(t, e.Allow("k", l))
		}
		cur, prev := engineinternal.CountsAt(e, minute-1, "k", l)
		assert.Equal(t, [2]int64{5, 0}, [2]int64{cur, prev}, "CountsAt after five allowed requests")
		require.True(t, engineinternal.AddAt(e, minute+30*sec, "k", 1, l))
		// 5·(1/2) + 1 = 3.5 → one more of cost 1 fits, not two.
		c.Set(minute + 30*sec)
		assert.True(t, e.Allow("k", l), "Allow at 1m30s after AddAt")
		assert.False(t, e.Allow("k", l), "Allow at 1m30s at the limit")
	})
}

func TestCountsRefused(t *testing.T) {
	l := limit.PerSecond(3)
	for _, s := range []limit.Strategy{limit.GCRA, limit.MovingWindow} {
		t.Run(s.String(), func(t *testing.T) {
			e, _ := newEngine(t, s, 0)
			require.True(t, e.Allow("k", l))
			assert.False(t, engineinternal.AddAt(e, 0, "k", 1, l), "AddAt on a %v engine", s)
			cur, prev := engineinternal.CountsAt(e, 0, "k", l)
			assert.Equal(t, [2]int64{0, 0}, [2]int64{cur, prev}, "CountsAt on a %v engine", s)
		})
	}
	t.Run("invalid", func(t *testing.T) {
		e, _ := newEngine(t, limit.SlidingWindow, 0)
		assert.False(t, engineinternal.AddAt(e, 0, "k", 0, l), "AddAt of 0")
		assert.False(t, engineinternal.AddAt(e, 0, "k", -1, l), "AddAt of -1")
		assert.False(t, engineinternal.AddAt(e, 0, "k", 1, limit.Limit{}), "AddAt under the zero Limit")
		cur, prev := engineinternal.CountsAt(e, 0, "k", limit.Limit{})
		assert.Equal(t, [2]int64{0, 0}, [2]int64{cur, prev})
	})
	t.Run("full", func(t *testing.T) {
		e, _ := newEngine(t, limit.SlidingWindow, 0, engine.WithMaxKeys(1), engine.WithShards(1))
		require.True(t, engineinternal.AddAt(e, 0, "a", 1, l))
		assert.False(t, engineinternal.AddAt(e, 0, "b", 1, l), "AddAt of a second key under WithMaxKeys(1)")
		assert.Equal(t, uint64(1), e.Full())
		assert.True(t, engineinternal.AddAt(e, 0, "a", 1, l), "AddAt of the known key at the cap")
	})
}

// TestCountsConcurrent adds from several goroutines across a window
// boundary and a sweeper: every unit lands in its window.
func TestCountsConcurrent(t *testing.T) {
	e, _ := newEngine(t, limit.SlidingWindow, 0, engine.WithShards(1))
	l := limit.PerSecond(100)
	const workers, per = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				at := time.Duration(i%2) * sec // windows 0 and 1, interleaved
				// Keys come and go so that the shard rebuilds under the adds.
				engineinternal.AddAt(e, at, "k", 1, l)
				engineinternal.AddAt(e, at, "x"+strconv.Itoa(w*per+i), 1, l)
				engineinternal.CountsAt(e, at, "k", l)
			}
		})
	}
	wg.Wait()
	cur, prev := engineinternal.CountsAt(e, sec, "k", l)
	// Readings of window 0 after window 1 began count in window 1.
	assert.Equal(t, int64(workers*per), cur+prev, "units counted in windows 0 and 1, got %d + %d", cur, prev)
	assert.GreaterOrEqual(t, cur, int64(workers*per/2))
}

func TestCountsAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("AllocsPerRun")
	}
	e, _ := newEngine(t, limit.SlidingWindow, 0)
	l := limit.PerMinute(1000)
	require.True(t, engineinternal.AddAt(e, 0, "known", 1, l))
	for name, f := range map[string]func(){
		"CountsAt":         func() { engineinternal.CountsAt(e, sec, "known", l) },
		"CountsAt/unknown": func() { engineinternal.CountsAt(e, sec, "unknown", l) },
		"AddAt":            func() { engineinternal.AddAt(e, sec, "known", 1, l) },
	} {
		if got := testing.AllocsPerRun(100, f); got != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, got)
		}
	}
}

func BenchmarkCounts(b *testing.B) {
	e, _ := newEngine(b, limit.SlidingWindow, 0)
	l := limit.PerMinute(1 << 20)
	const keys = 1024
	names := make([]string, keys)
	for i := range names {
		names[i] = "key:" + strconv.Itoa(i)
		require.True(b, engineinternal.AddAt(e, 0, names[i], 1, l))
	}
	b.Run("op=counts/par=serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			engineinternal.CountsAt(e, sec, names[i%keys], l)
			i++
		}
	})
	b.Run("op=add/par=serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			engineinternal.AddAt(e, sec, names[i%keys], 1, l)
			i++
		}
	})
	b.Run("op=add/par=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				engineinternal.AddAt(e, sec, names[i%keys], 1, l)
				i++
			}
		})
	})
}

// TestCountsHttprate is how adapters/httprate reads and writes: counts
// added at window starts in Unix-epoch engine time, read half a window
// into the next one.
func TestCountsHttprate(t *testing.T) {
	e := engine.New()
	t.Cleanup(func() { e.Close() })
	l := limit.PerMinute(100)
	t0 := 1000 * time.Minute // a window start, in Unix-epoch engine time
	require.True(t, engineinternal.AddAt(e, t0, "ip", 3, l), "AddAt(t0, ip, 3)")
	require.True(t, engineinternal.AddAt(e, t0+time.Minute+time.Second, "ip", 2, l), "AddAt(t0+1m1s, ip, 2)")
	cur, prev := engineinternal.CountsAt(e, t0+time.Minute+30*time.Second, "ip", l)
	assert.Equal(t, [2]int64{2, 3}, [2]int64{cur, prev}, "CountsAt(t0+1m30s, ip): cur, prev")
}
