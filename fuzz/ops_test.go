package fuzz_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/internal/model"
	"github.com/floodgate-go/floodgate/limit"
)

// FuzzOps decodes its input into a sequence of operations on a few keys
// and limits (allow with a cost, peek, reset, clock moves forward and
// back, large jumps, sweeps) and checks after every step that the engine
// and the model return the same Decision. Time moves only through the
// engine's clock.Manual; sweeps run at their own time, as the background
// sweeper does at its own clock reading.
//
// The model never evicts, and engine/doc.go ("Memory and eviction")
// promises that evicting a GCRA bucket or a moving-window log never
// changes the answer to a reading at most one period older than the
// sweep. So under those two strategies the decoder keeps every reading
// within that promise (see opsRun.floor); under the window strategies,
// whose promise has no bound, sweeps and readings go anywhere.
//
// Input: byte 0 picks the start time and the sliding or fixed window,
// bytes 1-4 the four limits in play (for GCRA, with a burst each), and
// each operation after that is a byte that selects it followed by its
// operands (see opsRun.do). A last byte of 0xf8 or 0xf9 selects GCRA or
// the moving window instead (see pickStrategy); it is also read as an
// operation, like any other byte.
func FuzzOps(f *testing.F) {
	for _, seed := range opsSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		newOpsRun(t, data).run()
	})
}

// opsSeeds are hand-written sequences; testdata/fuzz/FuzzOps holds the
// corpus the fuzzer grew from them.
func opsSeeds() [][]byte {
	return [][]byte{
		// sliding, 1/s 3/s 2/2s 5/3s: fill 3/s, cross a boundary, step back.
		{0, 0, 1, 2, 3, 0, 0x00, 0x02, 0, 0x00, 0x02, 0, 0x00, 0x02, 0, 0x00, 0x02, 0, 3, 0, 0x02, 7, 1, 0x48, 0, 0, 0x02, 0, 9, 1, 0x30, 0, 0, 0x02, 0},
		// fixed, with a reset, a peek and a sweep after a jump of 32 windows.
		{1, 4, 5, 6, 10, 0, 1, 0x01, 0x60, 3, 1, 0x03, 7, 0, 0x6e, 10, 0, 0, 0, 0x01, 0, 4, 1, 0x01, 3, 1, 0x0f},
		// multi-limit requests, with the zero Limit among them.
		{0, 8, 9, 10, 1, 0, 2, 0x0f, 0x00, 0, 2, 0x0c, 0x80, 0, 0, 0x05, 0xa5, 11, 0, 3, 3, 0x0f},
		// clock-based calls and negative times.
		{2, 0, 1, 2, 3, 5, 0, 0x01, 0, 5, 0x10, 0x03, 0x02, 9, 0, 0xe5, 0, 0, 0x01, 0, 6, 1, 0, 5, 0x20, 0x01},
		// near the end of time.
		{5, 0, 7, 9, 1, 0, 0, 0x0f, 0x61, 7, 1, 0xbf, 0, 0, 0x0f, 0x00, 8, 3, 0xa5, 0, 0, 0x0f, 0x00},
		// GCRA, bursts 1, 3·Count, MaxCount and the default: drain, wait
		// part of a tick, step back, costs around the burst.
		{0, 0 + 2*11, 1 + 5*11, 2 + 6*11, 3, 0, 0, 0x0f, 0x61, 0, 1, 0x0f, 0x83, 7, 0, 0x25, 0, 0, 0x0f, 0x00, 3, 0, 0x0f,
			9, 1, 0x22, 0, 0, 0x0f, 0x00, 11, 7, 2, 0xc3, 0, 0, 0x0f, 0x00, 10, 0x31, 11, trailerGCRA},
		// every limit drained, then one request under all four (op 5 with
		// c%8 == 7), in each strategy.
		{0, 0, 1, 2, 3, 5, 7, 0, 0x0f, 0x61, 7, 0, 0x10, 5, 0x0f, 1, 0x0f, 0x62},
		{1, 0, 1, 2, 3, 5, 7, 0, 0x0f, 0x61, 7, 0, 0x10, 5, 0x0f, 1, 0x0f, 0x62},
		{0, 0, 1, 2, 3, 5, 7, 0, 0x0f, 0x61, 7, 0, 0x10, 5, 0x0f, 1, 0x0f, 0x62, trailerGCRA},
		{0, 0, 1, 2, 3, 5, 7, 0, 0x0f, 0x61, 7, 0, 0x10, 5, 0x0f, 1, 0x0f, 0x62, trailerMoving},
		// moving window: fill, step to just before and at P after, step
		// back, sweep.
		{0, 1, 2, 3, 4, 0, 0, 0x01, 0x61, 7, 0, 0x30, 0, 0, 0x01, 0x00, 7, 0, 0xc0, 0, 1, 0x01, 0x00, 7, 0, 0x01,
			0, 1, 0x01, 0x00, 3, 0, 0x0f, 10, 0x21, 11, 7, 0, 0x05, 11, trailerMoving},
	}
}

type opsRun struct {
	t      *testing.T
	in     bytesReader
	clk    *clock.Manual
	eng    *engine.Engine
	mod    *model.Limiter
	limits []limit.Limit // the four in play
	now    time.Duration
	trace  []string

	strategy limit.Strategy
	back     bool // the clock has stepped back
	// GCRA and the moving window: minP is the smallest period of the
	// limits in play, and floor the oldest reading that every sweep so
	// far promises to answer unchanged: the latest sweep's time minus
	// minP. Readings are clamped to at least floor, and sweeps to at
	// most minP ahead of the current reading. minP is 0 for the window
	// strategies, whose promise has no bound: floor stays at
	// math.MinInt64.
	minP  time.Duration
	floor time.Duration
}

func newOpsRun(t *testing.T, data []byte) *opsRun {
	r := &opsRun{t: t, in: bytesReader{data}, floor: math.MinInt64}
	h := r.in.byte()
	strategy := pickStrategy(h, data)
	r.strategy = strategy
	for range 4 {
		c := int(r.in.byte())
		l := limitChoices[c%len(limitChoices)]
		if strategy == limit.GCRA {
			l = pickBurst(l, c/len(limitChoices))
		}
		r.limits = append(r.limits, l)
	}
	r.clk = clock.NewManual(0)
	r.eng = engine.New(engine.WithClock(r.clk), engine.WithStrategy(strategy), engine.WithSweepInterval(-1))
	t.Cleanup(func() { r.eng.Close() })
	r.mod = model.New(strategy)
	if strategy == limit.GCRA || strategy == limit.MovingWindow {
		for _, l := range r.limits {
			if l.Valid() && (r.minP == 0 || l.Period() < r.minP) {
				r.minP = l.Period()
			}
		}
	}
	// Let both meet every limit first: a sweep moves hw only of the limits
	// the engine has met (README.md, "Which calls move hw").
	r.eng.Reset("", r.limits...)
	r.mod.Reset("", r.limits...)
	r.setNow(startTimes[int(h>>1)%len(startTimes)])
	r.logf("%v, limits %v, start %v", strategy, r.limits, r.now)
	return r
}

func (r *opsRun) run() {
	for n := 0; r.in.more() && n < 2000; n++ {
		r.do(r.in.byte())
	}
	r.checkAll()
}

// setNow moves the clock to now, or to the floor if now is older.
func (r *opsRun) setNow(now time.Duration) {
	now = max(now, r.floor)
	if now < r.now {
		r.back = true
	}
	r.now = now
	r.clk.Set(now)
}

func (r *opsRun) logf(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf(format, args...))
}

func (r *opsRun) fail(format string, args ...any) {
	r.t.Helper()
	tr := r.trace
	if len(tr) > 40 {
		tr = append([]string{"..."}, tr[len(tr)-40:]...)
	}
	r.t.Fatalf("%s\noperations:\n\t%s", fmt.Sprintf(format, args...), strings.Join(tr, "\n\t"))
}

// same fails unless the engine's Decision got equals the model's want.
func (r *opsRun) same(call string, got, want limit.Decision) {
	r.t.Helper()
	if got != want {
		r.fail("%s = %+v, want %+v (model)", call, got, want)
	}
}

func (r *opsRun) key() string { return keyChoices[int(r.in.byte())%len(keyChoices)] }

func (r *opsRun) do(op byte) {
	r.t.Helper()
	switch op % 12 {
	case 0, 1, 2:
		key, ls := r.key(), pickLimits(r.in.byte(), r.limits)
		n := pickCost(r.in.byte(), first(ls))
		call := fmt.Sprintf("AllowN(%q, %d, %v) at %v", key, n, ls, r.now)
		r.logf("%s", call)
		r.same(call, r.eng.AllowN(key, n, ls...), r.mod.AllowN(r.now, key, n, ls...))
	case 3:
		key, ls := r.key(), pickLimits(r.in.byte(), r.limits)
		call := fmt.Sprintf("Peek(%q, %v) at %v", key, ls, r.now)
		r.logf("%s", call)
		r.same(call, r.eng.Peek(key, ls...), r.mod.Peek(r.now, key, ls...))
	case 4:
		key, ls := r.key(), pickLimits(r.in.byte(), r.limits)
		r.logf("Reset(%q, %v)", key, ls)
		r.eng.Reset(key, ls...)
		r.mod.Reset(key, ls...)
	case 5:
		// Allow, AllowN or Peek (this case held the clock-reading calls
		// while cases 0-3 took explicit times), or a drain of every
		// limit (c%8 == 7).
		c, key := r.in.byte(), r.key()
		ls := pickLimits(r.in.byte(), r.limits)
		if c%8 == 7 {
			r.drainAll(key, ls, pickCost(r.in.byte(), first(ls)))
			return
		}
		switch c % 3 {
		case 0:
			l := first(ls)
			call := fmt.Sprintf("Allow(%q, %v) at %v", key, l, r.now)
			r.logf("%s", call)
			if got, want := r.eng.Allow(key, l), r.mod.AllowN(r.now, key, 1, l).Allowed; got != want {
				r.fail("%s = %v, want %v (model)", call, got, want)
			}
		case 1:
			n := pickCost(r.in.byte(), first(ls))
			call := fmt.Sprintf("AllowN(%q, %d, %v) at %v", key, n, ls, r.now)
			r.logf("%s", call)
			r.same(call, r.eng.AllowN(key, n, ls...), r.mod.AllowN(r.now, key, n, ls...))
		case 2:
			call := fmt.Sprintf("Peek(%q, %v) at %v", key, ls, r.now)
			r.logf("%s", call)
			r.same(call, r.eng.Peek(key, ls...), r.mod.Peek(r.now, key, ls...))
		}
	case 6:
		key, l := r.key(), r.limits[int(r.in.byte())%len(r.limits)]
		call := fmt.Sprintf("Allow(%q, %v) at %v", key, l, r.now)
		r.logf("%s", call)
		if got, want := r.eng.Allow(key, l), r.mod.AllowN(r.now, key, 1, l).Allowed; got != want {
			r.fail("%s = %v, want %v (model)", call, got, want)
		}
	case 7, 8, 9:
		p := period(r.limits[int(r.in.byte())%len(r.limits)])
		r.setNow(step(r.now, r.in.byte(), p, op%12 == 9))
		r.logf("clock to %v", r.now)
	case 10:
		// A sweep at now, or at a reading a little ahead or behind; under
		// GCRA and the moving window at most minP ahead, so that the
		// current reading stays within the sweep's promise.
		c := r.in.byte()
		at := step(r.now, c&^0xe0|0x20, period(r.limits[int(c>>6)]), c&0x10 != 0)
		if c&0x0f == 0 {
			at = r.now
		}
		if r.minP > 0 {
			at = min(at, addSat(r.now, r.minP))
			r.floor = max(r.floor, addSat(at, -r.minP))
		}
		r.logf("sweep at %v", at)
		engineinternal.SweepAt(r.eng, at)
		r.mod.Sweep(at)
	case 11:
		r.logf("check all at %v", r.now)
		r.checkAll()
	}
}

// drainAll empties each of ls for key, one limit at a time, and then
// makes a request of cost n under all of them, which several limits deny
// at once; it compares every Decision with the model's, and checks that
// the denied request's RetryAfter is exact: the clock moves to 1 ns
// before it, where the request is denied, and then to it, where it is
// allowed.
func (r *opsRun) drainAll(key string, ls []limit.Limit, n int64) {
	r.t.Helper()
	for _, l := range ls {
		if !l.Valid() {
			continue
		}
		call := fmt.Sprintf("AllowN(%q, %d, %v) at %v (drain)", key, l.Burst(), l, r.now)
		r.logf("%s", call)
		r.same(call, r.eng.AllowN(key, l.Burst(), l), r.mod.AllowN(r.now, key, l.Burst(), l))
	}
	call := fmt.Sprintf("AllowN(%q, %d, %v) at %v (after drain)", key, n, ls, r.now)
	r.logf("%s", call)
	d := r.eng.AllowN(key, n, ls...)
	r.same(call, d, r.mod.AllowN(r.now, key, n, ls...))
	if d.Allowed || d.RetryAfter <= 1 || d.RetryAfter == limit.Never || r.back || d.RetryAfter > time.Duration(math.MaxInt64)-r.now {
		return
	}
	// Exact wait: the same request is denied 1 ns before RetryAfter and
	// allowed at it. The clock moves there, on the engine and the model.
	end := r.now + d.RetryAfter
	for _, at := range []time.Duration{end - 1, end} {
		r.setNow(at)
		call = fmt.Sprintf("AllowN(%q, %d, %v) at %v (RetryAfter %v after the drain)", key, n, ls, at, d.RetryAfter)
		r.logf("%s", call)
		got := r.eng.AllowN(key, n, ls...)
		r.same(call, got, r.mod.AllowN(at, key, n, ls...))
		if got.Allowed != (at == end) {
			r.fail("%s = %+v: allowed %v, want %v", call, got, got.Allowed, at == end)
		}
	}
}

// checkAll compares a Peek of every key under every single limit.
func (r *opsRun) checkAll() {
	r.t.Helper()
	for _, key := range keyChoices {
		for _, l := range r.limits {
			call := fmt.Sprintf("Peek(%q, %v) at %v", key, l, r.now)
			r.same(call, r.eng.Peek(key, l), r.mod.Peek(r.now, key, l))
		}
	}
}

func first(ls []limit.Limit) limit.Limit {
	if len(ls) == 0 {
		return limit.Limit{}
	}
	return ls[0]
}

// period is l's period, or a second for the zero Limit.
func period(l limit.Limit) time.Duration {
	if !l.Valid() {
		return time.Second
	}
	return l.Period()
}
