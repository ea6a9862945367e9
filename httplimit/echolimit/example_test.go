package echolimit_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/labstack/echo/v4"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/echolimit"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

// The login service: POST /login, 5/minute per client address.
func Example() {
	// A stopped clock keeps the printed headers the same on every run; a
	// service uses floodgate.NewMemory() or floodgate.Open(uri).
	store := floodgate.NewMemory(engine.WithClock(clock.NewManual(0)))
	defer store.Close()

	m, err := echolimit.New(store, httplimit.WithRoute("POST /login", "5/minute"))
	if err != nil {
		fmt.Println(err)
		return
	}
	e := echo.New()
	e.Use(echolimit.Adapt(m.Handler))
	e.POST("/login", loginHandler)
	if err := echolimit.Check(e, m); err != nil {
		fmt.Println(err) // a declared route that e does not limit
		return
	}

	srv := httptest.NewServer(e)
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
