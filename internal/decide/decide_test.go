package decide_test

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

func TestUntil(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a, now uint64
		want   time.Duration
	}{
		{"future", 150, 100, 50},
		{"now", 100, 100, 0},
		{"past", 50, 100, 0},
		{"beyond a Duration", math.MaxUint64, 0, limit.Never},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, decide.Until(tc.a, tc.now), "Until(%d, %d)", tc.a, tc.now)
		})
	}
}

func TestFloorDiv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b, c uint64
		want    uint64
	}{
		{"exact", 3, 4, 6, 2},
		{"rounds down", 7, 10, 20, 3},
		{"128-bit product", 1 << 40, 1 << 40, 1 << 50, 1 << 30},
		{"capped at b", 5, 10, 2, 10},
		{"quotient overflows", math.MaxUint64, math.MaxUint64, 1, math.MaxUint64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, decide.FloorDiv(tc.a, tc.b, tc.c), "FloorDiv(%d, %d, %d)", tc.a, tc.b, tc.c)
		})
	}
}

// TestTicks checks the division-free path (Count divides Period) against
// the general one, which it must match exactly.
func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cnt, p uint64
	}{
		{"divides", 10, uint64(time.Second)},
		{"does not divide", 3, uint64(time.Second)},
		{"one per day", 1, uint64(24 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := decide.NewTicks(tc.cnt, tc.p)
			for _, now := range []uint64{0, 1, tc.p/tc.cnt - 1, tc.p / tc.cnt, tc.p, 7*tc.p + 12345, math.MaxInt64} {
				k := tk.Tick(now)
				assert.LessOrEqual(t, tk.Start(k), now, "Start(Tick(%d)) = Start(%d)", now, k)
				if k < math.MaxUint64/tc.p {
					assert.Greater(t, tk.Start(k+1), now, "Start(Tick(%d)+1) = Start(%d)", now, k+1)
				}
			}
			assert.Equal(t, uint64(math.MaxUint64), tk.Start(math.MaxUint64), "Start saturates")
		})
	}
}

func TestWindowDecide(t *testing.T) {
	l := limit.PerSecond(10)
	p := time.Second
	for _, tc := range []struct {
		name    string
		w       decide.Window
		sliding bool
		allowed bool
		n       uint64
		want    limit.Decision
	}{
		{"fresh, allowed", decide.Window{Cur: 1}, true, true, 1,
			limit.Decision{Allowed: true, Limit: l, Remaining: 9, ResetAfter: 2 * p}},
		{"fixed, full", decide.Window{R: uint64(p / 4), Cur: 10}, false, false, 1,
			limit.Decision{Limit: l, ResetAfter: 3 * p / 4, RetryAfter: 3 * p / 4}},
		{"sliding, previous window in the way", decide.Window{R: uint64(p / 2), Prev: 10, Cur: 5}, true, false, 1,
			limit.Decision{Limit: l, ResetAfter: 3 * p / 2, RetryAfter: p / 10}},
		{"sliding, current window full", decide.Window{R: uint64(p / 2), Cur: 10}, true, false, 1,
			limit.Decision{Limit: l, ResetAfter: 3 * p / 2, RetryAfter: p/2 + p/10}},
		{"cost above the count", decide.Window{}, true, false, 11,
			limit.Decision{Limit: l, Remaining: 10, RetryAfter: limit.Never}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.w.Decide(tc.sliding, tc.allowed, tc.n, l)
			assert.Equal(t, tc.want, got, "%+v.Decide(sliding=%v, allowed=%v, n=%d)", tc.w, tc.sliding, tc.allowed, tc.n)
			if tc.allowed {
				return
			}
			w := tc.w
			w.R += uint64(got.RetryAfter)
			if got.RetryAfter == limit.Never || w.R >= uint64(p) {
				return // the wait crosses into the next window
			}
			assert.True(t, w.Fits(tc.sliding, tc.n, 10, uint64(p)), "cost %d does not fit after RetryAfter %v", tc.n, got.RetryAfter)
			w.R--
			assert.False(t, w.Fits(tc.sliding, tc.n, 10, uint64(p)), "cost %d fits 1 ns before RetryAfter %v", tc.n, got.RetryAfter)
		})
	}
}

func TestBucketDecide(t *testing.T) {
	l := limit.PerSecond(10) // a tick is 100 ms, burst 10
	tk, burst := decide.TicksOf(l), uint64(l.Burst())
	now := uint64(5 * time.Second) // tick 50
	for _, tc := range []struct {
		name    string
		b       decide.Bucket
		n       uint64
		wantFit bool
		want    limit.Decision
	}{
		{"full bucket", decide.Bucket{K: 50, Base: 50}, 1, true,
			limit.Decision{Allowed: true, Limit: l, Remaining: 9, ResetAfter: 100 * time.Millisecond}},
		{"empty bucket", decide.Bucket{K: 50, Base: 60}, 1, false,
			limit.Decision{Limit: l, ResetAfter: time.Second, RetryAfter: 100 * time.Millisecond}},
		{"cost above the burst", decide.Bucket{K: 50, Base: 50}, 11, false,
			limit.Decision{Limit: l, Remaining: 10, RetryAfter: limit.Never}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wantFit, tc.b.Fits(tc.n, burst), "%+v.Fits(%d, %d)", tc.b, tc.n, burst)
			assert.Equal(t, tc.want, tc.b.Decide(tc.wantFit, tc.n, now, burst, tk, l), "%+v.Decide(n=%d)", tc.b, tc.n)
		})
	}
}

func TestLogDecide(t *testing.T) {
	l := limit.PerSecond(2)
	s := uint64(time.Second)
	for _, tc := range []struct {
		name    string
		lg      decide.Log
		n, now  uint64
		wantFit bool
		want    limit.Decision
	}{
		{"empty", decide.Log{At: 10 * s}, 1, 10 * s, true,
			limit.Decision{Allowed: true, Limit: l, Remaining: 1, ResetAfter: time.Second}},
		{"full", decide.Log{At: 10 * s, Sum: 2, Last: 10*s - 1, Free: 9 * s, HasFree: true}, 1, 10 * s, false,
			limit.Decision{Limit: l, ResetAfter: time.Second - 1, RetryAfter: 0}},
		{"full, clock stepped back", decide.Log{At: 10 * s, Sum: 2, Last: 10 * s, Free: 10*s - 1, HasFree: true}, 1, 9 * s, false,
			limit.Decision{Limit: l, ResetAfter: 2 * time.Second, RetryAfter: 2*time.Second - 1}},
		{"cost above the count", decide.Log{At: 10 * s}, 3, 10 * s, false,
			limit.Decision{Limit: l, Remaining: 2, RetryAfter: limit.Never}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wantFit, tc.lg.Fits(tc.n, 2), "%+v.Fits(%d, 2)", tc.lg, tc.n)
			assert.Equal(t, tc.want, tc.lg.Decide(tc.wantFit, tc.n, tc.now, l), "%+v.Decide(n=%d, now=%d)", tc.lg, tc.n, tc.now)
		})
	}
}

// TestWideBucketMatchesBucket: where 64-bit ticks are exact (small
// counts, times far below 2^63), WideBucket answers exactly what Bucket
// answers, for fitting and denied costs, allowed or not, over many
// random states.
func TestWideBucketMatchesBucket(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		cnt := 1 + rng.Uint64N(1000)
		p := uint64(time.Millisecond) * (1 + rng.Uint64N(5000))
		l, err := limit.New(int64(cnt), time.Duration(p))
		require.NoError(t, err)
		burst := 1 + rng.Uint64N(3*cnt)
		now := rng.Uint64N(1 << 45)
		tk, wk := decide.NewTicks(cnt, p), decide.NewWideTicks(cnt, p)
		k := tk.Tick(now)
		tat := k - min(k, rng.Uint64N(2*cnt)) + rng.Uint64N(burst+cnt)
		n := 1 + rng.Uint64N(burst+2)
		toWide := func(x uint64) decide.WideTick { return decide.WideTick{W: x / cnt, F: x % cnt} }
		require.Equal(t, toWide(k), wk.Tick(now), "case %d: Tick(%d)", i, now)
		b := decide.Bucket{K: k, Base: max(tat, k)}
		wb := decide.WideBucket{K: toWide(k), Base: toWide(max(tat, k))}
		fits := b.Fits(n, burst)
		require.Equal(t, fits, wb.Fits(wk, n, burst), "case %d: Fits(%d, %d) of %+v", i, n, burst, b)
		for _, allowed := range []bool{false, fits} {
			assert.Equal(t, b.Decide(allowed, n, now, burst, tk, l), wb.Decide(allowed, n, now, burst, wk, l),
				"case %d: %+v.Decide(allowed=%v, n=%d, now=%d, burst=%d) under %v", i, b, allowed, n, now, burst, l)
		}
		x, c := toWide(tat), rng.Uint64N(3*cnt)
		assert.Equal(t, toWide(tat+c), wk.Add(x, c), "case %d: Add(%d, %d)", i, tat, c)
		assert.Equal(t, toWide(tat-min(tat, c)), wk.Sub(x, c), "case %d: Sub(%d, %d)", i, tat, c)
		assert.Equal(t, tk.Start(tat), wk.Start(x), "case %d: Start(%d)", i, tat)
	}
}

// TestWideTicksShortcuts: Tick's paths for a count that is a multiple of
// the period in nanoseconds, or a divisor of it, give the 128-bit
// formula's ticks.
func TestWideTicksShortcuts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		p := uint64(time.Millisecond) * (1 + rng.Uint64N(1<<20))
		var cnt uint64
		if i%2 == 0 {
			cnt = p * (1 + rng.Uint64N(limit.MaxCount/p))
		} else {
			cnt = p / (1 + rng.Uint64N(p))
			for p%cnt != 0 {
				cnt--
			}
		}
		now := rng.Uint64N(1 << 62)
		hi, lo := bits.Mul64(now%p, cnt)
		f, _ := bits.Div64(hi, lo, p)
		require.Equal(t, decide.WideTick{W: now / p, F: f}, decide.NewWideTicks(cnt, p).Tick(now), "case %d: Tick(%d) of %d per %d ns", i, now, cnt, p)
	}
}

// TestWideTicksLarge checks WideTicks where 64-bit ticks overflow: a count
// of 2^53−1 per millisecond at the present (about 1.8·10^18 ns since the
// Unix epoch).
func TestWideTicksLarge(t *testing.T) {
	const cnt, p = limit.MaxCount, uint64(time.Millisecond)
	wk := decide.NewWideTicks(cnt, p)
	now := uint64(1_800_000_000_123_456_789)
	k := wk.Tick(now)
	assert.Equal(t, decide.WideTick{W: now / p, F: 456_789*(cnt/1_000_000) + 456_789*(cnt%1_000_000)/1_000_000}, k, "Tick(%d)", now)
	assert.LessOrEqual(t, wk.Start(k), now, "Start(Tick(now)) ≤ now")
	assert.Greater(t, wk.Start(wk.Add(k, 1)), now, "Start(Tick(now)+1) > now")
	assert.Equal(t, uint64(3*cnt+5), wk.Diff(wk.Add(k, 3*cnt+5), k), "Diff(k + 3·cnt + 5, k)")
	assert.Equal(t, k, wk.Sub(wk.Add(k, 3*cnt+5), 3*cnt+5), "Sub(Add(k, x), x)")
	assert.Equal(t, uint64(math.MaxUint64), wk.Diff(decide.WideTick{W: math.MaxUint64}, decide.WideTick{}), "Diff saturates")
	assert.Equal(t, uint64(math.MaxUint64), wk.Start(decide.WideTick{W: math.MaxUint64}), "Start saturates")
}
