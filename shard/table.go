package shard

import (
	"errors"
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// frozen is the bit of every cell that the table reserves: set while the
// cell is being moved by a rebuild or after it was evicted. Cell keeps it
// out of the values callers see and store, which are 63-bit (valueMask).
const (
	frozen    = uint64(1) << 63
	valueMask = frozen - 1
)

// errFull is the only error of Get, WideTable.Get and Objects.LoadOrCreate: the table
// holds Config.MaxKeys keys and the key is new.
var errFull = errors.New("shard: table is full")

// seed is drawn once per process; see the package documentation.
var seed = maphash.MakeSeed()

// Hash returns the seeded 64-bit hash that identifies key in every Table
// of this process. Any string is a valid key, including the empty string;
// the cost is linear in its length and nothing of it is stored.
func Hash(key string) uint64 { return maphash.String(seed, key) }

// Slot fingerprints: 0 marks an empty slot and 1 a tombstone, so hashes
// 0 and 1 are stored as 2 and 3 (sharing those fingerprints).
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

const (
	minSlots = 8 // per Objects shard; a power of two
	// A shard grows when live keys and tombstones would fill more than
	// maxLoadNum/maxLoadDen of its slots. Linear probing stays short below
	// that, and after a rebuild the load is at most half.
	maxLoadNum, maxLoadDen = 3, 4
)

// slot is one entry of a shard's open-addressing array: 16 bytes, four per
// cache line.
type slot struct {
	fp   atomic.Uint64 // fingerprint: fpEmpty, fpTomb or the key's hash
	cell Cell
}

// Cell is one key's state word in a Table: a 63-bit value (bits 62..0),
// 0 when the key is inserted, read and written atomically. The table owns
// bit 63, and Cell's methods keep callers from reading or storing it. Get
// one from [Table.Find] or [Table.Get]; the zero Cell is not part of any
// table. A Cell is safe for concurrent use and must not be copied.
//
// A rebuild or an eviction may retire a cell at any moment: from then on
// Load reports false and CompareAndSwap fails, so no write to a retired
// cell is ever lost silently. Callers then look the key up again with
// [Table.Get].
type Cell struct {
	// v is the caller's value in bits 62..0; bit 63 (frozen) is set once
	// the cell is retired.
	v atomic.Uint64
}

// Load returns the cell's value and reports whether the cell is live. A
// false report means the cell was retired by a rebuild or an eviction:
// the value is then 0 and the key must be looked up again. Load of a nil
// Cell reports false, so that a lookup that found nothing and a retired
// cell take one path.
func (c *Cell) Load() (uint64, bool) {
	if c == nil {
		return 0, false
	}
	if v := c.v.Load(); v&frozen == 0 {
		return v, true
	}
	return 0, false
}

// CompareAndSwap stores next if the cell is live and holds old, and
// reports whether it did. It always fails on a retired cell. Both values
// are taken modulo 2^63: bit 63 is the table's, and a caller can neither
// store it nor match it.
func (c *Cell) CompareAndSwap(old, next uint64) bool {
	return c.v.CompareAndSwap(old&valueMask, next&valueMask)
}

// slots is one shard's array, replaced whole by a rebuild.
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

// Config sets up a Table. The zero Config is valid.
type Config struct {
	// Shards is the number of shards, rounded up to a power of two.
	// Default: 4×GOMAXPROCS, at least 8. More shards spread inserts and
	// sweeps; each costs 64 bytes plus 8 empty slots.
	Shards int
	// MaxKeys caps the number of live keys, spread evenly over the shards
	// (a shard may hold MaxKeys/Shards, rounded up). Default 0: no cap.
	MaxKeys int
}

// Table maps key hashes to 64-bit cells. The zero Table is not usable;
// call New. A Table is safe for concurrent use and must not be copied.
type Table struct {
	shards  []shardPadded
	shift   uint // shard index = hash >> shift
	maxLive int  // per shard; 0 means no cap
	_       noCopy
}

// New returns an empty Table.
func New(cfg Config) *Table {
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

func (t *Table) shard(h uint64) *shardHeader {
	// The top bits pick the shard and the low bits the slot, so the two
	// choices are independent.
	return &t.shards[h>>t.shift].shardHeader
}

// Find returns the cell of hash h, or nil when h has none. It takes no
// lock and never inserts: use it to read a key without creating it. The
// cell may be retired (its Load reports false); then call Get.
func (t *Table) Find(h uint64) *Cell {
	return t.shards[h>>t.shift].tab.Load().find(fingerprint(h))
}

// Get returns the live cell of hash h and the value it holds, inserting a
// cell holding 0 when h has none: the lookup half of a read-modify-write,
// which the caller finishes with CompareAndSwap and, when that fails,
// repeats from Get (or, cheaper, from the cell's Load, calling Get only
// when Load reports false). It takes no lock when h is known and its cell
// live; otherwise it takes the shard's lock, which also waits out a
// rebuild, inserting h if needed. Its error is non-nil only when the key
// is new and the table is at its cap.
func (t *Table) Get(h uint64) (*Cell, uint64, error) {
	c := t.Find(h)
	if v, ok := c.Load(); ok {
		return c, v, nil
	}
	return t.getSlow(h)
}

// getSlow is Get's locked path, outlined so that Get inlines.
func (t *Table) getSlow(h uint64) (*Cell, uint64, error) {
	for {
		c, err := t.findOrInsert(h)
		if err != nil {
			return nil, 0, err
		}
		if v, ok := c.Load(); ok {
			return c, v, nil
		}
	}
}

func (tab *slots) find(fp uint64) *Cell {
	// Linear probing from the start of fp's bucket (probe.go).
	// The load stays below 7/8 and the array's last slot is empty, so an
	// empty slot always ends the probe within the array.
	for i := uint64(uint32(fp)) * tab.nb >> 32 * bucketSlots; ; i++ { // home(fp, tab.nb)
		switch sl := &tab.s[i]; sl.fp.Load() {
		case fp:
			return &sl.cell
		case fpEmpty:
			return nil
		}
	}
}

// findOrInsert returns the cell of hash h, inserting a cell holding 0 when
// h has none. It takes the shard's lock, so it also waits out a rebuild.
// It returns errFull when the key is new and the table is at its cap.
func (t *Table) findOrInsert(h uint64) (*Cell, error) {
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
			s.cell.v.Store(0)
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
// cell is retired: a concurrent writer of it fails and looks the key up
// again, finding a new cell holding 0.
func (t *Table) Delete(h uint64) bool {
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

// Sweep removes (retires) every cell whose value idle reports true, one
// shard at a time, and returns how many it removed. idle runs under the
// shard's lock and must not call the Table. A cell written between idle's check and the
// removal is kept: the removal is a compare-and-swap on the value that
// idle saw. Sweep also shrinks shards that became mostly empty, and purges
// tombstones, so memory returns to the table.
func (t *Table) Sweep(idle func(cell uint64) bool) int {
	removed := 0
	for i := range t.shards {
		removed += t.shards[i].sweep(idle)
	}
	return removed
}

func (sh *shardHeader) sweep(idle func(uint64) bool) int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	removed := 0
	for i := range tab.s {
		s := &tab.s[i]
		if s.fp.Load() < 2 {
			continue
		}
		v := s.cell.v.Load()
		if v&frozen != 0 || !idle(v) || !s.cell.v.CompareAndSwap(v, v|frozen) {
			continue
		}
		s.fp.Store(fpTomb)
		sh.live--
		sh.dead++
		removed++
	}
	// Shrink when at most 1/8 full, and purge tombstones once they take a
	// quarter of the slots, so that lookups stay short and memory returns.
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
		d.cell.v.Store(s.cell.freeze())
		d.fp.Store(fp)
	}
	return to
}

// freeze retires c and returns the value it held. After it, every
// compare-and-swap of a lock-free writer fails.
func (c *Cell) freeze() uint64 {
	for {
		v := c.v.Load()
		if c.v.CompareAndSwap(v, v|frozen) {
			return v &^ frozen
		}
	}
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
