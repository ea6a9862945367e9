package wide

import (
	"errors"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/floodgate-go/floodgate/shard"
)

// The table's bits of a cell's head word, kept out of the values callers
// see and store, which are 62-bit (wideMask): frozen is set once the cell
// is retired (moved by a rebuild, or evicted), locked while a caller
// holds it.
const (
	frozen   = uint64(1) << 63
	locked   = uint64(1) << 62
	wideMask = locked - 1
)

// errFull is the only error of Get: the table holds Config.MaxKeys keys
// and the key is new.
var errFull = errors.New("wide: table is full")

// Slot fingerprints, as in package shard: 0 marks an empty slot and 1 a
// tombstone, so hashes 0 and 1 are stored as 2 and 3.
const (
	fpEmpty = 0
	fpTomb  = 1
)

func fingerprint(h uint64) uint64 {
	if h < 2 {
		return h + 2
	}
	return h
}

// Cell is one key's state in a [Table]: two words, a 62-bit head
// (bits 61..0) and a 64-bit tail, both 0 when the key is inserted, read
// and written together by the caller that holds the cell's lock. The table
// owns the head's top two bits: bit 63 (retired) and bit 62 (locked), and
// Cell's methods keep callers from reading or storing them. Get one
// from [Table.Find] or [Table.Get]; the zero Cell is not part
// of any table. A Cell is safe for concurrent use and must not be
// copied.
//
// The lock is a bit of the cell itself, not a mutex: taking it is one
// compare-and-swap on the head word, and releasing it one store, the cost
// of a one-word cell's update plus one store. A holder must not call the
// table (Get, Delete, Sweep), whose rebuilds wait for locked cells.
//
// A rebuild or an eviction may retire a cell whenever it is not locked:
// from then on Lock reports false, so no write to a retired cell is ever
// lost silently. Callers then look the key up again with [Table.Get].
type Cell struct {
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
// path). A successful Lock must be followed by exactly one [Cell.Unlock].
func (c *Cell) Lock() (head, tail uint64, ok bool) {
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
func (c *Cell) TryLock() (head, tail uint64, ok bool) {
	if c == nil {
		return 0, 0, false
	}
	if h := c.head.Load(); h&(frozen|locked) == 0 && c.head.CompareAndSwap(h, h|locked) {
		return h, c.tail.Load(), true
	}
	return 0, 0, false
}

// Read returns the cell's two words without taking it, and reports false
// when it is held, retired or nil. The words are a snapshot: the head is
// loaded again after the tail and must not have moved. A holder that
// leaves the head as it found it while changing the tail (the engine's
// refund of a previous window) can slip between the loads; the caller
// then sees the state before or after that write, each of which was the
// cell's state at some instant.
func (c *Cell) Read() (head, tail uint64, ok bool) {
	if c == nil {
		return 0, 0, false
	}
	h := c.head.Load()
	t := c.tail.Load()
	if h&(frozen|locked) != 0 || c.head.Load() != h {
		return 0, 0, false
	}
	return h, t, true
}

// CompareAndSwapHead stores head next, without taking the cell, if the
// cell is free and live and its head is old (a head that Read returned),
// and reports whether it did. The tail is left as it is: use it for
// updates that keep the tail, and Lock for the others. next is taken
// modulo 2^62.
func (c *Cell) CompareAndSwapHead(old, next uint64) bool {
	return c.head.CompareAndSwap(old&wideMask, next&wideMask)
}

// Unlock stores the cell's two words and releases it. head is taken
// modulo 2^62: its top two bits are the table's.
func (c *Cell) Unlock(head, tail uint64) {
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
func (c *Cell) freeze() (head, tail uint64) {
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

// slot is one entry of a Table shard: 24 bytes.
type slot struct {
	fp   atomic.Uint64 // fingerprint: fpEmpty, fpTomb or the key's hash
	cell Cell
}

type slots struct {
	s  []slot
	nb uint64 // buckets: len(s) = nb·bucketSlots (probe.go)
}

// shardHeader is the mutable state of one shard.
type shardHeader struct {
	tab  atomic.Pointer[slots] // loaded lock-free by Find
	mu   sync.Mutex            // serializes inserts, deletes, sweeps, rebuilds
	live int                   // slots holding a key; under mu
	dead int                   // tombstones; under mu
}

// shardPadded keeps each shard header on its own 64-byte cache line, so
// that a lock or an insert on one shard does not slow the readers of its
// neighbours. TestShardSize asserts the size.
type shardPadded struct {
	shardHeader
	_ [64 - unsafe.Sizeof(shardHeader{})%64]byte
}

// Table maps key hashes ([shard.Hash]) to two-word cells ([Cell]), for
// state that does not fit the 63 bits of a [shard.Table]'s cell (the
// engine's limits with large counts). It is built like shard.Table, with
// 24-byte slots instead of 16: the same power-of-two shards, bucketed
// linear probing (probe.go), cap (shard.Config.MaxKeys), retirement of
// moved and evicted cells, and shrinking. The cells live in the slots: no
// per-key allocation.
//
// Lookups are lock-free ([Table.Find]); a cell's update takes the
// cell's own lock bit ([Cell.Lock]), never the shard's mutex.
// Inserts, deletions, sweeps and rebuilds lock one shard.
//
// The zero Table is not usable; call [New]. It is safe for
// concurrent use and must not be copied.
type Table struct {
	shards  []shardPadded
	shift   uint // shard index = hash >> shift
	maxLive int  // per shard; 0 means no cap
	_       noCopy
}

// New returns an empty Table, sharded and capped by cfg as [shard.New]
// shards and caps a shard.Table.
func New(cfg shard.Config) *Table {
	n := cfg.Shards
	if n <= 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	n = 1 << bits.Len(uint(n-1))
	t := &Table{
		shards: make([]shardPadded, n),
		shift:  uint(64 - bits.TrailingZeros(uint(n))),
	}
	if cfg.MaxKeys > 0 {
		t.maxLive = (cfg.MaxKeys + n - 1) / n
	}
	for i := range t.shards {
		t.shards[i].tab.Store(newSlots(shapeFor(0)))
	}
	return t
}

func newSlots(sz shape) *slots {
	return &slots{s: make([]slot, sz.slots()), nb: uint64(sz.nb)}
}

// shape returns the size of tab.
func (tab *slots) shape() shape {
	nb := int(tab.nb)
	return shape{nb, len(tab.s) - nb*bucketSlots}
}

func (t *Table) shardOf(h uint64) *shardHeader {
	return &t.shards[h>>t.shift].shardHeader
}

// Find returns the cell of hash h, or nil when h has none. It takes no
// lock and never inserts. The cell may be retired (its Lock reports
// false); then call Get.
func (t *Table) Find(h uint64) *Cell {
	return t.shards[h>>t.shift].tab.Load().find(fingerprint(h))
}

func (tab *slots) find(fp uint64) *Cell {
	// Linear probing from the start of fp's bucket (probe.go). The load
	// stays below 7/8 and the array's last slot is empty, so an empty slot
	// always ends the probe within the array.
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
func (t *Table) Get(h uint64) (*Cell, error) {
	if c := t.Find(h); c != nil && c.head.Load()&frozen == 0 {
		return c, nil
	}
	return t.findOrInsert(h)
}

func (t *Table) findOrInsert(h uint64) (*Cell, error) {
	sh := t.shardOf(h)
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
func (tab *slots) free(fp uint64) *slot {
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
func (t *Table) Delete(h uint64) bool {
	sh := t.shardOf(h)
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
// [shard.Table.Sweep], it shrinks shards that became mostly empty and purges
// tombstones.
func (t *Table) Sweep(idle func(head, tail uint64) bool) int {
	removed := 0
	for i := range t.shards {
		removed += t.shards[i].sweep(idle)
	}
	return removed
}

func (sh *shardHeader) sweep(idle func(head, tail uint64) bool) int {
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

// rebuild moves the live cells into a new array of shape sz (with more
// padding, should a run of full slots reach the array's last slot) and
// publishes it. Called with mu held.
func (sh *shardHeader) rebuild(sz shape) *slots {
	old := sh.tab.Load()
	for ; ; sz = sz.grown() {
		if tab := old.moveTo(sz); tab != nil {
			sh.tab.Store(tab)
			sh.dead = 0
			return tab
		}
	}
}

// moveTo retires the live cells of tab and copies them into a new array
// of shape sz, or returns nil if they do not fit without its last slot.
// Retiring a retired cell again is harmless, so a retry may start over.
func (tab *slots) moveTo(sz shape) *slots {
	to := newSlots(sz)
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
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += sh.live
		sh.mu.Unlock()
	}
	return n
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
