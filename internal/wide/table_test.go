package wide

import (
	"runtime"
	"strconv"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/shard"
)

func TestShardSize(t *testing.T) {
	assert.EqualValues(t, 64, unsafe.Sizeof(shardPadded{}), "a Table shard header fills one cache line")
	assert.EqualValues(t, 24, unsafe.Sizeof(slot{}), "a Table slot is three words")
}

func TestGetLockDelete(t *testing.T) {
	tb := New(shard.Config{Shards: 2})
	for _, h := range []uint64{0, 1, 42, 1 << 63, ^uint64(0)} {
		assert.Nil(t, tb.Find(h), "Find(%#x) before Get", h)
		c, err := tb.Get(h)
		require.NoError(t, err, "Get(%#x)", h)
		head, tail, ok := c.Lock()
		require.True(t, ok, "Lock of a new cell")
		assert.Zero(t, head, "head of a new cell")
		assert.Zero(t, tail, "tail of a new cell")
		c.Unlock(h, ^h) // the head keeps bits 61..0
		head, tail, ok = tb.Find(h).Lock()
		require.True(t, ok, "Lock after Unlock")
		assert.Equal(t, h&wideMask, head, "head of %#x", h)
		assert.Equal(t, ^h, tail, "tail of %#x", h)
		c.Unlock(head, tail)
	}
	assert.Equal(t, 5, tb.Len())
	c := tb.Find(42)
	assert.True(t, tb.Delete(42), "Delete(42) of a known hash")
	assert.False(t, tb.Delete(42), "Delete(42) twice")
	assert.Nil(t, tb.Find(42), "Find(42) after Delete")
	_, _, ok := c.Lock()
	assert.False(t, ok, "Lock of a deleted cell")
	_, _, ok = (*Cell)(nil).Lock()
	assert.False(t, ok, "Lock of a nil Cell")
	assert.Equal(t, 4, tb.Len())
}

// TestNoLostUpdatesAcrossRebuilds is shard's test of that name for
// two-word cells: increments of both words under the cell's lock
// survive growth, shrinking and evictions of other keys, and no caller
// ever sees the two words out of step.
func TestNoLostUpdatesAcrossRebuilds(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		t.Run("procs="+strconv.Itoa(procs), func(t *testing.T) {
			prev := runtime.GOMAXPROCS(procs)
			t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
			tb := New(shard.Config{Shards: 1}) // every insert rebuilds under the hot keys
			const hot, incs, writers = 4, 2000, 4
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range incs {
						h := uint64(1000 + (w+i)%hot)
						c := tb.Find(h)
						for {
							head, tail, ok := c.Lock()
							if !ok {
								var err error
								if c, err = tb.Get(h); !assert.NoError(t, err, "Get(%d)", h) {
									return
								}
								continue
							}
							if !assert.Equal(t, head, tail>>1, "words of key %d out of step", h) {
								c.Unlock(head, tail)
								return
							}
							c.Unlock(head+1, tail+2)
							break
						}
					}
				})
			}
			wg.Go(func() {
				for round := range 20 {
					for i := range 500 {
						h := uint64(1)<<40 + uint64(round*1000+i)
						if _, err := tb.Get(h); !assert.NoError(t, err, "Get(%d)", h) {
							return
						}
					}
					// Evict the filler (cells 0, 0), keep the hot cells.
					tb.Sweep(func(head, tail uint64) bool { return head == 0 && tail == 0 })
				}
			})
			wg.Wait()
			total := uint64(0)
			for i := range hot {
				head, tail, ok := tb.Find(uint64(1000 + i)).Lock()
				require.True(t, ok, "Lock of hot key %d", 1000+i)
				assert.Equal(t, 2*head, tail, "words of hot key %d", 1000+i)
				total += head
			}
			assert.EqualValues(t, writers*incs, total, "increments that survived")
		})
	}
}

func TestSweepShrinksAndPurges(t *testing.T) {
	tb := New(shard.Config{Shards: 1})
	for i := range 10_000 {
		c, err := tb.Get(uint64(i) * 0x9E3779B97F4A7C15)
		require.NoError(t, err)
		_, _, ok := c.Lock()
		require.True(t, ok)
		c.Unlock(0, uint64(i%2))
	}
	assert.GreaterOrEqual(t, len(tb.shards[0].tab.Load().s), 10_000*growDen/growNum, "slots after 10k inserts")
	assert.Equal(t, 5000, tb.Sweep(func(_, tail uint64) bool { return tail == 0 }))
	assert.Equal(t, 5000, tb.Len())
	assert.Zero(t, tb.shards[0].dead, "tombstones purged by the rebuild")
	assert.Equal(t, 5000, tb.Sweep(func(_, _ uint64) bool { return true }))
	assert.Equal(t, shapeFor(0).slots(), len(tb.shards[0].tab.Load().s), "an empty shard shrinks to the minimum")
}

func TestMaxKeys(t *testing.T) {
	tb := New(shard.Config{Shards: 8, MaxKeys: 16})
	inserted := 0
	for i := range 1000 {
		if _, err := tb.Get(shard.Hash(strconv.Itoa(i))); err == nil {
			inserted++
		} else {
			require.ErrorIs(t, err, errFull)
		}
	}
	assert.LessOrEqual(t, inserted, 16, "keys admitted under a cap of 16 (2 per shard)")
	assert.Equal(t, inserted, tb.Len())
}

// TestProbeReachesTheEnd is shard's test of that name: keys whose home is
// always the last bucket fill the padding, and the insert that would take
// the array's last slot rebuilds it with more padding.
func TestProbeReachesTheEnd(t *testing.T) {
	tb := New(shard.Config{Shards: 1})
	const n = 100
	for i := range n {
		h := uint64(i)<<32 | (1<<32 - 1)
		_, err := tb.Get(h)
		require.NoError(t, err, "Get(%#x)", h)
	}
	for i := range n {
		h := uint64(i)<<32 | (1<<32 - 1)
		assert.NotNil(t, tb.Find(h), "Find(%#x)", h)
	}
	s := tb.shards[0].tab.Load().s
	assert.Zero(t, s[len(s)-1].fp.Load(), "the last slot is empty")
	assert.Equal(t, n, tb.Len())
}
