// Package echolimit mounts httplimit on Echo (github.com/labstack/echo/v4).
//
// Echo knows a request's route (c.Path()) after routing, which is before
// the middleware of e.Use runs, but only on its own echo.Context, which
// net/http middleware never sees. So the Middleware runs inside Echo
// through [Adapt], which carries the echo.Context along, and [RouteFunc]
// reads the route from it:
//
//	m, err := echolimit.New(store, httplimit.WithRoute("POST /login", "5/minute"))
//	…
//	e.Use(echolimit.Adapt(m.Handler))
//	e.POST("/login", login)
//	if err := echolimit.Check(e, m); err != nil { … } // once every route is registered
//
// Use Adapt, not echo.WrapMiddleware(m.Handler): WrapMiddleware hides the
// echo.Context, so RouteFunc finds no route there and every route goes
// unlimited ([Check] refuses it, naming the routes), and it calls
// m.Handler again on every request. Wrapping the Echo from outside
// (m.Handler(e)) would need the route before Echo has looked it up;
// Handler refuses it at start-up without a route function.
//
// [Check] is the start-up self-test: it runs
// [httplimit.Middleware.Verify], which sends one synthetic request per
// declared route through the Echo and fails, naming the route, when the
// Middleware did not see it on its pattern.
//
// Declare routes in Echo's syntax with a method: "GET /items/:id". The
// functions are safe for concurrent use.
package echolimit
