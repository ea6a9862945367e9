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
