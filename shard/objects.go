package shard

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Objects maps key hashes to per-key objects, for state that does not fit
// in a 63-bit cell (the moving window's log, the key-value face's
// entries). It is built like [Table]: the same power-of-two array of
// padded shards, each an open-addressing array of 16-byte slots (a
// fingerprint and a pointer; power-of-two arrays probed from fp & mask,
// at a load of 3/8 to 3/4), the same cap (Config.MaxKeys) and the same
// shrinking, so that a sweep returns the slot arrays' memory as it does
// for cells.
//
// Lookups are lock-free: [Objects.Load] probes the shard's current array
// with atomic loads. Creation, deletion and sweeps lock one shard. A
// rebuild copies the pointers, so an object keeps its identity when its
// shard grows or shrinks; an object removed by [Objects.Delete] or
// [Objects.Sweep] may still be returned by a Load that raced with the
// removal, so the caller marks removed objects (the engine's dead flag,
// set under the object's own lock before it is removed) and looks the key
// up again when it meets one.
//
// The zero Objects is not usable; call [NewObjects]. It is safe for
// concurrent use and must not be copied.
type Objects[T any] struct {
	shards  []objShardPadded[T]
	shift   uint // shard index = hash >> shift
	maxLive int  // per shard; 0 means no cap
	_       noCopy
}

// objSlot is one entry of an Objects shard: 16 bytes, four per cache line.
type objSlot[T any] struct {
	fp atomic.Uint64 // fingerprint: fpEmpty, fpTomb or the key's hash
	p  atomic.Pointer[T]
}

type objSlots[T any] struct {
	s    []objSlot[T]
	mask uint64
}

// objShard is the mutable state of one Objects shard; see shardHeader.
type objShard[T any] struct {
	tab  atomic.Pointer[objSlots[T]] // loaded lock-free by Load
	mu   sync.Mutex                  // serializes inserts, deletes, sweeps, rebuilds
	live int                         // slots holding a key; under mu
	dead int                         // tombstones; under mu
}

// objShardPadded keeps each shard header on its own cache line, as
// shardPadded does. The header's size does not depend on T (every field
// is a pointer or a word), which TestObjectsShardSize asserts.
type objShardPadded[T any] struct {
	objShard[T]
	_ [64 - unsafe.Sizeof(shardHeader{})%64]byte
}

// NewObjects returns an empty Objects, capped and sharded by cfg as [New]
// caps and shards a Table.
func NewObjects[T any](cfg Config) *Objects[T] {
	n := cfg.Shards
	if n <= 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	n = 1 << bits.Len(uint(n-1))
	o := &Objects[T]{
		shards: make([]objShardPadded[T], n),
		shift:  uint(64 - bits.TrailingZeros(uint(n))),
	}
	if cfg.MaxKeys > 0 {
		o.maxLive = (cfg.MaxKeys + n - 1) / n
	}
	for i := range o.shards {
		o.shards[i].tab.Store(newObjSlots[T](minSlots))
	}
	return o
}

func newObjSlots[T any](n int) *objSlots[T] {
	return &objSlots[T]{s: make([]objSlot[T], n), mask: uint64(n - 1)}
}

func (o *Objects[T]) shard(h uint64) *objShard[T] {
	return &o.shards[h>>o.shift].objShard
}

// Load returns the object of hash h, or nil. It takes no lock.
func (o *Objects[T]) Load(h uint64) *T {
	return o.shard(h).tab.Load().find(fingerprint(h))
}

func (tab *objSlots[T]) find(fp uint64) *T {
	for i := fp & tab.mask; ; i = (i + 1) & tab.mask {
		s := &tab.s[i]
		switch s.fp.Load() {
		case fp:
			return s.p.Load() // nil when deleted since the fingerprint was read
		case fpEmpty:
			return nil
		}
	}
}

// LoadOrCreate returns the object of hash h, creating it with mk when h
// has none. mk runs at most once per creation, under the shard's lock.
// Its error is non-nil only when h is new and its shard holds its share
// of Config.MaxKeys.
func (o *Objects[T]) LoadOrCreate(h uint64, mk func() *T) (*T, error) {
	if v := o.Load(h); v != nil {
		return v, nil
	}
	sh := o.shard(h)
	fp := fingerprint(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	if v := tab.find(fp); v != nil {
		return v, nil
	}
	if o.maxLive > 0 && sh.live >= o.maxLive {
		return nil, errFull
	}
	if (sh.live+sh.dead+1)*maxLoadDen > len(tab.s)*maxLoadNum {
		tab = sh.rebuild(sh.live + 1)
	}
	v := mk()
	for i := fp & tab.mask; ; i = (i + 1) & tab.mask {
		s := &tab.s[i]
		if s.fp.Load() == fpEmpty {
			// Publish the object before the fingerprint: a reader that
			// sees the fingerprint sees the object.
			s.p.Store(v)
			s.fp.Store(fp)
			sh.live++
			return v, nil
		}
	}
}

// Delete removes the object of hash h, reporting whether there was one.
func (o *Objects[T]) Delete(h uint64) bool {
	sh := o.shard(h)
	fp := fingerprint(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	for i := fp & tab.mask; ; i = (i + 1) & tab.mask {
		s := &tab.s[i]
		switch s.fp.Load() {
		case fp:
			sh.remove(s)
			return true
		case fpEmpty:
			return false
		}
	}
}

// remove tombstones s. Called with mu held.
func (sh *objShard[T]) remove(s *objSlot[T]) {
	s.fp.Store(fpTomb)
	s.p.Store(nil) // let the object go before the next rebuild
	sh.live--
	sh.dead++
}

// Sweep removes every object for which idle reports true, one shard at a
// time, and returns how many it removed. idle runs under the shard's lock,
// so it must be quick and must not call o; it may lock the object itself.
// Like [Table.Sweep], it shrinks shards that became mostly empty and
// purges tombstones, so the slot arrays' memory returns in one pass.
func (o *Objects[T]) Sweep(idle func(*T) bool) int {
	removed := 0
	for i := range o.shards {
		removed += o.shards[i].sweep(idle)
	}
	return removed
}

func (sh *objShard[T]) sweep(idle func(*T) bool) int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	removed := 0
	for i := range tab.s {
		s := &tab.s[i]
		if s.fp.Load() < 2 || !idle(s.p.Load()) {
			continue
		}
		sh.remove(s)
		removed++
	}
	n := len(tab.s)
	if (n > minSlots && sh.live*8 <= n) || sh.dead*4 >= n {
		sh.rebuild(sh.live)
	}
	return removed
}

// rebuild copies the live slots into a new array sized for want keys at
// a load of at most one half, and publishes it. Called with mu held.
// Readers of the old array keep finding the same objects.
func (sh *objShard[T]) rebuild(want int) *objSlots[T] {
	old := sh.tab.Load()
	n := max(minSlots, 1<<bits.Len(uint(2*want-1)))
	tab := newObjSlots[T](n)
	for i := range old.s {
		s := &old.s[i]
		fp := s.fp.Load()
		if fp < 2 {
			continue
		}
		for j := fp & tab.mask; ; j = (j + 1) & tab.mask {
			d := &tab.s[j]
			if d.fp.Load() == fpEmpty {
				d.p.Store(s.p.Load())
				d.fp.Store(fp)
				break
			}
		}
	}
	sh.tab.Store(tab)
	sh.dead = 0
	return tab
}
