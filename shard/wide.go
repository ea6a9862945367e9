package shard

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// locked is the bit of a WideCell's head word that its holder sets: while
// it is set, the cell's two words belong to one caller. Like frozen, it
// never reaches callers; their head values are 62-bit (wideMask).
const (
	locked   = uint64(1) << 62
	wideMask = locked - 1
)

// WideCell is one key's state in a [WideTable]: two words, a 62-bit head
// (bits 61..0) and a 64-bit tail, both 0 when the key is inserted, read
// and written together by the caller that holds the cell's lock. The table
// owns the head's top two bits: bit 63 (retired) and bit 62 (locked), and
// WideCell's methods keep callers from reading or storing them. Get one
// from [WideTable.Find] or [WideTable.Get]; the zero WideCell is not part
// of any table. A WideCell is safe for concurrent use and must not be
// copied.
//
// The lock is a bit of the cell itself, not a mutex: taking it is one
// compare-and-swap on the head word, and releasing it one store, the cost
// of a one-word cell's update plus one store. A holder must not call the
// table (Get, Delete, Sweep), whose rebuilds wait for locked cells.
//
// A rebuild or an eviction may retire a cell whenever it is not locked:
// from then on Lock reports false, so no write to a retired cell is ever
// lost silently. Callers then look the key up again with [WideTable.Get].
type WideCell struct {
	// head is the caller's value in bits 61..0; bit 62 (locked) is set
	// while a caller holds the cell, bit 63 (frozen) once it is retired.
	head atomic.Uint64
	// tail is the caller's second word, written only under the lock.
	tail atomic.Uint64
}

// spinLimit is how many times Lock retries a held cell before it yields
// the processor: a holder keeps the cell for a few dozen instructions,
// unless it was preempted.
const spinLimit = 64

// Lock waits until the cell is free, takes it, and returns its two words;
// it reports false, without taking anything, when the cell is retired (or
// c is nil: a lookup that found nothing and a retired cell take one
// path). A successful Lock must be followed by exactly one [WideCell.Unlock].
func (c *WideCell) Lock() (head, tail uint64, ok bool) {
	if c == nil {
		return 0, 0, false
	}
	for spins := 0; ; spins++ {
		h := c.head.Load()
		switch {
		case h&frozen != 0:
			return 0, 0, false
		case h&locked == 0 && c.head.CompareAndSwap(h, h|locked):
			return h, c.tail.Load(), true
		}
		if spins >= spinLimit {
			runtime.Gosched()
		}
	}
}

// TryLock is Lock without the wait: it takes the cell only if it is free
// at once, and reports false otherwise (held by another caller, retired,
// or nil); then call Lock. It inlines, where Lock does not.
func (c *WideCell) TryLock() (head, tail uint64, ok bool) {
	if c == nil {
		return 0, 0, false
	}
	if h := c.head.Load(); h&(frozen|locked) == 0 && c.head.CompareAndSwap(h, h|locked) {
		return h, c.tail.Load(), true
	}
	return 0, 0, false
}

// Unlock stores the cell's two words and releases it. head is taken
// modulo 2^62: its top two bits are the table's.
func (c *WideCell) Unlock(head, tail uint64) {
	// The tail changes rarely (the engine keeps its slow-moving word
	// there): skip its store, a full barrier on amd64, when it is equal.
	if c.tail.Load() != tail {
		c.tail.Store(tail)
	}
	c.head.Store(head & wideMask)
}

// freeze retires c, waiting for its holder if it is locked, and returns
// the words it held. After it, every Lock fails. Called with the shard's
// mutex held.
func (c *WideCell) freeze() (head, tail uint64) {
	for spins := 0; ; spins++ {
		h := c.head.Load()
		if h&locked == 0 && c.head.CompareAndSwap(h, h|frozen) {
			return h &^ frozen, c.tail.Load()
		}
		if spins >= spinLimit {
			runtime.Gosched()
		}
	}
}

// wideSlot is one entry of a WideTable shard: 24 bytes.
type wideSlot struct {
	fp   atomic.Uint64 // fingerprint: fpEmpty, fpTomb or the key's hash
	cell WideCell
}

type wideSlots struct {
	s  []wideSlot
	nb uint64 // buckets: len(s) = nb·bucketSlots (probe.go)
}

// wideShard is the mutable state of one WideTable shard; see shardHeader.
type wideShard struct {
	tab  atomic.Pointer[wideSlots] // loaded lock-free by Find
	mu   sync.Mutex                // serializes inserts, deletes, sweeps, rebuilds
	live int                       // slots holding a key; under mu
	dead int                       // tombstones; under mu
}

// wideShardPadded keeps each shard header on its own cache line, as
// shardPadded does. TestWideShardSize asserts the size.
type wideShardPadded struct {
	wideShard
	_ [64 - unsafe.Sizeof(wideShard{})%64]byte
}

// WideTable maps key hashes to two-word cells ([WideCell]), for state
// that does not fit the 63 bits of a [Table]'s cell (the engine's limits
// with large counts). It is built like Table, with 24-byte slots instead
// of 16: the same seeded hashes, power-of-two shards, linear probing,
// cap (Config.MaxKeys), retirement of moved and evicted cells, and
// shrinking. The cells live in the slots: no per-key allocation.
//
// Lookups are lock-free ([WideTable.Find]); a cell's update takes the
// cell's own lock bit ([WideCell.Lock]), never the shard's mutex.
// Inserts, deletions, sweeps and rebuilds lock one shard.
//
// The zero WideTable is not usable; call [NewWide]. It is safe for
// concurrent use and must not be copied.
type WideTable struct {
	shards  []wideShardPadded
	shift   uint // shard index = hash >> shift
	maxLive int  // per shard; 0 means no cap
	_       noCopy
}

// NewWide returns an empty WideTable, sharded and capped by cfg as [New]
// shards and caps a Table.
func NewWide(cfg Config) *WideTable {
	n := cfg.Shards
	if n <= 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	n = 1 << bits.Len(uint(n-1))
	t := &WideTable{
		shards: make([]wideShardPadded, n),
		shift:  uint(64 - bits.TrailingZeros(uint(n))),
	}
	if cfg.MaxKeys > 0 {
		t.maxLive = (cfg.MaxKeys + n - 1) / n
	}
	for i := range t.shards {
		t.shards[i].tab.Store(newWideSlots(shapeFor(0)))
	}
	return t
}

func newWideSlots(sz shape) *wideSlots {
	return &wideSlots{s: make([]wideSlot, sz.slots()), nb: uint64(sz.nb)}
}

// shape returns the size of tab.
func (tab *wideSlots) shape() shape {
	nb := int(tab.nb)
	return shape{nb, len(tab.s) - nb*bucketSlots}
}

func (t *WideTable) shard(h uint64) *wideShard {
	return &t.shards[h>>t.shift].wideShard
}

// Find returns the cell of hash h, or nil when h has none. It takes no
// lock and never inserts. The cell may be retired (its Lock reports
// false); then call Get.
func (t *WideTable) Find(h uint64) *WideCell {
	return t.shards[h>>t.shift].tab.Load().find(fingerprint(h))
}

func (tab *wideSlots) find(fp uint64) *WideCell {
	// As Table's find: linear probing from the start of fp's bucket.
	for i := uint64(uint32(fp)) * tab.nb >> 32 * bucketSlots; ; i++ { // home(fp, tab.nb)
		switch s := &tab.s[i]; s.fp.Load() {
		case fp:
			return &s.cell
		case fpEmpty:
			return nil
		}
	}
}

// Get returns the cell of hash h, inserting a cell holding 0, 0 when h
// has none. It takes the shard's lock unless h is known, so it also waits
// out a rebuild; the cell it returns may still be retired by the time the
// caller locks it, and the caller then calls Get again. It returns errFull
// when the key is new and the table is at its cap.
func (t *WideTable) Get(h uint64) (*WideCell, error) {
	if c := t.Find(h); c != nil && c.head.Load()&frozen == 0 {
		return c, nil
	}
	return t.findOrInsert(h)
}

func (t *WideTable) findOrInsert(h uint64) (*WideCell, error) {
	sh := t.shard(h)
	fp := fingerprint(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	if c := tab.find(fp); c != nil {
		return c, nil
	}
	if t.maxLive > 0 && sh.live >= t.maxLive {
		return nil, errFull
	}
	if tooFull(sh.live, sh.dead, int(tab.nb)) {
		tab = sh.rebuild(shapeFor(sh.live + 1))
	}
	for {
		if s := tab.free(fp); s != nil {
			// Publish the cell before the fingerprint: a reader that sees
			// the fingerprint sees the zeroed cell.
			s.cell.tail.Store(0)
			s.cell.head.Store(0)
			s.fp.Store(fp)
			sh.live++
			return &s.cell, nil
		}
		tab = sh.rebuild(tab.shape().grown())
	}
}

// free returns the first empty slot of fp's probe, or nil when that is
// the array's last slot, which must stay empty (probe.go).
func (tab *wideSlots) free(fp uint64) *wideSlot {
	for i := home(fp, tab.nb); i < uint64(len(tab.s))-1; i++ {
		if s := &tab.s[i]; s.fp.Load() == fpEmpty {
			return s
		}
	}
	return nil
}

// Delete removes the cell of hash h, reporting whether there was one. The
// cell is retired (after its holder, if any, unlocks it): a concurrent
// caller fails to lock it and looks the key up again, finding a new cell
// holding 0, 0.
func (t *WideTable) Delete(h uint64) bool {
	sh := t.shard(h)
	fp := fingerprint(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	for i := home(fp, tab.nb); ; i++ {
		s := &tab.s[i]
		switch s.fp.Load() {
		case fp:
			s.cell.freeze()
			s.fp.Store(fpTomb)
			sh.live--
			sh.dead++
			return true
		case fpEmpty:
			return false
		}
	}
}

// Sweep removes (retires) every cell whose words idle reports true, one
// shard at a time, and returns how many it removed. idle runs under the
// shard's lock and the cell's, and must not call the table. Like
// [Table.Sweep], it shrinks shards that became mostly empty and purges
// tombstones.
func (t *WideTable) Sweep(idle func(head, tail uint64) bool) int {
	removed := 0
	for i := range t.shards {
		removed += t.shards[i].sweep(idle)
	}
	return removed
}

func (sh *wideShard) sweep(idle func(head, tail uint64) bool) int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	removed := 0
	for i := range tab.s {
		s := &tab.s[i]
		if s.fp.Load() < 2 {
			continue
		}
		head, tail, ok := s.cell.Lock()
		if !ok {
			continue
		}
		if !idle(head, tail) {
			s.cell.head.Store(head) // unlock, unchanged
			continue
		}
		s.cell.head.Store(head | frozen) // retire, and drop the lock
		s.fp.Store(fpTomb)
		sh.live--
		sh.dead++
		removed++
	}
	n := int(tab.nb) * bucketSlots
	if (tab.nb > minBuckets && sh.live*8 <= n) || sh.dead*4 >= n {
		sh.rebuild(shapeFor(sh.live))
	}
	return removed
}

// rebuild moves the live cells into a new array of shape sz (or with
// more padding), as Table's does, and publishes it. Called with mu held.
func (sh *wideShard) rebuild(sz shape) *wideSlots {
	old := sh.tab.Load()
	for ; ; sz = sz.grown() {
		if tab := old.moveTo(sz); tab != nil {
			sh.tab.Store(tab)
			sh.dead = 0
			return tab
		}
	}
}

// moveTo is Table's moveTo for wide cells.
func (tab *wideSlots) moveTo(sz shape) *wideSlots {
	to := newWideSlots(sz)
	for i := range tab.s {
		s := &tab.s[i]
		fp := s.fp.Load()
		if fp < 2 {
			continue
		}
		d := to.free(fp)
		if d == nil {
			return nil
		}
		head, tail := s.cell.freeze()
		d.cell.tail.Store(tail)
		d.cell.head.Store(head)
		d.fp.Store(fp)
	}
	return to
}

// Len returns the number of live keys. It locks each shard in turn, so
// the total is not a snapshot.
func (t *WideTable) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += sh.live
		sh.mu.Unlock()
	}
	return n
}
