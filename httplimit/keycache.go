package httplimit

import (
	"hash/maphash"
	"sync/atomic"
	"unsafe"
)

// keySlots is the number of storage keys each table of a keyCache
// remembers: a power of two. Its two tables of slots take 64 KiB each,
// and the keys they hold at most 4096 times 64 or 128 bytes each.
const keySlots = 4096

// keyCache hands out storage keys: a request builds its key's bytes on
// the stack, and a client seen recently gets the string made for its
// earlier request instead of a new one. That is a string allocation
// fewer per request, and garbage the collector need not sweep, for a hash
// of the key and a comparison.
//
// It is direct-mapped: each key has one slot, chosen by a seeded hash, so
// that a client cannot pick its slot; a key whose slot holds another key
// replaces it. A slot's string is never modified once stored, and a hit
// is a comparison of the whole key, so a key is always the string of
// its bytes whatever the cache holds. Keys go to the store, which may
// keep them: strings are immutable, so sharing one between requests is
// safe.
//
// Its second table serves the default key, the connection's address,
// without building the key at all: it maps a scope (a check), a pattern
// and r.RemoteAddr to the storage key they make, which depends on
// nothing else when no proxies are trusted. A hit costs a hash of the
// address and three comparisons; the address is not parsed, and the key
// is neither built nor hashed.
//
// Each slot keeps the hash that chose it beside its entry: a lookup whose
// hash differs misses without reading the entry, which for a client not
// seen lately (a busy service's many addresses) would be a cache miss of
// its own. The hash only filters; a hit is decided by comparing the
// entry, so a hash and an entry stored at different moments by two
// requests cost at most a miss.
type keyCache struct {
	seed  maphash.Seed
	slots [keySlots]slot[string]
	addrs [keySlots]slot[addrKey]
}

// slot is one entry of a keyCache table and the hash of its key.
type slot[T any] struct {
	hash atomic.Uint64
	p    atomic.Pointer[T]
}

// load returns the entry of s when it was stored under hash h.
func (s *slot[T]) load(h uint64) *T {
	if s.hash.Load() != h {
		return nil
	}
	return s.p.Load()
}

// store makes e the entry of s, under hash h.
func (s *slot[T]) store(h uint64, e *T) {
	s.p.Store(e)
	s.hash.Store(h)
}

// addrKey is the storage key of one scope, pattern and RemoteAddr, with
// the key's bytes in the same allocation when they fit.
type addrKey struct {
	ch      *check
	pattern string
	addr    string
	key     string
	b       [72]byte // 128 bytes in all
}

// addrHash returns the hash of ch, pattern and addr, which chooses their
// slot. Pointers stand for ch and pattern: a check lives as long as an
// entry holds it, and a pattern is usually one string, the declared or
// the router's; a pattern with the same text elsewhere only takes
// another slot.
func (c *keyCache) addrHash(ch *check, pattern, addr string) uint64 {
	h := maphash.String(c.seed, addr)
	h ^= uint64(uintptr(unsafe.Pointer(ch))) * 0x9e3779b97f4a7c15
	h ^= uint64(uintptr(unsafe.Pointer(unsafe.StringData(pattern)))) * 0xc2b2ae3d27d4eb4f
	return h ^ h>>32
}

// byAddr returns the key remembered for ch, pattern and addr, whose hash
// is h.
func (c *keyCache) byAddr(h uint64, ch *check, pattern, addr string) (string, bool) {
	if e := c.addrs[h&(keySlots-1)].load(h); e != nil && e.ch == ch && e.addr == addr && e.pattern == pattern {
		return e.key, true
	}
	return "", false
}

// rememberAddr remembers b as the key of ch, pattern and addr, whose
// hash is h, and returns it as a string: one allocation.
func (c *keyCache) rememberAddr(h uint64, ch *check, pattern, addr string, b []byte) string {
	e := &addrKey{ch: ch, pattern: pattern, addr: addr}
	if len(b) > 0 && len(b) <= len(e.b) {
		n := copy(e.b[:], b)
		e.key = unsafe.String(&e.b[0], n) // e.b is never written again
	} else {
		e.key = string(b)
	}
	c.addrs[h&(keySlots-1)].store(h, e)
	return e.key
}

func newKeyCache() *keyCache { return &keyCache{seed: maphash.MakeSeed()} }

// key returns string(b), from the cache when it holds it.
func (c *keyCache) key(b []byte) string {
	h := maphash.Bytes(c.seed, b)
	s := &c.slots[h&(keySlots-1)]
	if p := s.load(h); p != nil && *p == string(b) { // compared in place, not converted
		return *p
	}
	p := newKey(b)
	s.store(h, p)
	return *p
}

// keyEntry48 and keyEntry112 hold a key and its bytes in one allocation
// (64 and 128 bytes), so that a key the cache has not seen costs one
// allocation, as a plain string would.
type (
	keyEntry48 struct {
		s string
		b [48]byte
	}
	keyEntry112 struct {
		s string
		b [112]byte
	}
)

// newKey returns a pointer to a new string holding b.
func newKey(b []byte) *string {
	switch {
	case len(b) == 0:
		return new(string)
	case len(b) <= len(keyEntry48{}.b):
		e := new(keyEntry48)
		n := copy(e.b[:], b)
		e.s = unsafe.String(&e.b[0], n) // e.b is never written again
		return &e.s
	case len(b) <= len(keyEntry112{}.b):
		e := new(keyEntry112)
		n := copy(e.b[:], b)
		e.s = unsafe.String(&e.b[0], n)
		return &e.s
	}
	s := string(b)
	return &s
}
