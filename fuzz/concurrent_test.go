package fuzz_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/internal/model"
	"github.com/floodgate-go/floodgate/limit"
)

// FuzzConcurrent decodes its input into phases of requests that several
// goroutines send at once to one engine whose clock is frozen for the
// phase, then checks: no pair's window admitted more than its limit (the
// allowed requests, replayed into the model, are all allowed; GCRA
// allowed at most Burst units per pair in the frozen instant; the moving
// window at most Count in any period, across phases); with the fixed
// window, GCRA or the moving window and unit costs, exactly
// min(attempts, what was left) were allowed; denied requests were
// justified and consumed nothing (every pair ends where the model does).
//
// Input: byte 0 picks the sliding or fixed window and the number of
// goroutines, bytes 1-2 the two limits (for GCRA, with a burst each);
// then each phase is a clock step and, per goroutine, a count of
// requests and their operands (see decodePhases). A last byte of 0xf8
// or 0xf9 selects GCRA or the moving window instead (see pickStrategy).
func FuzzConcurrent(f *testing.F) {
	f.Add([]byte{0, 1, 4, 0x40, 5, 0, 0, 1, 0, 0, 2, 0, 0, 3, 5, 0, 0, 1, 0, 0, 2, 0, 0, 3})
	f.Add([]byte{3, 1, 3, 0x48, 9, 0, 1, 0, 1, 1, 0, 2, 3, 0x60, 1, 2, 0, 9, 1, 1, 0, 2, 2, 0x60})
	f.Add([]byte{6, 0, 2, 0x21, 15, 0, 3, 0x61, 1, 3, 0, 15, 2, 3, 0x7f, 0, 1, 0, 0x80, 4, 0, 2, 0})
	f.Add([]byte{1, 4, 0, 0x00, 12, 0, 1, 0, 1, 1, 0, 12, 0, 2, 0, 2, 2, 0, 0x6e, 3, 0, 1, 0, 12, 2, 1, 0})
	f.Add([]byte{0, 1 + 6*2, 4 + 6*5, 0x40, 5, 0, 0, 1, 0, 0, 2, 0, 0, 3, 5, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0x01, 0x23, 4, 1, 0, 0, 1, 1, 0, trailerGCRA})
	f.Add([]byte{2, 2, 1, 0x01, 9, 0, 1, 0, 1, 1, 0, 2, 3, 0x60, 1, 2, 0, 9, 1, 1, 0, 2, 2, 0x60, 0x00, 0x5f, 3, 0, 0, 0, 1, 0, 0, trailerMoving})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytesReader{data}
		h := in.byte()
		strategy := pickStrategy(h, data)
		workers := 2 + int(h>>1)%7
		limits := pickConcLimits(&in, strategy)
		c := newConcRun(t, strategy, limits)
		for _, ph := range decodePhases(&in, c, workers, false) {
			c.phase(ph)
		}
		c.finish()
	})
}

// TestStressConcurrent runs random phases under several GOMAXPROCS
// settings and goroutine counts; run it with -race.
func TestStressConcurrent(t *testing.T) {
	iters := 30
	if testing.Short() {
		iters = 5
	}
	for _, procs := range []int{1, 2, 4, 8} {
		for _, workers := range []int{2, 4, 8, 16} {
			t.Run(fmt.Sprintf("procs=%d/goroutines=%d", procs, workers), func(t *testing.T) {
				old := runtime.GOMAXPROCS(procs)
				t.Cleanup(func() { runtime.GOMAXPROCS(old) })
				rng := rand.New(rand.NewPCG(uint64(procs), uint64(workers)))
				for i := range iters {
					data := make([]byte, 200)
					for j := range data {
						data[j] = byte(rng.UintN(256))
					}
					strategy := allStrategies[i%4]
					limits := []limit.Limit{smallLimits[i%len(smallLimits)], smallLimits[(i/2+1)%len(smallLimits)]}
					if strategy == limit.GCRA {
						limits[0], limits[1] = pickBurst(limits[0], i/4), pickBurst(limits[1], i/3)
					}
					c := newConcRun(t, strategy, limits)
					in := bytesReader{data}
					for _, ph := range decodePhases(&in, c, workers, i%3 == 0) {
						c.phase(ph)
					}
					c.finish()
				}
			})
		}
	}
}

// smallLimits fill up quickly.
var smallLimits = []limit.Limit{
	limit.PerSecond(1),
	limit.PerSecond(3),
	limit.MustParse("5/2 seconds"),
	limit.MustParse("8/3 seconds"),
	limit.PerMinute(20),
	limit.MustParse("2/7 seconds"),
}

var concKeys = []string{"a", "b", "c"}

var allStrategies = []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow}

// pickConcLimits decodes the two limits of a concurrent run: each byte
// picks one of smallLimits and, for GCRA, a burst from what is left.
func pickConcLimits(in *bytesReader, s limit.Strategy) []limit.Limit {
	var ls []limit.Limit
	for range 2 {
		c := int(in.byte())
		l := smallLimits[c%len(smallLimits)]
		if s == limit.GCRA {
			l = pickBurst(l, c/len(smallLimits))
		}
		ls = append(ls, l)
	}
	return ls
}

// pairName names a (key, limit) pair; Limit.String leaves out the burst.
func pairName(key string, l limit.Limit) string {
	return fmt.Sprintf("%q %v burst %d", key, l, l.Burst())
}

// logged is a moving-window request that was allowed: its time and cost.
type logged struct {
	at time.Duration
	n  int64
}

// cOp is one request of a phase and, after the phase, its Decision.
type cOp struct {
	key string
	n   int64
	ls  []limit.Limit
	d   limit.Decision
}

// phase is a batch of requests sent at once at time at, while a sweeper
// sweeps at each of sweeps (a sweeper's own clock reading may lag the
// requests').
type phase struct {
	at     time.Duration
	sweeps []time.Duration
	work   [][]cOp // per goroutine
}

// concRun is one engine and its model across phases.
type concRun struct {
	t        *testing.T
	clk      *clock.Manual
	eng      *engine.Engine
	mod      *model.Limiter
	strategy limit.Strategy
	limits   []limit.Limit
	now      time.Duration
	allowed  map[string][]logged // moving window: every allowed request, per pair
	multi    bool                // the last phase had a multi-limit request
}

func newConcRun(t *testing.T, s limit.Strategy, limits []limit.Limit) *concRun {
	c := &concRun{t: t, clk: clock.NewManual(0), mod: model.New(s), strategy: s, limits: limits, allowed: make(map[string][]logged)}
	c.eng = engine.New(engine.WithClock(c.clk), engine.WithStrategy(s), engine.WithSweepInterval(-1))
	t.Cleanup(func() { c.eng.Close() })
	c.eng.Reset("", limits...) // meet every limit (README.md, "Which calls move hw")
	c.mod.Reset("", limits...)
	return c
}

// decodePhases reads phases until the input runs out. With sweeps set,
// each phase also gets sweep times no later than its own time.
func decodePhases(in *bytesReader, c *concRun, workers int, sweeps bool) []phase {
	var out []phase
	now := c.now
	for in.more() && len(out) < 8 {
		p := c.limits[in.byte()&1].Period()
		now = step(now, in.byte()&0x7f, p, false) // forward only: small steps, boundaries, jumps
		ph := phase{at: now, work: make([][]cOp, workers)}
		if sweeps {
			ph.sweeps = decodeSweeps(in, now, p)
		}
		for g := range ph.work {
			n := int(in.byte() % 16)
			for range n {
				k := in.byte() // bit 7 once chose AllowN over AllowNAt
				op := cOp{key: concKeys[int(k)%len(concKeys)]}
				switch m := in.byte(); {
				case m&3 == 3:
					op.ls = []limit.Limit{c.limits[0], c.limits[1]}
				case m&3 == 2:
					op.ls = []limit.Limit{c.limits[1], c.limits[0]}
				default:
					op.ls = []limit.Limit{c.limits[m&1]}
				}
				op.n = 1 + int64(in.byte()>>5)%3
				ph.work[g] = append(ph.work[g], op)
			}
		}
		out = append(out, ph)
	}
	return out
}

// decodeSweeps picks up to three sweep times in [at − 3p, at].
func decodeSweeps(in *bytesReader, at, p time.Duration) []time.Duration {
	var s []time.Duration
	for range in.byte() % 4 {
		back := time.Duration(in.byte()%97) * p / 32
		s = append(s, max(at-back, 0))
	}
	return s
}

// phase runs ph on the engine and checks the outcome against the model.
func (c *concRun) phase(ph phase) {
	t := c.t
	t.Helper()
	c.now = ph.at
	c.clk.Set(ph.at)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range ph.work {
		ops := ph.work[g]
		wg.Go(func() {
			<-start
			for i := range ops {
				ops[i].d = c.eng.AllowN(ops[i].key, ops[i].n, ops[i].ls...)
			}
		})
	}
	if len(ph.sweeps) > 0 {
		wg.Go(func() {
			<-start
			for i := 0; i < 3*len(ph.sweeps); i++ {
				engineinternal.SweepAt(c.eng, ph.sweeps[i%len(ph.sweeps)])
				runtime.Gosched()
			}
		})
	}
	close(start)
	wg.Wait()

	// The model sees the sweeps first: they are no later than ph.at, so
	// they cannot change how a request at ph.at is judged.
	for _, s := range ph.sweeps {
		c.mod.Sweep(s)
	}
	before := make(map[string]int64) // what each pair had left, for unit costs
	attempts := make(map[string]int64)
	multi := false
	for _, key := range concKeys {
		for _, l := range c.limits {
			d := c.mod.Judge(ph.at, key, 1, l)
			before[pairName(key, l)] = d.Remaining
			if d.Allowed {
				before[pairName(key, l)]++
			}
		}
	}
	// No window admitted more than its limit: the allowed requests, in
	// any order, all fit.
	for g, ops := range ph.work {
		for i, op := range ops {
			multi = multi || len(op.ls) > 1
			attempts[pairName(op.key, op.ls[0])]++
			if !op.d.Allowed {
				continue
			}
			if d := c.mod.AllowN(ph.at, op.key, op.n, op.ls...); !d.Allowed {
				c.fail("goroutine %d request %d: AllowN(%q, %d, %v) at %v was allowed, but the allowed requests of the phase exceed the limit: the model denies it with %+v",
					g, i, op.key, op.n, op.ls, ph.at, d)
			}
		}
	}
	// Denials were justified: with no multi-limit request to hold units
	// for a moment, a denied request does not fit even at the end.
	if !multi {
		for g, ops := range ph.work {
			for i, op := range ops {
				if op.d.Allowed {
					continue
				}
				if d := c.mod.Judge(ph.at, op.key, op.n, op.ls...); d.Allowed {
					c.fail("goroutine %d request %d: AllowN(%q, %d, %v) at %v was denied with %+v, but it fits after the phase",
						g, i, op.key, op.n, op.ls, ph.at, op.d)
				}
			}
		}
	}
	// Fixed window, GCRA and moving window, unit costs, one limit per
	// request: with the clock frozen a unit either fits or not, whatever
	// the order, so exactly min(attempts, what was left) are allowed.
	if c.strategy != limit.SlidingWindow && !multi {
		allowed := make(map[string]int64)
		units := true
		for _, ops := range ph.work {
			for _, op := range ops {
				units = units && op.n == 1
				if op.d.Allowed {
					allowed[pairName(op.key, op.ls[0])]++
				}
			}
		}
		for pk, a := range attempts {
			if want := min(a, before[pk]); units && allowed[pk] != want {
				c.fail("pair %s: %d of %d unit requests allowed with %d left, want %d", pk, allowed[pk], a, before[pk], want)
			}
		}
	}
	c.checkBounds(ph)
	c.multi = multi
	// Denied requests consumed nothing, allowed ones counted once: every
	// pair is where the model is.
	c.compareAll(ph.at)
}

// checkBounds checks the strategy's own bound on what was allowed,
// independently of the model: GCRA with a frozen clock allows at most
// Burst units per pair in one instant; the moving window at most Count
// units in any period-long interval, across all phases so far.
func (c *concRun) checkBounds(ph phase) {
	c.t.Helper()
	units := make(map[string]int64)
	for _, ops := range ph.work {
		for _, op := range ops {
			if !op.d.Allowed {
				continue
			}
			seen := make(map[limit.Limit]bool) // a limit listed twice counts once
			for _, l := range op.ls {
				if seen[l] {
					continue
				}
				seen[l] = true
				pk := pairName(op.key, l)
				units[pk] += op.n
				if c.strategy == limit.MovingWindow {
					c.allowed[pk] = append(c.allowed[pk], logged{ph.at, op.n})
				}
			}
		}
	}
	for _, l := range c.limits {
		for _, key := range concKeys {
			pk := pairName(key, l)
			switch c.strategy {
			case limit.GCRA:
				if units[pk] > l.Burst() {
					c.fail("GCRA pair %s: %d units allowed at the frozen time %v, more than the burst %d", pk, units[pk], ph.at, l.Burst())
				}
			case limit.MovingWindow:
				log := c.allowed[pk]
				for i, e := range log {
					var sum int64
					for _, f := range log[i:] {
						if f.at-e.at < l.Period() {
							sum += f.n
						}
					}
					if sum > l.Count() {
						c.fail("moving-window pair %s: %d units allowed in [%v, %v), more than the count %d", pk, sum, e.at, e.at+l.Period(), l.Count())
					}
				}
			}
		}
	}
}

// compareAll compares a Peek of every pair with the model's, at the
// clock's reading at.
func (c *concRun) compareAll(at time.Duration) {
	c.t.Helper()
	for _, key := range concKeys {
		for _, l := range c.limits {
			if got, want := c.eng.Peek(key, l), c.mod.Peek(at, key, l); got != want {
				c.fail("after the phase: Peek(%q, %v) at %v = %+v, want %+v (model)", key, l, at, got, want)
			}
		}
	}
}

// finish sweeps far ahead of the last phase: every pair is idle then, so
// the engine must hold no pair, and every key must be fresh.
func (c *concRun) finish() {
	c.t.Helper()
	var far time.Duration
	for _, l := range c.limits {
		// Three periods, plus the time a GCRA bucket takes to refill
		// (Burst ticks of Period/Count, or as many as a run can count:
		// 8 phases of 16 goroutines of 15 requests of cost 3 at most)
		// before it is full for a period.
		refill := time.Duration(min(l.Burst(), 8*16*15*3)) * (l.Period()/time.Duration(l.Count()) + 1)
		if c.strategy != limit.GCRA {
			refill = 0
		}
		far = max(far, c.now+3*l.Period()+refill)
	}
	c.clk.Set(far)
	engineinternal.SweepAt(c.eng, far)
	c.mod.Sweep(far)
	if n := c.eng.Len(); n != 0 {
		c.fail("a sweep at %v, three periods after the last request at %v: Len() = %d, want 0", far, c.now, n)
	}
	c.compareAll(far)
}

func (c *concRun) fail(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%v, limits %v (bursts %d, %d): %s", c.strategy, c.limits, c.limits[0].Burst(), c.limits[1].Burst(), fmt.Sprintf(format, args...))
}
