// Package chiexample mounts httplimit on a chi router
// (github.com/go-chi/chi/v5), either inside it with r.Use(m.Handler) or
// around it with m.Handler(r).
//
// Both positions run before chi has routed the request: chi's top-level
// Use middleware runs ahead of routing, so
// chi.RouteContext(r.Context()).RoutePattern() is still empty there (and
// only partial in a mounted sub-router), and around the router there is
// no route context at all. [RouteFunc] therefore asks the router itself
// which pattern will serve the request, the lookup chi's own Match and
// Find offer. Without a route function, Handler refuses a chi router at
// start-up: m.Handler(r) panics naming the pattern, and r.Use(m.Handler)
// panics when the first route is registered.
//
// Once every route is registered, [httplimit.Middleware.Verify] sends
// one request per declared route through the router and fails, naming
// the route, when the Middleware did not see it on its pattern: a typo
// such as "POST /logn", or the route function
// chi.RouteContext(r.Context()).RoutePattern(), which is still empty in
// r.Use. [App] shows the order.
package chiexample

import (
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/examples/internal/login"
	"github.com/floodgate-go/floodgate/httplimit"
)

// RouteFunc returns a route function for [httplimit.WithRouteFunc] that
// reports the chi pattern that serves a request on router, such as
// "/items/{id}" or, through a mounted sub-router, "/api/items/{id}"; ""
// when no route matches (a 404 or a 405). A pattern without a method
// names the route declared with one: WithRoute("POST /login", …) limits
// r.Post("/login", …).
//
// router must be the top-level router, the one the server serves: the
// function routes the full request path on it, so it gives the same
// answer wherever the Middleware sits, around router, in router.Use or
// in a sub-router's Use. It costs one more route lookup per request, on
// a pooled chi.Context: no allocation for a route of router itself, and
// the two of chi's Find for one in a mounted sub-router. It needs a chi
// with Routes.Find (v5.5.0, which this module requires, has it), whose
// patterns are those chi.Walk lists: "/api/" stays "/api/", where
// chi.Context.RoutePattern would trim it to "/api".
//
// The function is safe for concurrent use. Copy it into your service:
// it uses only chi's public API.
func RouteFunc(router chi.Routes) func(*http.Request) string {
	pool := sync.Pool{New: func() any { return chi.NewRouteContext() }}
	return func(r *http.Request) string {
		// The path chi routes on, as chi's Mux.routeHTTP takes it.
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		if path == "" {
			path = "/"
		}
		rctx := pool.Get().(*chi.Context)
		rctx.Reset()
		pattern := router.Find(rctx, r.Method, path)
		pool.Put(rctx)
		return pattern
	}
}

// App returns the login service on a chi router: POST /login, limited to
// 5/minute per client address by the Middleware in r.Use. It returns
// Verify's error, which names the route, when a declared route is not
// limited.
func App(store floodgate.Store) (http.Handler, error) {
	r := chi.NewRouter()
	m, err := httplimit.New(store,
		httplimit.WithRoute(login.Pattern, login.Limit),
		httplimit.WithRouteFunc(RouteFunc(r)))
	if err != nil {
		return nil, err
	}
	r.Use(m.Handler)
	r.Post(login.Path, login.Handler)
	if err := m.Verify(r); err != nil {
		return nil, err
	}
	return r, nil
}
