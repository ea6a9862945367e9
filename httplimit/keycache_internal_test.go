package httplimit

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyCache: a key is always its bytes, copied, whatever its length;
// a key asked for again is the same string, not a new one.
func TestKeyCache(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"one byte", 1},
		{"typical", 30},
		{"fills the small entry", 48},
		{"just over it", 49},
		{"fills the large entry", 112},
		{"just over it too", 113},
		{"long", 300},
	}
	c := newKeyCache()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(strings.Repeat("k", tc.n-1) + "|")
			want := string(b)
			got := c.key(b)
			first := b[0]
			b[0] = 'X' // the caller's buffer is reused by the next request
			assert.Equal(t, want, got)
			b[0] = first
			again := c.key(b)
			assert.Equal(t, want, again)
			assert.Equal(t, unsafe.StringData(got), unsafe.StringData(again), "the second request of a client reuses its key")
		})
	}
}

// TestKeyCacheEvicts: more keys than slots, each asked for twice in
// turn; every answer is its own key, and a key whose slot another took
// is made again.
func TestKeyCacheEvicts(t *testing.T) {
	c := newKeyCache()
	for round := range 2 {
		for i := range 3 * keySlots {
			k := "i198.51." + strconv.Itoa(i)
			require.Equal(t, k, c.key([]byte(k)), "round %d", round)
		}
	}
}

// TestKeyCacheConcurrent: goroutines asking for overlapping keys, which
// replace each other in their slots, always get their own (run with
// -race).
func TestKeyCacheConcurrent(t *testing.T) {
	c := newKeyCache()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			b := make([]byte, 0, 64)
			for i := range 20000 {
				b = append(b[:0], "r:GET /items|i10.0."...)
				b = strconv.AppendInt(b, int64((i*7+g)%(2*keySlots)), 10)
				if got := c.key(b); got != string(b) {
					t.Errorf("key(%q) = %q", b, got)
					return
				}
			}
		})
	}
	wg.Wait()
}
