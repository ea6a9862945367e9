package sethvargo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v4"
	golimiter "github.com/sethvargo/go-limiter"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/uri"
	"github.com/floodgate-go/floodgate/limit"
)

// ErrLimit is wrapped by the errors of New, Open and Set for tokens and
// an interval that make no Floodgate limit: tokens outside
// 1..limit.MaxCount, or an interval that is not a whole number of
// milliseconds from 1ms to limit.MaxPeriod.
var ErrLimit = errors.New("sethvargo: tokens and interval make no floodgate limit")

// Defaults of [Config].
const (
	// DefaultPrefix is the prefix of every key in the floodgate store.
	DefaultPrefix = "golimiter:"
	// DefaultMaxOverrides caps the keys that Set and Burst remember.
	DefaultMaxOverrides = 1 << 16
	// DefaultOverrideTTL is how long an unused override is kept for sure.
	DefaultOverrideTTL = 12 * time.Hour
)

// Config configures a [Store]. The zero Config, like a nil one, means
// every default.
type Config struct {
	// Tokens is the number of tokens per Interval of a key that Set did
	// not configure. Default 1, as memorystore.
	Tokens uint64
	// Interval is the window of Tokens. Default 1s, as memorystore. A
	// whole number of milliseconds; sub-second intervals work.
	Interval time.Duration
	// Prefix is put before every key in the floodgate store, so that
	// other users of the store count apart. Default [DefaultPrefix].
	Prefix string
	// MaxOverrides caps the keys whose Set limit or Burst tokens this
	// process remembers. Default [DefaultMaxOverrides] (65,536, a few
	// MB). Higher keeps more per-key limits; the cap is what bounds
	// the memory of a process whose Set calls follow user input.
	MaxOverrides int
	// OverrideTTL is how long an override is kept after its last use
	// for sure; older ones are dropped when the map is full. Default
	// [DefaultOverrideTTL] (12h, as memorystore's SweepMinTTL). It
	// should be longer than the longest Interval given to Set.
	OverrideTTL time.Duration
}

// Store is a go-limiter limiter.Store that counts in a floodgate.Store.
// Build one with [New] or [Open]; the zero Store is not usable. A Store
// is safe for concurrent use and must not be copied.
type Store struct {
	s      floodgate.Store
	def    []limit.Limit // one limit, passed as is: no slice per call
	prefix string
	max    int
	ttl    time.Duration

	ov     *xsync.Map[string, *override]
	n      atomic.Int64 // overrides in ov; Take skips ov while 0
	mu     sync.Mutex   // serializes inserts and evictions of ov
	closed atomic.Bool
}

var _ golimiter.Store = (*Store)(nil)

// override is what Set and Burst remember of one key.
type override struct {
	lim    []limit.Limit // Set's limit; nil means the default
	credit atomic.Int64  // Burst's tokens left, valid before until
	until  atomic.Int64  // unix nanoseconds
	used   atomic.Int64  // unix nanoseconds of the last use
}

// New returns a Store that counts in s under c (nil means the defaults).
// Close closes s. s should judge by the fixed-window strategy to refill
// as memorystore does (see the package documentation); [Open] does that
// by default. New fails with an error wrapping [ErrLimit] when c's
// Tokens and Interval make no floodgate limit.
func New(s floodgate.Store, c *Config) (*Store, error) {
	if c == nil {
		c = &Config{}
	}
	tokens, interval := c.Tokens, c.Interval
	if tokens == 0 {
		tokens = 1
	}
	if interval == 0 {
		interval = time.Second
	}
	def, err := toLimit(tokens, interval)
	if err != nil {
		return nil, err
	}
	st := &Store{s: s, def: []limit.Limit{def}, prefix: c.Prefix, max: c.MaxOverrides, ttl: c.OverrideTTL,
		ov: xsync.NewMap[string, *override]()}
	if st.prefix == "" {
		st.prefix = DefaultPrefix
	}
	if st.max <= 0 {
		st.max = DefaultMaxOverrides
	}
	if st.ttl <= 0 {
		st.ttl = DefaultOverrideTTL
	}
	return st, nil
}

// Open returns a Store on floodgate.Open(uri), with strategy=fixed-window
// added when uri names no strategy, configured by c as [New]. Redis URIs
// need the Redis store registered:
//
//	import _ "github.com/floodgate-go/floodgate/redisstore"
func Open(u string, c *Config) (*Store, error) {
	s, err := floodgate.Open(uri.WithDefault(u, "strategy", "fixed-window"))
	if err != nil {
		return nil, err
	}
	st, err := New(s, c)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return st, nil
}

// Floodgate returns the floodgate.Store that s counts in.
func (s *Store) Floodgate() floodgate.Store { return s.s }

// Overrides returns how many keys' Set limits and Burst tokens s
// remembers, at most Config.MaxOverrides.
func (s *Store) Overrides() int { return int(s.n.Load()) }

// Take takes one token of key: tokens is the key's limit, remaining what
// is left after the take (Burst tokens included), reset the unix
// nanosecond when a token is available again, ok whether the take
// succeeded. err is a closed store (limiter.ErrStopped) or the caller's
// context; a failing Redis is decided by the failure policy, with no
// error.
func (s *Store) Take(ctx context.Context, key string) (tokens, remaining, reset uint64, ok bool, err error) {
	if s.closed.Load() {
		return 0, 0, 0, false, golimiter.ErrStopped
	}
	lim, ov := s.lookup(key)
	d, err := s.s.AllowN(ctx, s.prefix+key, 1, lim...)
	if err = decided(err); err != nil {
		return 0, 0, 0, false, err
	}
	now := time.Now()
	left := int64(0)
	if ov != nil {
		ov.used.Store(now.UnixNano())
		if !d.Allowed {
			d.Allowed = ov.takeCredit(now.UnixNano())
		}
		left = ov.creditLeft(now.UnixNano())
	}
	after := d.ResetAfter
	if !d.Allowed {
		after = d.RetryAfter
	}
	return uint64(lim[0].Count()), uint64(d.Remaining + left), at(now, after), d.Allowed, nil
}

// Get returns key's limit and the tokens it has left, Burst tokens
// included, without taking any.
func (s *Store) Get(ctx context.Context, key string) (tokens, remaining uint64, err error) {
	if s.closed.Load() {
		return 0, 0, golimiter.ErrStopped
	}
	lim, ov := s.lookup(key)
	d, err := s.s.Peek(ctx, s.prefix+key, lim...)
	if err = decided(err); err != nil {
		return 0, 0, err
	}
	left := int64(0)
	if d.Allowed {
		left = d.Remaining + 1 // Peek answers as if it had taken one
	}
	if ov != nil {
		left += ov.creditLeft(time.Now().UnixNano())
	}
	return uint64(lim[0].Count()), uint64(left), nil
}

// Set gives key its own limit of tokens per interval, with a full
// bucket, in this process (see the package documentation). It fails with
// an error wrapping [ErrLimit] for tokens and an interval that make no
// floodgate limit.
func (s *Store) Set(ctx context.Context, key string, tokens uint64, interval time.Duration) error {
	if s.closed.Load() {
		return golimiter.ErrStopped
	}
	lim, err := toLimit(tokens, interval)
	if err != nil {
		return err
	}
	old, _ := s.lookup(key)
	s.mu.Lock()
	ov := &override{lim: []limit.Limit{lim}}
	ov.used.Store(time.Now().UnixNano())
	if prev, ok := s.ov.Load(key); ok {
		ov.credit.Store(prev.credit.Load())
		ov.until.Store(prev.until.Load())
	}
	s.insert(key, ov)
	s.mu.Unlock()
	if err := decided(s.s.Reset(ctx, s.prefix+key, lim, old[0])); err != nil {
		return err
	}
	return nil
}

// Burst gives key tokens more until the end of its current window, taken
// once the window's own tokens are spent.
func (s *Store) Burst(ctx context.Context, key string, tokens uint64) error {
	if s.closed.Load() {
		return golimiter.ErrStopped
	}
	if tokens > math.MaxInt64/2 {
		return fmt.Errorf("%w: burst of %d tokens", ErrLimit, tokens)
	}
	lim, _ := s.lookup(key)
	d, err := s.s.Peek(ctx, s.prefix+key, lim...)
	if err = decided(err); err != nil {
		return err
	}
	end := d.ResetAfter
	if end <= 0 {
		end = lim[0].Period()
	}
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	ov, ok := s.ov.Load(key)
	if !ok {
		ov = &override{}
		s.insert(key, ov)
	}
	ov.used.Store(now)
	ov.credit.Store(ov.creditLeft(now) + int64(tokens))
	ov.until.Store(now + int64(end))
	return nil
}

// Close closes the floodgate.Store. It is idempotent; Take, Get, Set and
// Burst return limiter.ErrStopped afterwards.
func (s *Store) Close(context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.ov.Clear()
	s.n.Store(0)
	return s.s.Close()
}

// lookup returns key's limit, as a slice of one to pass on, and its
// override, if any.
func (s *Store) lookup(key string) ([]limit.Limit, *override) {
	if s.n.Load() == 0 {
		return s.def, nil
	}
	ov, ok := s.ov.Load(key)
	if !ok {
		return s.def, nil
	}
	if ov.lim != nil {
		return ov.lim, ov
	}
	return s.def, ov
}

// insert stores ov at key, first making room when the map is full:
// overrides unused for the TTL (or holding only spent Burst tokens) go,
// then the least recently used one. s.mu is held.
func (s *Store) insert(key string, ov *override) {
	if _, ok := s.ov.Load(key); ok {
		s.ov.Store(key, ov)
		return
	}
	if int(s.n.Load()) >= s.max {
		now := time.Now().UnixNano()
		var (
			lruKey  string
			lruUsed int64 = math.MaxInt64
		)
		for k, o := range s.ov.All() {
			u := o.used.Load()
			if now-u > int64(s.ttl) || (o.lim == nil && o.creditLeft(now) == 0) {
				s.ov.Delete(k)
				s.n.Add(-1)
				continue
			}
			if u < lruUsed {
				lruKey, lruUsed = k, u
			}
		}
		if int(s.n.Load()) >= s.max && lruUsed != math.MaxInt64 {
			s.ov.Delete(lruKey)
			s.n.Add(-1)
		}
	}
	s.ov.Store(key, ov)
	s.n.Add(1)
}

// takeCredit takes one Burst token if one is left at now.
func (o *override) takeCredit(now int64) bool {
	for {
		c := o.credit.Load()
		if c <= 0 || now >= o.until.Load() {
			return false
		}
		if o.credit.CompareAndSwap(c, c-1) {
			return true
		}
	}
}

// creditLeft returns the Burst tokens left at now.
func (o *override) creditLeft(now int64) int64 {
	if now >= o.until.Load() {
		return 0
	}
	return max(o.credit.Load(), 0)
}

// toLimit returns the floodgate limit of tokens per interval.
func toLimit(tokens uint64, interval time.Duration) (limit.Limit, error) {
	if tokens > limit.MaxCount {
		return limit.Limit{}, fmt.Errorf("%w: %d tokens is more than %d", ErrLimit, tokens, int64(limit.MaxCount))
	}
	l, err := limit.New(int64(tokens), interval)
	if err != nil {
		return limit.Limit{}, fmt.Errorf("%w: %d per %v: %w", ErrLimit, tokens, interval, err)
	}
	return l, nil
}

// decided returns nil for an error whose Decision was made by a
// floodgate.Fallback's failure policy (which logs it): that decision
// stands. A closed floodgate store is limiter.ErrStopped, as go-limiter
// asks of every stoppable store. Other errors are returned.
func decided(err error) error {
	switch {
	case err == nil, errors.Is(err, floodgate.ErrStorage):
		return nil
	case errors.Is(err, floodgate.ErrClosed):
		return fmt.Errorf("%w: %w", golimiter.ErrStopped, err)
	}
	return err
}

// at returns now+after in unix nanoseconds, saturating (limit.Never).
func at(now time.Time, after time.Duration) uint64 {
	n := now.UnixNano()
	if after > time.Duration(math.MaxInt64-n) {
		return math.MaxInt64
	}
	return uint64(n + int64(after))
}
