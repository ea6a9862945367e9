package floodgate_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// switchable is a primary store that fails every call with
// ErrUnavailable (or a late reply: context.DeadlineExceeded) while down
// is set, and is a memory store otherwise.
type switchable struct {
	floodgate.Store
	down atomic.Int32 // 0 up, 1 failing, 2 over its budget
}

func (s *switchable) err() error {
	switch s.down.Load() {
	case 1:
		return fmt.Errorf("%w: connection refused", floodgate.ErrUnavailable)
	case 2:
		return fmt.Errorf("%w: %w", floodgate.ErrUnavailable, context.DeadlineExceeded)
	}
	return nil
}

func (s *switchable) AllowN(ctx context.Context, key string, n int64, ls ...limit.Limit) (limit.Decision, error) {
	if err := s.err(); err != nil {
		return limit.Decision{RetryAfter: limit.Never}, err
	}
	return s.Store.AllowN(ctx, key, n, ls...)
}

func (s *switchable) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return floodgate.AllowEach(ctx, s, charges...)
}

func (s *switchable) Peek(ctx context.Context, key string, ls ...limit.Limit) (limit.Decision, error) {
	if err := s.err(); err != nil {
		return limit.Decision{RetryAfter: limit.Never}, err
	}
	return s.Store.Peek(ctx, key, ls...)
}

func (s *switchable) Refund(ctx context.Context, key string, n int64, ls ...limit.Limit) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Refund(ctx, key, n, ls...)
}

// localFixture is a fallback over a switchable memory primary, both on
// clk; backup is nil for the default local count.
func localFixture(t *testing.T, policy floodgate.Policy, backup floodgate.Store) (floodgate.Store, *switchable, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(18000 * 24 * time.Hour)
	p := &switchable{Store: floodgate.NewMemory(engine.WithClock(clk))}
	f := floodgate.NewFallback(p, floodgate.FallbackConfig{Policy: policy, Backup: backup, Clock: clk,
		Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { f.Close() })
	return f, p, clk
}

// TestLocalCountSlowCalls: under every policy, calls over the primary's
// budget (not marked down: one in ten fails) are answered from the local
// count, so this instance allows at most the limit; a refund undoes both
// counts.
func TestLocalCountSlowCalls(t *testing.T) {
	l := limit.PerMinute(5)
	ctx := context.Background()
	for _, policy := range []floodgate.Policy{floodgate.FailMemory, floodgate.FailOpen, floodgate.FailClosed} {
		t.Run("failure="+policy.String(), func(t *testing.T) {
			f, p, _ := localFixture(t, policy, nil)
			allowed := 0
			for i := range 100 {
				if i%10 == 9 {
					p.down.Store(2) // one call in ten overruns its budget
				}
				d, err := f.AllowN(ctx, "attacker", 1, l)
				p.down.Store(0)
				if d.Allowed {
					allowed++
				}
				if err != nil {
					assert.ErrorIs(t, err, floodgate.ErrStorage, "call %d", i)
				}
			}
			assert.LessOrEqual(t, allowed, 5, "failure=%v: allowed of 5/minute with one call in ten over its budget", policy)
			assert.True(t, f.Info().Up, "one call in ten over budget marked the primary down")
		})
	}
}

// TestLocalCountRefund: a refund gives the units back in both counts.
func TestLocalCountRefund(t *testing.T) {
	ctx := context.Background()
	l := limit.PerMinute(3)
	f, p, _ := localFixture(t, floodgate.FailMemory, nil)
	for i := range 3 {
		d, err := f.AllowN(ctx, "k", 1, l)
		require.NoError(t, err)
		require.True(t, d.Allowed, "AllowN %d of 3/minute", i)
	}
	require.NoError(t, f.Refund(ctx, "k", 2, l))
	d, err := p.Store.Peek(ctx, "k", l)
	require.NoError(t, err)
	assert.EqualValues(t, 1, d.Remaining, "the primary's Remaining after refunding 2 of 3 (a Peek answers as if counted)")
	p.down.Store(1) // the local count alone now decides: it was refunded too
	allowed := 0
	for range 4 {
		if d, _ := f.AllowN(ctx, "k", 1, l); d.Allowed {
			allowed++
		}
	}
	assert.Equal(t, 2, allowed, "allowed by the local count after the refund of 2, the primary failing")
}

// TestLocalCountPrimaryLostData: after the primary loses its counts (a
// restart without persistence), a request is allowed only when both
// counts allow it, and the primary is not charged for the denial.
func TestLocalCountPrimaryLostData(t *testing.T) {
	ctx := context.Background()
	l := limit.PerMinute(5)
	f, p, clk := localFixture(t, floodgate.FailMemory, nil)
	for range 5 {
		d, _ := f.AllowN(ctx, "k", 1, l)
		require.True(t, d.Allowed)
	}
	require.NoError(t, p.Store.Reset(ctx, "k", l)) // the primary forgets
	d, err := f.AllowN(ctx, "k", 1, l)
	require.NoError(t, err, "a denial by the local count is no failure")
	assert.False(t, d.Allowed, "allowed after the primary lost what this instance used")
	pd, _ := p.Store.Peek(ctx, "k", l)
	assert.EqualValues(t, 4, pd.Remaining, "the primary was charged for a request the local count denied (a Peek answers as if counted)")
	clk.Advance(2 * time.Minute) // both windows pass
	d, _ = f.AllowN(ctx, "k", 1, l)
	assert.True(t, d.Allowed, "allowed once the window passed")
}

// TestLocalCountNeverDeniesWhatPrimaryAllows runs two instances over one
// primary through random calls, refunds of what an instance just took,
// and clock steps: whenever an
// instance denies while its primary is healthy, the primary alone would
// deny too (a Peek of the same cost says so), unless this instance alone
// used the limit.
func TestLocalCountNeverDeniesWhatPrimaryAllows(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(19, 19))
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		t.Run(s.String(), func(t *testing.T) {
			clk := clock.NewManual(18000 * 24 * time.Hour)
			primary := floodgate.NewMemory(engine.WithClock(clk), engine.WithStrategy(s))
			t.Cleanup(func() { primary.Close() })
			var insts [2]floodgate.Store
			for i := range insts {
				insts[i] = floodgate.NewFallback(nopClose{primary}, floodgate.FallbackConfig{Clock: clk,
					Backup: floodgate.NewMemory(engine.WithClock(clk), engine.WithStrategy(s))})
				t.Cleanup(func() { insts[i].Close() })
			}
			ls := []limit.Limit{limit.PerMinute(7), limit.PerSecond(3)}
			for i := range 3000 {
				k := rng.IntN(2)
				key := "k" + string(rune('a'+rng.IntN(3)))
				l := ls[rng.IntN(2)]
				switch rng.IntN(10) {
				case 0:
					clk.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
				default:
					want, _ := primary.Peek(ctx, key, l)
					d, err := insts[k].AllowN(ctx, key, 1, l)
					require.NoError(t, err)
					if !d.Allowed && want.Allowed {
						t.Fatalf("op %d: instance %d denied %s under %v, which the primary allowed (%+v)", i, k, key, l, want)
					}
					if d.Allowed && rng.IntN(5) == 0 { // an undo, as AllowAll's
						require.NoError(t, insts[k].Refund(ctx, key, 1, l))
					}
				}
			}
		})
	}
}

// TestLocalCountKeyCap: at the local count's key cap, pairs whose windows
// expired are evicted before anyone is denied (Info().Evicted); when every
// pair still counts, a new key is decided by the primary alone, not
// denied (Info().Full counts it), except under FailMemory with the
// primary failing, where a full engine denies.
func TestLocalCountKeyCap(t *testing.T) {
	ctx := context.Background()
	l := limit.PerMinute(5)
	clk := clock.NewManual(18000 * 24 * time.Hour)
	backup := floodgate.NewMemory(engine.WithClock(clk), engine.WithMaxKeys(4), engine.WithShards(1), engine.WithSweepInterval(-1))
	p := &switchable{Store: floodgate.NewMemory(engine.WithClock(clk))}
	f := floodgate.NewFallback(p, floodgate.FallbackConfig{Backup: backup, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { f.Close() })
	for i := range 4 {
		d, err := f.AllowN(ctx, fmt.Sprint("old", i), 1, l)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	for i := range 4 { // the cap holds 4 pairs that count: new keys go to the primary
		d, err := f.AllowN(ctx, fmt.Sprint("new", i), 1, l)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "a new key at the cap, the primary allowing")
	}
	in := f.Info()
	assert.Positive(t, in.Full, "Info().Full counts the new keys the full local count could not hold")
	assert.Zero(t, in.Evicted, "pairs that still count were evicted")

	clk.Advance(5 * time.Minute) // the old pairs' windows expire
	d, err := f.AllowN(ctx, "fresh", 1, l)
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Positive(t, f.Info().Evicted, "at the cap, expired pairs were not evicted")
	p.down.Store(1)
	for range 5 {
		d, _ = f.AllowN(ctx, "fresh", 1, l)
	}
	assert.False(t, d.Allowed, "the evicted pairs' room holds the new key: 5 of 5/minute allowed")
}

// TestFallbackAllowAll: a Fallback decides several keys through its
// primary's AllowAll and keeps its local count per charge, so that a
// request any charge denies (the primary, the local count or the policy)
// leaves nothing counted in either; with the primary marked down, each
// policy answers each charge as it answers AllowN, and the request is
// allowed only if every charge is.
func TestFallbackAllowAll(t *testing.T) {
	ctx := context.Background()
	l2, l1 := limit.PerMinute(2), limit.PerMinute(1)
	req := func(a, b string) []floodgate.Charge {
		return []floodgate.Charge{{Key: a, N: 1, Limits: []limit.Limit{l2}}, {Key: b, N: 1, Limits: []limit.Limit{l1}}}
	}
	// left returns what st has left of key under l before a request.
	left := func(t *testing.T, st floodgate.Store, key string, l limit.Limit) int64 {
		t.Helper()
		d, err := st.Peek(ctx, key, l)
		require.NoError(t, err, "Peek(%s)", key)
		if d.Allowed {
			return d.Remaining + 1
		}
		return d.Remaining
	}

	t.Run("primary-up", func(t *testing.T) {
		backup := floodgate.NewMemory(engine.WithClock(clock.NewManual(18000 * 24 * time.Hour))) // the fixture's time
		f, p, _ := localFixture(t, floodgate.FailMemory, backup)
		// The primary denies b (spent there by another instance): a is
		// given back in both counts.
		_, err := p.Store.AllowN(ctx, "b", 1, l1)
		require.NoError(t, err)
		d, at, err := f.AllowAll(ctx, req("a", "b")...)
		require.NoError(t, err)
		assert.False(t, d.Allowed, "AllowAll with b spent in the primary")
		assert.Equal(t, 1, at, "b denies")
		assert.EqualValues(t, 2, left(t, p.Store, "a", l2), "the primary gives a back")
		assert.EqualValues(t, 2, left(t, backup, "a", l2), "the local count gives a back")
		assert.EqualValues(t, 1, left(t, backup, "b", l1), "the local count gives b back")
		// The local count denies d (spent by this instance): the primary
		// is not asked, and c is given back locally.
		d, at, err = f.AllowAll(ctx, req("c", "d")...)
		require.NoError(t, err)
		require.True(t, d.Allowed, "AllowAll(c, d), both fresh")
		assert.Equal(t, 1, at, "d has the fewest units left")
		d, at, err = f.AllowAll(ctx, req("c", "d")...)
		require.NoError(t, err)
		assert.False(t, d.Allowed, "AllowAll(c, d) with d spent by this instance")
		assert.Equal(t, 1, at, "d denies")
		assert.EqualValues(t, 1, left(t, p.Store, "c", l2), "the primary counts c once: it was not asked for the denied request")
		assert.EqualValues(t, 1, left(t, backup, "c", l2), "the local count counts c once")
	})

	for _, tc := range []struct {
		policy  floodgate.Policy
		allowed []bool // the three requests' outcomes
		at      []int
		aLeft   int64 // what the local count has left of a after them
	}{
		// The local count decides: b's 1 allows one request; a denial
		// gives a back.
		{floodgate.FailMemory, []bool{true, false, false}, []int{1, 1, 1}, 1},
		// Everything is allowed while the primary is marked down, and
		// the local count keeps what it could count.
		{floodgate.FailOpen, []bool{true, true, true}, nil, 0},
		// Everything is denied by the first charge, and nothing stays
		// counted.
		{floodgate.FailClosed, []bool{false, false, false}, []int{0, 0, 0}, 2},
	} {
		t.Run("primary-down/failure="+tc.policy.String(), func(t *testing.T) {
			backup := floodgate.NewMemory(engine.WithClock(clock.NewManual(18000 * 24 * time.Hour))) // the fixture's time
			f, p, _ := localFixture(t, tc.policy, backup)
			p.down.Store(1)
			for range 5 {
				_, _ = f.AllowN(ctx, "trip", 1, limit.PerDay(1000))
			}
			require.False(t, f.Info().Up, "five failures mark the primary down")
			for i, want := range tc.allowed {
				d, at, err := f.AllowAll(ctx, req("a", "b")...)
				assert.ErrorIs(t, err, floodgate.ErrStorage, "request %d: answered by the policy", i)
				assert.Equal(t, want, d.Allowed, "request %d: %+v", i, d)
				if tc.at != nil {
					assert.Equal(t, tc.at[i], at, "request %d: index", i)
				}
				if tc.policy == floodgate.FailClosed {
					assert.Equal(t, time.Second, d.RetryAfter, "request %d: FailClosed's RetryAfter is the backoff", i)
				}
			}
			assert.Equal(t, tc.aLeft, left(t, backup, "a", l2), "the local count of a after three requests")
		})
	}
}
