package ginlimit

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/internal/unwrap"
)

// call carries one request's gin.Context through net/http middleware as
// the http.ResponseWriter the middleware is given, which writes to gin's
// (c.Writer). Calls are pooled: Adapt allocates nothing per request.
type call struct {
	gin.ResponseWriter
	c    *gin.Context
	next bool // the middleware called the rest of the chain
}

// Unwrap returns gin's writer, for http.ResponseController.
func (cl *call) Unwrap() http.ResponseWriter { return cl.ResponseWriter }

var calls = sync.Pool{New: func() any { return new(call) }}

// through is gin's writer with the status and the body going through the
// writer the middleware passed on, which ends in gin's.
type through struct {
	gin.ResponseWriter
	w http.ResponseWriter
}

func (t *through) WriteHeader(code int)              { t.w.WriteHeader(code) }
func (t *through) Write(b []byte) (int, error)       { return t.w.Write(b) }
func (t *through) WriteString(s string) (int, error) { return t.w.Write([]byte(s)) }

// Adapt turns net/http middleware, such as m.Handler or m.Limit("5/minute"),
// into a gin handler: the request goes through mw, and when mw calls its
// next handler the rest of gin's chain runs (c.Next); when it does not,
// as on a 429, the chain is aborted. mw is called once, now, so
// m.Handler's start-up panic happens here. While mw runs, r.Pattern is
// the gin route's pattern (c.FullPath()), which [RouteFunc] reports, and
// the rest of the chain sees it too; it is restored after. mw must pass
// its next handler the http.ResponseWriter it is given, or one that
// unwraps to it (an Unwrap method, as httplimit's do).
func Adapt(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cl := unwrap.Must[*call](w, "ginlimit")
		cl.next = true
		cl.c.Request = r
		if w != http.ResponseWriter(cl) {
			// mw wrapped the writer (httplimit's CountWhen does, to see
			// the status): the rest of the chain writes through it.
			gw := cl.c.Writer
			cl.c.Writer = &through{ResponseWriter: gw, w: w}
			defer func() { cl.c.Writer = gw }()
		}
		cl.c.Next()
	}))
	return func(c *gin.Context) {
		cl := calls.Get().(*call)
		*cl = call{ResponseWriter: c.Writer, c: c}
		r := c.Request
		pattern := r.Pattern
		r.Pattern = c.FullPath()
		h.ServeHTTP(cl, r)
		r.Pattern = pattern
		next := cl.next
		*cl = call{}
		calls.Put(cl)
		if !next {
			c.Abort()
		}
	}
}

// RouteFunc is the route function for [httplimit.WithRouteFunc] with gin:
// it reports the pattern of the gin route serving a request that passes
// through [Adapt], such as "/login" or "/items/:id" (c.FullPath(), which
// Adapt puts in r.Pattern); "" for a request gin found no route for. A
// pattern without a method names the route declared with one:
// WithRoute("POST /login", …) limits engine.POST("/login", …). Declare
// routes with gin's syntax: "GET /items/:id".
func RouteFunc(r *http.Request) string { return r.Pattern }

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
