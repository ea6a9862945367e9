package floodgate

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// TestLeaseShardSize checks that each shard of a Lease fills one 64-byte
// cache line, so that shards locked by different cores do not share one.
func TestLeaseShardSize(t *testing.T) {
	assert.EqualValues(t, 64, unsafe.Sizeof(leaseShard{}), "unsafe.Sizeof(leaseShard{})")
}
