package floodgate

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/limit"
)

// leaseKeys bounds how many (key, limits) pairs a lease tracks (about
// 200 bytes each). Beyond it new keys are decided in plain mode,
// untracked, until idle ones are dropped.
const leaseKeys = 1 << 16

// leaseShards is the number of independently locked maps of a Lease.
const leaseShards = 64

// LeaseConfig configures [NewLease]. The zero value of each field means
// its documented default.
type LeaseConfig struct {
	// Slice is how many units one lease takes from the primary (URI:
	// lease=N). Larger slices save more round trips and raise the
	// overshoot bound K·(S−1) of K instances; requests of cost ≥ Slice
	// go to the primary. Default: Percent of each call's smallest limit.
	Slice int64
	// Percent sets the slice as a percentage of the count of the call's
	// smallest limit, at least 1 unit (URI: lease=10%), when Slice is 0.
	// Values outside (0, 100] mean the default, 1.
	Percent float64
	// TTL is how long a lease may be spent after it was taken, at most
	// the shortest period of the call's limits. Shorter wastes fewer
	// units of a key that cools down; longer saves round trips on
	// moderately hot keys. Default 1s.
	TTL time.Duration
	// Hot is how many calls a key must make within one TTL before it is
	// decided from slices; below it, every call goes to the primary.
	// Default: the slice's size, so that a key is leased only when it
	// would spend a slice within its TTL.
	Hot int64
	// Clock times leases and remembered denials. Default clock.System();
	// tests use clock.Manual.
	Clock clock.Clock
}

// NewLease returns a Store that decides hot keys locally: for a key it
// has seen often (see LeaseConfig.Hot) it takes a slice of the budget
// from primary in one AllowN(key, slice) call, then spends that slice in
// memory, request by request, without a round trip. A denial of a hot
// key is remembered until its RetryAfter and answered locally. Cold keys
// go to the primary on every call, exactly as without the lease.
//
// Use it in front of a shared store (Redis) when a few keys take most of
// the traffic: a hot key costs one round trip per slice instead of one
// per request. The price is precision. Leased units are counted by the
// primary when taken, not when spent, and a lease may be spent up to its
// TTL after it was taken, possibly in the primary's next window: K
// instances sharing a primary allow, over any span of time, at most what
// the primary alone would allow plus K·(S−1) units per (key, limits),
// where S is the slice (docs/redis.md, "Lease mode"). Unspent units
// expire with their lease and are not given back: the primary may deny
// up to K·S units that were never used, per TTL.
//
// Near the limit a slice may not fit while a single request does: the
// lease then asks the primary for the request alone, so a key is never
// denied while the primary would allow it, and later slices shrink to
// what the primary says remains.
//
// A leased store decides charge by charge: AllowAll is [AllowEach] over
// the lease itself, so each charge is decided as AllowN decides it (from
// a slice for a hot key, by the primary for a cold one) and a denial
// refunds the earlier charges in the primary, where leased units are
// counted. It never uses the primary's AllowAll: a charge spent from a
// local slice and one sent to the primary cannot be decided in one step.
//
// Peek, Info and Close are the primary's. Reset also drops the key's
// local leases and remembered denials, on this instance only. Refund
// gives units back in the primary, where leased units were counted.
//
// NewLease panics if primary is nil.
func NewLease(primary Store, cfg LeaseConfig) Store {
	if primary == nil {
		panic("floodgate: NewLease needs a primary store")
	}
	if cfg.Slice < 0 {
		cfg.Slice = 0
	}
	if !(cfg.Percent > 0 && cfg.Percent <= 100) {
		cfg.Percent = 1
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Second
	}
	cfg.Hot = max(0, cfg.Hot)
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	l := &lease{primary: primary, cfg: cfg, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*leaseEntry)
	}
	return l
}

// lease is the Store of NewLease.
type lease struct {
	primary Store
	cfg     LeaseConfig
	seed    maphash.Seed
	closed  atomic.Bool
	shards  [leaseShards]leaseShard
	_       noCopy
}

type leaseShard struct {
	mu    sync.Mutex
	m     map[string]*leaseEntry
	swept time.Duration // clock time of the last sweep of idle entries
	_     [40]byte      // to 64 bytes: TestLeaseShardSize
}

// leaseEntry is the local state of one (key, limits) pair, guarded by its
// shard's mutex.
type leaseEntry struct {
	used time.Duration // last call, for eviction
	// Hotness: calls since hitsAt, restarted every TTL; wasHot tells
	// whether the previous TTL was hot, so that a hot key stays hot.
	hits   int64
	hitsAt time.Duration
	wasHot bool
	// The lease: left units may be spent until until.
	left  int64
	until time.Duration
	room  int64          // the primary's Remaining after the last grant; MaxInt64 when unknown
	grant limit.Decision // the primary's answer to the last grant
	at    time.Duration  // when the last grant was asked for
	// A denial remembered until deniedUntil, for costs ≥ deniedCost.
	deniedUntil time.Duration
	deniedCost  int64
	denied      limit.Decision
	// refill is non-nil while one call asks the primary for a slice;
	// others wait for it to be closed.
	refill chan struct{}
}

// slice returns the units one lease of limits takes: the configured
// count, or the percentage of the smallest count, at least 1.
func (l *lease) slice(limits []limit.Limit) int64 {
	if l.cfg.Slice > 0 {
		return l.cfg.Slice
	}
	s := int64(0)
	for i, lim := range limits {
		if n := int64(float64(lim.Count()) * l.cfg.Percent / 100); i == 0 || n < s {
			s = n
		}
	}
	return max(1, s)
}

// ttl returns how long a lease of limits may be spent: the configured
// TTL, at most the shortest period.
func (l *lease) ttl(limits []limit.Limit) time.Duration {
	t := l.cfg.TTL
	for _, lim := range limits {
		t = min(t, lim.Period())
	}
	return t
}

// AllowN decides a hot key from its lease, taking a new slice from the
// primary when the lease is spent or expired, and a cold key by the
// primary alone. Errors are the primary's; a failed call leaves the
// key's local state as it was.
func (l *lease) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	if l.closed.Load() {
		return denied(limits), ErrClosed
	}
	if len(limits) == 0 || n < 1 || !allValid(limits) {
		return l.primary.AllowN(ctx, key, n, limits...)
	}
	s := l.slice(limits)
	if n >= s {
		return l.primary.AllowN(ctx, key, n, limits...)
	}
	var buf [128]byte
	id := leaseID(buf[:0], key, limits)
	sh := &l.shards[maphash.Bytes(l.seed, id)&(leaseShards-1)]
	ttl := l.ttl(limits)
	hot := l.cfg.Hot
	if hot <= 0 {
		hot = s
	}
	for {
		now := l.cfg.Clock.Now()
		sh.mu.Lock()
		e := sh.m[string(id)]
		if e == nil {
			e = sh.add(string(id), now, ttl, l.maxPerShard())
			if e == nil { // full of busy keys: plain mode, untracked
				sh.mu.Unlock()
				return l.primary.AllowN(ctx, key, n, limits...)
			}
		}
		e.used = now
		if now-e.hitsAt >= ttl {
			e.wasHot = e.hits > hot && now-e.hitsAt < 2*ttl
			e.hits, e.hitsAt = 0, now
		}
		e.hits++
		if e.hits <= hot && !e.wasHot && e.left == 0 {
			sh.mu.Unlock()
			return l.primary.AllowN(ctx, key, n, limits...) // cold
		}
		if now < e.deniedUntil && n >= e.deniedCost {
			d := e.denied
			d.RetryAfter = e.deniedUntil - now
			sh.mu.Unlock()
			return d, nil
		}
		if now >= e.until {
			e.left = 0
		}
		if e.left >= n {
			e.left -= n
			d := e.grant
			d.Remaining = e.room + e.left
			d.ResetAfter = max(0, d.ResetAfter-(now-e.at))
			sh.mu.Unlock()
			return d, nil
		}
		if e.refill != nil { // another call is asking for a slice
			ch := e.refill
			sh.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return denied(limits), ctx.Err()
			}
		}
		// Ask for a slice: s units, fewer when the primary said less
		// remains (at least this request's n).
		size := s
		if e.room < s && now < e.until+ttl {
			size = max(n, e.room)
		}
		ch := make(chan struct{})
		e.refill = ch
		sh.mu.Unlock()
		d, err := l.primary.AllowN(ctx, key, size, limits...)
		if err == nil && !d.Allowed && size > n {
			size = n
			d, err = l.primary.AllowN(ctx, key, n, limits...)
		}
		sh.mu.Lock()
		e.refill = nil
		close(ch)
		if err == nil {
			if d.Allowed {
				// Units left over from an expired or short lease are not
				// added: they may belong to the primary's previous window.
				e.left, e.until, e.room, e.grant, e.at = size-n, now+ttl, d.Remaining, d, now
				e.deniedUntil = 0
			} else if d.RetryAfter > 0 && d.RetryAfter != limit.Never {
				e.left, e.room = 0, 0
				e.deniedUntil, e.deniedCost, e.denied = l.cfg.Clock.Now()+d.RetryAfter, n, d
			}
		}
		sh.mu.Unlock()
		if err == nil && d.Allowed {
			d.Remaining += size - n
		}
		return d, err
	}
}

// AllowAll decides each charge as AllowN does, refunding the earlier
// ones on a denial (AllowEach).
func (l *lease) AllowAll(ctx context.Context, charges ...Charge) (limit.Decision, int, error) {
	return AllowEach(ctx, l, charges...)
}

// Peek is the primary's Peek: a lease never lends units to a look.
func (l *lease) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	if l.closed.Load() {
		return denied(limits), ErrClosed
	}
	return l.primary.Peek(ctx, key, limits...)
}

// Reset drops this instance's leases and remembered denials of key for
// limits, then resets key in the primary.
func (l *lease) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
	if l.closed.Load() {
		return ErrClosed
	}
	var buf [128]byte
	prefix := leaseID(buf[:0], key, nil)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			if len(id) >= len(prefix) && id[:len(prefix)] == string(prefix) && mentions(id[len(prefix):], limits) {
				e.left, e.deniedUntil, e.room = 0, 0, math.MaxInt64
			}
		}
		sh.mu.Unlock()
	}
	return l.primary.Reset(ctx, key, limits...)
}

// Refund gives n units back in the primary, where every leased unit was
// counted when its slice was taken (a unit spent from a local lease and
// given back frees the same unit there), and forgets this instance's
// remembered denials of key, which the refund may have made stale.
func (l *lease) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if n < 1 {
		return l.primary.Refund(ctx, key, n, limits...)
	}
	var buf [128]byte
	id := leaseID(buf[:0], key, limits)
	sh := &l.shards[maphash.Bytes(l.seed, id)&(leaseShards-1)]
	sh.mu.Lock()
	if e := sh.m[string(id)]; e != nil {
		e.deniedUntil = 0
	}
	sh.mu.Unlock()
	return l.primary.Refund(ctx, key, n, limits...)
}

// Info is the primary's.
func (l *lease) Info() Info { return l.primary.Info() }

// Close closes the primary. It is idempotent.
func (l *lease) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	return l.primary.Close()
}

func (l *lease) maxPerShard() int { return max(1, leaseKeys/leaseShards) }

// add makes the entry of id, first dropping idle entries (no lease, no
// refill, unused for two TTLs) when the shard is full, at most once per
// TTL. It returns nil when the shard is still full.
func (sh *leaseShard) add(id string, now, ttl time.Duration, capacity int) *leaseEntry {
	if len(sh.m) >= capacity {
		if now-sh.swept < ttl {
			return nil
		}
		sh.swept = now
		for k, e := range sh.m {
			if e.refill == nil && now-e.used >= 2*ttl && (e.left == 0 || now >= e.until) {
				delete(sh.m, k)
			}
		}
		if len(sh.m) >= capacity {
			return nil
		}
	}
	e := &leaseEntry{hitsAt: now, room: math.MaxInt64}
	sh.m[id] = e
	return e
}

// leaseID appends the identity of (key, limits) to b: the key's length,
// the key, then each limit's count, period and burst.
func leaseID(b []byte, key string, limits []limit.Limit) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	for _, l := range limits {
		b = binary.LittleEndian.AppendUint64(b, uint64(l.Count()))
		b = binary.LittleEndian.AppendUint64(b, uint64(l.Period()))
		b = binary.LittleEndian.AppendUint64(b, uint64(l.Burst()))
	}
	return b
}

// mentions reports whether the encoded limits enc share a limit with
// limits.
func mentions(enc string, limits []limit.Limit) bool {
	var buf [25]byte
	for _, l := range limits {
		one := string(leaseID(buf[:0], "", []limit.Limit{l})[1:])
		for i := 0; i+24 <= len(enc); i += 24 {
			if enc[i:i+24] == one {
				return true
			}
		}
	}
	return false
}

func allValid(limits []limit.Limit) bool {
	for _, l := range limits {
		if !l.Valid() {
			return false
		}
	}
	return true
}
