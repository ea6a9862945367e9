package ginlimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/floodgate-go/floodgate"
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
		return fmt.Errorf("ginlimit: the Middleware must be added before any route: gin would not run it for %s", strings.Join(names, ", "))
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

// New returns httplimit.New(store, opts...) with the route function
// [RouteFunc] appended: the Middleware knows each request's gin route.
// Add it to the engine with [Use] before the routes, then call [Check]
// once every route is registered.
func New(store floodgate.Store, opts ...httplimit.Option) (*httplimit.Middleware, error) {
	opts = append(opts[:len(opts):len(opts)], httplimit.WithRouteFunc(RouteFunc))
	return httplimit.New(store, opts...)
}

// Check is the start-up self-test: it returns m.Verify(engine), an error
// naming each route declared to m that engine does not limit (such as a
// route registered before a group's Use), wrapped with this package's
// name. Call it once every route is registered and refuse to start on an
// error.
func Check(engine http.Handler, m *httplimit.Middleware) error {
	if err := m.Verify(engine); err != nil {
		return fmt.Errorf("ginlimit: %w", err)
	}
	return nil
}
