package chiexample_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	chiexample "github.com/floodgate-go/floodgate/examples/chi"
	"github.com/floodgate-go/floodgate/examples/internal/logintest"
	"github.com/floodgate-go/floodgate/httplimit"
)

// stoppedStore keeps the printed headers the same on every run; a service
// uses floodgate.NewMemory() or floodgate.Open(uri).
func stoppedStore() floodgate.Store {
	return floodgate.NewMemory(engine.WithClock(clock.NewManual(0)))
}

func ExampleApp() {
	store := stoppedStore()
	defer store.Close()
	app, err := chiexample.App(store)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(app)
	defer srv.Close()

	rs, err := logintest.Attempts(srv.URL)
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

// The Middleware may also wrap the whole chi router, outside it.
func ExampleRouteFunc() {
	store := stoppedStore()
	defer store.Close()
	r := chi.NewRouter()
	m, err := httplimit.New(store,
		httplimit.WithRoute("GET /items/{id}", "2/minute"),
		httplimit.WithRouteFunc(chiexample.RouteFunc(r)))
	if err != nil {
		fmt.Println(err)
		return
	}
	r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "item", chi.URLParam(r, "id"))
	})
	h := m.Handler(r)
	if err := m.Verify(h); err != nil {
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
