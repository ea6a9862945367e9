package engine

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/coarse"
	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/internal/wide"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/shard"
)

// Engine is an in-memory rate limiter: it answers whether a key may make a
// request under one or more limits, counting per (key, limit) pair.
//
// The zero Engine is not usable; call [New]. An Engine is safe for
// concurrent use and must not be copied. Close it to stop its background
// goroutines.
type Engine struct {
	clk      clock.Clock
	coarse   *coarse.Clock // owned, stopped by Close; nil with WithClock
	sliding  bool
	gcra     bool
	strategy limit.Strategy
	cfg      shard.Config
	every    time.Duration

	// tables is a copy-on-write list of the limits seen so far, each with
	// its own key table. Lookups scan it without locks; applications use
	// a handful of distinct limits, and a scan of a few 16-byte values
	// beats a map lookup.
	tables  atomic.Pointer[[]*limitState]
	tableMu sync.Mutex

	// snap is nil unless WithSnapshot: then every allowed request notes
	// its key (snapshot.go).
	snap *snapshotter

	full      atomic.Uint64 // requests denied because a table was full
	evicted   atomic.Uint64 // pairs removed by the sweeper (and sweepAt)
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	_         noCopy
}

// New returns an Engine with the given options, and starts its sweeper.
func New(opts ...Option) *Engine {
	c := config{every: 10 * time.Second}
	for _, o := range opts {
		o.apply(&c)
	}
	e := &Engine{
		clk:      c.clk,
		sliding:  c.strategy == limit.SlidingWindow,
		gcra:     c.strategy == limit.GCRA,
		strategy: c.strategy,
		cfg:      shard.Config{Shards: c.shards, MaxKeys: c.maxKeys},
		every:    c.every,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if e.clk == nil {
		e.coarse = coarse.New(time.Millisecond)
		e.clk = e.coarse
	}
	e.tables.Store(new([]*limitState))
	if c.snap.path != "" {
		e.snap = &snapshotter{
			snapConfig: c.snap,
			keys:       shard.NewObjects[string](shard.Config{Shards: registryShards}),
			done:       make(chan struct{}),
		}
		e.restoreSnapshot()
		go e.snapshotLoop()
	}
	go e.sweepLoop()
	return e
}

// Strategy returns the algorithm the engine applies to every limit.
func (e *Engine) Strategy() limit.Strategy { return e.strategy }

// Allow reports whether key may make one request under l, and counts it if
// so. It is AllowN(key, 1, l).Allowed without computing the rest of the
// Decision, and does not allocate once the key is known.
func (e *Engine) Allow(key string, l limit.Limit) bool {
	// The default coarse clock by a direct call, which inlines; any other
	// clock through its interface (an indirect call, a few percent of a
	// hot key's Allow).
	var now time.Duration
	if c := e.coarse; c != nil {
		now = c.Now()
	} else {
		now = e.clk.Now()
	}
	h := shard.Hash(key)
	ok := e.allow(h, l, clampNow(now))
	if ok && e.snap != nil {
		e.snap.note(h, key) // only an allowed request creates state
	}
	return ok
}

func (e *Engine) allow(h uint64, l limit.Limit, now uint64) bool {
	// The hot path spells out the common cases of state, clamp and load
	// with inlinable helpers (first, inWindow, loadSame), calling the
	// whole functions only when those miss: none of the three fits the
	// inlining budget, and their calls were a fifth of a hot key's
	// instructions (docs/performance.md, "Small path").
	st := e.first(l)
	if st == nil {
		if st = e.state(l); st == nil {
			return false
		}
	}
	if e.gcra {
		if st.w != nil {
			return e.wideGCRAAllow(st, h, now)
		}
		return e.gcraAllow(st, h, now)
	}
	if st.w != nil {
		return e.wideAllow(st, h, now)
	}
	if st.logs != nil {
		d, _ := e.movingTake(st, h, now, 1, commit)
		return d.Allowed
	}
	cnt, p := st.cnt, st.p
	ep, r, ok := st.inWindow(now)
	if !ok {
		ep, r = st.clamp(now)
	}
	// The read-modify-write loop shared by every cell update is shard's
	// Table.Get (find, insert, retry on a retired cell). Allow calls it only
	// on the slow path: Get does not inline (cost 182 against the budget
	// of 80; Find alone costs 76), and calling it on every pass measured
	// slower per hot-key Allow (docs/performance.md, "Cell update loop").
	// So the hot path keeps the inlined lock-free Find and the cell's
	// Load, as gcraAllow does: same code as before Get existed.
	c := st.t.Find(h)
	for {
		v, ok := c.Load()
		if !ok {
			var err error
			if c, v, err = st.t.Get(h); err != nil {
				e.full.Add(1)
				return false
			}
		}
		w, same := loadSame(v, ep, r)
		if !same {
			w = load(v, ep, r)
		}
		if !e.sliding {
			w.Prev = 0 // the fixed window ignores the previous window
		}
		if !w.Fits(e.sliding, 1, cnt, p) {
			// Denied requests change nothing, so the deny path has no CAS.
			return false
		}
		w.Cur++
		if c.CompareAndSwap(v, w.pack()) {
			return true
		}
	}
}

// AllowN reports whether key may make a request of cost n under every one
// of limits, and counts n against all of them if so. A request denied by
// one limit consumes none of the others. A limit named twice is checked
// and counted once.
//
// When all limits allow, the Decision describes the one with the fewest
// units left (the first on ties). When the request is denied, RetryAfter
// is the least wait after which the whole request would be allowed, to
// the nanosecond: the largest of the limits' own waits, which is exact
// because every strategy's admission test is monotone in time; Limit and
// ResetAfter are those of the limit with that wait (the first on ties),
// and Remaining is the fewest units left under any limit.
//
// Requests are judged atomically per limit. Across several limits, a
// request denied by a later limit briefly holds units of the earlier ones
// before giving them back, and a concurrent request may be denied in that
// instant; no request is ever allowed beyond a limit.
//
// A cost n < 1 and a zero (unvalidated) Limit are never allowed and count
// nothing; their RetryAfter is limit.Never, and the Decision names the
// first limit (for n < 1) or the zero Limit. With no limits at all the
// request is allowed.
func (e *Engine) AllowN(key string, n int64, limits ...limit.Limit) limit.Decision {
	return e.allowNAt(e.clk.Now(), key, n, limits...)
}

// allowNAt is AllowN at engine time now instead of the clock's reading.
func (e *Engine) allowNAt(now time.Duration, key string, n int64, limits ...limit.Limit) limit.Decision {
	h := shard.Hash(key)
	d := e.allowNHash(h, clampNow(now), n, limits...)
	if d.Allowed && e.snap != nil {
		e.snap.note(h, key) // only an allowed request creates state
	}
	return d
}

// allowNHash is allowNAt for the key of hash h.
func (e *Engine) allowNHash(h, t uint64, n int64, limits ...limit.Limit) limit.Decision {
	if len(limits) == 1 {
		d, _ := e.take(h, limits[0], n, t, commit)
		return d
	}
	if d, bad := invalid(n, limits); bad {
		return d
	}
	best := limit.Decision{Allowed: true, Remaining: math.MaxInt64}
	var buf [8]mark
	marks := buf[:0] // where each limit counted, for refunds
	for i, l := range limits {
		if repeated(limits, i) {
			marks = append(marks, mark{}) // counted once, at its first mention
			continue
		}
		d, mk := e.take(h, l, n, t, commit)
		if !d.Allowed {
			for j := range i {
				if !repeated(limits, j) {
					e.refund(h, limits[j], uint64(n), marks[j], t)
				}
			}
			return e.denied(h, n, t, limits)
		}
		marks = append(marks, mk)
		best = decide.Merge(best, d)
	}
	if len(limits) == 0 {
		best.Remaining = 0
	}
	return best
}

// Peek reports the Decision that AllowN(key, 1, limits...) would return,
// Remaining and ResetAfter included, without counting anything.
func (e *Engine) Peek(key string, limits ...limit.Limit) limit.Decision {
	return e.peekAt(e.clk.Now(), key, limits...)
}

// peekAt is Peek at engine time now instead of the clock's reading.
func (e *Engine) peekAt(now time.Duration, key string, limits ...limit.Limit) limit.Decision {
	h, t := shard.Hash(key), clampNow(now)
	if d, bad := invalid(1, limits); bad {
		return d
	}
	best := limit.Decision{Allowed: true, Remaining: math.MaxInt64}
	for i, l := range limits {
		if repeated(limits, i) {
			continue
		}
		d, _ := e.take(h, l, 1, t, peek)
		if !d.Allowed {
			if len(limits) == 1 {
				return d
			}
			return e.denied(h, 1, t, limits)
		}
		best = decide.Merge(best, d)
	}
	if len(limits) == 0 {
		best.Remaining = 0
	}
	return best
}

// denied returns the Decision of a denied request of cost n under several
// limits: every limit judged without the request, merged by decide.Merge.
func (e *Engine) denied(h uint64, n int64, now uint64, limits []limit.Limit) limit.Decision {
	var acc limit.Decision
	for i, l := range limits {
		if repeated(limits, i) {
			continue
		}
		d, _ := e.take(h, l, n, now, look)
		if i == 0 {
			acc = d
		} else {
			acc = decide.Merge(acc, d)
		}
	}
	return acc
}

// invalid returns the Decision of a request that can never be allowed, a
// cost below 1 or a zero Limit among limits, and reports whether it is
// one.
func invalid(n int64, limits []limit.Limit) (limit.Decision, bool) {
	if len(limits) == 0 {
		return limit.Decision{}, false
	}
	if n < 1 {
		return limit.Decision{Limit: limits[0], RetryAfter: limit.Never}, true
	}
	for _, l := range limits {
		if !l.Valid() {
			return limit.Decision{Limit: l, RetryAfter: limit.Never}, true
		}
	}
	return limit.Decision{}, false
}

// repeated reports whether limits[i] also appears earlier in limits: a
// limit named twice in one call is checked and counted once.
func repeated(limits []limit.Limit, i int) bool {
	for _, l := range limits[:i] {
		if l == limits[i] {
			return true
		}
	}
	return false
}

// mode says what take does with a cost that fits.
type mode uint8

const (
	commit mode = iota // count it, and answer allowed
	peek               // count nothing, and answer as if counted
	look               // count nothing, and answer as denied: the state without the cost and its own wait (0)
)

// mark records where take counted a cost, for refund: the window
// strategies' window number, the GCRA tat the request found, the moving
// window's entry time, or a wide GCRA tat (a window number and ticks).
type mark struct{ a, b uint64 }

// take judges cost n under one limit and, in mode commit when the cost
// fits, counts it. It returns the decision and the mark of where the cost
// was counted, for refunds.
func (e *Engine) take(h uint64, l limit.Limit, n int64, now uint64, m mode) (limit.Decision, mark) {
	st := e.state(l)
	if st == nil || n < 1 {
		return limit.Decision{Limit: l, RetryAfter: limit.Never}, mark{}
	}
	if st.w != nil {
		return e.wideTake(st, h, now, uint64(n), m)
	}
	if e.gcra {
		return e.gcraTake(st, h, now, uint64(n), m)
	}
	if st.logs != nil {
		return e.movingTake(st, h, now, uint64(n), m)
	}
	cnt, p := uint64(l.Count()), st.p
	ep, r := st.clamp(now)
	// A reading older than the high-water window is judged at that
	// window's start (clamp); its waits count from the reading itself, so
	// they include the gap: denied at now+RetryAfter−1ns, allowed at
	// now+RetryAfter (fuzz/testdata/fuzz/FuzzOps/80484e6fc1f7f6ba).
	ahead := time.Duration(ep*p + r - now)
	if m != commit && st.t.Find(h) == nil {
		// Unknown key: nothing counted. Do not insert on a peek.
		w := window{epoch: ep, Window: decide.Window{R: r}}
		fits := m == peek && w.Fits(e.sliding, uint64(n), cnt, p)
		if fits {
			w.Cur += uint64(n) // a peek answers as if the request were counted
		}
		return decide.Later(w.Decide(e.sliding, fits, uint64(n), l), ahead), mark{a: ep}
	}
	for {
		c, v, err := st.t.Get(h)
		if err != nil {
			e.full.Add(1)
			return limit.Decision{Limit: l, RetryAfter: l.Period()}, mark{}
		}
		w := e.load(v, ep, r)
		if m == look || !w.Fits(e.sliding, uint64(n), cnt, p) {
			return decide.Later(w.Decide(e.sliding, false, uint64(n), l), ahead), mark{a: w.epoch}
		}
		w.Cur += uint64(n)
		if m == peek || c.CompareAndSwap(v, w.pack()) {
			return decide.Later(w.Decide(e.sliding, true, uint64(n), l), ahead), mark{a: w.epoch}
		}
	}
}

// refund gives back n units that take counted at time now where mk
// says: in window mk.a (GCRA: on top of the tat mk.a; moving window: at
// time mk.a; wide state: see wideRefund).
func (e *Engine) refund(h uint64, l limit.Limit, n uint64, mk mark, now uint64) {
	st := e.state(l)
	if st.logs != nil {
		e.movingRefund(st, h, mk.a, n)
		return
	}
	if st.w != nil {
		st.wideRefund(h, n, mk, now)
		return
	}
	epoch := mk.a
	if st.t.Find(h) == nil {
		return // evicted or reset: nothing of ours is left
	}
	for {
		// A cell retired since (evicted, or moved by a rebuild) is found
		// again; a fresh one holds nothing of ours and refund leaves it.
		c, v, err := st.t.Get(h)
		if err != nil {
			return
		}
		next := refund(v, epoch, n)
		if e.gcra {
			next = gcraRefund(v, epoch, st.ticks.Tick(now), n)
		}
		if c.CompareAndSwap(v, next) {
			return
		}
	}
}

// load decodes a cell for this engine's strategy.
func (e *Engine) load(v, ep, r uint64) window {
	w := load(v, ep, r)
	if !e.sliding {
		w.Prev = 0 // the fixed window ignores the previous window
	}
	return w
}

// Reset forgets key's usage of each of limits, so that its next request
// sees the whole limit.
func (e *Engine) Reset(key string, limits ...limit.Limit) {
	h := shard.Hash(key)
	for _, l := range limits {
		switch st := e.state(l); {
		case st == nil:
		case st.logs != nil:
			st.movingReset(h)
		case st.w != nil:
			st.w.Delete(h)
		default:
			st.t.Delete(h)
		}
	}
}

// Len returns the number of live (key, limit) pairs.
func (e *Engine) Len() int {
	n := 0
	for _, st := range *e.tables.Load() {
		switch {
		case st.logs != nil:
			// Counted by a sweep that evicts nothing: one shard locked
			// at a time, as a count would.
			st.logs.Sweep(func(*movingLog) bool { n++; return false })
		case st.w != nil:
			n += st.w.Len()
		default:
			n += st.t.Len()
		}
	}
	return n
}

// Full returns how many requests were denied because a limit's table had
// reached its key cap (see WithMaxKeys).
func (e *Engine) Full() uint64 { return e.full.Load() }

// Evicted returns how many idle (key, limit) pairs the background sweeper
// has evicted. A sweep that a request runs itself, when the sweeper has
// fallen far behind (or is disabled), is not counted.
func (e *Engine) Evicted() uint64 { return e.evicted.Load() }

// first returns the state of l if l is the engine's first limit, else
// nil: the part of state that the hot path inlines. Most engines use one
// limit, or check one first.
func (e *Engine) first(l limit.Limit) *limitState {
	if ts := *e.tables.Load(); len(ts) != 0 && ts[0].l == l {
		return ts[0]
	}
	return nil
}

// state returns the state of l, creating it on first use, or nil when l
// is invalid.
func (e *Engine) state(l limit.Limit) *limitState {
	for _, st := range *e.tables.Load() {
		if st.l == l {
			return st
		}
	}
	if !l.Valid() {
		return nil
	}
	return e.addState(l)
}

func (e *Engine) addState(l limit.Limit) *limitState {
	e.tableMu.Lock()
	defer e.tableMu.Unlock()
	old := *e.tables.Load()
	for _, st := range old {
		if st.l == l {
			return st
		}
	}
	st := &limitState{
		l:       l,
		p:       uint64(l.Period()),
		cnt:     uint64(l.Count()),
		burst:   uint64(l.Burst()),
		gcra:    e.gcra,
		sliding: e.sliding,
		t:       shard.New(e.cfg),
	}
	st.ticks = decide.NewTicks(st.cnt, st.p)
	st.wticks = decide.NewWideTicks(st.cnt, st.p)
	switch {
	case e.strategy == limit.MovingWindow:
		st.logs = shard.NewObjects[movingLog](e.cfg)
	case wideCell(st.gcra, st.cnt, st.burst, st.p):
		st.w = wide.New(e.cfg)
		st.casGCRA = st.gcra && st.burst <= gcraLead*st.cnt
	}
	// hw and swept start at window 0: hw is the newest window a request or
	// sweep has used, and a first request far from 0 sweeps the (empty)
	// table in the foreground, which costs nothing.
	next := make([]*limitState, len(old), len(old)+1)
	copy(next, old)
	next = append(next, st)
	e.tables.Store(&next)
	return st
}

// wideCell reports whether a limit of cnt units (GCRA: a bucket of
// burst) per p nanoseconds takes the wide path (wide.go): counts beyond
// the one-word cell's fields, and GCRA ticks that would outgrow 64 bits
// (more than a unit per nanosecond, or a burst beyond the cell's range).
func wideCell(gcra bool, cnt, burst, p uint64) bool {
	return cnt > countMask || gcra && (burst > countMask || cnt > p)
}

func clampNow(now time.Duration) uint64 {
	if now < 0 {
		return 0
	}
	return uint64(now)
}
