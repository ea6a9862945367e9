package httplimit_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
)

// exampleLimiter is an in-memory Store on a stopped clock, so the
// examples print the same headers every time. Services use
// floodgate.Open("memory://") or floodgate.NewMemory().
func exampleLimiter() floodgate.Store {
	return floodgate.NewMemory(engine.WithClock(clock.NewManual(0)))
}

func post(url string) {
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	line := fmt.Sprintf("%d remaining=%q retry-after=%q", resp.StatusCode,
		resp.Header.Get("X-RateLimit-Remaining"), resp.Header.Get("Retry-After"))
	if b := strings.TrimSpace(string(body)); b != "" {
		line += " " + b
	}
	fmt.Println(line)
}

func ExampleNew() {
	lim := exampleLimiter()
	defer lim.Close()
	_, err := httplimit.New(lim, httplimit.WithRoute("POST /login", "5/fortnight"))
	fmt.Println(errors.Is(err, httplimit.ErrConfig))
	fmt.Println(err)
	// Output:
	// true
	// httplimit: invalid configuration: POST /login: limit: invalid: "5/fortnight": unknown unit "fortnight" (want second, minute, hour, day, month or year)
}

func ExampleMiddleware_Handler() {
	lim := exampleLimiter()
	defer lim.Close()
	m, err := httplimit.New(lim,
		httplimit.WithRoute("POST /api/v1/auth/login", "2/minute"),
		httplimit.WithExempt("GET /health"))
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "welcome")
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"status":"healthy"}`)
	})
	h := m.Handler(mux)
	if err := m.Verify(h); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	for range 3 {
		post(srv.URL + "/api/v1/auth/login")
	}
	// Output:
	// 200 remaining="1" retry-after="" welcome
	// 200 remaining="0" retry-after="" welcome
	// 429 remaining="0" retry-after="90" {"error":"rate limit exceeded: 2 per 1 minute"}
}

// Verify refuses, at start-up, a declared route that the finished handler
// does not limit: here a pattern whose wildcard the ServeMux names
// otherwise, and a route function that runs before the router has
// routed.
func ExampleMiddleware_Verify() {
	lim := exampleLimiter()
	defer lim.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{itemID}", func(http.ResponseWriter, *http.Request) {})

	m, err := httplimit.New(lim, httplimit.WithRoute("GET /items/{id}", "10/minute"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Verify(m.Handler(mux)))

	m, err = httplimit.New(lim, httplimit.WithRoute("GET /items/{itemID}", "10/minute"),
		httplimit.WithRouteFunc(func(r *http.Request) string { return r.Pattern })) // empty outside the mux
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Verify(m.Handler(mux)))
	// Output:
	// httplimit: invalid configuration: route "GET /items/{id}": a GET request to /items/x was placed on the route "GET /items/{itemID}": use exactly the pattern the router serves
	// httplimit: invalid configuration: route "GET /items/{itemID}": a GET request to /items/x reached the Middleware, whose route function found no route there (a function that reads the router's state before the router has routed, or behind a bridge that hides it)
}

func ExampleMiddleware_Limit() {
	lim := exampleLimiter()
	defer lim.Close()
	m, err := httplimit.New(lim)
	if err != nil {
		fmt.Println(err)
		return
	}
	register := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	// The counterpart of @limiter.limit("1/minute"); the same shape fits
	// chi: r.With(m.Limit("1/minute")).Post("/register", register).
	srv := httptest.NewServer(m.Limit("1/minute")(register))
	defer srv.Close()

	post(srv.URL)
	post(srv.URL)
	// Output:
	// 201 remaining="0" retry-after=""
	// 429 remaining="0" retry-after="120" {"error":"rate limit exceeded: 1 per 1 minute"}
}

func ExampleMiddleware_ClientIP() {
	lim := exampleLimiter()
	defer lim.Close()
	m, err := httplimit.New(lim, httplimit.WithTrustedProxies("X-Forwarded-For", 0, "10.0.0.0/8"))
	if err != nil {
		fmt.Println(err)
		return
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:41000" // our load balancer
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.9")
	fmt.Println(m.ClientIP(r))

	r.RemoteAddr = "198.51.100.1:41000" // not a trusted proxy: header ignored
	fmt.Println(m.ClientIP(r))
	// Output:
	// 203.0.113.7
	// 198.51.100.1
}

func ExampleMiddleware_SetEnabled() {
	lim := exampleLimiter()
	defer lim.Close()
	m, err := httplimit.New(lim)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(m.Limit("1/minute")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()

	m.SetEnabled(false) // in a test that is not about limits
	post(srv.URL)
	post(srv.URL)
	// Output:
	// 200 remaining="" retry-after=""
	// 200 remaining="" retry-after=""
}

func ExampleMiddleware_Reload() {
	lim := exampleLimiter()
	defer lim.Close()
	limits := func(login string) []httplimit.Option {
		return []httplimit.Option{httplimit.WithRoute("POST /login", login)}
	}
	m, err := httplimit.New(lim, limits("1/minute")...)
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("POST /login", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv := httptest.NewServer(m.Handler(mux))
	defer srv.Close()

	post(srv.URL + "/login")
	post(srv.URL + "/login")
	// An operator raises the limit: a bad set is refused, the old stays.
	fmt.Println(m.Reload(limits("3/fortnight")...))
	if err := m.Reload(limits("3/minute")...); err != nil {
		fmt.Println(err)
		return
	}
	post(srv.URL + "/login") // a fresh count under the new limit
	// Output:
	// 200 remaining="0" retry-after=""
	// 429 remaining="0" retry-after="120" {"error":"rate limit exceeded: 1 per 1 minute"}
	// httplimit: invalid configuration: POST /login: limit: invalid: "3/fortnight": unknown unit "fortnight" (want second, minute, hour, day, month or year)
	// 200 remaining="2" retry-after=""
}

func ExampleKey() {
	lim := exampleLimiter()
	defer lim.Close()
	// One budget per API key; a request without the header is keyed by
	// its address.
	apiKey := func(r *http.Request) (string, bool) {
		k := r.Header.Get("X-API-Key")
		return k, k != ""
	}
	m, err := httplimit.New(lim, httplimit.Key(apiKey))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(m.Limit("1/minute")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()

	for _, key := range []string{"alice", "bob", "alice"} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(key, resp.StatusCode)
	}
	// Output:
	// alice 200
	// bob 200
	// alice 429
}

func ExampleWithDefaultLimits() {
	lim := exampleLimiter()
	defer lim.Close()
	// Reads 200/minute, writes 50/minute, per route and client.
	writes := []limit.Limit{limit.PerMinute(50)}
	m, err := httplimit.New(lim, httplimit.WithDefaultLimits("200/minute",
		httplimit.Dynamic(func(r *http.Request) []limit.Limit {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return nil // the static 200/minute
			}
			return writes
		})))
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/groups", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(m.Handler(mux))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/v1/groups")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("GET", resp.Header.Get("X-RateLimit-Limit"), resp.Header.Get("X-RateLimit-Remaining"))
	resp, err = http.Post(srv.URL+"/api/v1/groups", "application/json", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("POST", resp.Header.Get("X-RateLimit-Limit"), resp.Header.Get("X-RateLimit-Remaining"))
	// Output:
	// GET 200 199
	// POST 50 49
}

func ExampleShared() {
	lim := exampleLimiter()
	defer lim.Close()
	// Register and login each allow 5/minute, and 6/minute together.
	m, err := httplimit.New(lim,
		httplimit.WithRoute("POST /register", "5/minute", httplimit.Shared("auth", "6/minute")),
		httplimit.WithRoute("POST /login", "5/minute", httplimit.Shared("auth", "6/minute")))
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /register", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /login", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(m.Handler(mux))
	defer srv.Close()

	for _, path := range []string{"/register", "/register", "/register", "/login", "/login", "/login", "/login"} {
		resp, err := http.Post(srv.URL+path, "text/plain", nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ")
	}
	fmt.Println()
	// Output:
	// 200 200 200 200 200 200 429
}
