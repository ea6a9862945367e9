package floodgate_test

import (
	"context"
	"sync"
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

// counting is a Store that counts the calls reaching it and the units
// they ask for.
type counting struct {
	floodgate.Store
	calls atomic.Int64
	units atomic.Int64
}

func (c *counting) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	c.calls.Add(1)
	c.units.Add(n)
	return c.Store.AllowN(ctx, key, n, limits...)
}

func (c *counting) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return floodgate.AllowEach(ctx, c, charges...)
}

// leaseOn returns a Lease over a counting in-memory primary, both on clk.
func leaseOn(t *testing.T, clk *clock.Manual, s limit.Strategy, cfg floodgate.LeaseConfig) (floodgate.Store, *counting) {
	t.Helper()
	primary := &counting{Store: floodgate.NewMemory(engine.WithClock(clk), engine.WithStrategy(s))}
	cfg.Clock = clk
	l := floodgate.NewLease(primary, cfg)
	t.Cleanup(func() { l.Close() })
	return l, primary
}

func TestLeaseColdKeyIsPlain(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	l, primary := leaseOn(t, clk, limit.SlidingWindow, floodgate.LeaseConfig{Slice: 10, Hot: 5})
	lim := limit.PerMinute(100)
	ctx := context.Background()
	for i := range 5 {
		d, err := l.AllowN(ctx, "cold", 1, lim)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "AllowN(cold) #%d", i+1)
		assert.EqualValues(t, 100-(i+1), d.Remaining, "AllowN(cold) #%d: Remaining, want the primary's", i+1)
		clk.Advance(300 * time.Millisecond) // 5 calls in 1.5 s: never more than 5 per TTL
	}
	assert.EqualValues(t, 5, primary.calls.Load(), "calls reaching the primary for 5 calls on a cold key")
	assert.EqualValues(t, 5, primary.units.Load(), "units counted by the primary for 5 calls on a cold key")
}

func TestLeaseHotKey(t *testing.T) {
	clk := clock.NewManual(0) // as clock.System() reads in a process's first second
	l, primary := leaseOn(t, clk, limit.FixedWindow, floodgate.LeaseConfig{Slice: 10, Hot: 5})
	lim := limit.PerMinute(1000)
	ctx := context.Background()
	for i := range 105 {
		d, err := l.AllowN(ctx, "hot", 1, lim)
		require.NoError(t, err)
		require.True(t, d.Allowed, "AllowN(hot) #%d = %+v", i+1, d)
		assert.EqualValues(t, 1000-(i+1), d.Remaining, "AllowN(hot) #%d: Remaining, the primary's plus the unspent lease", i+1)
	}
	// 5 cold calls, then 100 from 10 slices of 10.
	assert.EqualValues(t, 15, primary.calls.Load(), "calls reaching the primary for 105 calls on a hot key")
	assert.EqualValues(t, 105, primary.units.Load(), "units counted by the primary")
}

// TestLeaseExactAtTheLimit checks that a single instance allows exactly
// the limit in a window: slices near the limit shrink to what remains.
func TestLeaseExactAtTheLimit(t *testing.T) {
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			clk := clock.NewManual(time.Hour)
			l, primary := leaseOn(t, clk, s, floodgate.LeaseConfig{Slice: 7, Hot: 1})
			lim := limit.PerHour(100)
			allowed := 0
			for range 300 {
				d, err := l.AllowN(context.Background(), "k", 1, lim)
				require.NoError(t, err)
				if d.Allowed {
					allowed++
				} else {
					assert.Positive(t, d.RetryAfter, "a denial's RetryAfter")
				}
			}
			assert.Equal(t, 100, allowed, "allowed of 300 calls under 100/hour within one second")
			assert.Less(t, primary.calls.Load(), int64(40), "calls reaching the primary: the denial is remembered")
		})
	}
}

func TestLeaseRemembersDenial(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	l, primary := leaseOn(t, clk, limit.FixedWindow, floodgate.LeaseConfig{Slice: 5, Hot: 1})
	lim := limit.PerSecond(10)
	ctx := context.Background()
	for range 10 {
		d, err := l.AllowN(ctx, "k", 1, lim)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	d, err := l.AllowN(ctx, "k", 1, lim)
	require.NoError(t, err)
	require.False(t, d.Allowed, "11th call under 10/second")
	calls := primary.calls.Load()
	retry := d.RetryAfter
	clk.Advance(retry / 2)
	d, err = l.AllowN(ctx, "k", 1, lim)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "a call halfway through RetryAfter")
	assert.Equal(t, retry-retry/2, d.RetryAfter, "RetryAfter of the remembered denial, counted down")
	assert.Equal(t, calls, primary.calls.Load(), "calls reaching the primary while a denial is remembered")
	clk.Advance(retry - retry/2)
	d, err = l.AllowN(ctx, "k", 1, lim)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "a call after RetryAfter")
	assert.Greater(t, primary.calls.Load(), calls, "the call after RetryAfter asked the primary")
}

func TestLeaseExpires(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	l, primary := leaseOn(t, clk, limit.FixedWindow, floodgate.LeaseConfig{Slice: 10, Hot: 1, TTL: 100 * time.Millisecond})
	lim := limit.PerMinute(1000)
	ctx := context.Background()
	for range 4 { // 1 cold, then a slice of 10, 3 spent
		_, err := l.AllowN(ctx, "k", 1, lim)
		require.NoError(t, err)
	}
	require.EqualValues(t, 2, primary.calls.Load())
	clk.Advance(100 * time.Millisecond)
	_, err := l.AllowN(ctx, "k", 1, lim)
	require.NoError(t, err)
	assert.EqualValues(t, 3, primary.calls.Load(), "the first call after the TTL takes a new slice")
	assert.EqualValues(t, 21, primary.units.Load(), "units counted: the expired lease's 7 are not reused")
}

func TestLeaseReset(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	l, _ := leaseOn(t, clk, limit.FixedWindow, floodgate.LeaseConfig{Slice: 4, Hot: 1})
	lim := limit.PerMinute(10)
	ctx := context.Background()
	for range 20 {
		_, err := l.AllowN(ctx, "k", 1, lim)
		require.NoError(t, err)
	}
	require.NoError(t, l.Reset(ctx, "k", lim))
	allowed := 0
	for range 20 {
		d, err := l.AllowN(ctx, "k", 1, lim)
		require.NoError(t, err)
		if d.Allowed {
			allowed++
		}
	}
	assert.Equal(t, 10, allowed, "allowed of 20 calls under 10/minute after Reset")
}

// TestLeaseOvershootBound runs K instances on one primary through a
// window boundary, each holding an unspent lease when the window turns,
// then a burst in the next window: per window they allow at most
// L + K·(S−1), and exactly that here, so the bound is tight.
func TestLeaseOvershootBound(t *testing.T) {
	const (
		k     = 4
		slice = 10
		count = 100
	)
	clk := clock.NewManual(time.Hour) // a whole minute: a fixed window starts here
	primary := floodgate.NewMemory(engine.WithClock(clk), engine.WithStrategy(limit.FixedWindow))
	t.Cleanup(func() { primary.Close() })
	lim := limit.PerMinute(count)
	ctx := context.Background()
	var leases [k]floodgate.Store
	for i := range leases {
		leases[i] = floodgate.NewLease(primary, floodgate.LeaseConfig{Clock: clk, Slice: slice, Hot: 1, TTL: 10 * time.Second})
	}
	perWindow := map[int64]int{}
	call := func(i int) {
		d, err := leases[i].AllowN(ctx, "hot", 1, lim)
		require.NoError(t, err, "instance %d at %v", i, clk.Now())
		if d.Allowed {
			perWindow[int64(clk.Now()/time.Minute)]++
		}
	}
	// A quiet minute; in its last quarter second every instance makes
	// two calls: one cold, one that takes a slice and spends 1 of it.
	clk.Advance(time.Minute - 250*time.Millisecond)
	for i := range k {
		call(i)
		call(i)
	}
	// The window turns; every instance bursts.
	clk.Advance(250 * time.Millisecond)
	for range 3 * count {
		for i := range k {
			call(i)
		}
	}
	bound := count + k*(slice-1)
	for w, n := range perWindow {
		assert.LessOrEqual(t, n, bound, "allowed in window %d by %d instances, want ≤ L + K·(S−1) = %d", w, k, bound)
	}
	assert.Equal(t, bound, perWindow[61], "allowed in the window after the turn: the bound is reached")
	t.Logf("allowed per one-minute window by %d instances, L=%d, S=%d (bound %d): %v", k, count, slice, bound, perWindow)
}

// TestLeaseConcurrent hammers one hot key from many goroutines: one
// instance allows exactly the limit, under -race.
func TestLeaseConcurrent(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	l, _ := leaseOn(t, clk, limit.SlidingWindow, floodgate.LeaseConfig{Slice: 16, Hot: 1})
	lim := limit.PerHour(5000)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 500 {
				d, err := l.AllowN(context.Background(), "hot", 1, lim)
				if err == nil && d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 5000, allowed.Load(), "allowed of 8000 calls from 16 goroutines under 5000/hour")
}

// TestLeaseAllocs checks that a leased decision allocates nothing of its
// own: through the Store interface the caller's variadic limits escape,
// as for any Store, which is the one allocation allowed.
func TestLeaseAllocs(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	var l floodgate.Store
	l, _ = leaseOn(t, clk, limit.SlidingWindow, floodgate.LeaseConfig{Slice: 1000, Hot: 1})
	lim := limit.PerHour(limit.MaxCount)
	ctx := context.Background()
	for range 3 {
		_, _ = l.AllowN(ctx, "user 1", 1, lim)
	}
	allocs := testing.AllocsPerRun(500, func() { _, _ = l.AllowN(ctx, "user 1", 1, lim) })
	assert.LessOrEqual(t, allocs, 1.0, "allocations per AllowN of a leased key")
}

// TestLeaseRefunds: a lease forwards refunds to its primary, so AllowAll
// and httplimit's CountWhen work through lease mode; a refund frees the
// units in the primary and forgets a remembered denial.
func TestLeaseRefunds(t *testing.T) {
	m := floodgate.NewMemory()
	st := floodgate.NewLease(m, floodgate.LeaseConfig{Slice: 2})
	t.Cleanup(func() { st.Close() })
	r := st
	ctx := context.Background()
	lim := limit.PerHour(3)
	for i := range 3 {
		d, err := st.AllowN(ctx, "k", 1, lim)
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d", i)
	}
	d, err := st.AllowN(ctx, "k", 1, lim)
	require.NoError(t, err)
	require.False(t, d.Allowed, "the fourth of 3/hour")
	require.NoError(t, r.Refund(ctx, "k", 1, lim))
	d, err = st.AllowN(ctx, "k", 1, lim)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "after a refund of 1, one more fits: the remembered denial is forgotten")
}
