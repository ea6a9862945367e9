package shard

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProbeReachesTheEnd: keys whose home is always the last bucket (the
// low 32 bits of their hashes all ones) fill the padding after it, and
// the insert that would take the array's last slot rebuilds it with more
// padding; every key stays findable and the last slot empty.
func TestProbeReachesTheEnd(t *testing.T) {
	tb := New(Config{Shards: 1})
	const n = 100
	for i := range n {
		h := uint64(i)<<32 | (1<<32 - 1)
		_, _, err := tb.Get(h)
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

// TestLoadStaysHigh: while keys arrive, a shard's slots (padding
// excluded) stay between 8/7 and 3/2 (plus a bucket's rounding) per live
// key, so a 16-byte slot costs at most 24 bytes per key, at every count.
func TestLoadStaysHigh(t *testing.T) {
	tb := New(Config{Shards: 1})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= 100_000; i++ {
		_, _, err := tb.Get(rng.Uint64())
		require.NoError(t, err)
		if i < 100 || i%997 != 0 {
			continue
		}
		sh := &tb.shards[0].shardHeader
		slots := int(sh.tab.Load().nb) * bucketSlots
		require.LessOrEqual(t, sh.live*growDen, slots*growNum, "load above 7/8 at %d keys (%d slots)", i, slots)
		require.LessOrEqual(t, slots, sh.live*rebuildDen/rebuildNum+bucketSlots, "load below 2/3 at %d keys (%d slots)", i, slots)
	}
}
