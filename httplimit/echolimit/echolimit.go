package echolimit

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/internal/unwrap"
)

// call carries one request's echo.Context and the rest of its chain
// through net/http middleware as the http.ResponseWriter the middleware
// is given, which writes to Echo's (c.Response()). Calls are pooled:
// Adapt allocates nothing per request.
type call struct {
	http.ResponseWriter
	c    echo.Context
	next echo.HandlerFunc
	err  error
}

// Unwrap returns Echo's writer, for http.ResponseController.
func (cl *call) Unwrap() http.ResponseWriter { return cl.ResponseWriter }

var calls = sync.Pool{New: func() any { return new(call) }}

// Adapt turns net/http middleware, such as m.Handler or m.Limit("5/minute"),
// into Echo middleware: the request goes through mw, and when mw calls
// its next handler the rest of Echo's chain runs; when it does not, as on
// a 429, mw's response stands. mw is called once, now, so m.Handler's
// start-up panic happens here. While mw runs, r.Pattern is the Echo
// route's pattern (c.Path()), which [RouteFunc] reports, and the rest of
// the chain sees it too; it is restored after. mw must pass its next
// handler the http.ResponseWriter it is given, or one that unwraps to it
// (an Unwrap method, as httplimit's do).
func Adapt(mw func(http.Handler) http.Handler) echo.MiddlewareFunc {
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cl := unwrap.Must[*call](w, "echolimit")
		cl.c.SetRequest(r)
		if w != http.ResponseWriter(cl) {
			// mw wrapped the writer (httplimit's CountWhen does, to
			// see the status): the rest of the chain writes through it.
			cl.c.SetResponse(echo.NewResponse(w, cl.c.Echo()))
		}
		cl.err = cl.next(cl.c)
	}))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cl := calls.Get().(*call)
			*cl = call{ResponseWriter: c.Response(), c: c, next: next}
			r := c.Request()
			pattern := r.Pattern
			r.Pattern = c.Path()
			h.ServeHTTP(cl, r)
			r.Pattern = pattern
			err := cl.err
			*cl = call{}
			calls.Put(cl)
			return err
		}
	}
}

// RouteFunc is the route function for [httplimit.WithRouteFunc] with
// Echo: it reports the pattern of the Echo route serving a request that
// passes through [Adapt], such as "/login" or "/items/:id" (c.Path(),
// which Adapt puts in r.Pattern). A pattern without a method names the
// route declared with one: WithRoute("POST /login", …) limits
// e.POST("/login", …). Declare routes with Echo's syntax:
// "GET /items/:id".
func RouteFunc(r *http.Request) string { return r.Pattern }

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
