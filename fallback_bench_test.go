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

// nopClose is a Store whose Close does nothing: instances share it.
type nopClose struct{ floodgate.Store }

func (nopClose) Close() error { return nil }
