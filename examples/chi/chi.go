// Package chiexample serves the login service on a chi router
// (github.com/go-chi/chi/v5) with package chilimit: the Middleware in
// r.Use, its routes named by chi's patterns, and the start-up self-test
// once every route is registered.
package chiexample

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/chilimit"
	"github.com/floodgate-go/floodgate/internal/login"
)

// App returns the login service on a chi router: POST /login, limited to
// 5/minute per client address by the Middleware in r.Use. It returns
// chilimit.Check's error, which names the route, when a declared route is
// not limited.
func App(store floodgate.Store) (http.Handler, error) {
	r := chi.NewRouter()
	m, err := chilimit.New(store, r, httplimit.WithRoute(login.Pattern, login.Limit))
	if err != nil {
		return nil, err
	}
	r.Use(m.Handler)
	r.Post(login.Path, login.Handler)
	if err := chilimit.Check(r, m); err != nil {
		return nil, err
	}
	return r, nil
}
