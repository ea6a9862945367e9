package chiexample_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	chiexample "github.com/floodgate-go/floodgate/examples/chi"
	"github.com/floodgate-go/floodgate/internal/routertest"
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
