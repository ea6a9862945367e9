package echolimit

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/floodgate-go/floodgate"
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

// New returns httplimit.New(store, opts...) with the route function
// [RouteFunc] appended: the Middleware knows each request's Echo route.
// Mount it with e.Use(Adapt(m.Handler)), then call [Check] once every
// route is registered.
func New(store floodgate.Store, opts ...httplimit.Option) (*httplimit.Middleware, error) {
	opts = append(opts[:len(opts):len(opts)], httplimit.WithRouteFunc(RouteFunc))
	return httplimit.New(store, opts...)
}

// Check is the start-up self-test: it returns m.Verify(e), an error
// naming each route declared to m that e does not limit (such as one
// behind echo.WrapMiddleware(m.Handler)), wrapped with this package's
// name. Call it once every route is registered and refuse to start on an
// error.
func Check(e http.Handler, m *httplimit.Middleware) error {
	if err := m.Verify(e); err != nil {
		return fmt.Errorf("echolimit: %w", err)
	}
	return nil
}
