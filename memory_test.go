package floodgate_test

import (
	"context"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestContractMemory runs the contract suite on the in-memory stores, on
// the suite's clock, each also wrapped by Observe: NewMemory, Open's
// memory://, and NewLease over NewMemory, whose slices of 10 with the
// default Hot leave the suite's keys cold, so that its answers are
// exact, except where a key takes more than 10 calls at one instant
// (the concurrent check), which the lease then decides from slices.
func TestContractMemory(t *testing.T) {
	runStacks(t, "memory", map[string]storetest.Factory{
		"memory": func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
			m := floodgate.NewMemory(engine.WithStrategy(s), engine.WithClock(clk))
			t.Cleanup(func() { m.Close() })
			return m
		},
		"memory-uri": func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
			m, err := floodgate.Open("memory://?strategy="+s.String(), floodgate.WithClock(clk))
			require.NoError(t, err)
			t.Cleanup(func() { m.Close() })
			return m
		},
		"lease/memory": func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
			m := floodgate.NewLease(floodgate.NewMemory(engine.WithStrategy(s), engine.WithClock(clk)),
				floodgate.LeaseConfig{Slice: 10, Clock: clk})
			t.Cleanup(func() { m.Close() })
			return m
		},
	})
}

// TestMemoryStoreAllocatesNothing: a known key through the Store
// interface allocates nothing, one limit or several.
func TestMemoryStoreAllocatesNothing(t *testing.T) {
	st := floodgate.NewMemory()
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	one := limit.PerSecond(1 << 20)
	two := limit.PerDay(1 << 28)
	_, _ = st.AllowN(ctx, "known", 1, one, two)
	charges := []floodgate.Charge{{Key: "known", N: 1, Limits: []limit.Limit{one}}, {Key: "known", N: 1, Limits: []limit.Limit{two}}}
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"AllowN/one-limit", func() { _, _ = st.AllowN(ctx, "known", 1, one) }},
		{"AllowN/two-limits", func() { _, _ = st.AllowN(ctx, "known", 1, one, two) }},
		{"Peek", func() { _, _ = st.Peek(ctx, "known", one, two) }},
		{"AllowAll/two-charges", func() { _, _, _ = st.AllowAll(ctx, charges...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(1000, tc.f), "allocations per call through floodgate.Store")
		})
	}
}

// BenchmarkMemoryStore compares a known key's decision on the engine with
// the same decision through the Store interface: the adapter's cost.
func BenchmarkMemoryStore(b *testing.B) {
	ctx := context.Background()
	l := limit.PerSecond(1 << 28)
	b.Run("via=engine", func(b *testing.B) {
		e := engine.New()
		defer e.Close()
		e.AllowN("known", 1, l)
		b.ReportAllocs()
		for b.Loop() {
			e.AllowN("known", 1, l)
		}
	})
	b.Run("via=store", func(b *testing.B) {
		st := floodgate.NewMemory()
		defer st.Close()
		_, _ = st.AllowN(ctx, "known", 1, l)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = st.AllowN(ctx, "known", 1, l)
		}
	})
}
