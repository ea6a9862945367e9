package httplimit

import (
	"net/http"
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

// TestBlockSizes: the allocations of a request fill the size classes
// their comments name, on 64-bit platforms; a field added to one would
// move it to the next class and cost every request the difference.
func TestBlockSizes(t *testing.T) {
	if strconv.IntSize != 64 {
		return // 32-bit strings are smaller: the classes differ
	}
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"headers3", unsafe.Sizeof(headers3{}), 48},
		{"headers3d16", unsafe.Sizeof(headers3d16{}), 64},
		{"headers3d32", unsafe.Sizeof(headers3d32{}), 80},
		{"headerBlock", unsafe.Sizeof(headerBlock{}), 160},
		{"keyEntry48", unsafe.Sizeof(keyEntry48{}), 64},
		{"keyEntry112", unsafe.Sizeof(keyEntry112{}), 128},
		{"addrKey", unsafe.Sizeof(addrKey{}), 128},
	} {
		assert.Equal(t, tc.want, tc.got, tc.name)
	}
}

// TestStorageKeyByAddr: the key the address table returns, first and
// again, is the key built from the request, for every form of address
// and scope; and a second request of a client gets the same string.
func TestStorageKeyByAddr(t *testing.T) {
	m := &setup{keys: newKeyCache()}
	app := &check{scope: "a:"}
	route := &check{scope: "r:GET /items/{id}"}
	long := &check{scope: "l:" + strings.Repeat("9", 80) + "/hour|"}
	for _, addr := range []string{
		"198.51.100.1:40000", "01.2.3.4:80", "1.2.3.4", "[2001:db8:1:2:3:4:5:6]:443", "[::ffff:1.2.3.4]:80",
		"[fe80::1%eth0]:80", "@", "", "not an address|with a bar",
	} {
		for _, ch := range []*check{app, route, long} {
			for _, pattern := range []string{"", "GET /items/{id}"} {
				r := &http.Request{RemoteAddr: addr}
				want := string(m.appendStorageKey(nil, ch, pattern, nil, r, &clientAddr{}))
				first := m.storageKey(ch, pattern, nil, r, &clientAddr{})
				again := m.storageKey(ch, pattern, nil, r, &clientAddr{})
				assert.Equal(t, want, first, "%q %q %q", ch.scope, pattern, addr)
				assert.Equal(t, want, again, "%q %q %q, from the cache", ch.scope, pattern, addr)
				assert.Equal(t, unsafe.StringData(first), unsafe.StringData(again), "%q %q %q: a new string", ch.scope, pattern, addr)
			}
		}
	}
}

// TestStorageKeyByAddrConcurrent: goroutines whose scopes, patterns and
// addresses replace each other in the address table always get their
// own key (run with -race).
func TestStorageKeyByAddrConcurrent(t *testing.T) {
	m := &setup{keys: newKeyCache()}
	chs := []*check{{scope: "a:"}, {scope: "r:GET /"}, {scope: "l:5/minute|"}}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20000 {
				ch := chs[(i+g)%len(chs)]
				r := &http.Request{RemoteAddr: "10.0." + strconv.Itoa((i*7+g)%300) + "." + strconv.Itoa(i%3) + ":80"}
				want := string(m.appendStorageKey(nil, ch, "", nil, r, &clientAddr{}))
				if got := m.storageKey(ch, "", nil, r, &clientAddr{}); got != want {
					t.Errorf("storageKey = %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
