package httplimit_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
)

// BenchmarkAllowedClients is an allowed request through Limit from
// clients that come back (64 of them: their storage keys come from the
// Middleware's key cache) and from more clients than the cache holds
// (65,536 in turn: every key is built and allocated again), the cost of
// a busy service's many addresses.
func BenchmarkAllowedClients(b *testing.B) {
	for _, clients := range []int{64, 1 << 16} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			store := floodgate.NewMemory()
			b.Cleanup(func() { _ = store.Close() })
			m, err := httplimit.New(store, httplimit.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			h := m.Limit(strconv.FormatInt(limit.MaxCount, 10) + "/hour")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			rs := make([]*http.Request, clients)
			for i := range rs {
				rs[i] = httptest.NewRequest("GET", "/", nil)
				rs[i].RemoteAddr = "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + ":40000"
			}
			w := &headerWriter{h: http.Header{}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				clear(w.h)
				h.ServeHTTP(w, rs[i%clients])
				if len(w.h) == 0 {
					b.Fatal("no rate-limit headers: the request was not checked")
				}
			}
		})
	}
}

// headerWriter is a ResponseWriter whose header map is reused.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}
