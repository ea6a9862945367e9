package engine_test

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// newEngine returns an engine on a manual clock reading start, without a
// background sweeper, closed at the end of the test.
func newEngine(t testing.TB, s limit.Strategy, start time.Duration, opts ...engine.Option) (*engine.Engine, *clock.Manual) {
	t.Helper()
	c := clock.NewManual(start)
	e := engine.New(append([]engine.Option{engine.WithClock(c), engine.WithStrategy(s), engine.WithSweepInterval(-1)}, opts...)...)
	t.Cleanup(func() { e.Close() })
	return e, c
}

// allowAt moves c to now and returns e.AllowN(key, n, limits...).
func allowAt(e *engine.Engine, c *clock.Manual, now time.Duration, key string, n int64, limits ...limit.Limit) limit.Decision {
	c.Set(now)
	return e.AllowN(key, n, limits...)
}

// peekAt moves c to now and returns e.Peek(key, limits...).
func peekAt(e *engine.Engine, c *clock.Manual, now time.Duration, key string, limits ...limit.Limit) limit.Decision {
	c.Set(now)
	return e.Peek(key, limits...)
}

// sweepAt moves c to now and sweeps e there.
func sweepAt(e *engine.Engine, c *clock.Manual, now time.Duration) int {
	c.Set(now)
	return engine.Sweep(e)
}

// step is one row of a time scenario: at time at, key asks for cost n
// (0 means a Peek) and must get want.
type step struct {
	at   time.Duration
	key  string
	n    int64
	want limit.Decision
}

// run plays steps against e, moving its clock c to each step's time, and
// reports the first failing step by index.
func run(t *testing.T, e *engine.Engine, c *clock.Manual, l limit.Limit, steps []step) {
	t.Helper()
	for i, s := range steps {
		var got limit.Decision
		if s.n == 0 {
			got = peekAt(e, c, s.at, s.key, l)
		} else {
			got = allowAt(e, c, s.at, s.key, s.n, l)
		}
		want := s.want
		want.Limit = l
		if got != want {
			t.Fatalf("step %d: AllowN(%q, %d, %v) at %v (n = 0: Peek) = %+v, want %+v", i, s.key, s.n, l, s.at, got, want)
		}
	}
}

func ok(remaining int64, reset time.Duration) limit.Decision {
	return limit.Decision{Allowed: true, Remaining: remaining, ResetAfter: reset}
}

func no(remaining int64, retry, reset time.Duration) limit.Decision {
	return limit.Decision{Remaining: remaining, RetryAfter: retry, ResetAfter: reset}
}

const (
	sec    = time.Second
	minute = time.Minute
)

func TestSlidingWindowSteps(t *testing.T) {
	l := limit.PerMinute(5)
	t.Run("five then deny", func(t *testing.T) {
		e, c := newEngine(t, limit.SlidingWindow, 0)
		run(t, e, c, l, []step{
			{0, "ip", 1, ok(4, 2*minute)},
			{1 * sec, "ip", 1, ok(3, 2*minute-1*sec)},
			{2 * sec, "ip", 1, ok(2, 2*minute-2*sec)},
			{3 * sec, "ip", 1, ok(1, 2*minute-3*sec)},
			{4 * sec, "ip", 1, ok(0, 2*minute-4*sec)},
			// 6th: window 0 is full, so wait for window 1 where the 5 weigh
			// (60−r)/60 and one more fits once 5·(60−r) ≤ 4·60: r = 12 s.
			{5 * sec, "ip", 1, no(0, 55*sec+12*sec, 2*minute-5*sec)},
			// Peeks count nothing.
			{5 * sec, "ip", 0, no(0, 55*sec+12*sec, 2*minute-5*sec)},
			// A peek answers as if the request were counted.
			{5 * sec, "other", 0, ok(4, 2*minute-5*sec)},
		})
	})
	t.Run("a quarter into the next window", func(t *testing.T) {
		e, c := newEngine(t, limit.SlidingWindow, 0)
		for i := range 5 {
			require.True(t, allowAt(e, c, time.Duration(i)*sec, "ip", 1, l).Allowed, "request %d in window 0", i)
		}
		// At 75 s, r = 15 s: the previous 5 weigh 5·45/60 = 3.75, so one
		// request fits (4.75 ≤ 5) and the next does not (5.75 > 5).
		run(t, e, c, l, []step{
			{75 * sec, "ip", 0, ok(0, 2*minute-15*sec)},
			{75 * sec, "ip", 1, ok(0, 2*minute-15*sec)},
			// Next fits when 5·(60−r) ≤ 3·60: r = 24 s, so 9 s from now.
			{75 * sec, "ip", 1, no(0, 9*sec, 2*minute-15*sec)},
			{84 * sec, "ip", 1, ok(0, 2*minute-24*sec)},
			{84 * sec, "ip", 1, no(0, 12*sec, 2*minute-24*sec)},
		})
	})
	t.Run("silence restores the limit", func(t *testing.T) {
		e, c := newEngine(t, limit.SlidingWindow, 0)
		for range 5 {
			require.True(t, allowAt(e, c, 30*sec, "ip", 1, l).Allowed)
		}
		run(t, e, c, l, []step{
			{30 * sec, "ip", 1, no(0, 30*sec+12*sec, 90*sec)},
			// One full period of silence after window 0 ends: nothing weighs.
			{120 * sec, "ip", 0, ok(4, 2*minute)},
			{120 * sec, "ip", 5, ok(0, 2*minute)},
		})
	})
	t.Run("cost", func(t *testing.T) {
		e, c := newEngine(t, limit.SlidingWindow, 0)
		run(t, e, c, l, []step{
			{0, "ip", 3, ok(2, 2*minute)},
			{0, "ip", 3, no(2, 60*sec+60*sec-40*sec, 2*minute)},
			{0, "ip", 2, ok(0, 2*minute)},
			{0, "ip", 6, no(0, limit.Never, 2*minute)},
		})
	})
}

func TestFixedWindowSteps(t *testing.T) {
	l := limit.PerMinute(5)
	e, c := newEngine(t, limit.FixedWindow, 0)
	run(t, e, c, l, []step{
		{10 * sec, "ip", 0, ok(4, 50*sec)},
		{10 * sec, "ip", 4, ok(1, 50*sec)},
		{20 * sec, "ip", 1, ok(0, 40*sec)},
		{59 * sec, "ip", 1, no(0, 1*sec, 1*sec)},
		{60 * sec, "ip", 1, ok(4, 60*sec)},
		{61 * sec, "ip", 5, no(4, 59*sec, 59*sec)},
		{200 * sec, "ip", 5, ok(0, 40*sec)},
	})
}

// TestHammerFixedWindowExact: N goroutines on one key inside one window
// get exactly L allowed, never more, never fewer.
func TestHammerFixedWindowExact(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		for _, g := range []int{2, 8, 32} {
			t.Run("procs="+strconv.Itoa(procs)+"/goroutines="+strconv.Itoa(g), func(t *testing.T) {
				prev := runtime.GOMAXPROCS(procs)
				t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
				for _, s := range []limit.Strategy{limit.FixedWindow, limit.SlidingWindow} {
					e, _ := newEngine(t, s, 5*sec)
					const L = 500
					l := limit.PerHour(L)
					var allowed atomic.Int64
					var wg sync.WaitGroup
					for range g {
						wg.Go(func() {
							for range 2 * L / g {
								if e.Allow("hot", l) {
									allowed.Add(1)
								}
							}
						})
					}
					wg.Wait()
					assert.EqualValues(t, L, allowed.Load(), "%v: allowed with %d goroutines each trying %d", s, g, 2*L/g)
					assert.False(t, e.Allow("hot", l), "%v: Allow after exhaustion", s)
				}
			})
		}
	}
}

// TestMultiLimitDenialConsumesNothing: a request denied by one limit
// leaves the others untouched.
func TestMultiLimitDenialConsumesNothing(t *testing.T) {
	e, c := newEngine(t, limit.SlidingWindow, 0)
	perSec, perDay := limit.PerSecond(2), limit.PerDay(3)
	both := []limit.Limit{perSec, perDay}

	d := allowAt(e, c, 0, "k", 1, both...)
	require.True(t, d.Allowed)
	assert.Equal(t, perSec, d.Limit, "the limit with the fewest remaining describes the decision")
	assert.EqualValues(t, 1, d.Remaining)

	require.True(t, allowAt(e, c, 0, "k", 1, both...).Allowed)
	d = allowAt(e, c, 0, "k", 1, both...)
	require.False(t, d.Allowed, "third request in one second")
	assert.Equal(t, perSec, d.Limit, "the denying limit describes the decision")
	// The day limit must still have exactly one unit left.
	assert.EqualValues(t, 0, peekAt(e, c, 0, "k", perDay).Remaining, "day budget (after one more) after a denial by the second limit")

	// Denied by the day limit (the second one): the second limit must not
	// keep the unit that the first took before the denial.
	require.True(t, allowAt(e, c, 3*sec, "k", 1, both...).Allowed)
	d = allowAt(e, c, 6*sec, "k", 1, both...)
	require.False(t, d.Allowed)
	assert.Equal(t, perDay, d.Limit)
	assert.EqualValues(t, 1, peekAt(e, c, 6*sec, "k", perSec).Remaining, "second budget (after one more) after a denial by the day limit")

	assert.True(t, e.AllowN("k", 1).Allowed, "no limits at all allows")

	dup := limit.PerMinute(3)
	require.True(t, allowAt(e, c, 0, "dup", 1, dup, dup).Allowed)
	assert.EqualValues(t, 2, peekAt(e, c, 0, "dup", dup).Remaining+1, "a limit named twice is counted once")
}

// TestSlidingWorstCase checks the documented accuracy bound: in any
// interval of one period the sliding-window counter allows at most 2L,
// and in any epoch-aligned window at most L.
func TestSlidingWorstCase(t *testing.T) {
	const L = 10
	l := limit.New
	lim, err := l(L, 10*sec)
	require.NoError(t, err)
	e, c := newEngine(t, limit.SlidingWindow, 0)
	var times []time.Duration
	// Adversary: try a request every 10 ms for 100 s.
	for at := time.Duration(0); at < 100*sec; at += 10 * time.Millisecond {
		if allowAt(e, c, at, "k", 1, lim).Allowed {
			times = append(times, at)
		}
	}
	require.NotEmpty(t, times)
	maxInPeriod, maxInWindow := 0, map[time.Duration]int{}
	for i, a := range times {
		n := 0
		for _, b := range times[i:] {
			if b-a < 10*sec {
				n++
			}
		}
		maxInPeriod = max(maxInPeriod, n)
		maxInWindow[a/(10*sec)]++
	}
	assert.LessOrEqual(t, maxInPeriod, 2*L, "allowed in one period-long interval")
	for w, n := range maxInWindow {
		assert.LessOrEqual(t, n, L, "allowed in aligned window %d", w)
	}
	// Uniform traffic: steady state allows L per period.
	assert.InDelta(t, 100*L/10, len(times), L, "total over 10 periods")
}

func TestClockBackwardsNeverGrantsBurst(t *testing.T) {
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow} {
		t.Run(s.String(), func(t *testing.T) {
			e, c := newEngine(t, s, 10*minute)
			l := limit.PerMinute(3)
			for range 3 {
				require.True(t, e.Allow("k", l))
			}
			for _, back := range []time.Duration{time.Millisecond, sec, minute, time.Hour, 100 * time.Hour, 10 * minute} {
				c.Set(10*minute - back)
				assert.False(t, e.Allow("k", l), "Allow after the clock moved back %v", back)
				d := e.AllowN("k", 1, l)
				assert.False(t, d.Allowed)
				assert.Positive(t, d.RetryAfter)
			}
			c.Set(-time.Hour)
			assert.False(t, e.Allow("k", l), "Allow at a negative time")
		})
	}
}

func TestBadInput(t *testing.T) {
	e, _ := newEngine(t, limit.SlidingWindow, 0)
	l := limit.PerMinute(2)
	t.Run("empty key is an ordinary key", func(t *testing.T) {
		assert.True(t, e.Allow("", l))
		assert.True(t, e.Allow("", l))
		assert.False(t, e.Allow("", l))
		assert.True(t, e.Allow("x", l), "another key is unaffected")
	})
	t.Run("1 MiB key", func(t *testing.T) {
		big := strings.Repeat("k", 1<<20)
		assert.True(t, e.Allow(big, l))
		assert.True(t, e.Allow(big, l))
		assert.False(t, e.Allow(big, l))
		assert.True(t, e.Allow(big[:len(big)-1], l), "a key one byte shorter is a different key")
	})
	t.Run("zero and negative cost", func(t *testing.T) {
		for _, n := range []int64{0, -1, -1 << 62} {
			d := e.AllowN("cost", n, l)
			assert.False(t, d.Allowed, "AllowN cost %d", n)
			assert.Equal(t, limit.Never, d.RetryAfter, "AllowN cost %d", n)
		}
		assert.EqualValues(t, 1, e.Peek("cost", l).Remaining, "bad costs consumed nothing")
	})
	t.Run("zero limit", func(t *testing.T) {
		var zero limit.Limit
		assert.False(t, e.Allow("z", zero))
		d := e.AllowN("z", 1, zero)
		assert.False(t, d.Allowed)
		assert.Equal(t, limit.Never, d.RetryAfter)
		assert.False(t, e.Peek("z", zero).Allowed)
		assert.False(t, e.AllowN("z", 1, l, zero).Allowed)
		assert.EqualValues(t, 1, e.Peek("z", l).Remaining, "a zero limit in a list consumed nothing of the others")
		e.Reset("z", zero) // must not panic
	})
}

func TestReset(t *testing.T) {
	e, _ := newEngine(t, limit.SlidingWindow, 0)
	l, other := limit.PerMinute(1), limit.PerHour(1)
	require.True(t, e.Allow("k", l))
	require.True(t, e.Allow("k", other))
	require.False(t, e.Allow("k", l))
	e.Reset("k", l)
	assert.True(t, e.Allow("k", l), "Allow after Reset")
	assert.False(t, e.Allow("k", other), "Reset of one limit leaves the others")
}

func TestKeysPerLimitAreSeparate(t *testing.T) {
	e, _ := newEngine(t, limit.SlidingWindow, 0)
	a, b := limit.MustParse("1/second"), limit.MustParse("1/day")
	assert.True(t, e.Allow("k", a))
	assert.True(t, e.Allow("k", b), "the same key under another limit counts separately")
	assert.Equal(t, 2, e.Len())
}

func TestZeroAllocsKnownKey(t *testing.T) {
	e, _ := newEngine(t, limit.SlidingWindow, 0)
	l, day := limit.MustParse("500000000/hour"), limit.PerDay(500000000)
	e.Allow("known", l)
	e.AllowN("known", 1, l, day)
	for name, f := range map[string]func(){
		"Allow":      func() { e.Allow("known", l) },
		"AllowN":     func() { e.AllowN("known", 1, l) },
		"AllowN two": func() { e.AllowN("known", 1, l, day) },
		"Peek":       func() { e.Peek("known", l) },
	} {
		assert.Zero(t, testing.AllocsPerRun(1000, f), "allocations per %s on a known key", name)
	}
}

// TestZeroAllocsLargeCounts: a limit past the one-word cell (the two-word
// cells of engine/wide.go) allocates nothing per call on a known key, and
// nothing per new key beyond its table's occasional growth, for every
// strategy that has one.
func TestZeroAllocsLargeCounts(t *testing.T) {
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			e, _ := newEngine(t, s, 0)
			l := limit.PerSecond(1_000_000_000)
			e.Allow("known", l)
			for name, f := range map[string]func(){
				"Allow":  func() { e.Allow("known", l) },
				"AllowN": func() { e.AllowN("known", 1, l) },
				"Peek":   func() { e.Peek("known", l) },
			} {
				assert.Zero(t, testing.AllocsPerRun(1000, f), "allocations per %s on a known key", name)
			}
			keys := make([]string, 100_000)
			for i := range keys {
				keys[i] = "new-" + strconv.Itoa(i)
			}
			i := 0
			perKey := testing.AllocsPerRun(len(keys)-1, func() {
				e.Allow(keys[i], l)
				i++
			})
			assert.Zero(t, perKey, "allocations per new key (table growth averaged out)")
		})
	}
}

// TestMaxKeys: the cap holds for every strategy. A key beyond the cap is
// denied and counted in Full; tracked keys keep their state; a sweep of
// idle keys lets new ones in.
func TestMaxKeys(t *testing.T) {
	for _, s := range allStrategies() {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			e, c := newEngine(t, s, 0, engine.WithMaxKeys(64), engine.WithShards(8))
			l := limit.PerSecond(1)
			allowed := 0
			for i := range 1000 {
				if e.Allow("k"+strconv.Itoa(i), l) {
					allowed++
				}
			}
			assert.LessOrEqual(t, e.Len(), 64, "live keys above the cap")
			assert.Positive(t, allowed, "keys admitted under the cap")
			assert.Equal(t, e.Len(), allowed, "every tracked key got its first request, no other did")
			assert.EqualValues(t, 1000-allowed, e.Full(), "Full() after 1000 new keys")
			d := e.AllowN("k999", 1, l)
			assert.Equal(t, limit.Decision{Limit: l, RetryAfter: sec}, d, "AllowN of a key beyond the cap")
			assert.EqualValues(t, 1000-allowed+1, e.Full(), "Full() after AllowN beyond the cap")
			// A tracked key still never gets more than its limit.
			assert.False(t, e.Allow("k0", l), "a tracked key at the cap")
			// Once idle keys are swept, new keys are admitted again.
			c.Set(10 * sec)
			require.Equal(t, allowed, engine.Sweep(e), "Sweep of the idle keys")
			assert.True(t, e.Allow("newcomer", l), "a new key after the sweep")
		})
	}
}

// TestLimitFirstUsedLate is the regression test for a new cell (window
// field 0) that was read as newer than the current window when a limit
// was first used late on the clock.
func TestLimitFirstUsedLate(t *testing.T) {
	for _, start := range []time.Duration{0, sec, 10 * minute, 16381052 * time.Microsecond} {
		e, c := newEngine(t, limit.SlidingWindow, start)
		l := limit.PerSecond(1)
		require.True(t, e.Allow("k", l), "first request at %v", start)
		c.Advance(2 * sec)
		assert.True(t, e.Allow("k", l), "request two periods after the first, started at %v", start)
	}
	e, c := newEngine(t, limit.SlidingWindow, 5*sec)
	d := allowAt(e, c, 5*sec+16381052*time.Microsecond, "k", 3, limit.PerSecond(3))
	assert.Equal(t, 2*sec-381052*time.Microsecond, d.ResetAfter, "ResetAfter of a first request far ahead of the limit's creation")

	// hw comes from requests, not from the clock: a first request at a
	// reading older than the clock's at New is judged at its own time.
	e, c = newEngine(t, limit.SlidingWindow, 10*minute)
	d = allowAt(e, c, 90*sec, "k", 1, limit.PerMinute(2))
	assert.Equal(t, 2*minute-30*sec, d.ResetAfter, "ResetAfter of a first request at a reading older than the clock's at New")
}
