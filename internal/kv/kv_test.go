package kv_test

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/kv"
)

const (
	sec    = time.Second
	minute = time.Minute
)

// errFull is the Full error of the KVs of these tests.
var errFull = errors.New("kv test: full")

// newKV returns a KV capped at maxKeys (0: no cap) on a manual clock
// reading start, without a background sweeper, closed at the end of the
// test.
func newKV(t testing.TB, start time.Duration, maxKeys int) (*kv.KV, *clock.Manual) {
	t.Helper()
	c := clock.NewManual(start)
	s := kv.New(kv.Config{Clock: c, MaxKeys: maxKeys, Every: -1, Full: errFull})
	t.Cleanup(func() { s.Close() })
	return s, c
}

// kvStep is one row of a KV scenario: at time at, op runs on key.
type kvStep struct {
	at   time.Duration
	op   string // "get", "set" (SetIfAbsent) or "cas"
	key  string
	old  int64 // cas only
	v    int64 // set, cas: the value to store
	ttl  time.Duration
	ok   bool  // the report wanted
	want int64 // get: the value wanted when ok
}

// runKV plays steps against kv and reports the first failing step by
// index.
func runKV(t *testing.T, kv *kv.KV, steps []kvStep) {
	t.Helper()
	for i, s := range steps {
		switch s.op {
		case "get":
			v, ok := kv.GetAt(s.at, s.key)
			if ok != s.ok || (ok && v != s.want) {
				t.Fatalf("step %d: GetAt(%v, %q) = %d, %v; want %d, %v", i, s.at, s.key, v, ok, s.want, s.ok)
			}
		case "set":
			ok, err := kv.SetIfAbsentAt(s.at, s.key, s.v, s.ttl)
			require.NoError(t, err, "step %d", i)
			if ok != s.ok {
				t.Fatalf("step %d: SetIfAbsentAt(%v, %q, %d, %v) = %v, want %v", i, s.at, s.key, s.v, s.ttl, ok, s.ok)
			}
		case "cas":
			if ok := kv.CompareAndSwapAt(s.at, s.key, s.old, s.v, s.ttl); ok != s.ok {
				t.Fatalf("step %d: CompareAndSwapAt(%v, %q, %d, %d, %v) = %v, want %v", i, s.at, s.key, s.old, s.v, s.ttl, ok, s.ok)
			}
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
	}
}

func TestKVSteps(t *testing.T) {
	t.Run("set, get, cas", func(t *testing.T) {
		kv, _ := newKV(t, 0, 0)
		runKV(t, kv, []kvStep{
			{at: 0, op: "get", key: "a"},
			{at: 0, op: "cas", key: "a", old: 0, v: 1},            // absent: no insert
			{at: 0, op: "get", key: "a"},                          // still absent
			{at: 0, op: "set", key: "a", v: 0, ok: true},          // zero is a value
			{at: 0, op: "get", key: "a", ok: true, want: 0},       //
			{at: 0, op: "set", key: "a", v: 5},                    // present
			{at: 0, op: "cas", key: "a", old: 1, v: 2},            // wrong old
			{at: 0, op: "cas", key: "a", old: 0, v: -7, ok: true}, // any int64
			{at: 0, op: "get", key: "a", ok: true, want: -7},
			{at: 0, op: "cas", key: "a", old: -7, v: math.MaxInt64, ok: true},
			{at: 0, op: "get", key: "a", ok: true, want: math.MaxInt64},
			{at: 0, op: "get", key: "b"}, // keys are apart
		})
	})
	t.Run("expiry", func(t *testing.T) {
		kv, _ := newKV(t, 0, 0)
		runKV(t, kv, []kvStep{
			{at: 10 * sec, op: "set", key: "k", v: 1, ttl: sec, ok: true},
			{at: 11*sec - 1, op: "get", key: "k", ok: true, want: 1},
			{at: 11 * sec, op: "get", key: "k"},                                   // gone at exactly now+ttl
			{at: 11 * sec, op: "cas", key: "k", old: 1, v: 2, ttl: sec},           // expired: absent
			{at: 11 * sec, op: "set", key: "k", v: 3, ttl: 2 * sec, ok: true},     // replaces it
			{at: 12 * sec, op: "cas", key: "k", old: 3, v: 4, ttl: sec, ok: true}, // CAS renews the TTL
			{at: 13*sec - 1, op: "get", key: "k", ok: true, want: 4},
			{at: 13 * sec, op: "get", key: "k"},
			{at: 12 * sec, op: "get", key: "k", ok: true, want: 4}, // an older reading still sees it
			{at: 20 * sec, op: "set", key: "n", v: 9, ok: true},    // ttl 0: never expires
			{at: math.MaxInt64, op: "get", key: "n", ok: true, want: 9},
			{at: 20 * sec, op: "cas", key: "n", old: 9, v: 8, ttl: -1, ok: true},
			{at: math.MaxInt64, op: "get", key: "n", ok: true, want: 8},
			{at: math.MaxInt64 - 1, op: "set", key: "s", v: 1, ttl: minute, ok: true}, // saturates
			{at: math.MaxInt64 - 1, op: "get", key: "s", ok: true, want: 1},
		})
	})
	t.Run("clock before the epoch", func(t *testing.T) {
		kv, _ := newKV(t, 0, 0)
		runKV(t, kv, []kvStep{
			{at: -5 * sec, op: "get", key: "k"}, // a new entry is absent at every time
			{at: -5 * sec, op: "cas", key: "k", old: 0, v: 1},
			{at: -5 * sec, op: "set", key: "k", v: 1, ttl: sec, ok: true},
			{at: -4*sec - 1, op: "get", key: "k", ok: true, want: 1},
			{at: -4 * sec, op: "get", key: "k"},
		})
	})
	t.Run("clock-based calls", func(t *testing.T) {
		kv, c := newKV(t, 100*sec, 0)
		ok, err := kv.SetIfAbsent("k", 1, sec)
		require.NoError(t, err)
		assert.True(t, ok, "SetIfAbsent of a new key")
		assert.True(t, kv.CompareAndSwap("k", 1, 2, sec), "CompareAndSwap(1, 2)")
		v, ok := kv.Get("k")
		assert.True(t, ok && v == 2, "Get = %d, %v; want 2, true", v, ok)
		assert.Equal(t, 100*sec, kv.Now())
		c.Advance(sec)
		_, ok = kv.Get("k")
		assert.False(t, ok, "Get after the TTL")
	})
}

func TestKVMaxKeys(t *testing.T) {
	kv, _ := newKV(t, 0, 3)
	for i := range 3 {
		ok, err := kv.SetIfAbsentAt(0, strconv.Itoa(i), 1, sec)
		require.NoError(t, err)
		require.True(t, ok)
	}
	ok, err := kv.SetIfAbsentAt(0, "new", 1, sec)
	assert.ErrorIs(t, err, errFull, "SetIfAbsent of a fourth key under WithMaxKeys(3)")
	assert.False(t, ok)
	assert.False(t, kv.CompareAndSwapAt(0, "new", 0, 1, sec), "CompareAndSwap never inserts")
	// A known key still works at the cap.
	assert.True(t, kv.CompareAndSwapAt(0, "0", 1, 2, sec))
	assert.Equal(t, 3, kv.Len())
	// Once swept, the cap has room again.
	assert.Equal(t, 3, kv.SweepAt(sec), "SweepAt(1s) of three entries expiring at 1s")
	assert.Equal(t, 0, kv.Len())
	ok, err = kv.SetIfAbsentAt(sec, "new", 1, sec)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestKVSweep(t *testing.T) {
	kv, _ := newKV(t, 0, 0)
	for i := range 100 {
		ttl := sec
		if i%2 == 0 {
			ttl = 0 // never
		}
		ok, err := kv.SetIfAbsentAt(0, strconv.Itoa(i), int64(i), ttl)
		require.NoError(t, err)
		require.True(t, ok)
	}
	assert.Equal(t, 0, kv.SweepAt(sec-1), "SweepAt before any expiry")
	assert.Equal(t, 50, kv.SweepAt(sec), "SweepAt the expiry of half the keys")
	assert.Equal(t, 50, kv.Len())
	for i := range 100 {
		v, ok := kv.GetAt(sec, strconv.Itoa(i))
		if i%2 == 0 {
			assert.True(t, ok && v == int64(i), "GetAt(%d) = %d, %v after the sweep", i, v, ok)
		} else {
			assert.False(t, ok, "GetAt(%d) of a swept key", i)
		}
	}
	// A swept key is set again as new.
	ok, err := kv.SetIfAbsentAt(sec, "1", 7, sec)
	require.NoError(t, err)
	assert.True(t, ok)
	v, ok := kv.GetAt(sec, "1")
	assert.True(t, ok && v == 7)
}

// TestKVBackgroundSweeper runs the real sweeper goroutine in a synctest
// bubble: expired entries go within one interval, and Close stops it.
func TestKVBackgroundSweeper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clock.NewManual(0)
		kv := kv.New(kv.Config{Clock: c, Every: time.Second})
		defer kv.Close()
		ok, err := kv.SetIfAbsent("k", 1, 500*time.Millisecond)
		require.NoError(t, err)
		require.True(t, ok)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		assert.Equal(t, 1, kv.Len(), "Len before the manual clock passes the TTL")
		c.Advance(time.Second)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 0, kv.Len(), "Len one sweep interval after the TTL")
	})
}

// TestKVConcurrentCAS hammers a few keys with read-CAS loops and a
// sweeper: every successful CompareAndSwap adds one, so the final values
// must equal the successes (no lost update), under varying goroutines and
// GOMAXPROCS.
func TestKVConcurrentCAS(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		for _, workers := range []int{2, 8} {
			t.Run(fmt.Sprintf("procs=%d/workers=%d", procs, workers), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				kv, _ := newKV(t, 0, 0)
				const keys, per = 3, 2000
				var wg sync.WaitGroup
				done := make(chan struct{})
				go func() { // a sweeper that never finds anything expired
					for {
						select {
						case <-done:
							return
						default:
							kv.SweepAt(0)
							runtime.Gosched()
						}
					}
				}()
				for w := range workers {
					wg.Go(func() {
						for i := range per {
							key := strconv.Itoa((w + i) % keys)
							for {
								v, ok := kv.GetAt(0, key)
								if !ok {
									if set, err := kv.SetIfAbsentAt(0, key, 1, 0); err == nil && set {
										break
									}
									continue
								}
								if kv.CompareAndSwapAt(0, key, v, v+1, 0) {
									break
								}
							}
						}
					})
				}
				wg.Wait()
				close(done)
				var sum int64
				for k := range keys {
					v, ok := kv.GetAt(0, strconv.Itoa(k))
					require.True(t, ok)
					sum += v
				}
				assert.Equal(t, int64(workers*per), sum, "sum of the values after %d successful increments", workers*per)
			})
		}
	}
}

// TestKVConcurrentExpiry races writers that renew keys near their expiry
// against a sweeper at the same instant: a write that reported success
// is never lost to the sweep.
func TestKVConcurrentExpiry(t *testing.T) {
	kv, _ := newKV(t, 0, 0)
	const rounds = 300
	for r := range rounds {
		now := time.Duration(r) * sec
		var wg sync.WaitGroup
		var set [4]bool
		for w := range 4 {
			wg.Go(func() {
				ok, err := kv.SetIfAbsentAt(now, "k"+strconv.Itoa(w), int64(r), sec)
				set[w] = err == nil && ok
			})
		}
		wg.Go(func() { kv.SweepAt(now) })
		wg.Wait()
		for w := range 4 {
			require.True(t, set[w], "round %d: SetIfAbsentAt of a key expiring now", r)
			v, ok := kv.GetAt(now, "k"+strconv.Itoa(w))
			require.True(t, ok && v == int64(r), "round %d: GetAt = %d, %v after a successful set", r, v, ok)
		}
	}
}

func TestKVAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("AllocsPerRun")
	}
	kv, _ := newKV(t, 0, 0)
	ok, err := kv.SetIfAbsentAt(0, "known", 1, sec)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = kv.SetIfAbsentAt(0, "renewed", 1, sec)
	require.NoError(t, err)
	require.True(t, ok)
	var v int64 = 1
	at := time.Duration(0)
	for name, f := range map[string]func(){
		"GetAt":                    func() { kv.GetAt(0, "known") },
		"GetAt/unknown":            func() { kv.GetAt(0, "unknown") },
		"SetIfAbsentAt/present":    func() { _, _ = kv.SetIfAbsentAt(0, "known", 1, sec) },
		"SetIfAbsentAt/expired":    func() { at += 2 * sec; _, _ = kv.SetIfAbsentAt(at, "renewed", 1, sec) },
		"CompareAndSwapAt":         func() { kv.CompareAndSwapAt(0, "known", v, v+1, sec); v++ },
		"CompareAndSwapAt/unknown": func() { kv.CompareAndSwapAt(0, "unknown", 1, 2, sec) },
	} {
		if got := testing.AllocsPerRun(100, f); got != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, got)
		}
	}
}

func BenchmarkKV(b *testing.B) {
	kv, _ := newKV(b, 0, 0)
	const keys = 1024
	names := make([]string, keys)
	for i := range names {
		names[i] = "key:" + strconv.Itoa(i)
		ok, err := kv.SetIfAbsentAt(0, names[i], 0, 0)
		require.NoError(b, err)
		require.True(b, ok)
	}
	b.Run("op=get/par=serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			kv.GetAt(0, names[i%keys])
			i++
		}
	})
	b.Run("op=get+cas/par=serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := names[i%keys]
			v, _ := kv.GetAt(0, k)
			kv.CompareAndSwapAt(0, k, v, v+1, time.Minute)
			i++
		}
	})
	b.Run("op=get+cas/par=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				k := names[i%keys]
				v, _ := kv.GetAt(0, k)
				kv.CompareAndSwapAt(0, k, v, v+1, time.Minute)
				i++
			}
		})
	})
}

func ExampleKV() {
	kv := kv.New(kv.Config{MaxKeys: 1 << 20})
	defer kv.Close()
	// A value that lives a minute, then changed only by whoever read it.
	set, _ := kv.SetIfAbsent("tat:alice", 100, time.Minute)
	again, _ := kv.SetIfAbsent("tat:alice", 200, time.Minute)
	v, _ := kv.Get("tat:alice")
	swapped := kv.CompareAndSwap("tat:alice", v, v+10, time.Minute)
	stale := kv.CompareAndSwap("tat:alice", v, v+20, time.Minute)
	v, ok := kv.Get("tat:alice")
	fmt.Println(set, again, swapped, stale, v, ok)
	// Output:
	// true false true false 110 true
}
