package model

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/limit"
)

const s = time.Second

func withBurst(t *testing.T, l limit.Limit, b int64) limit.Limit {
	t.Helper()
	l, err := l.WithBurst(b)
	require.NoError(t, err)
	return l
}

// The expected values below are worked out by hand from engine/doc.go.
func TestMovingSteps(t *testing.T) {
	ten := limit.MustParse("10/2 seconds")
	ls := []limit.Limit{ten}
	allow := func(at time.Duration, n, rem int64) step {
		// An allowed request is the newest entry: ResetAfter = P.
		return step{at: at, n: n, limits: ls, want: limit.Decision{Allowed: true, Limit: ten, Remaining: rem, ResetAfter: 2 * s}}
	}
	deny := func(at time.Duration, n int64, retry, reset time.Duration) step {
		return step{at: at, n: n, limits: ls, want: limit.Decision{Limit: ten, RetryAfter: retry, ResetAfter: reset}}
	}
	run(t, limit.MovingWindow, []step{
		{at: 0, peek: true, limits: ls, want: limit.Decision{Allowed: true, Limit: ten, Remaining: 9, ResetAfter: 2 * s}},
		allow(0, 5, 5),
		allow(1300*ms, 5, 0),
		// The 11th: the t=0 entries free 5 units at 0 + P: 2s − 1.3s.
		// ResetAfter: newest entry 1.3s + P − now.
		deny(1300*ms, 1, 700*ms, 2*s),
		// A nanosecond before 2s the t=0 entries still count.
		deny(2*s-1, 1, 1, 1300*ms+1),
		// Exactly at 2s they no longer count (the boundary is exclusive).
		{at: 2 * s, peek: true, limits: ls, want: limit.Decision{Allowed: true, Limit: ten, Remaining: 4, ResetAfter: 2 * s}},
		allow(2*s+1, 5, 0),
		// Next one waits for the 1.3s entries: 1.3s + 2s − (2s + 1ns).
		deny(2*s+1, 1, 1300*ms-1, 2*s),
		// Back in time to 1s: judged at the newest entry's time, 2s + 1ns
		// (still full), but the waits run from the reading: the 1.3s
		// entries expire at 3.3s, 2.3s from now; the newest at 4s + 1ns.
		deny(time.Second, 1, 2300*ms, 3*s+1),
		// An allowed request at an old reading is logged at the newest
		// entry's time: at 3.3s it still counts (and so would at 4s).
		{at: 2*s + 1, n: 5, limits: ls, want: limit.Decision{Limit: ten, RetryAfter: 1300*ms - 1, ResetAfter: 2 * s}},
		// More than the count: Never, nothing counted.
		deny(2*s+1, 11, limit.Never, 2*s),
		// A cost of 6 needs the 1.3s entries (5) and the 2s+1ns ones to
		// expire: 2s + 1ns + P − (3.3s − 1ns).
		deny(3300*ms-1, 6, 700*ms+2, 700*ms+2),
		// At 3.3s the 1.3s entries are gone: 5 counted.
		allow(3300*ms, 5, 0),
		// Everything has expired a period after the newest entry.
		{at: 5300 * ms, peek: true, limits: ls, want: limit.Decision{Allowed: true, Limit: ten, Remaining: 9, ResetAfter: 2 * s}},
	})
}

func TestGCRASteps(t *testing.T) {
	// 10/second, burst 3: a tick is 100ms.
	l := withBurst(t, limit.PerSecond(10), 3)
	ls := []limit.Limit{l}
	d := func(allowed bool, rem int64, reset, retry time.Duration) limit.Decision {
		return limit.Decision{Allowed: allowed, Limit: l, Remaining: rem, ResetAfter: reset, RetryAfter: retry}
	}
	run(t, limit.GCRA, []step{
		// Three at once: tat 1, 2, 3; Remaining k + B − tat; ResetAfter at(tat).
		{at: 0, peek: true, limits: ls, want: d(true, 2, 100*ms, 0)},
		{at: 0, n: 1, limits: ls, want: d(true, 2, 100*ms, 0)},
		{at: 0, n: 1, limits: ls, want: d(true, 1, 200*ms, 0)},
		{at: 0, n: 1, limits: ls, want: d(true, 0, 300*ms, 0)},
		// The 4th: base 3, 3 + 1 > 0 + 3; RetryAfter at(3 + 1 − 3) − 0.
		{at: 0, n: 1, limits: ls, want: d(false, 0, 300*ms, 100*ms)},
		// Then one per 100ms.
		{at: 100*ms - 1, n: 1, limits: ls, want: d(false, 0, 200*ms+1, 1)},
		{at: 100 * ms, n: 1, limits: ls, want: d(true, 0, 300*ms, 0)},
		{at: 150 * ms, n: 1, limits: ls, want: d(false, 0, 250*ms, 50*ms)},
		{at: 200 * ms, n: 1, limits: ls, want: d(true, 0, 300*ms, 0)},
		// A second later the bucket is full: k = 10, base = 10.
		{at: s, peek: true, limits: ls, want: d(true, 2, 100*ms, 0)},
		// More than the burst: Never; nothing counted, tat' = base = k.
		{at: s, n: 4, limits: ls, want: d(false, 3, 0, limit.Never)},
		{at: s, n: 3, limits: ls, want: d(true, 0, 300*ms, 0)},
		// base 13: at(13 + 2 − 3) − 1.05s = 1.2s − 1.05s.
		{at: 1050 * ms, n: 2, limits: ls, want: d(false, 0, 250*ms, 150*ms)},
		// The clock steps back to 0: k = 0, base = tat = 13.
		{at: 0, n: 1, limits: ls, want: d(false, 0, 1300*ms, 1100*ms)},
		// A negative reading counts as 0.
		{at: -time.Hour, n: 1, limits: ls, want: d(false, 0, 1300*ms, 1100*ms)},
	})
}

// TestGCRATicksRound: with 3/second a tick is 333,333,333⅓ ns, so tick 1
// begins at ⌈10⁹/3⌉ = 333,333,334 ns.
func TestGCRATicksRound(t *testing.T) {
	three := limit.PerSecond(3)
	ls := []limit.Limit{three}
	d := func(allowed bool, rem int64, reset, retry time.Duration) limit.Decision {
		return limit.Decision{Allowed: allowed, Limit: three, Remaining: rem, ResetAfter: reset, RetryAfter: retry}
	}
	run(t, limit.GCRA, []step{
		{at: 0, n: 3, limits: ls, want: d(true, 0, s, 0)},
		{at: 0, n: 1, limits: ls, want: d(false, 0, s, 333_333_334)},
		{at: 333_333_333, n: 1, limits: ls, want: d(false, 0, 666_666_667, 1)},
		// tat 4: ResetAfter at(4) − now = 1,333,333,334 − 333,333,334.
		{at: 333_333_334, n: 1, limits: ls, want: d(true, 0, s, 0)},
		// tick(1s) = 3, base 4, 4 + 2 ≤ 3 + 3: tat 6, at(6) = 2s.
		{at: s, n: 2, limits: ls, want: d(true, 0, s, 0)},
	})
}

func TestMultiLimitAllStrategies(t *testing.T) {
	a, b := limit.PerSecond(3), limit.PerMinute(2)
	for _, st := range []limit.Strategy{limit.GCRA, limit.MovingWindow} {
		t.Run("strategy="+st.String(), func(t *testing.T) {
			m := New(st)
			d := m.AllowN(0, "k", 1, a, b, a)
			assert.True(t, d.Allowed)
			assert.Equal(t, b, d.Limit, "fewest Remaining: b")
			assert.Equal(t, int64(1), d.Remaining)
			// b denies 2: a counts nothing.
			d = m.AllowN(0, "k", 2, a, b)
			assert.False(t, d.Allowed)
			assert.Equal(t, b, d.Limit)
			assert.Equal(t, int64(1), m.Peek(0, "k", a).Remaining, "a after the denied request: 1 counted, 1 peeked")
			// The limit named twice counted once.
			assert.Equal(t, int64(1), m.Judge(0, "k", 1, a).Remaining)
		})
	}
}

func TestResetForgets(t *testing.T) {
	one := limit.PerSecond(1)
	for _, st := range []limit.Strategy{limit.GCRA, limit.MovingWindow} {
		m := New(st)
		require.True(t, m.AllowN(0, "k", 1, one).Allowed)
		require.False(t, m.AllowN(0, "k", 1, one).Allowed)
		m.Sweep(time.Hour)
		require.False(t, m.AllowN(0, "k", 1, one).Allowed, "%v: a sweep changes no answer", st)
		m.Reset("k", one)
		assert.True(t, m.AllowN(0, "k", 1, one).Allowed, "%v: AllowN after Reset", st)
	}
}

// TestRetryAfterIsLeastGCRAMoving checks the GCRA and moving-window
// RetryAfter against "the least wait after which the same cost is
// allowed" on random histories: allowed at now+RetryAfter, denied 1 ns
// before. It also checks that a cost of Remaining is allowed.
func TestRetryAfterIsLeastGCRAMoving(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, st := range []limit.Strategy{limit.GCRA, limit.MovingWindow} {
		t.Run("strategy="+st.String(), func(t *testing.T) {
			for range 1500 {
				l, err := limit.New(1+rng.Int64N(12), time.Duration(1+rng.IntN(4))*time.Second)
				require.NoError(t, err)
				if rng.IntN(2) == 0 {
					l = withBurst(t, l, 1+rng.Int64N(15))
				}
				type req struct {
					at time.Duration
					n  int64
				}
				var hist []req
				now := time.Duration(0)
				for range rng.IntN(12) {
					now += time.Duration(rng.Int64N(int64(l.Period()) / 2))
					hist = append(hist, req{now, 1 + rng.Int64N(4)})
				}
				fresh := func() *Limiter {
					m := New(st)
					for _, r := range hist {
						m.AllowN(r.at, "k", r.n, l)
					}
					return m
				}
				now += time.Duration(rng.Int64N(int64(l.Period())))
				n := 1 + rng.Int64N(5)
				m := fresh()
				if p := m.Peek(now, "k", l); p.Allowed && p.Remaining+1 > 0 {
					assert.Truef(t, fresh().Judge(now, "k", p.Remaining+1, l).Allowed, "%v %v at %v: Peek Remaining %d, but a cost of Remaining+1 is denied", st, l, now, p.Remaining)
				}
				d := m.Judge(now, "k", n, l)
				if d.Allowed || d.RetryAfter == limit.Never {
					continue
				}
				assert.Truef(t, fresh().Judge(now+d.RetryAfter, "k", n, l).Allowed, "%v %v hist=%v n=%d now=%v: RetryAfter %v, but denied then", st, l, hist, n, now, d.RetryAfter)
				assert.Falsef(t, fresh().Judge(now+d.RetryAfter-1, "k", n, l).Allowed, "%v %v hist=%v n=%d now=%v: RetryAfter %v, but allowed 1ns earlier", st, l, hist, n, now, d.RetryAfter)
			}
		})
	}
}

// TestLargeCountSteps: counts far beyond 2^29 (and GCRA ticks beyond
// 2^64), worked out by hand from engine/doc.go.
func TestLargeCountSteps(t *testing.T) {
	month := limit.MustParse("1000000000/month")
	P := month.Period() // 2,592,000 s
	ls := []limit.Limit{month}
	d := func(allowed bool, rem int64, reset, retry time.Duration) limit.Decision {
		return limit.Decision{Allowed: allowed, Limit: month, Remaining: rem, ResetAfter: reset, RetryAfter: retry}
	}
	t.Run("fixed", func(t *testing.T) {
		run(t, limit.FixedWindow, []step{
			{at: 0, n: 999_999_999, limits: ls, want: d(true, 1, P, 0)},
			{at: s, n: 2, limits: ls, want: d(false, 1, P-s, P-s)},
			{at: s, n: 1, limits: ls, want: d(true, 0, P-s, 0)},
		})
	})
	t.Run("sliding", func(t *testing.T) {
		run(t, limit.SlidingWindow, []step{
			{at: 0, n: 1_000_000_000, limits: ls, want: d(true, 0, 2*P, 0)},
			// Half a period into the next window the previous one weighs
			// ⌈10^9·(P/2)/P⌉ = 5·10^8: exactly 5·10^8 more fit.
			{at: P + P/2, n: 500_000_000, limits: ls, want: d(true, 0, 2*P-P/2, 0)},
			// One more: P − ⌊(10^9 − 5·10^8 − 1)·P/10^9⌋ − P/2 = P/10^9 = 2.592 ms.
			{at: P + P/2, n: 1, limits: ls, want: d(false, 0, 2*P-P/2, 2592*time.Microsecond)},
		})
	})
	t.Run("moving", func(t *testing.T) {
		run(t, limit.MovingWindow, []step{
			{at: 0, n: 600_000_000, limits: ls, want: d(true, 400_000_000, P, 0)},
			// One unit too many: the entry at 0 must expire, at P.
			{at: s, n: 400_000_001, limits: ls, want: d(false, 400_000_000, P-s, P-s)},
			{at: s, n: 400_000_000, limits: ls, want: d(true, 0, P, 0)},
		})
	})
	t.Run("gcra", func(t *testing.T) {
		// 2^53−1 units per millisecond at 1.8·10^18 ns: k = 1.8·10^12·L,
		// about 1.6·10^28 ticks.
		l, err := limit.New(limit.MaxCount, time.Millisecond)
		require.NoError(t, err)
		t0 := 1_800_000_000 * s
		g := func(allowed bool, rem int64, reset, retry time.Duration) limit.Decision {
			return limit.Decision{Allowed: allowed, Limit: l, Remaining: rem, ResetAfter: reset, RetryAfter: retry}
		}
		gl := []limit.Limit{l}
		run(t, limit.GCRA, []step{
			// The whole burst: tat = k + L, at(tat) = t0 + 1 ms.
			{at: t0, n: limit.MaxCount, limits: gl, want: g(true, 0, time.Millisecond, 0)},
			// One more: at(k + L + 1 − L) − t0 = ⌈P/L⌉ = 1 ns.
			{at: t0, n: 1, limits: gl, want: g(false, 0, time.Millisecond, 1)},
			// A nanosecond on, ⌊L/10^6⌋ = 9,007,199,254 ticks have passed:
			// tat = k + L + 1, Remaining 9,007,199,253, ResetAfter
			// at(tat) − now = (t0 + 1 ms + 1 ns) − (t0 + 1 ns).
			{at: t0 + 1, n: 1, limits: gl, want: g(true, 9_007_199_253, time.Millisecond, 0)},
		})
	})
}
