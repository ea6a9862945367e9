package engine_test

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/model"
	"github.com/floodgate-go/floodgate/limit"
)

// largeLimits take the engine's wide path: counts beyond the one-word
// cell's 29 bits, GCRA bursts beyond them, and more than one GCRA unit
// per nanosecond.
func largeLimits(t testing.TB) []limit.Limit {
	t.Helper()
	mk := func(n int64, p time.Duration) limit.Limit {
		l, err := limit.New(n, p)
		require.NoError(t, err, "limit.New(%d, %v)", n, p)
		return l
	}
	burst, err := limit.PerMinute(3).WithBurst(limit.MaxCount)
	require.NoError(t, err, "WithBurst(MaxCount)")
	return []limit.Limit{
		limit.MustParse("1000000000/month"),
		mk(1<<29, time.Second),               // the first count past the cell
		mk(limit.MaxCount, time.Millisecond), // 9·10^9 units per ns
		mk(limit.MaxCount, limit.MaxPeriod),  // the largest of both
		mk(3_000_000, time.Millisecond),      // small count, 3 units per ns
		burst,                                // small count, the largest burst
	}
}

// TestLargeCountsMatchModel plays random requests with costs around the
// count (and the burst) against the engine and internal/model, on every
// strategy, with readings that step forward (by nanoseconds, fractions of
// a period and whole periods) and back; every Decision must be equal.
func TestLargeCountsMatchModel(t *testing.T) {
	const start = 1_800_000_000 * time.Second // about the present, Unix time
	for _, s := range allStrategies() {
		for _, l := range largeLimits(t) {
			t.Run("strategy="+s.String()+"/limit="+l.String()+"/burst="+strconv.FormatInt(l.Burst(), 10), func(t *testing.T) {
				e, c := newEngine(t, s, 0)
				m := model.New(s)
				rng := rand.New(rand.NewPCG(uint64(l.Count()), uint64(s)))
				now, p := start, l.Period()
				cap := l.Count()
				if s == limit.GCRA {
					cap = l.Burst()
				}
				for i := range 400 {
					switch rng.IntN(6) {
					case 0:
						now += time.Duration(rng.Int64N(1000))
					case 1:
						now += time.Duration(rng.Int64N(int64(p)))
					case 2:
						now -= time.Duration(rng.Int64N(int64(p)))
					case 3:
						now += p * time.Duration(rng.IntN(3))
					}
					key := "k" + strconv.Itoa(rng.IntN(2))
					var n int64
					switch rng.IntN(4) {
					case 0:
						n = 1 + rng.Int64N(3)
					case 1:
						n = cap - rng.Int64N(3)
					case 2:
						n = cap/2 + rng.Int64N(3) - 1
					default:
						n = 1 + rng.Int64N(cap)
					}
					n = max(n, 1)
					if rng.IntN(8) == 0 {
						want := m.Peek(now, key, l)
						require.Equal(t, want, peekAt(e, c, now, key, l), "step %d: Peek(%q, %v) at %v", i, key, l, now)
						continue
					}
					want := m.AllowN(now, key, n, l)
					got := allowAt(e, c, now, key, n, l)
					require.Equal(t, want, got, "step %d: AllowN(%q, %d, %v) at %v", i, key, n, l, now)
				}
			})
		}
	}
}

// TestLargeCountsWithSmall: a request under a large and a small limit at
// once is judged by both, and one denied by the small limit counts
// nothing against the large one.
func TestLargeCountsWithSmall(t *testing.T) {
	for _, s := range allStrategies() {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			e, c := newEngine(t, s, 0)
			m := model.New(s)
			big, small := limit.MustParse("1000000000/month"), limit.PerSecond(2)
			at := time.Duration(0)
			for i := range 60 {
				n := int64(1 + i%3)
				want := m.AllowN(at, "k", n, big, small)
				require.Equal(t, want, allowAt(e, c, at, "k", n, big, small), "step %d: AllowN(k, %d, %v, %v) at %v", i, n, big, small, at)
				at += 250 * time.Millisecond
			}
			require.Equal(t, m.Peek(at, "k", big), peekAt(e, c, at, "k", big), "Peek(k, %v) at the end, %v", big, at)
		})
	}
}

// TestLargeCountsSweepAndCap: wide state is capped by WithMaxKeys, swept
// when idle, and a sweep returns it.
func TestLargeCountsSweepAndCap(t *testing.T) {
	for _, s := range strategies() {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			e, c := newEngine(t, s, 0, engine.WithMaxKeys(64), engine.WithShards(8))
			l := limit.MustParse("1000000000/second")
			allowed := 0
			for i := range 1000 {
				if e.Allow("k"+strconv.Itoa(i), l) {
					allowed++
				}
			}
			require.LessOrEqual(t, e.Len(), 64, "live keys above the cap")
			require.Equal(t, e.Len(), allowed, "every tracked key got its first request, no other did")
			require.EqualValues(t, 1000-allowed, e.Full(), "Full() after 1000 new keys")
			c.Set(10 * time.Second)
			require.Equal(t, allowed, engine.Sweep(e), "Sweep of the idle keys")
			require.Zero(t, e.Len(), "Len() after the sweep")
			require.True(t, e.Allow("newcomer", l), "a new key after the sweep")
		})
	}
}

// TestLargeCountsHammer: goroutines count on one hot key of a large limit
// through every path of its two-word cell at once (Allow's lock-free
// swap of the head, AllowN, Peek and Refund under the cell's lock),
// while others insert keys (rebuilding the shards under the hot key) and
// sweep (locking every cell); no unit is lost or counted twice. Under
// GCRA the limit's burst is 200 periods, and each AllowN costs a whole
// period and more, so its tat crosses into another window (a locked
// write of both words) on every AllowN and back on every Refund, while
// Allow swaps the head without the lock within a window.
func TestLargeCountsHammer(t *testing.T) {
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			// A clock 3 ms before a window's end: GCRA's current tick is
			// then about 900 ticks before its window's last, so Allow's
			// lock-free swaps reach that last tick and hand the crossing
			// to the lock.
			e, _ := newEngine(t, s, 2*time.Hour-3*time.Millisecond, engine.WithShards(1))
			l := limit.PerHour(1 << 30)
			big := int64(3) // AllowN's cost; a Refund gives back big − 2
			if s == limit.GCRA {
				var err error
				l, err = l.WithBurst(200 << 30)
				require.NoError(t, err, "WithBurst")
				big = 1<<30 + 3
			}
			const workers, calls = 4, 3000
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for i := range calls {
						if !e.Allow("hot", l) {
							t.Errorf("Allow(hot) denied under %v", l)
							return
						}
						if i%10 == 0 {
							if d := e.AllowN("hot", big, l); !d.Allowed {
								t.Errorf("AllowN(hot, %d) denied: %+v", big, d)
								return
							}
							e.Refund("hot", big-2, l)
						}
						if i%50 == 0 {
							if d := e.Peek("hot", l); !d.Allowed {
								t.Errorf("Peek(hot) denied: %+v", d)
								return
							}
						}
					}
				})
			}
			wg.Go(func() {
				for i := range 5000 {
					e.Allow("filler-"+strconv.Itoa(i), l)
					if i%500 == 0 {
						engine.Sweep(e)
					}
				}
			})
			wg.Wait()
			want := int64(workers * (calls + calls/10*2))
			d := e.Peek("hot", l)
			room := l.Count()
			if s == limit.GCRA {
				room = l.Burst()
			}
			assert.Equal(t, room-want-1, d.Remaining, "Remaining after %d units (Peek counts one more)", want)
		})
	}
}
