package shard

import (
	"hash/maphash"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShardSize(t *testing.T) {
	assert.EqualValues(t, 64, unsafe.Sizeof(shardPadded{}), "a shard header fills one cache line")
	assert.EqualValues(t, 16, unsafe.Sizeof(slot{}), "a slot is two words")
}

// TestHashIsSeededAndStable fails for an unseeded hash (Hash would then
// equal xxhash's, or ignore the process seed) and for an unstable one.
func TestHashIsSeededAndStable(t *testing.T) {
	other := maphash.MakeSeed()
	for _, key := range []string{"", " ", "192.0.2.1", "192.0.2.2", "user:42"} {
		t.Run("key="+key, func(t *testing.T) {
			h := Hash(key)
			assert.Equal(t, h, Hash(key), "Hash(%q) twice", key)
			assert.Equal(t, maphash.String(seed, key), h, "Hash(%q) against maphash under the process seed", key)
			assert.NotEqual(t, maphash.String(other, key), h, "Hash(%q) unchanged under another seed", key)
			assert.NotEqual(t, xxhash.Sum64String(key), h, "Hash(%q) equals the unseeded xxhash", key)
		})
	}
	assert.NotEqual(t, Hash("192.0.2.1"), Hash("192.0.2.2"))
}

func TestGetAndDelete(t *testing.T) {
	tb := New(Config{Shards: 2})
	for _, h := range []uint64{0, 1, 42, 1 << 63, ^uint64(0)} {
		require.Nil(t, tb.Find(h), "Find(%#x) before insert", h)
		c, v, err := tb.Get(h)
		require.NoError(t, err, "Get(%#x)", h)
		assert.Zero(t, v, "Get(%#x) of a new key: a new cell holds 0", h)
		require.True(t, c.CompareAndSwap(0, h), "CompareAndSwap(0, %#x) on a new cell", h)
		assert.Same(t, c, tb.Find(h), "Find(%#x) after insert", h)
		got, ok := c.Load()
		assert.True(t, ok, "Load of a live cell reports true")
		assert.Equal(t, h&valueMask, got, "Load after CompareAndSwap(0, %#x): bit 63 is never stored", h)
	}
	// Hashes 0 and 2 share the fingerprint 2 by design (documented).
	assert.Same(t, tb.Find(0), tb.Find(2))
	assert.Same(t, tb.Find(1), tb.Find(3))
	assert.Equal(t, 5, tb.Len())
	c := tb.Find(42)
	assert.True(t, tb.Delete(42))
	assert.False(t, tb.Delete(42))
	assert.Nil(t, tb.Find(42))
	assert.NotNil(t, tb.Find(1<<63), "others survive a delete")

	// The deleted cell is retired: callers can neither read it as live nor
	// write it, whatever value they pass.
	v, ok := c.Load()
	assert.False(t, ok, "Load of a deleted cell reports %d, true", v)
	assert.False(t, c.CompareAndSwap(42, 7), "CompareAndSwap(42, 7) on a deleted cell")
	assert.False(t, c.CompareAndSwap(42|frozen, 7), "CompareAndSwap with bit 63 set on a deleted cell")
	_, ok = (*Cell)(nil).Load()
	assert.False(t, ok, "Load of a nil Cell reports true")
}

// TestNoLostUpdatesAcrossRebuilds hammers compare-and-swap increments on
// a few cells while other goroutines insert thousands of keys (forcing
// growth) and sweep them away (forcing shrinking): every increment must
// survive the moves.
func TestNoLostUpdatesAcrossRebuilds(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		t.Run("procs="+string(rune('0'+procs)), func(t *testing.T) {
			prev := runtime.GOMAXPROCS(procs)
			t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
			tb := New(Config{Shards: 1}) // one shard: every insert rebuilds under the hot keys
			const hot, incs, writers = 4, 2000, 4
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range incs {
						h := uint64(1000 + (w+i)%hot)
						c := tb.Find(h)
						for {
							v, ok := c.Load()
							if !ok {
								var err error
								if c, v, err = tb.Get(h); !assert.NoError(t, err, "Get(%d)", h) {
									return
								}
							}
							if c.CompareAndSwap(v, v+1) {
								break
							}
						}
					}
				})
			}
			wg.Go(func() {
				for round := range 20 {
					for i := range 500 {
						h := uint64(1)<<40 + uint64(round*1000+i)
						if _, _, err := tb.Get(h); !assert.NoError(t, err, "Get(%d)", h) {
							return
						}
					}
					// Evict the filler (cell 0), keep the hot cells.
					tb.Sweep(func(v uint64) bool { return v == 0 })
				}
			})
			wg.Wait()
			total := uint64(0)
			for i := range hot {
				c := tb.Find(uint64(1000 + i))
				require.NotNil(t, c, "Find(%d) of a hot key", 1000+i)
				v, ok := c.Load()
				require.True(t, ok, "Load of hot key %d", 1000+i)
				total += v
			}
			assert.EqualValues(t, writers*incs, total, "increments that survived")
		})
	}
}

func TestSweepShrinksAndPurges(t *testing.T) {
	tb := New(Config{Shards: 1})
	for i := range 10_000 {
		c, _, err := tb.Get(uint64(i) * 0x9E3779B97F4A7C15)
		require.NoError(t, err)
		require.True(t, c.CompareAndSwap(0, uint64(i%2)))
	}
	grown := len(tb.shards[0].tab.Load().s)
	assert.GreaterOrEqual(t, grown, 10_000*growDen/growNum, "slots after 10k inserts")
	assert.Equal(t, 5000, tb.Sweep(func(v uint64) bool { return v == 0 }))
	assert.Equal(t, 5000, tb.Len())
	assert.Zero(t, tb.shards[0].dead, "tombstones purged by the rebuild")
	assert.Equal(t, 5000, tb.Sweep(func(uint64) bool { return true }))
	assert.Equal(t, shapeFor(0).slots(), len(tb.shards[0].tab.Load().s), "an empty shard shrinks to the minimum")
}

func TestMaxKeys(t *testing.T) {
	tb := New(Config{Shards: 8, MaxKeys: 16})
	inserted := 0
	for i := range 1000 {
		if _, _, err := tb.Get(Hash(string(rune(i)))); err == nil {
			inserted++
		} else {
			require.ErrorIs(t, err, errFull)
		}
	}
	assert.LessOrEqual(t, inserted, 16, "keys admitted under a cap of 16 (2 per shard)")
	assert.Equal(t, inserted, tb.Len())
}

// BenchmarkHash measures the cost of the seeded hash against the
// alternatives: unseeded xxhash (which an attacker can aim at one shard)
// and xxhash seeded through its Digest.
func BenchmarkHash(b *testing.B) {
	const key = "203.0.113.195:login"
	var sink uint64
	for _, tc := range []struct {
		name string
		f    func(string) uint64
	}{
		{"hash=maphash-seeded", Hash},
		{"hash=xxhash-unseeded", xxhash.Sum64String},
		{"hash=xxhash-seeded", func(s string) uint64 {
			d := xxhash.NewWithSeed(0x9E3779B97F4A7C15)
			d.WriteString(s)
			return d.Sum64()
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink += tc.f(key)
			}
		})
	}
	_ = sink
}

func BenchmarkFind(b *testing.B) {
	tb := New(Config{})
	h := Hash("hot")
	if _, _, err := tb.Get(h); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if tb.Find(h) == nil {
			b.Fatal("Find lost the key")
		}
	}
}
