package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
	fgprom "github.com/floodgate-go/floodgate/prometheus"
)

// outside is a Store written outside the floodgate module: it keeps its
// counts in an engine, reports its own kind and strategy, and fails on
// demand, as a network store does when its server goes away.
type outside struct {
	floodgate.Store
	down     atomic.Bool
	refunds  atomic.Int64
	strategy limit.Strategy
}

var errOutsideDown = fmt.Errorf("outside: server gone: %w", floodgate.ErrUnavailable)

func newOutside(s limit.Strategy, clk *clock.Manual) *outside {
	return &outside{Store: floodgate.NewMemory(engine.WithStrategy(s), engine.WithClock(clk)), strategy: s}
}

func (o *outside) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	if o.down.Load() {
		return limit.Decision{RetryAfter: limit.Never}, errOutsideDown
	}
	return o.Store.AllowN(ctx, key, n, limits...)
}

// AllowAll decides charge by charge, as a store without a multi-key path
// does.
func (o *outside) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return floodgate.AllowEach(ctx, o, charges...)
}

func (o *outside) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	if o.down.Load() {
		return errOutsideDown
	}
	o.refunds.Add(n)
	return o.Store.Refund(ctx, key, n, limits...)
}

func (o *outside) Info() floodgate.Info {
	in := o.Store.Info()
	in.Kind, in.Strategy, in.Up = "outside", o.strategy, !o.down.Load()
	return in
}

func gather(t *testing.T, reg *prom.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	return byName
}

// TestOutsideStoreThroughEveryWrapper: a Store defined outside the
// module, wrapped as Open wraps Redis (a fallback, then a lease, then
// Observe), reports its own kind, strategy and health in the metrics,
// and its refunds are forwarded through every wrapper.
func TestOutsideStoreThroughEveryWrapper(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	out := newOutside(limit.GCRA, clk)
	c := fgprom.New()
	fb := floodgate.NewFallback(out, floodgate.FallbackConfig{
		Policy: floodgate.FailMemory, Backup: floodgate.NewMemory(engine.WithStrategy(limit.GCRA), engine.WithClock(clk)),
		Backoff: time.Minute, Observer: c, Clock: clk, Logger: discardLogger(),
	})
	store := floodgate.Observe(floodgate.NewLease(fb, floodgate.LeaseConfig{Slice: 10, Clock: clk}), c)
	t.Cleanup(func() { store.Close() })
	c.Watch(store)
	reg := prom.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	ctx := context.Background()
	l := limit.PerMinute(100)

	d, err := store.AllowN(ctx, "k", 1, l)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.NoError(t, store.Refund(ctx, "k", 1, l))
	assert.EqualValues(t, 1, out.refunds.Load(), "the refund reached the outside store through Observe, the lease and the fallback")
	fams := gather(t, reg)
	assert.Equal(t, 1.0, value(fams, "floodgate_store_up", "store", "outside"), "store_up of the outside store, answering")
	assert.Equal(t, 1.0, value(fams, "floodgate_decisions_total", "store", "outside", "strategy", "gcra", "outcome", "allowed"),
		"the decision is labelled with the outside store's kind and strategy: %s", dump(fams, "floodgate_decisions_total"))

	out.down.Store(true)
	for i := range 10 { // enough failures to trip the fallback: ≥ 3, and ≥ 80% of the window's calls
		_, err := store.AllowN(ctx, "k", 1, l)
		require.ErrorIs(t, err, floodgate.ErrStorage, "call %d with the outside store down", i)
	}
	fams = gather(t, reg)
	assert.Equal(t, 0.0, value(fams, "floodgate_store_up", "store", "outside"), "store_up of the outside store, down")
	assert.Equal(t, 1.0, value(fams, "floodgate_store_state_changes_total", "store", "outside", "state", "down"), dump(fams, "floodgate_store_state_changes_total"))
	assert.False(t, store.Info().Up, "Info through Observe and the lease: down")
	assert.Equal(t, "outside", store.Info().Kind)
	assert.Equal(t, limit.GCRA, store.Info().Strategy)
}

// TestDeadRedisLeaseMetrics: with lease mode on a Redis that is down, the
// metrics name the store behind the lease (store "redis", strategy gcra)
// and report it down, through the lease and the fallback.
func TestDeadRedisLeaseMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	c := fgprom.New()
	store, err := floodgate.Open("redis://"+dead+"/0?strategy=gcra&lease=10&timeout=50ms&backoff=1m",
		floodgate.WithObserver(c), floodgate.WithLogger(discardLogger()))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	c.Watch(store)
	reg := prom.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	l := limit.PerMinute(100)
	for i := range 5 {
		_, err := store.AllowN(context.Background(), "k", 1, l)
		require.Error(t, err, "call %d on a dead Redis", i)
		require.True(t, errors.Is(err, floodgate.ErrStorage), "call %d: %v", i, err)
	}
	in := store.Info()
	assert.Equal(t, floodgate.Info{Kind: "redis", Strategy: limit.GCRA, Up: false, Keys: in.Keys}, in)
	fams := gather(t, reg)
	assert.Equal(t, 0.0, value(fams, "floodgate_store_up", "store", "redis"), "store_up with Redis dead")
	assert.Equal(t, 1.0, float64(len(fams["floodgate_store_up"].GetMetric())), "one store_up series: %v", fams["floodgate_store_up"])
	assert.Equal(t, 5.0, value(fams, "floodgate_decisions_total", "store", "redis", "strategy", "gcra"),
		"policy decisions labelled with Redis and GCRA")
	assert.Equal(t, 5.0, value(fams, "floodgate_fallback_decisions_total", "store", "redis"), "policy decisions")
}

func dump(fams map[string]*dto.MetricFamily, name string) string {
	return fmt.Sprint(fams[name])
}
