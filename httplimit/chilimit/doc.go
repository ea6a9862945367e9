// Package chilimit mounts httplimit on a chi router
// (github.com/go-chi/chi/v5), with the route patterns chi serves:
//
//	r := chi.NewRouter()
//	m, err := chilimit.New(store, r, httplimit.WithRoute("POST /login", "5/minute"))
//	…
//	r.Use(m.Handler) // before the routes, as chi requires
//	r.Post("/login", login)
//	if err := chilimit.Check(r, m); err != nil { … } // once every route is registered
//
// chi's top-level Use middleware runs before chi has routed the request,
// so chi.RouteContext(r.Context()).RoutePattern() is still empty there
// (and only partial in a mounted sub-router), and around the router
// there is no route context at all. [RouteFunc], which [New] installs,
// therefore asks the router itself which pattern will serve the request,
// with chi's Routes.Find. It gives the same answer wherever the
// Middleware sits: in r.Use, around the router (m.Handler(r)), in a
// sub-router's Use, or on one route with r.With(m.Limit("5/minute")).
//
// [Check] is the start-up self-test: it runs
// [httplimit.Middleware.Verify] on the router, which sends one synthetic
// request per declared route through it and fails, naming the route,
// when the Middleware did not see it on its pattern: a typo such as
// "POST /logn", a Middleware mounted on a sub-router that does not serve
// the route, or a Middleware built with the naive route function above.
//
// Declare routes in chi's syntax with a method: "GET /items/{id}",
// "POST /api/login" for r.Route("/api", …) with r.Post("/login", …).
// The functions are safe for concurrent use.
package chilimit
