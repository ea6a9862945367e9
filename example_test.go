package floodgate_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore" // also registers redis:// with floodgate.Open
)

// Example is README's usage section, compiled and run: the engine in
// process, a Store chosen by a URI, and the HTTP middleware.
func Example() {
	clientIP, ctx := "203.0.113.7", context.Background()
	os.Unsetenv("FLOODGATE_STORAGE")

	// README: begin
	e := engine.New() // in memory: lock-free, 0 allocations per known key
	defer e.Close()
	login := limit.MustParse("5/minute")
	if !e.Allow(clientIP, login) {
		fmt.Println("429 Too Many Requests")
	}

	store, err := floodgate.Open(os.Getenv("FLOODGATE_STORAGE")) // "" is memory://; or "redis://host:6379/0?failure=memory"
	if err != nil {
		panic(err) // only a malformed URI fails: Open never waits for Redis
	}
	defer store.Close()
	d, err := store.AllowN(ctx, "user:42", 1, limit.MustParse("10/second"), limit.MustParse("1000/day"))
	fmt.Println(d.Allowed, d.Remaining, err) // true 9 <nil>

	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {})
	m, err := httplimit.New(store, httplimit.WithRoute("POST /api/v1/auth/login", "5/minute"))
	if err != nil {
		panic(err) // a bad limit string or pattern fails here, naming it
	}
	h := m.Handler(mux)
	if err := m.Verify(h); err != nil {
		panic(err) // a declared route that the finished handler does not limit, named
	}
	srv := httptest.NewServer(h) // or http.ListenAndServe(":8080", h)
	// README: end
	defer srv.Close()
	for range 6 {
		resp, err := http.Post(srv.URL+"/api/v1/auth/login", "text/plain", nil)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ")
	}
	fmt.Println()
	// Output:
	// true 9 <nil>
	// 200 200 200 200 200 429
}

func ExampleOpen() {
	store, err := floodgate.Open("memory://?strategy=fixed-window")
	if err != nil {
		panic(err)
	}
	defer store.Close()
	for range 3 {
		d, err := store.AllowN(context.Background(), "login:203.0.113.7", 1, limit.MustParse("2/minute"))
		fmt.Println(d.Allowed, d.Remaining, err)
	}
	// Output:
	// true 1 <nil>
	// true 0 <nil>
	// false 0 <nil>
}

func ExampleOpen_badURI() {
	for _, uri := range []string{
		"memcached://localhost",
		"memory://?max-keys=100%",
		"redis://localhost?strategy=gcra&strategy=fixed-window",
	} {
		_, err := floodgate.Open(uri)
		fmt.Println(err)
	}
	// Output:
	// floodgate: invalid storage uri: unknown scheme "memcached" (want memory:// or redis://)
	// floodgate: invalid storage uri: query "max-keys=100%": invalid URL escape "%"
	// floodgate: invalid storage uri: parameter "strategy" given 2 times
}

// ExampleNewFallback composes by hand what Open builds for
// "redis://…?failure=memory": a store that answers from memory while its
// primary fails. Here the primary is a Redis store on a port where no
// server listens.
func ExampleNewFallback() {
	primary, err := redisstore.Open("redis://127.0.0.1:1?timeout=50ms")
	if err != nil {
		panic(err)
	}
	store := floodgate.NewFallback(primary, floodgate.FallbackConfig{Policy: floodgate.FailMemory, Backup: floodgate.NewMemory()})
	defer store.Close()
	d, err := store.AllowN(context.Background(), "k", 1, limit.MustParse("1/minute"))
	fmt.Println(d.Allowed, err != nil)
	// Output: true true
}

// A login limited per address and per account: both keys are decided
// together, and a request the account's limit denies counts nothing
// against the address.
func ExampleStore_allowAll() {
	st := floodgate.NewMemory()
	defer st.Close()
	ctx := context.Background()
	perIP := floodgate.Charge{Key: "ip|203.0.113.7", N: 1, Limits: []limit.Limit{limit.PerMinute(20)}}
	perAccount := floodgate.Charge{Key: "account|ada", N: 1, Limits: []limit.Limit{limit.PerMinute(2)}}
	for range 3 {
		d, at, err := st.AllowAll(ctx, perIP, perAccount)
		fmt.Println(d.Allowed, at, d.Limit, d.Remaining, err)
	}
	d, _ := st.Peek(ctx, perIP.Key, perIP.Limits...)
	fmt.Println("address left:", d.Remaining+1)
	// Output:
	// true 1 2/minute 1 <nil>
	// true 1 2/minute 0 <nil>
	// false 1 2/minute 0 <nil>
	// address left: 18
}
