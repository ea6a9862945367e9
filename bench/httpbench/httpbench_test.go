package httpbench

import (
	"fmt"
	"net/http"
	"testing"
)

// check runs each request once through h and fails unless all pass with
// the column's rate-limit headers (none on the bare routers).
func check(tb testing.TB, c Column, h http.Handler, rs []*http.Request) {
	tb.Helper()
	for _, r := range rs {
		w := &Discard{H: http.Header{}}
		err := Serve(h, w, r)
		if err == nil && w.H.Get("X-RateLimit-Remaining") == "" && !bare(c) {
			err = fmt.Errorf("no X-RateLimit-Remaining in %v", w.H)
		}
		if err != nil {
			tb.Fatalf("fixture %s: %v", c.Name, err)
		}
	}
}

// bare reports a router column without middleware.
func bare(c Column) bool {
	return c.Name == "mux" || c.Name == "chi" || c.Name == "gin" || c.Name == "echo"
}

// newColumn builds c's handler for the benchmark.
func newColumn(tb testing.TB, c Column) http.Handler {
	tb.Helper()
	h, close, err := c.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(close)
	return h
}

// BenchmarkAllowed is the middleware cost of one allowed request.
func BenchmarkAllowed(b *testing.B) {
	for _, c := range Columns() {
		b.Run("lib="+c.Name, func(b *testing.B) {
			h, rs := newColumn(b, c), Requests()
			check(b, c, h, rs)
			w := &Discard{H: http.Header{}}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if err := Serve(h, w, rs[i%Clients]); err != nil {
					b.Fatalf("request %d: %v", i, err)
				}
				i++
			}
		})
	}
}

// BenchmarkAllowedParallel is BenchmarkAllowed from every P, each
// goroutine on its own client addresses.
func BenchmarkAllowedParallel(b *testing.B) {
	for _, c := range Columns() {
		b.Run("lib="+c.Name, func(b *testing.B) {
			h := newColumn(b, c)
			check(b, c, h, Requests())
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rs := Requests()
				w := &Discard{H: http.Header{}}
				i := 0
				for pb.Next() {
					if err := Serve(h, w, rs[i%Clients]); err != nil {
						b.Errorf("request %d: %v", i, err)
						return
					}
					i++
				}
			})
		})
	}
}
