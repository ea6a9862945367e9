package httprate_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	gohttprate "github.com/go-chi/httprate"
	"github.com/redis/rueidis"

	fghttprate "github.com/floodgate-go/floodgate/adapters/httprate"
)

// Example is httprate's middleware counting in Floodgate's engine.
func Example() {
	counter := fghttprate.New()
	defer counter.Close()
	// httprate's own counter would be gohttprate.LimitBy(2, time.Hour, gohttprate.Key("*")).
	mw := gohttprate.LimitBy(2, time.Hour, gohttprate.Key("*"), gohttprate.WithLimitCounter(counter))
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

// ExampleNewRedis is httprate's middleware counting in Redis, shared by
// every instance. It needs a server, so it is compiled, not run.
func ExampleNewRedis() {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	// Key each client by its address: here the TCP peer; behind a
	// proxy, the client address that the proxy sets instead.
	clientIP := func(r *http.Request) (string, error) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return "", err
		}
		return gohttprate.CanonicalizeIP(host), nil
	}
	mw := gohttprate.LimitBy(100, time.Minute, clientIP,
		gohttprate.WithLimitCounter(fghttprate.NewRedis(client, "httprate:")))
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	fmt.Println(h != nil)
}
