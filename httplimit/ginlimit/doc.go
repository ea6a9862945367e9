// Package ginlimit mounts httplimit on gin (github.com/gin-gonic/gin).
//
// gin middleware is a gin.HandlerFunc, not func(http.Handler)
// http.Handler, and gin knows a request's route (c.FullPath()) only
// inside its own handler chain. So the Middleware runs inside gin,
// through [Adapt], and [RouteFunc] reads the route gin found:
//
//	m, err := ginlimit.New(store, httplimit.WithRoute("POST /login", "5/minute"))
//	…
//	if err := ginlimit.Use(engine, m); err != nil { … } // before any route
//	engine.POST("/login", login)
//	if err := ginlimit.Check(engine, m); err != nil { … } // once every route is registered
//
// Wrapping the gin.Engine from outside (m.Handler(engine)) would need the
// route before gin has looked it up, and gin has no public lookup; Handler
// refuses it at start-up without a route function.
//
// gin copies global middleware into each route when the route is
// registered, so middleware added by engine.Use after a route never runs
// for that route, silently. [Use] refuses to add the Middleware to an
// engine that already has routes; a RouterGroup's Use has the same trap,
// which [Check], the start-up self-test, catches, naming the route, once
// every route is registered: it runs [httplimit.Middleware.Verify].
//
// Declare routes in gin's syntax with a method: "GET /items/:id". The
// functions are safe for concurrent use.
package ginlimit
