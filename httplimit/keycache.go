package httplimit

import (
	"hash/maphash"
	"sync/atomic"
	"unsafe"
)

// keySlots is the number of storage keys a keyCache remembers: a power
// of two. Its slots take 32 KiB, and the keys they hold at most 4096
// times 64 or 128 bytes.
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
type keyCache struct {
	seed  maphash.Seed
	slots [keySlots]atomic.Pointer[string]
}

func newKeyCache() *keyCache { return &keyCache{seed: maphash.MakeSeed()} }

// key returns string(b), from the cache when it holds it.
func (c *keyCache) key(b []byte) string {
	slot := &c.slots[maphash.Bytes(c.seed, b)&(keySlots-1)]
	if p := slot.Load(); p != nil && *p == string(b) { // compared in place, not converted
		return *p
	}
	p := newKey(b)
	slot.Store(p)
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
