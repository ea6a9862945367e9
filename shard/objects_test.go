package shard

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type obj struct {
	n     atomic.Int64
	churn bool
}

func TestObjectsShardSize(t *testing.T) {
	assert.EqualValues(t, unsafe.Sizeof(shardHeader{}), unsafe.Sizeof(objShard[obj]{}), "an Objects shard header has a Table shard header's layout")
	assert.EqualValues(t, 64, unsafe.Sizeof(objShardPadded[obj]{}), "an Objects shard header fills one cache line")
	assert.EqualValues(t, 16, unsafe.Sizeof(objSlot[obj]{}), "an Objects slot is two words")
}

func TestObjectsLoadCreateDelete(t *testing.T) {
	o := NewObjects[obj](Config{Shards: 2})
	mk := func() *obj { return new(obj) }
	for _, h := range []uint64{0, 1, 42, 1 << 63, ^uint64(0)} {
		require.Nil(t, o.Load(h), "Load(%#x) before create", h)
		v, err := o.LoadOrCreate(h, mk)
		require.NoError(t, err, "LoadOrCreate(%#x)", h)
		require.NotNil(t, v)
		again, err := o.LoadOrCreate(h, func() *obj { t.Fatalf("mk called for a known hash %#x", h); return nil })
		require.NoError(t, err)
		assert.Same(t, v, again, "LoadOrCreate(%#x) twice", h)
		assert.Same(t, v, o.Load(h), "Load(%#x) after create", h)
	}
	assert.Equal(t, 5, objectsLen(o))
	assert.True(t, o.Delete(42), "Delete(42) of a known hash")
	assert.False(t, o.Delete(42), "Delete(42) twice")
	assert.Nil(t, o.Load(42), "Load(42) after Delete")
	assert.NotNil(t, o.Load(1<<63), "others survive a delete")
	assert.Equal(t, 4, objectsLen(o))
}

func TestObjectsSweepShrinks(t *testing.T) {
	o := NewObjects[obj](Config{Shards: 1})
	for i := range 10_000 {
		v, err := o.LoadOrCreate(uint64(i)*0x9E3779B97F4A7C15, func() *obj { return new(obj) })
		require.NoError(t, err)
		v.n.Store(int64(i % 2))
	}
	assert.GreaterOrEqual(t, len(o.shards[0].tab.Load().s), 10_000*4/3, "slots after 10k creations")
	assert.Equal(t, 5000, o.Sweep(func(v *obj) bool { return v.n.Load() == 0 }), "Sweep of the even half")
	assert.Equal(t, 5000, objectsLen(o))
	assert.Zero(t, o.shards[0].dead, "tombstones purged by the rebuild")
	assert.Equal(t, 5000, o.Sweep(func(*obj) bool { return true }), "Sweep of the rest")
	assert.Equal(t, minSlots, len(o.shards[0].tab.Load().s), "one sweep shrinks an emptied shard to the minimum")
}

func TestObjectsMaxKeys(t *testing.T) {
	o := NewObjects[obj](Config{Shards: 8, MaxKeys: 16})
	created := 0
	for i := range 1000 {
		if _, err := o.LoadOrCreate(Hash(string(rune(i))), func() *obj { return new(obj) }); err == nil {
			created++
		} else {
			require.ErrorIs(t, err, errFull, "LoadOrCreate beyond the cap")
		}
	}
	assert.LessOrEqual(t, created, 16, "objects admitted under a cap of 16 (2 per shard)")
	assert.Equal(t, created, objectsLen(o))
}

// TestObjectsKeepIdentityAcrossRebuilds: goroutines increment counters
// in a few objects while others create and sweep thousands (growing and
// shrinking the one shard); every increment lands in the object that
// Load returns at the end.
func TestObjectsKeepIdentityAcrossRebuilds(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		t.Run("procs="+string(rune('0'+procs)), func(t *testing.T) {
			prev := runtime.GOMAXPROCS(procs)
			t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
			o := NewObjects[obj](Config{Shards: 1})
			const hot, incs, writers = 4, 2000, 4
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range incs {
						v, err := o.LoadOrCreate(uint64(i%hot)+100, func() *obj { return new(obj) })
						if err != nil {
							panic(err)
						}
						v.n.Add(1)
						if i%4 == 0 {
							_, _ = o.LoadOrCreate(uint64(w*incs+i+1000), func() *obj { return &obj{churn: true} })
						}
					}
				})
			}
			wg.Go(func() {
				for range 50 {
					o.Sweep(func(v *obj) bool { return v.churn })
					runtime.Gosched()
				}
			})
			wg.Wait()
			total := int64(0)
			for h := range uint64(hot) {
				total += o.Load(h + 100).n.Load()
			}
			assert.EqualValues(t, writers*incs, total, "increments that survived")
		})
	}
}

// objectsLen returns the number of objects in o, locking each shard in
// turn.
func objectsLen[T any](o *Objects[T]) int {
	n := 0
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		n += sh.live
		sh.mu.Unlock()
	}
	return n
}
