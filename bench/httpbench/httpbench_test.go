package httpbench

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	sethhttp "github.com/sethvargo/go-limiter/httplimit"
	"github.com/sethvargo/go-limiter/memorystore"
	ulule "github.com/ulule/limiter/v3"
	ulestdlib "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
)

// clients is how many client addresses the requests rotate through, so
// that no limit below is reached however long a benchmark runs.
const clients = 64

// perHour is a limit every column can express and no benchmark reaches:
// limit.MaxCount per client per hour.
const perHour = limit.MaxCount

// discard is a ResponseWriter whose header map is cleared and reused, so
// the middleware's own allocations are what is counted.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

var nop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

type column struct {
	name string
	new  func(tb testing.TB) http.Handler
}

func columns() []column {
	return []column{
		{"floodgate", func(tb testing.TB) http.Handler {
			lim := floodgate.NewMemory()
			tb.Cleanup(func() { _ = lim.Close() })
			m, err := httplimit.New(lim)
			if err != nil {
				tb.Fatal(err)
			}
			return m.Limit(strconv.Itoa(perHour) + "/hour")(nop)
		}},
		{"floodgate-mux", func(tb testing.TB) http.Handler {
			// The whole-router form: a ServeMux route looked up by pattern.
			lim := floodgate.NewMemory()
			tb.Cleanup(func() { _ = lim.Close() })
			m, err := httplimit.New(lim, httplimit.WithRoute("GET /api/v1/groups", strconv.Itoa(perHour)+"/hour"))
			if err != nil {
				tb.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle("GET /api/v1/groups", nop)
			h := m.Handler(mux)
			if err := m.Verify(h); err != nil {
				tb.Fatal(err)
			}
			return h
		}},
		{"sethvargo", func(tb testing.TB) http.Handler {
			store, err := memorystore.New(&memorystore.Config{Tokens: perHour, Interval: time.Hour})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = store.Close(tb.Context()) })
			m, err := sethhttp.NewMiddleware(store, sethhttp.IPKeyFunc())
			if err != nil {
				tb.Fatal(err)
			}
			return m.Handle(nop)
		}},
		{"ulule", func(tb testing.TB) http.Handler {
			l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: time.Hour, Limit: perHour})
			return ulestdlib.NewMiddleware(l).Handler(nop)
		}},
	}
}

func requests() []*http.Request {
	rs := make([]*http.Request, clients)
	for i := range rs {
		r := httptest.NewRequest("GET", "/api/v1/groups", nil)
		r.RemoteAddr = "198.51.100." + strconv.Itoa(i+1) + ":40000"
		rs[i] = r
	}
	return rs
}

// check runs each request once through h and fails unless all pass with
// the column's rate-limit headers.
func check(tb testing.TB, h http.Handler, rs []*http.Request) {
	tb.Helper()
	for _, r := range rs {
		w := &discard{h: http.Header{}, code: 200}
		h.ServeHTTP(w, r)
		if w.code != 200 || w.h.Get("X-RateLimit-Remaining") == "" {
			tb.Fatalf("fixture: status %d, headers %v; want 200 with X-RateLimit-Remaining", w.code, w.h)
		}
	}
}

// BenchmarkAllowed is the middleware cost of one allowed request.
func BenchmarkAllowed(b *testing.B) {
	for _, c := range columns() {
		b.Run("lib="+c.name, func(b *testing.B) {
			h, rs := c.new(b), requests()
			check(b, h, rs)
			w := &discard{h: http.Header{}}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = 200
				h.ServeHTTP(w, rs[i%clients])
				if w.code != 200 {
					b.Fatalf("request %d denied", i)
				}
				i++
			}
		})
	}
}

// BenchmarkAllowedParallel is BenchmarkAllowed from every P, each
// goroutine on its own client addresses.
func BenchmarkAllowedParallel(b *testing.B) {
	for _, c := range columns() {
		b.Run("lib="+c.name, func(b *testing.B) {
			h := c.new(b)
			check(b, h, requests())
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rs := requests()
				w := &discard{h: http.Header{}}
				i := 0
				for pb.Next() {
					clear(w.h)
					w.code = 200
					h.ServeHTTP(w, rs[i%clients])
					if w.code != 200 {
						b.Errorf("request %d denied", i)
						return
					}
					i++
				}
			})
		})
	}
}
