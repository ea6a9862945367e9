package httprate_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	gohttprate "github.com/go-chi/httprate"

	fghttprate "github.com/floodgate-go/floodgate/adapters/httprate"
)

// Example is httprate's middleware counting in Floodgate's engine.
func Example() {
	counter := fghttprate.New()
	defer counter.Close()
	// was: gohttprate.Limit(2, time.Hour)
	mw := gohttprate.Limit(2, time.Hour, gohttprate.WithLimitCounter(counter))
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		fmt.Println(rec.Code)
	}
	// Output:
	// 200
	// 200
	// 429
}
