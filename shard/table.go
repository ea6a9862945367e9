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

// Frozen is the bit of every cell that the table reserves: set while the
// cell is being moved by a rebuild or after it was evicted. Callers must
// keep it clear in the values they store.
const Frozen = uint64(1) << 63

// ErrFull is returned by FindOrInsert when the table holds Config.MaxKeys
// keys and the key is new.
var ErrFull = errors.New("shard: table is full")

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
	minSlots = 8 // per shard; a power of two
	// A shard grows when live keys and tombstones would fill more than
	// maxLoadNum/maxLoadDen of its slots. Linear probing stays short below
	// that, and after a rebuild the load is at most half.
	maxLoadNum, maxLoadDen = 3, 4
)

// slot is one entry of a shard's open-addressing array: 16 bytes, four per
// cache line.
type slot struct {
	fp   atomic.Uint64 // fingerprint: fpEmpty, fpTomb or the key's hash
	cell atomic.Uint64 // the caller's state word; bit 63 is Frozen
}

// slots is one shard's array, replaced whole by a rebuild.
type slots struct {
	s    []slot
	mask uint64
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
		t.shards[i].tab.Store(newSlots(minSlots))
	}
	return t
}

func newSlots(n int) *slots {
	return &slots{s: make([]slot, n), mask: uint64(n - 1)}
}

func (t *Table) shard(h uint64) *shardHeader {
	// The top bits pick the shard and the low bits the slot, so the two
	// choices are independent.
	return &t.shards[h>>t.shift].shardHeader
}

// Find returns the cell of hash h, or nil when h has none. It takes no
// lock. The caller must check the Frozen bit of every value it loads from
// the cell, and call FindOrInsert instead of writing a frozen cell.
func (t *Table) Find(h uint64) *atomic.Uint64 {
	return t.shard(h).tab.Load().find(fingerprint(h))
}

func (tab *slots) find(fp uint64) *atomic.Uint64 {
	// Linear probing. The load factor stays below 3/4, so an empty slot
	// always ends the probe.
	for i := fp & tab.mask; ; i = (i + 1) & tab.mask {
		s := &tab.s[i]
		switch s.fp.Load() {
		case fp:
			return &s.cell
		case fpEmpty:
			return nil
		}
	}
}

// FindOrInsert returns the cell of hash h, inserting a cell holding 0 when
// h has none. It takes the shard's lock, so it also waits out a rebuild:
// call it when Find returned nil or the cell was Frozen. It returns
// ErrFull when the key is new and the table is at its cap.
func (t *Table) FindOrInsert(h uint64) (*atomic.Uint64, error) {
	sh := t.shard(h)
	fp := fingerprint(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	if c := tab.find(fp); c != nil {
		return c, nil
	}
	if t.maxLive > 0 && sh.live >= t.maxLive {
		return nil, ErrFull
	}
	if (sh.live+sh.dead+1)*maxLoadDen > len(tab.s)*maxLoadNum {
		tab = sh.rebuild(sh.live + 1)
	}
	for i := fp & tab.mask; ; i = (i + 1) & tab.mask {
		s := &tab.s[i]
		if s.fp.Load() == fpEmpty {
			// Publish the cell before the fingerprint: a reader that sees
			// the fingerprint sees the zeroed cell.
			s.cell.Store(0)
			s.fp.Store(fp)
			sh.live++
			return &s.cell, nil
		}
	}
}

// Delete removes the cell of hash h, reporting whether there was one. A
// concurrent writer of that cell sees it Frozen and re-inserts a new cell.
func (t *Table) Delete(h uint64) bool {
	sh := t.shard(h)
	fp := fingerprint(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tab := sh.tab.Load()
	for i := fp & tab.mask; ; i = (i + 1) & tab.mask {
		s := &tab.s[i]
		switch s.fp.Load() {
		case fp:
			freeze(&s.cell)
			s.fp.Store(fpTomb)
			sh.live--
			sh.dead++
			return true
		case fpEmpty:
			return false
		}
	}
}

// Sweep removes every cell whose value idle reports true, one shard at a
// time, and returns how many it removed. idle runs under the shard's lock
// and must not call the Table. A cell written between idle's check and the
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
		v := s.cell.Load()
		if v&Frozen != 0 || !idle(v) || !s.cell.CompareAndSwap(v, v|Frozen) {
			continue
		}
		s.fp.Store(fpTomb)
		sh.live--
		sh.dead++
		removed++
	}
	// Shrink when at most 1/8 full, and purge tombstones once they take a
	// quarter of the slots, so that lookups stay short and memory returns.
	n := len(tab.s)
	if (n > minSlots && sh.live*8 <= n) || sh.dead*4 >= n {
		sh.rebuild(sh.live)
	}
	return removed
}

// rebuild moves the live cells into a new array sized for want keys at a
// load of at most one half, and publishes it. Called with mu held.
func (sh *shardHeader) rebuild(want int) *slots {
	old := sh.tab.Load()
	n := max(minSlots, 1<<bits.Len(uint(2*want-1)))
	tab := newSlots(n)
	for i := range old.s {
		s := &old.s[i]
		fp := s.fp.Load()
		if fp < 2 {
			continue
		}
		v := freeze(&s.cell)
		for j := fp & tab.mask; ; j = (j + 1) & tab.mask {
			d := &tab.s[j]
			if d.fp.Load() == fpEmpty {
				d.cell.Store(v)
				d.fp.Store(fp)
				break
			}
		}
	}
	sh.tab.Store(tab)
	sh.dead = 0
	return tab
}

// freeze sets the Frozen bit of c and returns the value it froze, without
// the bit. After it, every compare-and-swap of a lock-free writer fails.
func freeze(c *atomic.Uint64) uint64 {
	for {
		v := c.Load()
		if c.CompareAndSwap(v, v|Frozen) {
			return v &^ Frozen
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
