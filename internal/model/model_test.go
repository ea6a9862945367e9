package model

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/limit"
)

// step is one call in a scenario: AllowN (or Peek when peek is set) at
// time at, and the Decision it must return.
type step struct {
	at     time.Duration
	n      int64
	peek   bool
	limits []limit.Limit
	want   limit.Decision
}

func run(t *testing.T, s limit.Strategy, steps []step) {
	t.Helper()
	m := New(s)
	for i, st := range steps {
		var got limit.Decision
		if st.peek {
			got = m.Peek(st.at, "k", st.limits...)
		} else {
			got = m.AllowN(st.at, "k", st.n, st.limits...)
		}
		if !assert.Equal(t, st.want, got) {
			t.Fatalf("step %d: AllowN(%v, %d, %v, peek=%v) = %+v, want %+v", i, st.at, st.n, st.limits, st.peek, got, st.want)
		}
	}
}

const ms = time.Millisecond

// The expected values below are worked out by hand from engine/doc.go.
func TestSlidingSteps(t *testing.T) {
	five := limit.PerSecond(5)
	ls := []limit.Limit{five}
	allow := func(at time.Duration, n, rem int64, reset time.Duration) step {
		return step{at: at, n: n, limits: ls, want: limit.Decision{Allowed: true, Limit: five, Remaining: rem, ResetAfter: reset}}
	}
	run(t, limit.SlidingWindow, []step{
		// A Peek is the Decision of a cost-1 request, so it counts the 1.
		{at: 0, peek: true, limits: ls, want: limit.Decision{Allowed: true, Limit: five, Remaining: 4, ResetAfter: 2 * time.Second}},
		allow(0, 1, 4, 2*time.Second),
		allow(0, 4, 0, 2*time.Second),
		// cur+n > L: (P−r) + P − ⌊(L−n)·P/cur⌋ = 1s + 1s − 800ms.
		{at: 0, n: 1, limits: ls, want: limit.Decision{Limit: five, RetryAfter: 1200 * ms, ResetAfter: 2 * time.Second}},
		// Next window, r = 500ms: prev weighs ⌈5·0.5⌉ = 3 of Remaining.
		{at: 1500 * ms, peek: true, limits: ls, want: limit.Decision{Allowed: true, Limit: five, Remaining: 1, ResetAfter: 1500 * ms}},
		allow(1500*ms, 2, 0, 1500*ms),
		// 2.5 + 2 + 1 > 5; cur+n ≤ L: P − ⌊(5−2−1)·P/5⌋ − r = 1s − 400ms − 500ms.
		{at: 1500 * ms, n: 1, limits: ls, want: limit.Decision{Limit: five, RetryAfter: 100 * ms, ResetAfter: 1500 * ms}},
		allow(1600*ms, 1, 0, 1400*ms),
		// Cost above the count: Never, nothing counted.
		{at: 1600 * ms, n: 6, limits: ls, want: limit.Decision{Limit: five, RetryAfter: limit.Never, ResetAfter: 1400 * ms}},
		// Clock steps back to window 0: judged at the start of window 1,
		// with waits from the reading (0.9 s more than from the judgement).
		{at: 100 * ms, n: 1, limits: ls, want: limit.Decision{Limit: five, RetryAfter: 1700 * ms, ResetAfter: 2900 * ms}},
		// Two windows on, everything has expired.
		allow(3*time.Second, 5, 0, 2*time.Second),
	})
}

func TestFixedSteps(t *testing.T) {
	two := limit.PerMinute(2)
	ls := []limit.Limit{two}
	run(t, limit.FixedWindow, []step{
		{at: 59 * time.Second, n: 2, limits: ls, want: limit.Decision{Allowed: true, Limit: two, ResetAfter: time.Second}},
		{at: 59 * time.Second, n: 1, limits: ls, want: limit.Decision{Limit: two, RetryAfter: time.Second, ResetAfter: time.Second}},
		{at: 60 * time.Second, peek: true, limits: ls, want: limit.Decision{Allowed: true, Limit: two, Remaining: 1, ResetAfter: time.Minute}},
		{at: 61 * time.Second, n: 1, limits: ls, want: limit.Decision{Allowed: true, Limit: two, Remaining: 1, ResetAfter: 59 * time.Second}},
		// Back in time, to window 0: judged at the start of window 1, with
		// waits from the reading.
		{at: 0, n: 2, limits: ls, want: limit.Decision{Limit: two, Remaining: 1, RetryAfter: 2 * time.Minute, ResetAfter: 2 * time.Minute}},
	})
}

func TestBadRequests(t *testing.T) {
	one := limit.PerSecond(1)
	never := limit.Decision{Limit: one, RetryAfter: limit.Never}
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			reset := 2 * time.Second // a negative time counts as 0
			if s != limit.SlidingWindow {
				reset = time.Second
			}
			run(t, s, []step{
				{at: 0, n: 0, limits: []limit.Limit{one}, want: never},
				{at: 0, n: -1, limits: []limit.Limit{one}, want: never},
				{at: 0, n: 1, limits: []limit.Limit{{}}, want: limit.Decision{RetryAfter: limit.Never}},
				{at: 0, n: 1, limits: []limit.Limit{one, {}}, want: limit.Decision{RetryAfter: limit.Never}},
				{at: 0, n: 0, want: limit.Decision{Allowed: true}},
				{at: 0, peek: true, want: limit.Decision{Allowed: true}},
				{at: -time.Hour, n: 1, limits: []limit.Limit{one}, want: limit.Decision{Allowed: true, Limit: one, ResetAfter: reset}},
			})
		})
	}
}

func TestMultiLimit(t *testing.T) {
	a, b := limit.PerSecond(3), limit.PerMinute(2)
	run(t, limit.FixedWindow, []step{
		// All allow: the fewest Remaining is b's.
		{at: 0, n: 1, limits: []limit.Limit{a, b}, want: limit.Decision{Allowed: true, Limit: b, Remaining: 1, ResetAfter: time.Minute}},
		// b denies a cost of 2; a counts nothing either.
		{at: 0, n: 2, limits: []limit.Limit{a, b}, want: limit.Decision{Limit: b, Remaining: 1, RetryAfter: time.Minute, ResetAfter: time.Minute}},
		{at: 0, peek: true, limits: []limit.Limit{a}, want: limit.Decision{Allowed: true, Limit: a, Remaining: 1, ResetAfter: time.Second}},
		{at: 0, n: 1, limits: []limit.Limit{a, b}, want: limit.Decision{Allowed: true, Limit: b, ResetAfter: time.Minute}},
		{at: 0, peek: true, limits: []limit.Limit{b, a}, want: limit.Decision{Limit: b, RetryAfter: time.Minute, ResetAfter: time.Minute}},
		// Ties go to the first.
		{at: 0, n: 1, limits: []limit.Limit{limit.PerMinute(4), limit.PerSecond(4)}, want: limit.Decision{Allowed: true, Limit: limit.PerMinute(4), Remaining: 3, ResetAfter: time.Minute}},
	})
}

func TestResetAndSweep(t *testing.T) {
	one := limit.PerSecond(1)
	m := New(limit.SlidingWindow)
	require.True(t, m.AllowN(0, "k", 1, one).Allowed, "AllowN(0, k, 1, 1/second) on a fresh model")
	m.Reset("k", one)
	assert.True(t, m.AllowN(0, "k", 1, one).Allowed, "AllowN after Reset")
	m.Sweep(10 * time.Second)
	// The sweep used window 10: an older reading is judged at its start,
	// and its ResetAfter counts from the reading.
	got := m.Peek(time.Second, "k", one)
	assert.Equal(t, limit.Decision{Allowed: true, Limit: one, ResetAfter: 11 * time.Second}, got, "Peek at 1s after a sweep at 10s")
	_, _, _, ok := m.Counted("k", one)
	assert.True(t, ok, "Counted after a sweep: the model never evicts")
}

// TestRetryAfterIsLeast checks the documented RetryAfter formulas against
// their definition, "the least wait after which the same cost is
// allowed", on random states: allowed at now+RetryAfter, denied 1 ns
// before.
func TestRetryAfterIsLeast(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			for range 2000 {
				l, err := limit.New(1+rng.Int64N(20), time.Duration(1+rng.IntN(5))*time.Second)
				require.NoError(t, err)
				P := l.Period()
				prevAt := time.Duration(rng.Int64N(int64(P)))
				curAt := P + time.Duration(rng.Int64N(int64(P)))
				now := curAt + time.Duration(rng.Int64N(int64(2*P-curAt%P)))%(P-curAt%P)
				prev, cur := rng.Int64N(l.Count()+1), rng.Int64N(l.Count()+1)
				n := 1 + rng.Int64N(l.Count())
				fresh := func() *Limiter {
					m := New(s)
					if prev > 0 {
						require.True(t, m.AllowN(prevAt, "k", prev, l).Allowed, "setup prev")
					}
					if cur > 0 && !m.AllowN(curAt, "k", cur, l).Allowed {
						return nil
					}
					return m
				}
				m := fresh()
				if m == nil {
					continue
				}
				d := m.Judge(now, "k", n, l)
				if d.Allowed {
					continue
				}
				require.Less(t, d.RetryAfter, limit.Never, "cost %d ≤ count of %v", n, l)
				at := fresh().Judge(now+d.RetryAfter, "k", n, l)
				assert.Truef(t, at.Allowed, "%v prev=%d cur=%d n=%d now=%v: RetryAfter %v, but denied then", l, prev, cur, n, now, d.RetryAfter)
				before := fresh().Judge(now+d.RetryAfter-1, "k", n, l)
				assert.Falsef(t, before.Allowed, "%v prev=%d cur=%d n=%d now=%v: RetryAfter %v, but allowed 1ns earlier", l, prev, cur, n, now, d.RetryAfter)
			}
		})
	}
}

// TestRemainingIsAllowed checks that a cost of Remaining is allowed.
func TestRemainingIsAllowed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		m := New(s)
		l := limit.PerSecond(7)
		now := time.Duration(0)
		for range 5000 {
			now += time.Duration(rng.Int64N(int64(400 * ms)))
			d := m.Peek(now, "k", l)
			if d.Remaining > 0 {
				assert.Truef(t, m.Judge(now, "k", d.Remaining, l).Allowed, "%v at %v: Remaining %d, but a cost of it is denied", s, now, d.Remaining)
			}
			m.AllowN(now, "k", 1+rng.Int64N(3), l)
		}
	}
}
