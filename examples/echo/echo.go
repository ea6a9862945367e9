// Package echoexample mounts httplimit on Echo (github.com/labstack/echo/v4).
//
// Echo knows a request's route (c.Path()) after routing, which is before
// the middleware of e.Use runs, but only on its own echo.Context, which
// net/http middleware never sees. So the Middleware runs inside Echo
// through [Adapt], which carries the echo.Context along, and [RouteFunc]
// reads the route from it:
//
//	m, err := httplimit.New(store,
//		httplimit.WithRoute("POST /login", "5/minute"),
//		httplimit.WithRouteFunc(echoexample.RouteFunc))
//	…
//	e.Use(echoexample.Adapt(m.Handler))
//	e.POST("/login", login)
//	if err := m.Verify(e); err != nil { … } // names each route e does not limit
//
// Use Adapt, not echo.WrapMiddleware(m.Handler): WrapMiddleware hides the
// echo.Context, so RouteFunc finds no route there and every route goes
// unlimited (Verify refuses it, naming the routes), and it calls
// m.Handler again on every request. Wrapping the Echo from outside
// (m.Handler(e)) would need the route before Echo has looked it up;
// Handler refuses it at start-up without a route function.
package echoexample

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/examples/internal/login"
	"github.com/floodgate-go/floodgate/httplimit"
)

type callKey struct{}

// call carries one request's echo.Context and the rest of its chain
// through net/http middleware.
type call struct {
	c    echo.Context
	next echo.HandlerFunc
	err  error
}

// Adapt turns net/http middleware, such as m.Handler or m.Limit("5/minute"),
// into Echo middleware: the request goes through mw, and when mw calls
// its next handler the rest of Echo's chain runs; when it does not, as on
// a 429, mw's response stands. mw is called once, now, so m.Handler's
// start-up panic happens here.
func Adapt(mw func(http.Handler) http.Handler) echo.MiddlewareFunc {
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cl := r.Context().Value(callKey{}).(*call)
		cl.c.SetRequest(r)
		if w != http.ResponseWriter(cl.c.Response()) {
			cl.c.SetResponse(echo.NewResponse(w, cl.c.Echo()))
		}
		cl.err = cl.next(cl.c)
	}))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cl := &call{c: c, next: next}
			r := c.Request()
			h.ServeHTTP(c.Response(), r.WithContext(context.WithValue(r.Context(), callKey{}, cl)))
			return cl.err
		}
	}
}

// RouteFunc is the route function for [httplimit.WithRouteFunc] with
// Echo: it reports c.Path(), the pattern of the Echo route serving a
// request that passes through [Adapt], such as "/login" or "/items/:id";
// "" for a request that did not come through Adapt. A pattern without a
// method names the route declared with one: WithRoute("POST /login", …)
// limits e.POST("/login", …). Declare routes with Echo's syntax:
// "GET /items/:id".
func RouteFunc(r *http.Request) string {
	if cl, ok := r.Context().Value(callKey{}).(*call); ok {
		return cl.c.Path()
	}
	return ""
}

// App returns the login service on Echo: POST /login, limited to 5/minute
// per client address. It returns Verify's error, which names the route,
// when a declared route is not limited.
func App(store floodgate.Store) (http.Handler, error) {
	m, err := httplimit.New(store,
		httplimit.WithRoute(login.Pattern, login.Limit),
		httplimit.WithRouteFunc(RouteFunc))
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.Use(Adapt(m.Handler))
	e.POST(login.Path, Login)
	if err := m.Verify(e); err != nil {
		return nil, err
	}
	return e, nil
}

// Login is the login handler of package login, written for Echo.
func Login(c echo.Context) error {
	if !login.Valid(c.FormValue("password")) {
		return c.String(http.StatusUnauthorized, "wrong password\n")
	}
	return c.String(http.StatusOK, "welcome\n")
}
