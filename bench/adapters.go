package bench

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-chi/httprate"
	"github.com/puzpuzpuz/xsync/v4"
	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	"github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/limit"
)

// Limiter is the one call every column is measured through. Allow reports
// whether one request of key is allowed, and counts it if so.
type Limiter interface {
	Allow(key string) bool
	Close()
}

// Sweeper is implemented by columns whose eviction the benchmark drives
// itself, because they run on a [VirtualClock].
type Sweeper interface{ Sweep() }

// Spec is what every adapter is built from: Count requests per Window,
// or, with Unreachable, the largest limit the column can express.
type Spec struct {
	Count  int64
	Window time.Duration
	// Unreachable asks for a limit no benchmark can reach: each column
	// takes the largest it can express (see the constructors), so that a
	// denial is a wrong answer.
	Unreachable bool
	// Clock, when set, is the time source of the columns that accept one
	// (Impl.Virtual); the others read real time.
	Clock *VirtualClock
	// Evict turns on the column's own eviction of idle keys, with the
	// sweep interval Window/4 for columns on real time. Without it, a
	// column keeps every key for the whole benchmark, as each does by
	// default over a window of an hour.
	Evict bool
	// LRUKeys caps the columns that evict by count, not by time
	// (throttled's memstore); 0 means no cap.
	LRUKeys int
	// Keys pre-fill floor-map, which knows no other keys.
	Keys []string
}

// Impl is one column of the comparison.
type Impl struct {
	Name string
	New  func(Spec) Limiter
	// Floor marks the columns that are not limiters: they always allow.
	Floor bool
	// Virtual marks the columns that can run on Spec.Clock.
	Virtual bool
}

// Impls lists the columns in the order they are reported.
func Impls() []Impl {
	return []Impl{
		{Name: "floor-array", New: newFloorArray, Floor: true, Virtual: true},
		{Name: "floor-map", New: newFloorMap, Floor: true, Virtual: true},
		{Name: "floodgate-sliding", New: newFloodgate(limit.SlidingWindow, smallCount), Virtual: true},
		{Name: "floodgate-fixed", New: newFloodgate(limit.FixedWindow, smallCount), Virtual: true},
		{Name: "floodgate-gcra", New: newFloodgate(limit.GCRA, smallCount), Virtual: true},
		{Name: "floodgate-moving", New: newFloodgate(limit.MovingWindow, smallCount), Virtual: true},
		{Name: "floodgate-sliding-large", New: newFloodgate(limit.SlidingWindow, largeCount), Virtual: true},
		{Name: "floodgate-fixed-large", New: newFloodgate(limit.FixedWindow, largeCount), Virtual: true},
		{Name: "floodgate-gcra-large", New: newFloodgate(limit.GCRA, largeCount), Virtual: true},
		{Name: "sethvargo", New: newSethvargo},
		{Name: "ulule", New: newUlule},
		{Name: "httprate", New: newHTTPRate, Virtual: true},
		{Name: "throttled", New: newThrottled, Virtual: true},
		{Name: "xrate-xsync", New: newXRate, Virtual: true},
	}
}

// VirtualClock is a fake time source that the benchmark moves by hand, for
// the columns that accept one. It reads as Epoch plus the manual clock.
type VirtualClock struct{ m *clock.Manual }

// Epoch is the wall-clock instant at which every VirtualClock starts.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// NewVirtualClock returns a clock standing at Epoch.
func NewVirtualClock() *VirtualClock { return &VirtualClock{m: clock.NewManual(0)} }

// Advance moves the clock forward by d.
func (c *VirtualClock) Advance(d time.Duration) { c.m.Advance(d) }

// Time returns the clock's reading as a wall-clock time.
func (c *VirtualClock) Time() time.Time { return Epoch.Add(c.m.Now()) }

// ---- floors ----

// paddedCounter is one cache line.
type paddedCounter struct {
	n atomic.Int64
	_ [64 - unsafe.Sizeof(atomic.Int64{})]byte
}

const floorSlots = 1 << 16

// floorArray hashes the key (seeded maphash, as Floodgate does) into a
// fixed array of padded counters and adds one. It is the hardware floor of
// "hash a key, touch its counter": no lookup, no limit.
type floorArray struct {
	seed maphash.Seed
	c    []paddedCounter
}

func newFloorArray(Spec) Limiter {
	return &floorArray{seed: maphash.MakeSeed(), c: make([]paddedCounter, floorSlots)}
}

func (f *floorArray) Allow(key string) bool {
	return f.c[maphash.String(f.seed, key)&(floorSlots-1)].n.Add(1) > 0
}

func (f *floorArray) Close() {}

// floorMap is a pre-filled map[string]*int64 plus an atomic add: the floor
// of a lookup among many keys. Keys it was not filled with are denied,
// which the benchmarks count as wrong answers.
type floorMap struct{ m map[string]*int64 }

func newFloorMap(s Spec) Limiter {
	m := make(map[string]*int64, len(s.Keys))
	for _, k := range s.Keys {
		m[k] = new(int64)
	}
	return &floorMap{m: m}
}

func (f *floorMap) Allow(key string) bool {
	p, ok := f.m[key]
	if !ok {
		return false
	}
	atomic.AddInt64(p, 1)
	return true
}

func (f *floorMap) Close() {}

// ---- Floodgate ----

type floodgate struct {
	e   *engine.Engine
	l   limit.Limit
	clk clock.Clock // the engine's time base, for Sweep
}

// The unreachable counts per second of the Floodgate columns: smallCount
// is the largest count of the engine's one-word cell (2^29−1, about
// 5.4·10^8/s), largeCount a count past it (10^9/s: "1000000000/month"
// and the like take the same path). Neither can be reached by a
// benchmark: a hot key on 2 cores makes at most about 10^8 calls per
// second.
const (
	smallCount = 1<<29 - 1
	largeCount = 1_000_000_000
)

// newFloodgate builds a Floodgate column with the engine's defaults. Its
// unreachable limit is unreachable per second.
func newFloodgate(st limit.Strategy, unreachable int64) func(Spec) Limiter {
	return func(s Spec) Limiter {
		opts := []engine.Option{engine.WithStrategy(st)}
		var clk clock.Clock = clock.System() // the default clock's base: Unix-epoch time
		count, window := s.Count, s.Window
		if s.Unreachable {
			count, window = unreachable, time.Second
		}
		switch {
		case s.Clock != nil:
			clk = s.Clock.m
			opts = append(opts, engine.WithClock(s.Clock.m), engine.WithSweepInterval(-1))
		case s.Evict:
			opts = append(opts, engine.WithSweepInterval(window/4))
		}
		l, err := limit.New(count, window)
		if err != nil {
			panic(err)
		}
		return &floodgate{e: engine.New(opts...), l: l, clk: clk}
	}
}

func (f *floodgate) Allow(key string) bool { return f.e.Allow(key, f.l) }

// Sweep is a pass of the engine's sweeper at its clock reading.
func (f *floodgate) Sweep() { engineinternal.SweepAt(f.e, f.clk.Now()) }

func (f *floodgate) Close() { f.e.Close() }

// ---- github.com/sethvargo/go-limiter memorystore ----

type sethvargo struct {
	ctx context.Context
	s   interface {
		Take(context.Context, string) (uint64, uint64, uint64, bool, error)
		Close(context.Context) error
	}
}

// newSethvargo's unreachable limit is 2^62 tokens per hour: the hour
// keeps the bucket from ticking during a benchmark, which matters because
// memorystore refills delta·Interval/Tokens tokens per tick (it inverts
// the fill rate), less than the whole bucket once Tokens² > Interval in ns.
func newSethvargo(s Spec) Limiter {
	if s.Unreachable {
		s.Count, s.Window = 1<<62, time.Hour
	}
	cfg := &memorystore.Config{Tokens: uint64(s.Count), Interval: s.Window}
	if s.Evict {
		cfg.SweepInterval, cfg.SweepMinTTL = s.Window/4, s.Window
	}
	st, err := memorystore.New(cfg)
	if err != nil {
		panic(err)
	}
	return &sethvargo{ctx: context.Background(), s: st}
}

func (l *sethvargo) Allow(key string) bool {
	_, _, _, ok, err := l.s.Take(l.ctx, key)
	return ok && err == nil
}

func (l *sethvargo) Close() { _ = l.s.Close(l.ctx) }

// ---- github.com/ulule/limiter/v3 memory store ----

type ululeLimiter struct {
	ctx context.Context
	l   *ulule.Limiter
}

// newUlule's unreachable limit is MaxInt64 per hour.
func newUlule(s Spec) Limiter {
	if s.Unreachable {
		s.Count, s.Window = math.MaxInt64, time.Hour
	}
	opts := ulule.StoreOptions{Prefix: ulule.DefaultPrefix, CleanUpInterval: ulule.DefaultCleanUpInterval}
	if s.Evict {
		opts.CleanUpInterval = s.Window / 4
	}
	st := ululemem.NewStoreWithOptions(opts)
	return &ululeLimiter{ctx: context.Background(), l: ulule.New(st, ulule.Rate{Period: s.Window, Limit: s.Count})}
}

func (l *ululeLimiter) Allow(key string) bool {
	c, err := l.l.Get(l.ctx, key)
	return err == nil && !c.Reached
}

// Close does nothing: the memory store stops its cleaner from a finalizer.
func (l *ululeLimiter) Close() {}

// ---- github.com/go-chi/httprate local counter ----

// httprateLimiter is httprate.RateLimiter.OnLimit with its local counter,
// less the response headers it writes: the same window arithmetic, the
// limiter's mutex around read-and-increment, and the counter's own lock.
// (OnLimit needs an http.ResponseWriter; bench/httpbench measures that.)
type httprateLimiter struct {
	mu      sync.Mutex
	c       httprate.LimitCounter
	limit   int
	window  time.Duration
	offset  time.Duration
	virtual *VirtualClock
}

// newHTTPRate's unreachable limit is MaxInt64 per hour.
func newHTTPRate(s Spec) Limiter {
	if s.Unreachable {
		s.Count, s.Window = math.MaxInt64, time.Hour
	}
	start := time.Now().UTC()
	if s.Clock != nil {
		start = s.Clock.Time()
	}
	return &httprateLimiter{
		c:       httprate.NewLocalLimitCounter(s.Window),
		limit:   int(s.Count),
		window:  s.Window,
		offset:  start.Sub(start.Truncate(s.Window)),
		virtual: s.Clock,
	}
}

func (l *httprateLimiter) Allow(key string) bool {
	now := time.Now().UTC()
	if l.virtual != nil {
		now = l.virtual.Time()
	}
	cur := now.Add(-l.offset).Truncate(l.window).Add(l.offset)
	l.mu.Lock()
	defer l.mu.Unlock()
	curr, prev, err := l.c.Get(key, cur, cur.Add(-l.window))
	if err != nil {
		return false
	}
	diff := now.Sub(cur)
	r := float64(prev)*(float64(l.window)-float64(diff))/float64(l.window) + float64(curr)
	if int(math.Round(r))+1 > l.limit {
		return false
	}
	return l.c.IncrementBy(key, cur, 1) == nil
}

func (l *httprateLimiter) Close() {}

// ---- github.com/throttled/throttled/v2 GCRA with memstore ----

type throttledLimiter struct {
	ctx context.Context
	rl  *throttled.GCRARateLimiterCtx
}

// newThrottled's unreachable limit is 3.6·10^12 per hour: GCRA's emission
// interval Window/Count must stay at least 1 ns (at 0 it divides by zero).
func newThrottled(s Spec) Limiter {
	if s.Unreachable {
		s.Count, s.Window = 3_600_000_000_000, time.Hour
	}
	st, err := memstore.New(s.LRUKeys)
	if err != nil {
		panic(err)
	}
	if s.Clock != nil {
		st.SetTimeNow(s.Clock.Time)
	}
	q := throttled.RateQuota{MaxRate: throttled.PerDuration(int(s.Count), s.Window), MaxBurst: int(s.Count) - 1}
	rl, err := throttled.NewGCRARateLimiterCtx(throttled.WrapStoreWithContext(st), q)
	if err != nil {
		panic(err)
	}
	return &throttledLimiter{ctx: context.Background(), rl: rl}
}

func (l *throttledLimiter) Allow(key string) bool {
	limited, _, err := l.rl.RateLimitCtx(l.ctx, key, 1)
	return err == nil && !limited
}

func (l *throttledLimiter) Close() {}

// ---- golang.org/x/time/rate, one limiter per key in an xsync.Map ----

// xrate is the common hand-rolled limiter: a token bucket of Count tokens
// refilled over Window, one per key, in a concurrent map. Sweep deletes
// the buckets that are full again, which are indistinguishable from new
// ones.
type xrate struct {
	m       *xsync.Map[string, *rate.Limiter]
	r       rate.Limit
	burst   int
	virtual *VirtualClock
	done    chan struct{}
	wg      sync.WaitGroup
}

// newXRate's unreachable limit is 10^9 per second with a burst of 2^50
// (exact in float64); not rate.Inf, which would skip the token arithmetic.
func newXRate(s Spec) Limiter {
	if s.Unreachable {
		s.Count, s.Window = 1<<50, time.Duration(1<<50)
	}
	l := &xrate{
		m:       xsync.NewMap[string, *rate.Limiter](),
		r:       rate.Limit(float64(s.Count) / s.Window.Seconds()),
		burst:   int(s.Count),
		virtual: s.Clock,
		done:    make(chan struct{}),
	}
	if s.Evict && s.Clock == nil {
		l.wg.Go(func() {
			t := time.NewTicker(s.Window / 4)
			defer t.Stop()
			for {
				select {
				case <-l.done:
					return
				case <-t.C:
					l.Sweep()
				}
			}
		})
	}
	return l
}

func (l *xrate) Allow(key string) bool {
	lim, ok := l.m.Load(key)
	if !ok {
		lim, _ = l.m.LoadOrCompute(key, func() (*rate.Limiter, bool) {
			return rate.NewLimiter(l.r, l.burst), false
		})
	}
	if l.virtual != nil {
		return lim.AllowN(l.virtual.Time(), 1)
	}
	return lim.Allow()
}

func (l *xrate) Sweep() {
	now := time.Now()
	if l.virtual != nil {
		now = l.virtual.Time()
	}
	l.m.DeleteMatching(func(_ string, lim *rate.Limiter) (bool, bool) {
		return lim.TokensAt(now) >= float64(l.burst), false
	})
}

func (l *xrate) Close() {
	close(l.done)
	l.wg.Wait()
}
