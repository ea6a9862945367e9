package observebench

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	fgotel "github.com/floodgate-go/floodgate/otel"
	fgprom "github.com/floodgate-go/floodgate/prometheus"
)

// discardObserver is an Observer that does nothing: the cost of the
// wrapper itself (two clock readings and an interface call).
type discardObserver struct{}

func (discardObserver) ObserveCall(floodgate.Observation) {}
func (discardObserver) ObserveHealth(floodgate.Health)    {}

// observers are the columns of BenchmarkObserve: none is the bare
// MemoryStore, the others wrap it with floodgate.Observe.
func observers(b *testing.B) []struct {
	name string
	wrap func(floodgate.Store) floodgate.Store
} {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	om, err := fgotel.New(mp)
	if err != nil {
		b.Fatalf("otel.New: %v", err)
	}
	return []struct {
		name string
		wrap func(floodgate.Store) floodgate.Store
	}{
		{"none", func(s floodgate.Store) floodgate.Store { return s }},
		{"discard", func(s floodgate.Store) floodgate.Store { return floodgate.Observe(s, discardObserver{}) }},
		{"prometheus", func(s floodgate.Store) floodgate.Store { return floodgate.Observe(s, fgprom.New()) }},
		{"otel", func(s floodgate.Store) floodgate.Store { return floodgate.Observe(s, om) }},
	}
}

// BenchmarkObserve measures the cost per decision of observing a
// MemoryStore: AllowN of one known key, allowed, through each observer.
// The difference from observer=none is the observer's cost.
func BenchmarkObserve(b *testing.B) {
	ls := []limit.Limit{limit.PerSecond(limit.MaxCount)}
	ctx := context.Background()
	for _, o := range observers(b) {
		b.Run("observer="+o.name, func(b *testing.B) {
			m := floodgate.NewMemory()
			b.Cleanup(func() { m.Close() })
			s := o.wrap(m)
			if d, err := s.AllowN(ctx, "k", 1, ls...); err != nil || !d.Allowed {
				b.Fatalf("fixture: AllowN = %+v, %v; want allowed, nil", d, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = s.AllowN(ctx, "k", 1, ls...)
			}
		})
	}
}

// BenchmarkObserveParallel is BenchmarkObserve under contention: every
// goroutine decides for keys of its own, and all update the same
// counters. Vary cores with -cpu.
func BenchmarkObserveParallel(b *testing.B) {
	ls := []limit.Limit{limit.PerSecond(limit.MaxCount)}
	ctx := context.Background()
	for _, o := range observers(b) {
		b.Run("observer="+o.name, func(b *testing.B) {
			m := floodgate.NewMemory()
			b.Cleanup(func() { m.Close() })
			s := o.wrap(m)
			if d, err := s.AllowN(ctx, "k0", 1, ls...); err != nil || !d.Allowed {
				b.Fatalf("fixture: AllowN = %+v, %v; want allowed, nil", d, err)
			}
			var id atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				key := "k" + strconv.FormatInt(id.Add(1), 10)
				for pb.Next() {
					_, _ = s.AllowN(ctx, key, 1, ls...)
				}
			})
		})
	}
}
