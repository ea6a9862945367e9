package kv

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/coarse"
	"github.com/floodgate-go/floodgate/shard"
)

// KV holds int64 values with a time to live, read and written by get,
// set-if-absent and compare-and-swap (see the package documentation).
//
// The zero KV is not usable; call [New]. A KV is safe for concurrent use
// and must not be copied. Close it to stop its sweeper.
type KV struct {
	clk     clock.Clock
	coarse  *coarse.Clock // owned, stopped by Close; nil with Config.Clock
	entries *shard.Objects[kvEntry]
	live    atomic.Int64 // entries in the map, for the cap
	maxKeys int64        // 0: no cap
	full    error        // SetIfAbsent's error at the cap
	every   time.Duration

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	_         noCopy
}

// kvEntry is one key's value and expiry. A value and its expiry change
// together, which two words cannot do with one compare-and-swap, so the
// entry is a sequence lock: readers retry when seq moved under them, and
// writers take it for the two stores.
//
//	seq: even while val and exp are stable; odd while a writer holds the
//	     entry (set by a CAS from even, so writers exclude each other);
//	     kvDead once the sweeper evicted the entry: writers that find it
//	     look the key up again, readers see it absent.
//	val: the value; written only while seq is odd.
//	exp: engine time (Unix-epoch nanoseconds) from which the entry is
//	     absent; math.MaxInt64 for no expiry. Written only while seq is odd.
//
// The entries live in a shard.Objects map (the shard table's 63-bit
// cells hold neither a full int64 nor a value with its expiry). An entry
// is 24 bytes; it is never reused for another key.
type kvEntry struct {
	seq atomic.Uint64
	val atomic.Int64
	exp atomic.Int64
}

const kvDead = math.MaxUint64 // seq of an evicted entry (odd: never acquired)

// Config is what New builds a KV from; package engine fills it from its
// options (WithClock, WithMaxKeys, WithShards, WithSweepInterval).
type Config struct {
	// Clock is the time source; nil means a coarse clock (internal/coarse) of 1 ms
	// resolution owned by the KV.
	Clock clock.Clock
	// MaxKeys caps the live entries; 0 or less means no cap.
	MaxKeys int
	// Shards is the number of shards, rounded up to a power of two; 0
	// means shard's default.
	Shards int
	// Every is the sweep interval: 0 means 10 s, a negative interval
	// disables the sweeper.
	Every time.Duration
	// Full is the error SetIfAbsent returns for a new key at the cap
	// (engine.ErrFull).
	Full error
}

// New returns an empty KV built from cfg, and starts its sweeper.
func New(cfg Config) *KV {
	if cfg.Every == 0 {
		cfg.Every = 10 * time.Second
	}
	kv := &KV{
		clk:     cfg.Clock,
		entries: shard.NewObjects[kvEntry](shard.Config{Shards: cfg.Shards}), // the cap is kv.live's: exact, and expired entries do not count
		maxKeys: int64(max(cfg.MaxKeys, 0)),
		full:    cfg.Full,
		every:   cfg.Every,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if kv.clk == nil {
		kv.coarse = coarse.New(time.Millisecond)
		kv.clk = kv.coarse
	}
	go kv.sweepLoop()
	return kv
}

// Now returns the KV clock's current reading, the time base of the *At
// methods.
func (kv *KV) Now() time.Duration { return kv.clk.Now() }

// Get returns key's value and reports whether key is present (set and
// not expired).
func (kv *KV) Get(key string) (int64, bool) { return kv.GetAt(kv.clk.Now(), key) }

// GetAt is Get at KV time now instead of the clock's reading.
func (kv *KV) GetAt(now time.Duration, key string) (int64, bool) {
	en := kv.entries.Load(shard.Hash(key))
	if en == nil {
		return 0, false
	}
	v, exp, ok := en.read()
	if !ok || expired(now, exp) {
		return 0, false
	}
	return v, true
}

// SetIfAbsent sets key to v, expiring ttl from now (ttl ≤ 0: never),
// when key is absent or expired, and reports whether it did. It returns
// the Config's Full error, setting nothing, when key is new and the KV is at its cap.
func (kv *KV) SetIfAbsent(key string, v int64, ttl time.Duration) (bool, error) {
	return kv.SetIfAbsentAt(kv.clk.Now(), key, v, ttl)
}

// SetIfAbsentAt is SetIfAbsent at KV time now instead of the clock's
// reading.
func (kv *KV) SetIfAbsentAt(now time.Duration, key string, v int64, ttl time.Duration) (bool, error) {
	h := shard.Hash(key)
	exp := expiry(now, ttl)
	for {
		en := kv.entries.Load(h)
		if en == nil {
			if kv.maxKeys > 0 && kv.live.Load() >= kv.maxKeys {
				return false, kv.full
			}
			var err error
			if en, err = kv.entries.LoadOrCreate(h, kv.newEntry); err != nil {
				return false, kv.full
			}
		}
		if _, exp, ok := en.read(); ok && !expired(now, exp) {
			return false, nil // present: no write
		}
		s, ok := en.lock()
		if !ok {
			continue // evicted meanwhile: look it up again
		}
		if !expired(now, en.exp.Load()) {
			en.seq.Store(s) // present: unlock, nothing changed
			return false, nil
		}
		en.val.Store(v)
		en.exp.Store(exp)
		en.seq.Store(s + 2)
		return true, nil
	}
}

// CompareAndSwap sets key to next, expiring ttl from now (ttl ≤ 0:
// never), when key is present and holds old, and reports whether it did.
// It never inserts a key.
func (kv *KV) CompareAndSwap(key string, old, next int64, ttl time.Duration) bool {
	return kv.CompareAndSwapAt(kv.clk.Now(), key, old, next, ttl)
}

// CompareAndSwapAt is CompareAndSwap at KV time now instead of the
// clock's reading.
func (kv *KV) CompareAndSwapAt(now time.Duration, key string, old, next int64, ttl time.Duration) bool {
	en := kv.entries.Load(shard.Hash(key))
	if en == nil {
		return false
	}
	// Fail without writing when the entry already reads wrong.
	if v, exp, ok := en.read(); !ok || v != old || expired(now, exp) {
		return false
	}
	s, ok := en.lock()
	if !ok {
		return false // evicted: it had expired, so it is absent
	}
	if en.val.Load() != old || expired(now, en.exp.Load()) {
		en.seq.Store(s)
		return false
	}
	en.val.Store(next)
	en.exp.Store(expiry(now, ttl))
	en.seq.Store(s + 2)
	return true
}

// Len returns the number of entries held, expired ones not yet swept
// included.
func (kv *KV) Len() int { return int(kv.live.Load()) }

// Sweep evicts every expired entry and returns how many it evicted. The
// background sweeper calls it; call it directly to reclaim memory now.
func (kv *KV) Sweep() int { return kv.SweepAt(kv.clk.Now()) }

// SweepAt is Sweep at KV time now. An entry written at the same moment
// is kept.
func (kv *KV) SweepAt(now time.Duration) int {
	n := kv.entries.Sweep(func(en *kvEntry) bool {
		s := en.seq.Load()
		if s == kvDead {
			return true
		}
		if s&1 != 0 || !expired(now, en.exp.Load()) {
			return false // held by a writer, or live
		}
		return en.seq.CompareAndSwap(s, kvDead)
	})
	kv.live.Add(-int64(n))
	return n
}

// Close stops the sweeper and the KV's own clock, and waits for them to
// exit. The KV keeps answering afterwards; expired entries are then only
// evicted by calls to Sweep. Close is idempotent and always returns nil.
func (kv *KV) Close() error {
	kv.closeOnce.Do(func() {
		close(kv.stop)
		<-kv.done
		if kv.coarse != nil {
			kv.coarse.Stop()
		}
	})
	return nil
}

func (kv *KV) sweepLoop() {
	defer close(kv.done)
	if kv.every < 0 {
		<-kv.stop
		return
	}
	tick := time.NewTicker(kv.every)
	defer tick.Stop()
	for {
		select {
		case <-kv.stop:
			return
		case <-tick.C:
			kv.Sweep()
		}
	}
}

// newEntry makes the entry of a new key: absent (expired at every time)
// until its first writer sets it. It runs under a lock of the map, once
// per entry created.
func (kv *KV) newEntry() *kvEntry {
	kv.live.Add(1)
	en := new(kvEntry)
	en.exp.Store(math.MinInt64)
	return en
}

// read returns a consistent snapshot of the entry, and false when it was
// evicted.
func (en *kvEntry) read() (v, exp int64, ok bool) {
	for spins := 0; ; spins++ {
		s := en.seq.Load()
		if s == kvDead {
			return 0, 0, false
		}
		if s&1 == 0 {
			v, exp = en.val.Load(), en.exp.Load()
			if en.seq.Load() == s {
				return v, exp, true
			}
		}
		backoff(spins)
	}
}

// lock takes the entry for writing and returns the even seq it held, or
// reports false when the entry was evicted. The holder stores seq back to
// release it: the returned value if it changed nothing, that plus 2 if it
// did.
func (en *kvEntry) lock() (uint64, bool) {
	for spins := 0; ; spins++ {
		s := en.seq.Load()
		if s == kvDead {
			return 0, false
		}
		if s&1 == 0 && en.seq.CompareAndSwap(s, s+1) {
			return s, true
		}
		backoff(spins)
	}
}

// backoff yields the processor now and then while a writer holds an
// entry: a holder that was preempted needs it to finish its two stores.
func backoff(spins int) {
	if spins%16 == 15 {
		runtime.Gosched()
	}
}

// expired reports whether an entry expiring at exp is absent at now.
func expired(now time.Duration, exp int64) bool {
	return int64(now) >= exp && exp != math.MaxInt64
}

// expiry returns the engine time at which an entry written at now with
// ttl expires: now+ttl, saturating, and never for ttl ≤ 0.
func expiry(now, ttl time.Duration) int64 {
	if ttl <= 0 || ttl > math.MaxInt64-max(now, 0) {
		return math.MaxInt64
	}
	return int64(now + ttl)
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
