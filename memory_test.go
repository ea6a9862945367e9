package floodgate_test

import (
	"context"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
)

// TestMemoryStoreAllocatesNothing: a known key through the Store
// interface allocates nothing, one limit or several.
func TestMemoryStoreAllocatesNothing(t *testing.T) {
	var st floodgate.Store = floodgate.NewMemory()
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	one := limit.PerSecond(1 << 20)
	two := limit.PerDay(1 << 28)
	_, _ = st.AllowN(ctx, "known", 1, one, two)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"AllowN/one-limit", func() { _, _ = st.AllowN(ctx, "known", 1, one) }},
		{"AllowN/two-limits", func() { _, _ = st.AllowN(ctx, "known", 1, one, two) }},
		{"Peek", func() { _, _ = st.Peek(ctx, "known", one, two) }},
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
		var st floodgate.Store = floodgate.NewMemory()
		defer st.Close()
		_, _ = st.AllowN(ctx, "known", 1, l)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = st.AllowN(ctx, "known", 1, l)
		}
	})
}
