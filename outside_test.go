package floodgate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outside is a Store written outside the module, as a user would, with
// nothing private: it delegates its decisions to NewMemory and describes
// itself as Kind "outside", Up as set. While fail is set, its calls
// fail with ErrUnavailable.
type outside struct {
	floodgate.Store
	down atomic.Bool
	fail atomic.Bool
}

var errOutside = fmt.Errorf("%w: outside store failed on demand", floodgate.ErrUnavailable)

func newOutside(t *testing.T, s limit.Strategy, clk clock.Clock) *outside {
	o := &outside{Store: floodgate.NewMemory(engine.WithStrategy(s), engine.WithClock(clk))}
	t.Cleanup(func() { o.Close() })
	return o
}

func (o *outside) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	if o.fail.Load() {
		return limit.Decision{RetryAfter: limit.Never}, errOutside
	}
	return o.Store.AllowN(ctx, key, n, limits...)
}

// AllowAll decides charge by charge, as a store without a multi-key path
// does.
func (o *outside) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return floodgate.AllowEach(ctx, o, charges...)
}

func (o *outside) Info() floodgate.Info {
	in := o.Store.Info()
	in.Kind, in.Up = "outside", !o.down.Load()
	return in
}

// noRefund is an outside store that cannot give units back.
type noRefund struct{ *outside }

func (noRefund) Refund(context.Context, string, int64, ...limit.Limit) error {
	return fmt.Errorf("outside: refund: %w", errors.ErrUnsupported)
}

func (r noRefund) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return floodgate.AllowEach(ctx, r, charges...)
}

// wrappers are the ways to wrap a store outside the module, each on clk:
// the contract's three wrappers alone and stacked as Open stacks them.
func wrappers(t *testing.T, s limit.Strategy, clk clock.Clock, o floodgate.Observer) map[string]func(floodgate.Store) floodgate.Store {
	fallback := func(st floodgate.Store) floodgate.Store {
		return floodgate.NewFallback(st, floodgate.FallbackConfig{
			Backup: floodgate.NewMemory(engine.WithStrategy(s), engine.WithClock(clk)), Observer: o, Clock: clk,
		})
	}
	lease := func(st floodgate.Store) floodgate.Store {
		return floodgate.NewLease(st, floodgate.LeaseConfig{Slice: 10, Clock: clk})
	}
	return map[string]func(floodgate.Store) floodgate.Store{
		"fallback":                 fallback,
		"lease":                    lease,
		"observe":                  func(st floodgate.Store) floodgate.Store { return floodgate.Observe(st, o) },
		"observe(lease(fallback))": func(st floodgate.Store) floodgate.Store { return floodgate.Observe(lease(fallback(st)), o) },
	}
}

// TestContractOutside runs the contract suite on a Store defined in this
// external test package, alone and wrapped by NewFallback, NewLease and
// Observe: composition needs nothing private.
func TestContractOutside(t *testing.T) {
	stacks := map[string]storetest.Factory{
		"outside": func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store { return newOutside(t, s, clk) },
	}
	for name := range wrappers(t, 0, nil, nil) {
		stacks["outside/"+name] = func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
			var o floodgate.Observer // a fallback's Health is checked below
			if strings.HasPrefix(name, "observe") {
				o = newSameStore(t, "outside", s)
			}
			return wrappers(t, s, clk, o)[name](newOutside(t, s, clk))
		}
	}
	runStacks(t, "outside", stacks)
}

// TestOutsideStoreInfo: the Kind, Strategy and Up of a store outside the
// module come through every wrapper's Info and in every Observation and
// Health.
func TestOutsideStoreInfo(t *testing.T) {
	l := limit.PerMinute(5)
	for _, down := range []bool{false, true} {
		for name := range wrappers(t, 0, nil, nil) {
			t.Run(fmt.Sprintf("%s/down=%v", name, down), func(t *testing.T) {
				clk := clock.NewManual(storetest.T0)
				obs := &observations{}
				o := newOutside(t, limit.GCRA, clk)
				o.down.Store(down)
				st := wrappers(t, limit.GCRA, clk, obs)[name](o)
				_, err := st.AllowN(context.Background(), "k", 1, l)
				require.NoError(t, err)
				in := st.Info()
				keys := 1 // the outside store's own (an engine in this process)
				if strings.Contains(name, "fallback") {
					keys++ // and the fallback's local count beside it
				}
				assert.Equal(t, floodgate.Info{Kind: "outside", Strategy: limit.GCRA, Keys: keys, Up: !down}, in, "%s(outside).Info()", name)

				// Fail the outside store until the fallback marks it down:
				// 4 failures of 5 calls.
				o.fail.Store(true)
				for range 4 {
					_, _ = st.AllowN(context.Background(), "k", 1, l)
				}
				calls, health := obs.snapshot()
				for i, c := range calls {
					assert.Equal(t, "outside", c.Store, "Observation %d: Store", i)
					assert.Equal(t, limit.GCRA, c.Strategy, "Observation %d: Strategy", i)
				}
				if name == "fallback" || name == "observe(lease(fallback))" {
					assert.False(t, st.Info().Up, "%s(outside).Info().Up after 4 failures", name)
					require.Len(t, health, 1, "ObserveHealth calls after 4 failures")
					assert.Equal(t, "outside", health[0].Store, "Health.Store")
					assert.ErrorIs(t, health[0].Err, errOutside, "Health.Err")
				}
				if name != "fallback" && name != "lease" {
					assert.Len(t, calls, 5, "Observations of 5 AllowN")
				}
			})
		}
	}
}

// TestOutsideStoreRefundUnsupported: a store that cannot give units back
// (Refund returns errors.ErrUnsupported) gets that error back through
// every wrapper, which is no failure of the store; and AllowAll, whose
// refunds then fail, returns the Decision that decided, its charge's
// index and the refund's error: the earlier charge stays counted, and the
// caller is told.
func TestOutsideStoreRefundUnsupported(t *testing.T) {
	l5, l1 := limit.PerMinute(5), limit.PerMinute(1)
	for name := range wrappers(t, 0, nil, nil) {
		t.Run(name, func(t *testing.T) {
			clk := clock.NewManual(storetest.T0)
			inner := noRefund{newOutside(t, limit.FixedWindow, clk)}
			st := wrappers(t, limit.FixedWindow, clk, &observations{})[name](inner)
			ctx := context.Background()
			for range 5 {
				err := st.Refund(ctx, "k", 1, l5)
				assert.ErrorIs(t, err, errors.ErrUnsupported, "%s(noRefund).Refund", name)
				assert.NotErrorIs(t, err, floodgate.ErrStorage, "%s(noRefund).Refund: not the failure policy's", name)
			}
			assert.True(t, st.Info().Up, "%s(noRefund).Info().Up after 5 unsupported refunds", name)

			// b is spent in the store itself, past every wrapper: a
			// Fallback's local count, which would deny b without asking
			// the store, has not seen it.
			d, err := inner.AllowN(ctx, "b", 1, l1)
			require.NoError(t, err)
			require.True(t, d.Allowed)
			d, i, err := st.AllowAll(ctx, floodgate.Charge{Key: "a", N: 1, Limits: []limit.Limit{l5}},
				floodgate.Charge{Key: "b", N: 1, Limits: []limit.Limit{l1}})
			assert.ErrorIs(t, err, errors.ErrUnsupported, "AllowAll: the refund of a's charge failed, and the error says so")
			left, perr := st.Peek(ctx, "a", l5)
			require.NoError(t, perr)
			assert.EqualValues(t, 3, left.Remaining, "a's charge stays counted: of 5, 1 counted and 1 for the request Peek describes")
			assert.False(t, d.Allowed, "AllowAll with b exhausted: %+v", d)
			assert.Equal(t, 1, i, "AllowAll: the index of the charge that decided")
			assert.Equal(t, l1, d.Limit, "AllowAll: b's Decision")
		})
	}
}
