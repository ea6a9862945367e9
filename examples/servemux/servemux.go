// Package servemuxexample mounts httplimit on net/http's ServeMux: the
// Middleware wraps the mux itself, so it asks the mux which pattern
// serves each request, and [httplimit.Middleware.Verify] proves at
// start-up that the mux serves every declared pattern as declared.
//
// Wrap the *http.ServeMux directly. Other middleware goes outside:
// logging(m.Handler(mux)), never m.Handler(logging(mux)), which Handler
// refuses because a logging handler cannot tell a request's route.
package servemuxexample

import (
	"net/http"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/internal/login"
)

// App returns the login service on a ServeMux: POST /login, limited to
// 5/minute per client address. It returns Verify's error, which names
// the pattern, when a declared route is not served exactly as declared.
func App(store floodgate.Store) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc(login.Pattern, login.Handler)

	m, err := httplimit.New(store, httplimit.WithRoute(login.Pattern, login.Limit))
	if err != nil {
		return nil, err
	}
	h := m.Handler(mux)
	if err := m.Verify(h); err != nil {
		return nil, err
	}
	return h, nil
}
