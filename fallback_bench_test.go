package floodgate_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
)

// BenchmarkLocalCount measures what the local count adds to a decision:
// mode=plain is the primary alone (an in-memory store standing for
// Redis, so that only the local part is timed), mode=local the same
// primary behind NewFallback with its local count. Compare with
// benchstat -col /mode. The cases: a key under its limit (one local
// count, one primary call); a key the primary denies because other
// instances used it (one local count, one primary call, one local
// refund); a key this instance used up (the local count denies; the
// primary is not asked, so mode=local is the faster there).
func BenchmarkLocalCount(b *testing.B) {
	ctx := context.Background()
	roomy := limit.PerSecond(1 << 40)
	tight := limit.PerHour(1)
	for _, c := range []struct {
		name string
		l    limit.Limit
		prep func(primary, local floodgate.Store)
	}{
		{"allowed", roomy, func(floodgate.Store, floodgate.Store) {}},
		{"denied-by-primary", tight, func(p, _ floodgate.Store) { p.AllowN(ctx, "k", 1, tight) }},
		{"denied-locally", tight, func(_, f floodgate.Store) { f.AllowN(ctx, "k", 1, tight) }},
	} {
		for _, mode := range []string{"plain", "local"} {
			b.Run("case="+c.name+"/mode="+mode, func(b *testing.B) {
				primary := floodgate.NewMemory()
				st := primary
				if mode == "local" {
					st = floodgate.NewFallback(nopClose{primary}, floodgate.FallbackConfig{Policy: floodgate.FailOpen, Logger: slog.New(slog.DiscardHandler)})
				}
				b.Cleanup(func() { st.Close(); primary.Close() })
				c.prep(primary, st)
				if d, err := st.AllowN(ctx, "k", 1, c.l); err != nil || d.Allowed != (c.name == "allowed") {
					b.Fatalf("fixture: AllowN = %+v, %v; want allowed %v", d, err, c.name == "allowed")
				}
				b.ReportAllocs()
				for b.Loop() {
					st.AllowN(ctx, "k", 1, c.l)
				}
			})
		}
	}
}

// BenchmarkFallbackAllowAll compares a Fallback's AllowAll of two charges
// (impl=store: the local count per charge, then one call of the primary's
// AllowAll) with AllowEach over the Fallback (impl=each: one Fallback
// AllowN per charge, and a Fallback Refund on a denial), over an
// in-memory primary. The cases: both charges allowed; the second charge
// used up by this instance (the local count denies it).
func BenchmarkFallbackAllowAll(b *testing.B) {
	ctx := context.Background()
	roomy, tight := limit.PerSecond(1<<40), limit.PerHour(1)
	for _, c := range []struct {
		name    string
		second  limit.Limit
		allowed bool
	}{{"allowed", roomy, true}, {"denied-locally", tight, false}} {
		for _, impl := range []string{"store", "each"} {
			b.Run("case="+c.name+"/impl="+impl, func(b *testing.B) {
				primary := floodgate.NewMemory()
				st := floodgate.NewFallback(primary, floodgate.FallbackConfig{Logger: slog.New(slog.DiscardHandler)})
				b.Cleanup(func() { st.Close() })
				charges := []floodgate.Charge{{Key: "app", N: 1, Limits: []limit.Limit{roomy}}, {Key: "route", N: 1, Limits: []limit.Limit{c.second}}}
				allowAll := st.AllowAll
				if impl == "each" {
					allowAll = func(ctx context.Context, cs ...floodgate.Charge) (limit.Decision, int, error) {
						return floodgate.AllowEach(ctx, st, cs...)
					}
				}
				_, _, _ = allowAll(ctx, charges...)
				if d, _, err := allowAll(ctx, charges...); err != nil || d.Allowed != c.allowed {
					b.Fatalf("fixture: AllowAll = %+v, %v; want allowed %v", d, err, c.allowed)
				}
				b.ReportAllocs()
				for b.Loop() {
					_, _, _ = allowAll(ctx, charges...)
				}
			})
		}
	}
}

// nopClose is a Store whose Close does nothing: instances share it.
type nopClose struct{ floodgate.Store }

func (nopClose) Close() error { return nil }
