// Package ginexample mounts httplimit on gin (github.com/gin-gonic/gin).
//
// gin middleware is a gin.HandlerFunc, not func(http.Handler)
// http.Handler, and gin knows a request's route (c.FullPath()) only
// inside its own handler chain. So the Middleware runs inside gin,
// through [Adapt], and [RouteFunc] reads the route gin found:
//
//	m, err := httplimit.New(store,
//		httplimit.WithRoute("POST /login", "5/minute"),
//		httplimit.WithRouteFunc(ginexample.RouteFunc))
//	…
//	if err := ginexample.Use(engine, m); err != nil { … } // before any route
//	engine.POST("/login", login)
//	if err := m.Verify(engine); err != nil { … } // names each route engine does not limit
//
// Wrapping the gin.Engine from outside (m.Handler(engine)) would need the
// route before gin has looked it up, and gin has no public lookup; Handler
// refuses it at start-up without a route function.
//
// gin copies global middleware into each route when the route is
// registered, so middleware added by engine.Use after a route never runs
// for that route, silently. [Use] refuses to add the Middleware to an
// engine that already has routes; a RouterGroup's Use has the same trap,
// which [httplimit.Middleware.Verify] catches, naming the route, once
// every route is registered.
package ginexample

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/examples/internal/login"
	"github.com/floodgate-go/floodgate/httplimit"
)

type callKey struct{}

// call carries one request's gin.Context through net/http middleware.
type call struct {
	c    *gin.Context
	next bool // the middleware called the rest of the chain
}

// Adapt turns net/http middleware, such as m.Handler or m.Limit("5/minute"),
// into a gin handler: the request goes through mw, and when mw calls its
// next handler the rest of gin's chain runs (c.Next); when it does not,
// as on a 429, the chain is aborted. mw is called once, now, so
// m.Handler's start-up panic happens here. mw must pass the
// http.ResponseWriter it is given on to next, as httplimit does.
func Adapt(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cl := r.Context().Value(callKey{}).(*call)
		cl.next = true
		cl.c.Request = r
		cl.c.Next()
	}))
	return func(c *gin.Context) {
		cl := &call{c: c}
		r := c.Request
		h.ServeHTTP(c.Writer, r.WithContext(context.WithValue(r.Context(), callKey{}, cl)))
		if !cl.next {
			c.Abort()
		}
	}
}

// RouteFunc is the route function for [httplimit.WithRouteFunc] with gin:
// it reports c.FullPath(), the pattern of the gin route serving a request
// that passes through [Adapt], such as "/login" or "/items/:id"; "" for a
// request gin found no route for, or one that did not come through Adapt.
// A pattern without a method names the route declared with one:
// WithRoute("POST /login", …) limits engine.POST("/login", …). Declare
// routes with gin's syntax: "GET /items/:id".
func RouteFunc(r *http.Request) string {
	if cl, ok := r.Context().Value(callKey{}).(*call); ok {
		return cl.c.FullPath()
	}
	return ""
}

// Use adds m to engine as global middleware, through [Adapt]. It returns
// an error when engine already has routes, which gin would leave
// unlimited, or when m cannot tell routes (no [RouteFunc]), naming the
// patterns.
func Use(engine *gin.Engine, m *httplimit.Middleware) (err error) {
	if routes := engine.Routes(); len(routes) > 0 {
		names := make([]string, len(routes))
		for i, rt := range routes {
			names[i] = rt.Method + " " + rt.Path
		}
		return fmt.Errorf("ginexample: the Middleware must be added before any route: gin would not run it for %s", strings.Join(names, ", "))
	}
	defer func() {
		if v := recover(); v != nil {
			e, ok := v.(error)
			if !ok || !errors.Is(e, httplimit.ErrConfig) {
				panic(v)
			}
			err = e
		}
	}()
	engine.Use(Adapt(m.Handler)) // Handler panics when m cannot tell routes
	return nil
}

// App returns the login service on gin: POST /login, limited to 5/minute
// per client address. It returns Verify's error, which names the route,
// when a declared route is not limited.
func App(store floodgate.Store) (http.Handler, error) {
	m, err := httplimit.New(store,
		httplimit.WithRoute(login.Pattern, login.Limit),
		httplimit.WithRouteFunc(RouteFunc))
	if err != nil {
		return nil, err
	}
	engine := gin.New()
	if err := Use(engine, m); err != nil {
		return nil, err
	}
	engine.POST(login.Path, Login)
	if err := m.Verify(engine); err != nil {
		return nil, err
	}
	return engine, nil
}

// Login is the login handler of package login, written for gin.
func Login(c *gin.Context) {
	if !login.Valid(c.PostForm("password")) {
		c.String(http.StatusUnauthorized, "wrong password\n")
		return
	}
	c.String(http.StatusOK, "welcome\n")
}
