// Package storetest is the one behavioural contract that every Floodgate
// storage satisfies: the in-memory engine, a single Redis and a Redis
// Cluster, every wrapper (fallback, lease, observer) over each, and a
// store written outside the module run the same suite, unchanged,
// through the floodgate.Store contract.
//
// Time comes from one clock.Manual per sub-test. [Run] hands it to the
// [Factory], which builds the store on it: the engine with
// engine.WithClock, the wrappers with their Config's Clock or Open's
// WithClock. Every call carries it too, by internal/seam, so that a
// network store (Redis) judges each call at that clock's time instead of
// its server's. The suite drives time by setting the clock, forward and
// back, and every store of every stack runs the exact step tables, whose
// expected Decisions follow engine/doc.go to the nanosecond. Times are
// offsets from [T0], a multiple of every period used, so that windows
// align in any time base; steps are whole microseconds, Redis's
// resolution.
//
// One check (real-clock) runs at the present instead: the clock is set
// to the wall time and the calls carry no seam, so that a network store
// reads its server's clock, as in production. Its expectations hold at
// any instant (periods of a day, bounds rather than exact durations).
// Nothing in the suite sleeps or measures elapsed time.
package storetest

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/seam"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Factory returns a fresh, empty store judging by strategy s, closed by
// t.Cleanup. Whatever in the store keeps time in this process (an
// engine, a fallback's backoff, a lease's TTLs) must read clk; a network
// store needs nothing, since every call's ctx carries clk
// (seam.WithClock). Stores of one factory may share a backend: the suite
// gives every sub-test its own keys.
type Factory func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store

// T0 is the time base of the step tables: 18 000 days, a multiple of
// every period they use (and, as Unix time, a day in 2019).
const T0 = 18000 * 24 * time.Hour

// Strategies are the strategies the suite covers: all four.
var Strategies = []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow}

// Run runs the contract suite against the stores that newStore makes, for
// every strategy. Every sub-test gets a store of its own, on a clock of
// its own that reads T0 to begin with.
func Run(t *testing.T, newStore Factory) {
	for _, s := range Strategies {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			for _, tc := range stepTables[s] {
				t.Run("steps/"+tc.name, func(t *testing.T) {
					l := tc.limit
					if !l.Valid() {
						l = l3s10
					}
					runSteps(t, newHarness(t, newStore, s), uniqueKey(t), l, tc.steps)
				})
			}
			t.Run("multi", func(t *testing.T) { testMulti(t, newHarness(t, newStore, s)) })
			t.Run("multi-wait", func(t *testing.T) { testMultiWait(t, newHarness(t, newStore, s), s) })
			t.Run("clock-back", func(t *testing.T) { testClockBack(t, newHarness(t, newStore, s), s) })
			t.Run("keys", func(t *testing.T) { testKeys(t, newHarness(t, newStore, s)) })
			t.Run("real-clock", func(t *testing.T) { testRealClock(t, newHarness(t, newStore, s), s) })
			t.Run("peek-reset", func(t *testing.T) { testPeekReset(t, newHarness(t, newStore, s)) })
			t.Run("bad-requests", func(t *testing.T) { testBadRequests(t, newHarness(t, newStore, s)) })
			t.Run("concurrent", func(t *testing.T) { testConcurrent(t, newHarness(t, newStore, s), s) })
			t.Run("refund", func(t *testing.T) { testRefund(t, newHarness(t, newStore, s)) })
			t.Run("large-counts", func(t *testing.T) { testLargeCounts(t, newHarness(t, newStore, s), s) })
			t.Run("allow-all", func(t *testing.T) { testAllowAll(t, newHarness(t, newStore, s)) })
			t.Run("allow-all-concurrent", func(t *testing.T) { testAllowAllConcurrent(t, newHarness(t, newStore, s), s) })
		})
	}
}

// Stores returns how many stores Run asks newStore for under strategy s:
// one per sub-test. A factory whose stores must be prepared together (a
// pool taken through one outage) makes that many.
func Stores(s limit.Strategy) int { return len(stepTables[s]) + 12 }

// harness is one sub-test's store, the clock it was built on, and the
// ctx of its calls, which carries that clock.
type harness struct {
	t   *testing.T
	st  floodgate.Store
	clk *clock.Manual
	ctx context.Context
}

func newHarness(t *testing.T, newStore Factory, s limit.Strategy) *harness {
	clk := clock.NewManual(T0)
	return &harness{t: t, st: newStore(t, s, clk), clk: clk, ctx: seam.WithClock(context.Background(), clk)}
}

// allow sets the clock to T0+at and calls AllowN, which must not fail.
func (h *harness) allow(at time.Duration, key string, n int64, ls ...limit.Limit) limit.Decision {
	h.t.Helper()
	h.clk.Set(T0 + at)
	d, err := h.st.AllowN(h.ctx, key, n, ls...)
	require.NoError(h.t, err, "AllowN(n=%d, %v) at T0+%v", n, ls, at)
	return d
}

// peek sets the clock to T0+at and calls Peek, which must not fail.
func (h *harness) peek(at time.Duration, key string, ls ...limit.Limit) limit.Decision {
	h.t.Helper()
	h.clk.Set(T0 + at)
	d, err := h.st.Peek(h.ctx, key, ls...)
	require.NoError(h.t, err, "Peek(%v) at T0+%v", ls, at)
	return d
}

var keySeq atomic.Int64

// uniqueKey returns a key no other test of this process uses, so that
// stores sharing a Redis do not see each other's counts.
func uniqueKey(t *testing.T) string {
	return t.Name() + "#" + strconv.FormatInt(time.Now().UnixNano(), 36) + "." + strconv.FormatInt(keySeq.Add(1), 10)
}

// step is one call of a step table and the Decision it must return.
type step struct {
	at   time.Duration // offset from T0
	n    int64         // cost; 0 means a Peek
	want limit.Decision
}

var (
	l3s10       = mustLimit(3, 10*time.Second)
	l3s10burst5 = mustBurst(l3s10, 5)
	l10s2       = mustLimit(10, 2*time.Second)
)

const (
	sec = time.Second
	ms  = time.Millisecond
	us  = time.Microsecond
)

// stepTables follow engine/doc.go, for a limit of 3 per 10 s unless a
// table names another. Times are whole microseconds, Redis's resolution.
var stepTables = map[limit.Strategy][]struct {
	name  string
	limit limit.Limit
	steps []step
}{
	limit.SlidingWindow: {{"fill-deny-slide", limit.Limit{}, []step{
		{0, 1, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 2, ResetAfter: 20 * sec}},
		{1 * sec, 1, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 1, ResetAfter: 19 * sec}},
		{2 * sec, 1, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 0, ResetAfter: 18 * sec}},
		// cur+n > L: (P−r) + P − ⌊(L−n)·P/cur⌋ = 7s + 10s − 6.666666666s.
		{3 * sec, 1, limit.Decision{Limit: l3s10, ResetAfter: 17 * sec, RetryAfter: 10333333334}},
		// Next window, r = 2s: prev weighs ⌈3·8/10⌉ = 3; P − ⌊2·P/3⌋ − r.
		{12 * sec, 0, limit.Decision{Limit: l3s10, ResetAfter: 8 * sec, RetryAfter: 1333333334}},
		// r = 4s: 3·6 ≤ 2·10 fits; Remaining 3 − 1 − ⌈1.8⌉ = 0.
		{14 * sec, 1, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 0, ResetAfter: 16 * sec}},
		{14 * sec, 4, limit.Decision{Limit: l3s10, ResetAfter: 16 * sec, RetryAfter: limit.Never}},
		// Window 3: windows 1 is gone.
		{35 * sec, 1, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 2, ResetAfter: 15 * sec}},
		{35*sec + 500*time.Millisecond, 2, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 0, ResetAfter: 14500 * time.Millisecond}},
	}}},
	limit.FixedWindow: {{"fill-deny-next", limit.Limit{}, []step{
		{0, 1, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 2, ResetAfter: 10 * sec}},
		{1 * sec, 2, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 0, ResetAfter: 9 * sec}},
		{2 * sec, 1, limit.Decision{Limit: l3s10, ResetAfter: 8 * sec, RetryAfter: 8 * sec}},
		{2 * sec, 0, limit.Decision{Limit: l3s10, ResetAfter: 8 * sec, RetryAfter: 8 * sec}},
		{10 * sec, 1, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 2, ResetAfter: 10 * sec}},
		{15 * sec, 0, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 1, ResetAfter: 5 * sec}},
		{15 * sec, 4, limit.Decision{Limit: l3s10, Remaining: 2, ResetAfter: 5 * sec, RetryAfter: limit.Never}},
		{29*sec + 999*time.Millisecond, 2, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 1, ResetAfter: time.Millisecond}},
	}}},
	// GCRA: ticks of P/L = 10/3 s; T0 is tick K0 exactly. at(K0+j) is
	// T0 + ⌈j·10/3 s⌉, so at(K0+1) = T0+3.333333334s.
	limit.GCRA: {{"burst-then-steady", l3s10burst5, []step{
		// Burst 5: k = K0, tat' = K0+1; ResetAfter = at(K0+1) − now.
		{0, 1, limit.Decision{Allowed: true, Limit: l3s10burst5, Remaining: 4, ResetAfter: 3333333334}},
		{0, 4, limit.Decision{Allowed: true, Limit: l3s10burst5, Remaining: 0, ResetAfter: 16666666667}},
		// Denied: RetryAfter = at(base + n − B) − now = at(K0+1).
		{0, 1, limit.Decision{Limit: l3s10burst5, ResetAfter: 16666666667, RetryAfter: 3333333334}},
		// 1 µs before tick K0+1 begins... still tick K0 (3333333 µs · 3/10 s < 1).
		{3333333 * us, 0, limit.Decision{Limit: l3s10burst5, ResetAfter: 13333333667, RetryAfter: 334}},
		// ...and in tick K0+1 one more unit has dripped back: tat' = K0+6.
		{3333334 * us, 1, limit.Decision{Allowed: true, Limit: l3s10burst5, Remaining: 0, ResetAfter: 16666666 * us}},
		// Steady rate: tick K0+1 again, the next unit is at(K0+2) = 6.666666667s.
		{5 * sec, 1, limit.Decision{Limit: l3s10burst5, ResetAfter: 15 * sec, RetryAfter: 1666666667}},
		{6666667 * us, 1, limit.Decision{Allowed: true, Limit: l3s10burst5, Remaining: 0, ResetAfter: 16666666334}},
		// k = K0+12 > tat = K0+7: a full bucket; tat' = K0+14.
		{40 * sec, 2, limit.Decision{Allowed: true, Limit: l3s10burst5, Remaining: 3, ResetAfter: 6666666667}},
		{40 * sec, 6, limit.Decision{Limit: l3s10burst5, Remaining: 3, ResetAfter: 6666666667, RetryAfter: limit.Never}},
		// base + n − B = K0+13: at = 43.333333334s.
		{40 * sec, 4, limit.Decision{Limit: l3s10burst5, Remaining: 3, ResetAfter: 6666666667, RetryAfter: 3333333334}},
		{40 * sec, 0, limit.Decision{Allowed: true, Limit: l3s10burst5, Remaining: 2, ResetAfter: 10 * sec}},
	}}, {"default-burst", limit.Limit{}, []step{
		// Burst = Count = 3.
		{0, 3, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 0, ResetAfter: 10 * sec}},
		{0, 1, limit.Decision{Limit: l3s10, ResetAfter: 10 * sec, RetryAfter: 3333333334}},
		{3333334 * us, 1, limit.Decision{Allowed: true, Limit: l3s10, Remaining: 0, ResetAfter: 10*sec - 3333334*us + 3333333334}},
	}}},
	// The moving window, the example: 10 per 2 s.
	limit.MovingWindow: {{"exclusive-boundary", l10s2, []step{
		{0, 5, limit.Decision{Allowed: true, Limit: l10s2, Remaining: 5, ResetAfter: 2 * sec}},
		{1300 * ms, 5, limit.Decision{Allowed: true, Limit: l10s2, Remaining: 0, ResetAfter: 2 * sec}},
		// The 11th: the entry at 0 frees room at 2s.
		{1300 * ms, 1, limit.Decision{Limit: l10s2, ResetAfter: 2 * sec, RetryAfter: 700 * ms}},
		{2*sec - us, 0, limit.Decision{Limit: l10s2, ResetAfter: 1300*ms + us, RetryAfter: us}},
		// At exactly 2s the entries at 0 no longer count (exclusive).
		{2 * sec, 0, limit.Decision{Allowed: true, Limit: l10s2, Remaining: 4, ResetAfter: 2 * sec}},
		{2 * sec, 5, limit.Decision{Allowed: true, Limit: l10s2, Remaining: 0, ResetAfter: 2 * sec}},
		{2 * sec, 1, limit.Decision{Limit: l10s2, ResetAfter: 2 * sec, RetryAfter: 1300 * ms}},
		{2*sec + us, 1, limit.Decision{Limit: l10s2, ResetAfter: 2*sec - us, RetryAfter: 1300*ms - us}},
		// Cost 6 needs the units at 1.3s and at 2s to expire.
		{2500 * ms, 6, limit.Decision{Limit: l10s2, ResetAfter: 1500 * ms, RetryAfter: 1500 * ms}},
		{2500 * ms, 11, limit.Decision{Limit: l10s2, ResetAfter: 1500 * ms, RetryAfter: limit.Never}},
		{3300 * ms, 5, limit.Decision{Allowed: true, Limit: l10s2, Remaining: 0, ResetAfter: 2 * sec}},
		// Everything has expired at 5.3s.
		{5300 * ms, 0, limit.Decision{Allowed: true, Limit: l10s2, Remaining: 9, ResetAfter: 2 * sec}},
	}}},
}

// runSteps runs a step table, reporting the failing step.
func runSteps(t *testing.T, h *harness, key string, l limit.Limit, steps []step) {
	t.Helper()
	for i, sp := range steps {
		h.clk.Set(T0 + sp.at)
		var d limit.Decision
		var err error
		if sp.n == 0 {
			d, err = h.st.Peek(h.ctx, key, l)
		} else {
			d, err = h.st.AllowN(h.ctx, key, sp.n, l)
		}
		require.NoError(t, err, "step %d at T0+%v", i, sp.at)
		assert.Equal(t, sp.want, d, "step %d: AllowN(n=%d) at T0+%v (n=0: Peek) returned %+v, want %+v", i, sp.n, sp.at, d, sp.want)
	}
}

func testMulti(t *testing.T, h *harness) {
	a := mustLimit(2, 10*time.Second)
	b := limit.PerHour(5)
	k := uniqueKey(t)
	at := func(key string, n int64, ls ...limit.Limit) limit.Decision {
		t.Helper()
		return h.allow(0, key, n, ls...)
	}
	// peek returns what key has left under l before a request.
	peek := func(key string, l limit.Limit) int64 {
		t.Helper()
		d := h.peek(0, key, l)
		require.True(t, d.Allowed)
		return peekLeft(d)
	}

	d := at(k, 1, a, b)
	assert.Equal(t, a, d.Limit, "a has 1 left, b 4: the fewest remaining decides")
	assert.True(t, d.Allowed)
	assert.EqualValues(t, 1, d.Remaining)
	d = at(k, 1, b, a)
	assert.Equal(t, a, d.Limit, "a has 0 left, b 3: a decides even when listed second")
	assert.True(t, d.Allowed)
	d = at(k, 1, b, a)
	assert.False(t, d.Allowed, "a is exhausted")
	assert.Equal(t, a, d.Limit, "the first denying limit decides")
	assert.EqualValues(t, 3, peek(k, b), "the denied request must not consume b, listed before a")

	// A request denied by a later limit consumes none of the earlier ones.
	c, one := limit.PerHour(10), limit.PerHour(1)
	k2 := uniqueKey(t)
	assert.True(t, at(k2, 1, c, one).Allowed)
	d = at(k2, 1, c, one)
	assert.False(t, d.Allowed)
	assert.Equal(t, one, d.Limit)
	assert.EqualValues(t, 9, peek(k2, c), "denied by the second limit, the first keeps 9")

	// Ties go to the first limit.
	e, f := limit.PerHour(5), limit.PerDay(5)
	d = at(uniqueKey(t), 1, e, f)
	assert.Equal(t, e, d.Limit, "equal Remaining: the first limit decides")

	// A zero Limit makes a request that is never allowed: Never, whatever
	// the other limits say, and nothing is counted.
	k3 := uniqueKey(t)
	d = at(k3, 1, a, limit.Limit{})
	assert.Equal(t, limit.Decision{RetryAfter: limit.Never}, d)
	assert.EqualValues(t, 2, peek(k3, a), "a request denied by a zero Limit counts nothing")
	require.True(t, at(k3, 2, a).Allowed)
	d = at(k3, 1, a, limit.Limit{})
	assert.Equal(t, limit.Decision{RetryAfter: limit.Never}, d, "a zero Limit after an exhausted one")
}

// testMultiWait checks that a call of several limits that several of
// them deny answers the wait of the whole call, exact to the nanosecond:
// denied at now+RetryAfter−1ns, allowed at now+RetryAfter. The waits
// chosen are whole microseconds, so that the check is exact on Redis too,
// which reads time in microseconds (a reading at now+RetryAfter−1ns is
// truncated to now+RetryAfter−1µs). It also checks that Remaining is the
// fewest units left under any limit.
func testMultiWait(t *testing.T, h *harness, strat limit.Strategy) {
	allow := h.allow
	a, b := limit.PerSecond(2), limit.PerMinute(3)
	// 2 of each used at T0; a cost-2 request is denied by both. Each
	// limit's own wait: a 1 s everywhere but the sliding window's 2 s;
	// b: the next window (fixed), (P−r) + P − ⌊(L−n)·P/cur⌋ = 90 s
	// (sliding), one tick of 20 s (GCRA), the first entry's expiry (moving).
	want := map[limit.Strategy]time.Duration{
		limit.FixedWindow: 60 * sec, limit.SlidingWindow: 90 * sec, limit.GCRA: 20 * sec, limit.MovingWindow: 60 * sec,
	}[strat]
	// Each block starts an hour after the last: the window strategies
	// judge a reading older than a limit's newest window at that window's
	// start, whatever the key.
	base := time.Duration(0)
	for _, order := range [][]limit.Limit{{a, b}, {b, a}} {
		base += time.Hour
		k := uniqueKey(t)
		require.True(t, allow(base, k, 2, order...).Allowed)
		d := allow(base, k, 2, order...)
		assert.False(t, d.Allowed)
		assert.Equal(t, want, d.RetryAfter, "RetryAfter of cost 2 on %v after 2 of each: %+v", order, d)
		assert.Equal(t, b, d.Limit, "the limit with the longest wait decides: %+v", d)
		assert.EqualValues(t, 0, d.Remaining, "Remaining: %+v", d)
		early := allow(base+d.RetryAfter-1, k, 2, order...)
		assert.False(t, early.Allowed, "AllowN(2) at now+RetryAfter−1ns = T0+%v on %v: %+v", base+d.RetryAfter-1, order, early)
		on := allow(base+d.RetryAfter, k, 2, order...)
		assert.True(t, on.Allowed, "AllowN(2) at now+RetryAfter = T0+%v on %v: %+v", base+d.RetryAfter, order, on)
	}

	// Remaining of a denied call is the fewest units left under any
	// limit: a cost of that many is then allowed.
	c, e := limit.PerSecond(2), limit.PerMinute(5)
	k := uniqueKey(t)
	base += time.Hour
	for _, step := range []struct {
		at time.Duration
		n  int64
	}{{0, 2}, {10 * sec, 2}, {20 * sec, 1}} {
		require.True(t, allow(base+step.at, k, step.n, c, e).Allowed, "AllowN(%d) at T0+%v", step.n, base+step.at)
	}
	base += 20 * sec
	d := allow(base, k, 2, c, e)
	require.False(t, d.Allowed, "cost 2 after 2+2+1: %+v", d)
	left := int64(math.MaxInt64)
	for _, l := range []limit.Limit{c, e} {
		left = min(left, peekLeft(h.peek(base, k, l)))
	}
	assert.Equal(t, left, d.Remaining, "Remaining of a denied call is the least over its limits: %+v", d)
	if d.Remaining > 0 {
		assert.True(t, allow(base, k, d.Remaining, c, e).Allowed, "a cost of Remaining=%d is allowed", d.Remaining)
	} else {
		assert.False(t, allow(base, k, 1, c, e).Allowed, "Remaining 0: a cost of 1 is denied")
	}
}

func testClockBack(t *testing.T, h *harness, strat limit.Strategy) {
	k := uniqueKey(t)
	d := h.allow(15*sec, k, 3, l3s10)
	require.True(t, d.Allowed)
	// A reading in an older window is judged at the start of the key's
	// newest window, T0+10s: no fresh burst. Its waits are promises from
	// the reading, T0+5s, so they include the 5 s gap.
	d = h.allow(5*sec, k, 1, l3s10)
	var want limit.Decision
	switch strat {
	case limit.SlidingWindow:
		want = limit.Decision{Limit: l3s10, ResetAfter: 25 * sec, RetryAfter: 25*sec - 6666666666}
	case limit.FixedWindow:
		want = limit.Decision{Limit: l3s10, ResetAfter: 15 * sec, RetryAfter: 15 * sec}
	case limit.GCRA:
		// No clamp: tick(T0+5s) = K0+1 against tat = K0+4+3, so the
		// bucket looks emptier still. ResetAfter = at(K0+7) − now,
		// RetryAfter = at(K0+7+1−3) − now.
		want = limit.Decision{Limit: l3s10, ResetAfter: 23333333334 - 5*sec, RetryAfter: 16666666667 - 5*sec}
	case limit.MovingWindow:
		// Judged at the newest entry's time, T0+15s: everything counts
		// until T0+25s.
		want = limit.Decision{Limit: l3s10, ResetAfter: 20 * sec, RetryAfter: 20 * sec}
	}
	assert.Equal(t, want, d, "AllowN(1) at T0+5s after 3 at T0+15s")
	if strat == limit.MovingWindow {
		// An entry stops counting at exactly t+P, judged at the newest
		// entry's time.
		d = h.allow(25*sec, k, 3, l3s10)
		assert.True(t, d.Allowed, "AllowN(3) at T0+25s after 3 at T0+15s: %+v", d)
	}
}

func testKeys(t *testing.T, h *harness) {
	st, ctx := h.st, h.ctx
	l := limit.PerDay(1)
	base := uniqueKey(t)
	long := strings.Repeat("k", 1<<20)
	keys := []string{
		"", "a b", "{x}", "a}b{", "{", "}", "line\nbreak", "tab\tcr\r", "#abc", "ключ 🔑",
		long, long[:len(long)-1] + "j", strings.Repeat("{", 200), "\x00nul",
	}
	for i, k := range keys {
		k = base + k
		d, err := st.AllowN(ctx, k, 1, l)
		require.NoError(t, err, "key %d", i)
		assert.True(t, d.Allowed, "key %d (%.20q…, %d bytes): first request must be allowed, so no other key shares its counter", i, k, len(k))
		d, err = st.AllowN(ctx, k, 1, l)
		require.NoError(t, err, "key %d", i)
		assert.False(t, d.Allowed, "key %d (%.20q…): second request of 1/day must be denied", i, k)
		d, err = st.Peek(ctx, k, l, limit.PerHour(5))
		require.NoError(t, err, "key %d", i)
		assert.False(t, d.Allowed, "key %d: multi-limit Peek must see the same counter", i)
	}
}

// testRealClock runs at the present: the clock reads the wall time, and
// the calls carry no seam, so that a network store judges by its
// server's clock. Windows are not aligned to the readings, so the checks
// are bounds.
func testRealClock(t *testing.T, h *harness, strat limit.Strategy) {
	h.clk.Set(time.Duration(time.Now().UnixNano()))
	st, ctx := h.st, context.Background()
	l := limit.PerDay(3)
	k := uniqueKey(t)
	for i := int64(0); i < 3; i++ {
		d, err := st.AllowN(ctx, k, 1, l)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "request %d of 3/day", i+1)
		assert.Equal(t, 2-i, d.Remaining, "Remaining after request %d", i+1)
		assert.Greater(t, d.ResetAfter, time.Duration(0))
		assert.LessOrEqual(t, d.ResetAfter, 2*l.Period())
	}
	d, err := st.AllowN(ctx, k, 1, l)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "4th request of 3/day")
	assert.Greater(t, d.RetryAfter, time.Duration(0))
	switch strat {
	case limit.FixedWindow:
		assert.LessOrEqual(t, d.RetryAfter, l.Period())
		assert.Equal(t, d.ResetAfter, d.RetryAfter, "fixed window: both are P − r")
	case limit.GCRA:
		// One tick (P/3) frees one unit; the bucket is full three ticks
		// after the current one.
		assert.LessOrEqual(t, d.RetryAfter, l.Period()/3)
		assert.Greater(t, d.ResetAfter, 2*l.Period()/3)
		assert.LessOrEqual(t, d.ResetAfter, l.Period())
	case limit.MovingWindow:
		// The first request frees its unit P after it was made.
		assert.Greater(t, d.RetryAfter, l.Period()-time.Minute)
		assert.LessOrEqual(t, d.RetryAfter, l.Period())
		assert.GreaterOrEqual(t, d.ResetAfter, d.RetryAfter)
		assert.LessOrEqual(t, d.ResetAfter, l.Period())
	default:
		// (P−r) + P − ⌊2P/3⌋ for a key with no previous window.
		assert.Greater(t, d.RetryAfter, l.Period()/3)
		assert.LessOrEqual(t, d.RetryAfter, 2*l.Period())
		assert.Greater(t, d.ResetAfter, l.Period())
	}
	assert.Equal(t, l, d.Limit)
}

func testPeekReset(t *testing.T, h *harness) {
	st, ctx := h.st, h.ctx
	l := limit.PerDay(2)
	k := uniqueKey(t)
	d, err := st.Peek(ctx, k, l)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "Peek of an unknown key")
	assert.Equal(t, l, d.Limit)
	assert.EqualValues(t, 2, peekLeft(d), "Peek of an unknown key: Remaining after the request it describes")
	for range 3 {
		d, err = st.Peek(ctx, k, l)
		require.NoError(t, err)
		assert.EqualValues(t, 2, peekLeft(d), "Peek must not count")
	}
	for range 2 {
		d, err = st.AllowN(ctx, k, 1, l)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	d, err = st.Peek(ctx, k, l)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "Peek of an exhausted key")
	require.NoError(t, st.Reset(ctx, k, l, limit.Limit{}))
	d, err = st.AllowN(ctx, k, 1, l)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "after Reset")
	assert.EqualValues(t, 1, d.Remaining, "after Reset and one request")
	require.NoError(t, st.Reset(ctx, uniqueKey(t)), "Reset of nothing")
}

func testBadRequests(t *testing.T, h *harness) {
	st, ctx := h.st, h.ctx
	l := limit.PerDay(5)
	k := uniqueKey(t)
	for _, tc := range []struct {
		name   string
		n      int64
		limits []limit.Limit
		want   limit.Decision
	}{
		{"no-limits", 1, nil, limit.Decision{Allowed: true}},
		{"zero-cost", 0, []limit.Limit{l}, limit.Decision{Limit: l, RetryAfter: limit.Never}},
		{"negative-cost", -3, []limit.Limit{l}, limit.Decision{Limit: l, RetryAfter: limit.Never}},
		{"zero-limit", 1, []limit.Limit{{}}, limit.Decision{RetryAfter: limit.Never}},
		{"cost-over-limit", 6, []limit.Limit{l}, limit.Decision{Limit: l, Remaining: 5, RetryAfter: limit.Never}},
		{"huge-cost", 1 << 62, []limit.Limit{l}, limit.Decision{Limit: l, Remaining: 5, RetryAfter: limit.Never}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := st.AllowN(ctx, k, tc.n, tc.limits...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, d, "AllowN(n=%d, %v)", tc.n, tc.limits)
		})
	}
	d, err := st.Peek(ctx, k, l)
	require.NoError(t, err)
	assert.EqualValues(t, 5, peekLeft(d), "bad requests must count nothing")
}

func testConcurrent(t *testing.T, h *harness, strat limit.Strategy) {
	st, ctx := h.st, h.ctx
	l := limit.PerDay(100)
	if strat == limit.GCRA {
		// GCRA refills a unit every P/L; over ten years that is every 36
		// days, so no unit drips back during the test and exactly the
		// burst is allowed.
		l = mustLimit(100, limit.MaxPeriod)
	}
	k := uniqueKey(t)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 40 {
				d, err := st.AllowN(ctx, k, 1, l)
				if !assert.NoError(t, err) {
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 100, allowed.Load(), "320 concurrent requests under %v", l)
}

func mustLimit(n int64, p time.Duration) limit.Limit {
	l, err := limit.New(n, p)
	if err != nil {
		panic(err)
	}
	return l
}

func mustBurst(l limit.Limit, b int64) limit.Limit {
	l, err := l.WithBurst(b)
	if err != nil {
		panic(err)
	}
	return l
}

// peekLeft returns the units left before the cost-1 request that an
// allowed Peek describes.
func peekLeft(d limit.Decision) int64 {
	if !d.Allowed {
		return d.Remaining
	}
	return d.Remaining + 1
}

// testRefund: units taken and refunded are available again, a refund
// never gives back more than was counted, and other limits are untouched
// (periods of a day, so windows do not roll).
func testRefund(t *testing.T, h *harness) {
	st, ctx := h.st, h.ctx
	key := uniqueKey(t)
	l, other := limit.PerDay(5), limit.PerDay(100)
	d, err := st.AllowN(ctx, key, 3, l, other)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.NoError(t, st.Refund(ctx, key, 2, l))
	assert.EqualValues(t, 4, left(t, h, key, l), "3 taken, 2 refunded: 4 left")
	assert.EqualValues(t, 97, left(t, h, key, other), "the other limit keeps its 3")
	require.NoError(t, st.Refund(ctx, key, 50, l))
	assert.EqualValues(t, 5, left(t, h, key, l), "usage never drops below zero")
	d, err = st.AllowN(ctx, key, 5, l)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "the whole limit after the refunds")
	d, err = st.AllowN(ctx, key, 1, l)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "a refund never makes units beyond the limit")
	require.NoError(t, st.Refund(ctx, uniqueKey(t), 1, l), "refunding an unknown key")
}

// left returns the units key has left under l, by a Peek.
func left(t *testing.T, h *harness, key string, l limit.Limit) int64 {
	t.Helper()
	d, err := h.st.Peek(h.ctx, key, l)
	require.NoError(t, err, "Peek(%v)", l)
	return peekLeft(d)
}

// Large counts: a billion a month (beyond the memory engine's one-word
// cell) and, for GCRA, 10^15 a second (10^6 units per ns: ticks since
// the Unix epoch beyond 2^64), worked out from engine/doc.go with exact
// integers. T0 is a multiple of both periods.
var (
	lMonth = mustLimit(1_000_000_000, 30*24*time.Hour)
	lPeta  = mustLimit(1_000_000_000_000_000, time.Second)
)

var largeTables = map[limit.Strategy]struct {
	limit limit.Limit
	steps []step
}{
	limit.FixedWindow: {lMonth, []step{
		{0, 999_999_999, limit.Decision{Allowed: true, Limit: lMonth, Remaining: 1, ResetAfter: lMonth.Period()}},
		{sec, 2, limit.Decision{Limit: lMonth, Remaining: 1, ResetAfter: lMonth.Period() - sec, RetryAfter: lMonth.Period() - sec}},
		{sec, 1, limit.Decision{Allowed: true, Limit: lMonth, ResetAfter: lMonth.Period() - sec}},
	}},
	limit.SlidingWindow: {lMonth, []step{
		{0, 1_000_000_000, limit.Decision{Allowed: true, Limit: lMonth, ResetAfter: 2 * lMonth.Period()}},
		// Half a period into the next window the previous one weighs
		// ⌈10^9·(P/2)/P⌉ = 5·10^8: exactly 5·10^8 more fit.
		{lMonth.Period() * 3 / 2, 500_000_000, limit.Decision{Allowed: true, Limit: lMonth, ResetAfter: lMonth.Period() * 3 / 2}},
		// One more: P − ⌊(10^9 − 5·10^8 − 1)·P/10^9⌋ − P/2 = P/10^9.
		{lMonth.Period() * 3 / 2, 1, limit.Decision{Limit: lMonth, ResetAfter: lMonth.Period() * 3 / 2, RetryAfter: 2592 * us}},
	}},
	limit.MovingWindow: {lMonth, []step{
		{0, 600_000_000, limit.Decision{Allowed: true, Limit: lMonth, Remaining: 400_000_000, ResetAfter: lMonth.Period()}},
		// One unit too many: the entry at 0 must expire, at P.
		{sec, 400_000_001, limit.Decision{Limit: lMonth, Remaining: 400_000_000, ResetAfter: lMonth.Period() - sec, RetryAfter: lMonth.Period() - sec}},
		{sec, 400_000_000, limit.Decision{Allowed: true, Limit: lMonth, ResetAfter: lMonth.Period()}},
	}},
	limit.GCRA: {lPeta, []step{
		// The whole burst: tat = k + L, at(tat) = T0 + 1 s.
		{0, 1_000_000_000_000_000, limit.Decision{Allowed: true, Limit: lPeta, ResetAfter: sec}},
		// 10^9 more: at(k + L + 10^9 − L) − T0 = 10^9·P/L = 1 µs.
		{0, 1_000_000_000, limit.Decision{Limit: lPeta, ResetAfter: sec, RetryAfter: us}},
		// A microsecond on, 10^9 ticks have passed: they fit exactly.
		{us, 1_000_000_000, limit.Decision{Allowed: true, Limit: lPeta, ResetAfter: sec}},
	}},
}

// testLargeCounts runs the strategy's large-count table.
func testLargeCounts(t *testing.T, h *harness, s limit.Strategy) {
	tc := largeTables[s]
	runSteps(t, h, uniqueKey(t), tc.limit, tc.steps)
}

// allowAll calls AllowAll at T0, which must not fail.
func (h *harness) allowAll(charges ...floodgate.Charge) (limit.Decision, int) {
	h.t.Helper()
	h.clk.Set(T0)
	d, i, err := h.st.AllowAll(h.ctx, charges...)
	require.NoError(h.t, err, "AllowAll(%v) at T0", charges)
	return d, i
}

// testAllowAll checks AllowAll's all-or-nothing decisions at one instant
// (periods of a day, so windows do not roll): the Decision and index that
// decided, and that a denial by any charge consumes none of the others.
// A request's keys are fresh and take at most a few calls each, so a
// lease leaves them cold and every Decision is exact: the deciding
// charge's is the one its AllowN would return, as its Peek (AllowN of 1
// without counting) says before the call (when allowed) or after it
// (when denied).
func testAllowAll(t *testing.T, h *harness) {
	// run runs a named case on h, whose checks then fail that case.
	run := func(name string, f func(t *testing.T, h *harness)) {
		t.Run(name, func(t *testing.T) {
			sub := *h
			sub.t = t
			f(t, &sub)
		})
	}
	charge := func(key string, n int64, ls ...limit.Limit) floodgate.Charge {
		return floodgate.Charge{Key: key, N: n, Limits: ls}
	}
	run("no-charges", func(t *testing.T, h *harness) {
		d, i := h.allowAll()
		assert.Equal(t, limit.Decision{Allowed: true}, d, "AllowAll() with no charges")
		assert.Equal(t, -1, i, "AllowAll() with no charges: index")
	})
	run("later-denial-consumes-nothing", func(t *testing.T, h *harness) {
		app, route := limit.PerDay(10), limit.PerDay(2)
		a, r := charge(uniqueKey(t), 1, app), charge(uniqueKey(t), 1, route)
		for i := range 2 {
			want := h.peek(0, r.Key, route) // route has the fewest left: it decides
			d, at := h.allowAll(a, r)
			assert.Equal(t, want, d, "request %d: AllowAll(app 10/day, route 2/day) returns the route charge's Decision", i)
			assert.Equal(t, 1, at, "request %d: index of the route charge, the one with the fewest units left", i)
		}
		for i := range 3 {
			d, at := h.allowAll(a, r)
			assert.Equal(t, h.peek(0, r.Key, route), d, "denied request %d: the route charge's Decision", i)
			assert.False(t, d.Allowed, "denied request %d", i)
			assert.Equal(t, 1, at, "denied request %d: index of the route charge", i)
		}
		assert.EqualValues(t, 8, left(t, h, a.Key, app), "app after 2 allowed requests and 3 denied by the route charge")
	})
	run("denial-in-the-middle", func(t *testing.T, h *harness) {
		l5, l1 := limit.PerDay(5), limit.PerDay(1)
		first, mid, last := charge(uniqueKey(t), 2, l5), charge(uniqueKey(t), 1, l1), charge(uniqueKey(t), 3, l5)
		require.True(t, h.allow(0, mid.Key, 1, l1).Allowed, "AllowN spends the middle charge's 1/day")
		d, at := h.allowAll(first, mid, last)
		assert.False(t, d.Allowed, "AllowAll with the middle charge spent: %+v", d)
		assert.Equal(t, 1, at, "index of the middle charge")
		assert.Equal(t, l1, d.Limit, "the middle charge's limit decides")
		assert.EqualValues(t, 5, left(t, h, first.Key, l5), "the first charge, counted before the denial, is given back")
		assert.EqualValues(t, 5, left(t, h, last.Key, l5), "the last charge, after the denial, is never counted")
	})
	run("first-denial", func(t *testing.T, h *harness) {
		l1, l5 := limit.PerDay(1), limit.PerDay(5)
		first, second := charge(uniqueKey(t), 1, l1), charge(uniqueKey(t), 1, l5)
		require.True(t, h.allow(0, first.Key, 1, l1).Allowed)
		d, at := h.allowAll(first, second)
		assert.Equal(t, h.peek(0, first.Key, l1), d, "denied by the first charge: its Decision")
		assert.Equal(t, 0, at, "index of the first charge")
		assert.EqualValues(t, 5, left(t, h, second.Key, l5), "the second charge is never counted")
	})
	run("costs-and-ties", func(t *testing.T, h *harness) {
		l3, l6, lh := limit.PerDay(3), limit.PerDay(6), limit.PerHour(100)
		// Both have 2 left after the request: the first of equals decides.
		a, b := charge(uniqueKey(t), 1, l3), charge(uniqueKey(t), 4, l6, lh)
		want := h.peek(0, a.Key, l3)
		d, at := h.allowAll(a, b)
		assert.Equal(t, want, d, "AllowAll(1 of 3/day, 4 of 6/day and 100/hour): the first charge's Decision")
		assert.Equal(t, 0, at, "equal Remaining: the first charge decides")
		assert.EqualValues(t, 2, d.Remaining)
		assert.EqualValues(t, 2, left(t, h, b.Key, l6), "cost 4 counted under 6/day")
		assert.EqualValues(t, 96, left(t, h, b.Key, lh), "cost 4 counted under 100/hour")
		// Cost 3 does not fit 2 left: denied, and the first charge's 1
		// is given back.
		d, at = h.allowAll(a, charge(b.Key, 3, l6, lh))
		assert.False(t, d.Allowed, "a cost of 3 with 2 left: %+v", d)
		assert.Equal(t, 1, at, "the second charge denies")
		assert.Equal(t, l6, d.Limit, "6/day denies, not 100/hour")
		assert.EqualValues(t, 2, left(t, h, a.Key, l3), "the first charge is given back")
	})
	run("bad-charge", func(t *testing.T, h *harness) {
		l5 := limit.PerDay(5)
		a := charge(uniqueKey(t), 1, l5)
		d, at := h.allowAll(a, charge(uniqueKey(t), 1, limit.Limit{}))
		assert.Equal(t, limit.Decision{RetryAfter: limit.Never}, d, "a charge under a zero Limit is never allowed")
		assert.Equal(t, 1, at, "the zero Limit's charge denies")
		d, at = h.allowAll(a, charge(uniqueKey(t), 0, l5))
		assert.Equal(t, limit.Decision{Limit: l5, RetryAfter: limit.Never}, d, "a charge of cost 0 is never allowed")
		assert.Equal(t, 1, at, "the zero-cost charge denies")
		assert.EqualValues(t, 5, left(t, h, a.Key, l5), "bad charges count nothing of the good one")
	})
}

// testAllowAllConcurrent runs multi-charge requests from many goroutines:
// each charges a key of its own (4 per period) first and a shared key
// (25) last. No limit is ever exceeded, and none is under-used: the
// shared key, charged last, is never held by a request that another
// denies, so exactly 25 requests are allowed; and every goroutine's own
// key counts exactly the requests it was allowed, since a request denied
// by the shared key gives its own charge back.
func testAllowAllConcurrent(t *testing.T, h *harness, strat limit.Strategy) {
	st, ctx := h.st, h.ctx
	period := 24 * time.Hour
	if strat == limit.GCRA {
		period = limit.MaxPeriod // no unit drips back during the test (testConcurrent)
	}
	own, shared := mustLimit(4, period), mustLimit(25, period)
	sharedKey := uniqueKey(t)
	const goroutines, requests = 8, 10
	var keys [goroutines]string
	var allowed [goroutines]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		keys[g] = uniqueKey(t)
		wg.Go(func() {
			for range requests {
				d, at, err := st.AllowAll(ctx, floodgate.Charge{Key: keys[g], N: 1, Limits: []limit.Limit{own}},
					floodgate.Charge{Key: sharedKey, N: 1, Limits: []limit.Limit{shared}})
				if !assert.NoError(t, err, "goroutine %d: AllowAll", g) {
					return
				}
				if d.Allowed {
					allowed[g].Add(1)
				} else if !assert.Contains(t, []int{0, 1}, at, "goroutine %d: index of a denial", g) {
					return
				}
			}
		})
	}
	wg.Wait()
	total := int64(0)
	for g := range goroutines {
		n := allowed[g].Load()
		total += n
		assert.LessOrEqual(t, n, int64(4), "goroutine %d: allowed requests under its own 4", g)
		assert.Equal(t, 4-n, left(t, h, keys[g], own), "goroutine %d: its own key counts its %d allowed requests and nothing of its denied ones", g, n)
	}
	assert.EqualValues(t, 25, total, "%d concurrent requests of two charges under a shared %v", goroutines*requests, shared)
}
