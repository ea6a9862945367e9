package floodgate_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
)

// observations is an Observer that keeps what it is told.
type observations struct {
	mu     sync.Mutex
	calls  []floodgate.Observation
	health []floodgate.Health
}

func (r *observations) ObserveCall(o floodgate.Observation) {
	o.Limits = append([]limit.Limit(nil), o.Limits...) // the caller's: copy
	r.mu.Lock()
	r.calls = append(r.calls, o)
	r.mu.Unlock()
}

func (r *observations) ObserveHealth(h floodgate.Health) {
	r.mu.Lock()
	r.health = append(r.health, h)
	r.mu.Unlock()
}

func (r *observations) snapshot() ([]floodgate.Observation, []floodgate.Health) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]floodgate.Observation(nil), r.calls...), append([]floodgate.Health(nil), r.health...)
}

func TestObserveReportsEveryCall(t *testing.T) {
	rec := &observations{}
	s := floodgate.Observe(floodgate.NewMemory(engine.WithStrategy(limit.FixedWindow)), rec)
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	l := limit.PerMinute(1)

	d, err := s.AllowN(ctx, "k", 1, l)
	require.NoError(t, err)
	require.True(t, d.Allowed, "first AllowN under 1/minute")
	d, err = s.AllowN(ctx, "k", 1, l)
	require.NoError(t, err)
	require.False(t, d.Allowed, "second AllowN under 1/minute")
	_, err = s.Peek(ctx, "k", l)
	require.NoError(t, err)
	require.NoError(t, s.Refund(ctx, "k", 1, l))
	require.NoError(t, s.Reset(ctx, "k", l))

	calls, health := rec.snapshot()
	assert.Empty(t, health, "a memory store has no health changes")
	require.Len(t, calls, 5, "one observation per call")
	for i, want := range []struct {
		op      string
		allowed bool
		n       int64
	}{{"allow", true, 1}, {"allow", false, 1}, {"peek", false, 1}, {"refund", false, 1}, {"reset", false, 0}} {
		c := calls[i]
		assert.Equal(t, want.op, c.Op, "call %d: Op", i)
		assert.Equal(t, want.allowed, c.Decision.Allowed, "call %d (%v): Decision.Allowed", i, c.Op)
		assert.Equal(t, want.n, c.N, "call %d (%v): N", i, c.Op)
		assert.Equal(t, "memory", c.Store, "call %d: Store", i)
		assert.Equal(t, limit.FixedWindow, c.Strategy, "call %d: Strategy", i)
		assert.Equal(t, []limit.Limit{l}, c.Limits, "call %d: Limits", i)
		assert.NoError(t, c.Err, "call %d: Err", i)
		assert.False(t, c.Fallback, "call %d: Fallback on a memory store", i)
		assert.GreaterOrEqual(t, c.Latency, time.Duration(0), "call %d: Latency", i)
	}
}

// TestObserveAllowAllDenied: an AllowAll denied by its second charge is
// reported as the two charges judged, the first allowed (it fitted) and
// the second with the call's Decision, and no refund is reported: the
// store's own give-back is not a call of the observed Store. The first
// charge's units are back, as all or nothing promises.
func TestObserveAllowAllDenied(t *testing.T) {
	m := floodgate.NewMemory()
	t.Cleanup(func() { m.Close() })
	rec := &observations{}
	s := floodgate.Observe(m, rec)
	one := limit.PerMinute(1)
	_, err := s.AllowN(context.Background(), "b", 1, one) // b's budget is spent
	require.NoError(t, err)
	d, at, err := s.AllowAll(context.Background(),
		floodgate.Charge{Key: "a", N: 1, Limits: []limit.Limit{one}}, floodgate.Charge{Key: "b", N: 1, Limits: []limit.Limit{one}})
	require.NoError(t, err)
	assert.False(t, d.Allowed, "AllowAll with b spent")
	assert.Equal(t, 1, at, "AllowAll: the denying charge")
	calls, _ := rec.snapshot()
	require.Len(t, calls, 3, "observations: AllowN b, then AllowAll's charges a and b")
	for i, want := range []struct {
		key     string
		allowed bool
	}{{"a", true}, {"b", false}} {
		c := calls[1+i]
		assert.Equal(t, "allow", c.Op, "charge %s: Op", want.key)
		assert.Equal(t, want.allowed, c.Decision.Allowed, "charge %s: Allowed", want.key)
		assert.Equal(t, one, c.Decision.Limit, "charge %s: Decision.Limit", want.key)
	}
	assert.Equal(t, d, calls[2].Decision, "the denying charge carries the call's Decision")
	pd, err := m.Peek(context.Background(), "a", one)
	require.NoError(t, err)
	assert.True(t, pd.Allowed, "a's unit is back after the denied AllowAll")
}

// TestObserveAllowAll: AllowAll through the wrapper is reported charge by
// charge, as if decided by AllowN calls: every charge of an allowed
// request, the deciding one with the call's Decision.
func TestObserveAllowAll(t *testing.T) {
	m := floodgate.NewMemory()
	t.Cleanup(func() { m.Close() })
	rec := &observations{}
	s := floodgate.Observe(m, rec)
	l5, l2 := limit.PerMinute(5), limit.PerMinute(2)
	d, at, err := s.AllowAll(context.Background(),
		floodgate.Charge{Key: "a", N: 1, Limits: []limit.Limit{l5}}, floodgate.Charge{Key: "b", N: 2, Limits: []limit.Limit{l2}})
	require.NoError(t, err)
	require.True(t, d.Allowed, "AllowAll of fresh keys")
	require.Equal(t, 1, at, "b has the fewest units left")
	calls, _ := rec.snapshot()
	require.Len(t, calls, 2, "one observation per charge")
	for i, want := range []struct {
		n     int64
		limit limit.Limit
	}{{1, l5}, {2, l2}} {
		assert.Equal(t, "allow", calls[i].Op, "charge %d: Op", i)
		assert.True(t, calls[i].Decision.Allowed, "charge %d: Allowed", i)
		assert.Equal(t, want.n, calls[i].N, "charge %d: N", i)
		assert.Equal(t, want.limit, calls[i].Decision.Limit, "charge %d: Decision.Limit", i)
		assert.Equal(t, []limit.Limit{want.limit}, calls[i].Limits, "charge %d: Limits", i)
	}
	assert.Equal(t, d, calls[1].Decision, "the deciding charge is reported with the call's Decision")
}

// TestOpenWithObserver: Open wraps its store, memory:// included, and
// Info sees through the wrapper to the engine.
func TestOpenWithObserver(t *testing.T) {
	rec := &observations{}
	s, err := floodgate.Open("memory://?strategy=gcra&max-keys=64", floodgate.WithObserver(rec))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	l := limit.PerSecond(10)
	allowed := 0
	for i := range 1000 {
		if d, _ := s.AllowN(context.Background(), "k"+strconv.Itoa(i), 1, l); d.Allowed {
			allowed++
		}
	}
	calls, _ := rec.snapshot()
	require.Len(t, calls, 1000, "one observation per AllowN")
	assert.Equal(t, limit.GCRA, calls[0].Strategy, "strategy from the URI")
	st := s.Info()
	assert.Less(t, allowed, 1000, "1000 new keys into a table capped near 64 were all allowed")
	assert.Equal(t, floodgate.Info{Kind: "memory", Strategy: limit.GCRA, Keys: allowed, Full: uint64(1000 - allowed), Up: true}, st,
		"Info after 1000 new keys, %d allowed: each allowed key is tracked, each other one counted as full", allowed)
}

// TestObserveZeroAlloc: an Observer that keeps nothing adds no allocation
// to a decision.
func TestObserveZeroAlloc(t *testing.T) {
	s := floodgate.Observe(floodgate.NewMemory(), discard{})
	t.Cleanup(func() { s.Close() })
	ls := []limit.Limit{limit.PerSecond(1 << 20)}
	ctx := context.Background()
	_, _ = s.AllowN(ctx, "k", 1, ls...)
	allocs := testing.AllocsPerRun(1000, func() { _, _ = s.AllowN(ctx, "k", 1, ls...) })
	assert.Zero(t, allocs, "allocations per observed AllowN of a known key")
}

type discard struct{}

func (discard) ObserveCall(floodgate.Observation) {}
func (discard) ObserveHealth(floodgate.Health)    {}

// TestObserveRedisOutage stops a real Redis under an observed Fallback
// and restarts it: the calls answered meanwhile are reported as the
// policy's, Health reports down then up once each, and Info's Up
// follows.
func TestObserveRedisOutage(t *testing.T) {
	r := storetest.StartRedis(t)
	rec := &observations{}
	s, err := floodgate.Open(redisURI("redis", r.Addr(), limit.SlidingWindow, "&timeout=100ms&backoff=50ms"),
		floodgate.WithObserver(rec), floodgate.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	l := limit.PerDay(1000)
	require.Eventually(t, func() bool { _, err := s.AllowN(ctx, "warm", 1, l); return err == nil }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, floodgate.Info{Kind: "redis", Strategy: limit.SlidingWindow, Keys: 1, Up: true}, s.Info(),
		"Info with Redis answering: the local count holds the one key this instance counted")
	calls, _ := rec.snapshot()
	last := calls[len(calls)-1]
	assert.Equal(t, "redis", last.Store, "Store of a Fallback over Redis")
	assert.False(t, last.Fallback, "a call Redis answered")
	assert.Positive(t, last.Latency, "Latency of a Redis round trip")

	r.Kill(t)
	for i := range 10 {
		_, err := s.AllowN(ctx, "k", 1, l)
		require.ErrorIs(t, err, floodgate.ErrStorage, "call %d with Redis down", i)
	}
	assert.False(t, s.Info().Up, "Info().Up after 10 failed calls")
	calls, health := rec.snapshot()
	fallback := 0
	for _, c := range calls {
		if c.Fallback {
			fallback++
		}
	}
	assert.Equal(t, 10, fallback, "observations with Fallback set, one per call with Redis down")
	require.Len(t, health, 1, "health changes after the kill: %+v", health)
	assert.Equal(t, floodgate.Health{Store: "redis", Up: false, Policy: floodgate.FailMemory, Err: health[0].Err}, health[0])
	assert.ErrorIs(t, health[0].Err, floodgate.ErrUnavailable, "the failure that marked it down")

	r.Restart(t)
	require.Eventually(t, func() bool { _, err := s.AllowN(ctx, "back", 1, l); return err == nil },
		10*time.Second, 20*time.Millisecond, "no recovery after restarting Redis")
	assert.True(t, s.Info().Up, "Info().Up after Redis answered again")
	_, health = rec.snapshot()
	require.Len(t, health, 2, "health changes across one outage: %+v", health)
	assert.Equal(t, floodgate.Health{Store: "redis", Up: true, Policy: floodgate.FailMemory}, health[1])
}

// ExampleObserve counts decisions by outcome, as a metrics exporter does.
func ExampleObserve() {
	var c counts
	s := floodgate.Observe(floodgate.NewMemory(), &c)
	defer s.Close()
	l := limit.PerMinute(2)
	for range 3 {
		_, _ = s.AllowN(context.Background(), "user:42", 1, l)
	}
	fmt.Println("allowed", c.allowed, "denied", c.denied)
	// Output: allowed 2 denied 1
}

// counts is an Observer that counts AllowN outcomes. Real exporters
// (modules prometheus and otel) use atomic counters.
type counts struct {
	mu              sync.Mutex
	allowed, denied int
}

func (c *counts) ObserveCall(o floodgate.Observation) {
	if o.Op != "allow" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.Decision.Allowed {
		c.allowed++
	} else {
		c.denied++
	}
}

func (c *counts) ObserveHealth(floodgate.Health) {}
