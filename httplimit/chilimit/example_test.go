package chilimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/chilimit"
	"github.com/floodgate-go/floodgate/internal/login"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

// The login service: POST /login, 5/minute per client address.
func Example() {
	// A stopped clock keeps the printed headers the same on every run; a
	// service uses floodgate.NewMemory() or floodgate.Open(uri).
	store := floodgate.NewMemory(engine.WithClock(clock.NewManual(0)))
	defer store.Close()

	r := chi.NewRouter()
	m, err := chilimit.New(store, r, httplimit.WithRoute("POST /login", "5/minute"))
	if err != nil {
		fmt.Println(err)
		return
	}
	r.Use(m.Handler)
	r.Post("/login", login.Handler)
	if err := chilimit.Check(r, m); err != nil {
		fmt.Println(err) // a declared route that r does not limit
		return
	}

	srv := httptest.NewServer(r)
	defer srv.Close()
	rs, err := routertest.Attempts(srv.URL)
	if err != nil {
		fmt.Println(err)
	}
	for _, r := range rs {
		fmt.Println(r)
	}
	// Output:
	// 401 remaining="4" wrong password
	// 401 remaining="3" wrong password
	// 401 remaining="2" wrong password
	// 401 remaining="1" wrong password
	// 401 remaining="0" wrong password
	// 429 remaining="0" retry-after="72" {"error":"rate limit exceeded: 5 per 1 minute"}
}

// A naive route function, chi's RoutePattern read in r.Use before chi
// has routed, limits nothing; Check refuses it at start-up.
func ExampleCheck() {
	store := floodgate.NewMemory()
	defer store.Close()

	r := chi.NewRouter()
	m, _ := httplimit.New(store,
		httplimit.WithRoute("POST /login", "5/minute"),
		httplimit.WithRouteFunc(func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }))
	r.Use(m.Handler)
	r.Post("/login", login.Handler)
	fmt.Println(chilimit.Check(r, m) != nil)
	// Output: true
}

// The Middleware may also wrap the whole chi router, outside it.
func ExampleRouteFunc() {
	store := floodgate.NewMemory(engine.WithClock(clock.NewManual(0)))
	defer store.Close()
	r := chi.NewRouter()
	m, err := httplimit.New(store,
		httplimit.WithRoute("GET /items/{id}", "2/minute"),
		httplimit.WithRouteFunc(chilimit.RouteFunc(r)))
	if err != nil {
		fmt.Println(err)
		return
	}
	r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "item", chi.URLParam(r, "id"))
	})
	h := m.Handler(r)
	if err := chilimit.Check(h, m); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, id := range []string{"1", "2", "3"} {
		resp, err := http.Get(srv.URL + "/items/" + id)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println("GET /items/"+id, resp.StatusCode)
	}
	// Output:
	// GET /items/1 200
	// GET /items/2 200
	// GET /items/3 429
}
