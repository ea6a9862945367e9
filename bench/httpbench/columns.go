package httpbench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"
	sethhttp "github.com/sethvargo/go-limiter/httplimit"
	"github.com/sethvargo/go-limiter/memorystore"
	ulule "github.com/ulule/limiter/v3"
	ulestdlib "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/chilimit"
	"github.com/floodgate-go/floodgate/httplimit/echolimit"
	"github.com/floodgate-go/floodgate/httplimit/ginlimit"
	"github.com/floodgate-go/floodgate/limit"
)

// Clients is how many client addresses the requests rotate through, so
// that no limit below is reached however long a benchmark runs.
const Clients = 64

// perHour is a limit every column can express and no benchmark reaches:
// limit.MaxCount per client per hour.
const perHour = limit.MaxCount

// route is the one route of every column: a static path.
const route = "/api/v1/groups"

// A Column is one middleware, or one router with a middleware, serving
// route with a handler that does nothing.
type Column struct {
	// Name is the benchmark's lib= name: "floodgate" (Limit),
	// "floodgate-mux" (Handler over a ServeMux), "floodgate-chi",
	// "floodgate-gin", "floodgate-echo" (the router packages),
	// "sethvargo" and "ulule", and "sethvargo-mux", "sethvargo-chi",
	// "sethvargo-gin", "sethvargo-echo" (sethvargo's middleware on the
	// same router: the peer of each router column), and "mux", "chi",
	// "gin", "echo": the router alone, no middleware, the floor.
	Name string
	// New builds the handler; close releases its store.
	New func() (h http.Handler, close func(), err error)
}

var nop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// Columns returns every column.
func Columns() []Column {
	return []Column{
		{"floodgate", func() (http.Handler, func(), error) {
			lim := floodgate.NewMemory()
			// A bare handler has no route to tell: the middleware says
			// so once per Middleware, which would land in the
			// benchmark's output, so its log goes nowhere.
			m, err := httplimit.New(lim, httplimit.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				return nil, nil, err
			}
			return m.Limit(strconv.Itoa(perHour) + "/hour")(nop), closer(lim), nil
		}},
		{"floodgate-mux", func() (http.Handler, func(), error) {
			// The whole-router form: a ServeMux route looked up by pattern.
			lim := floodgate.NewMemory()
			m, err := httplimit.New(lim, declared())
			if err != nil {
				return nil, nil, err
			}
			h := m.Handler(serveMux())
			return h, closer(lim), m.Verify(h)
		}},
		{"mux", func() (http.Handler, func(), error) { return serveMux(), func() {}, nil }},
		{"sethvargo-mux", func() (http.Handler, func(), error) {
			mw, close, err := sethvargo()
			if err != nil {
				return nil, nil, err
			}
			return mw(serveMux()), close, nil
		}},
		{"sethvargo", func() (http.Handler, func(), error) {
			mw, close, err := sethvargo()
			if err != nil {
				return nil, nil, err
			}
			return mw(nop), close, nil
		}},
		{"ulule", func() (http.Handler, func(), error) {
			l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: time.Hour, Limit: perHour})
			return ulestdlib.NewMiddleware(l).Handler(nop), func() {}, nil
		}},

		{"chi", func() (http.Handler, func(), error) { return chiRouter(chi.NewRouter(), nil), func() {}, nil }},
		{"floodgate-chi", func() (http.Handler, func(), error) {
			lim := floodgate.NewMemory()
			r := chi.NewRouter()
			m, err := chilimit.New(lim, r, declared())
			if err != nil {
				return nil, nil, err
			}
			chiRouter(r, m.Handler)
			return r, closer(lim), chilimit.Check(r, m)
		}},
		{"sethvargo-chi", func() (http.Handler, func(), error) {
			mw, close, err := sethvargo()
			return chiRouter(chi.NewRouter(), mw), close, err
		}},

		{"gin", func() (http.Handler, func(), error) { return ginEngine(nil), func() {}, nil }},
		{"floodgate-gin", func() (http.Handler, func(), error) {
			lim := floodgate.NewMemory()
			m, err := ginlimit.New(lim, declared())
			if err != nil {
				return nil, nil, err
			}
			e := gin.New()
			if err := ginlimit.Use(e, m); err != nil {
				return nil, nil, err
			}
			e.GET(route, func(*gin.Context) {})
			return e, closer(lim), ginlimit.Check(e, m)
		}},
		{"sethvargo-gin", func() (http.Handler, func(), error) {
			mw, close, err := sethvargo()
			return ginEngine(ginlimit.Adapt(mw)), close, err
		}},

		{"echo", func() (http.Handler, func(), error) { return echoServer(nil), func() {}, nil }},
		{"floodgate-echo", func() (http.Handler, func(), error) {
			lim := floodgate.NewMemory()
			m, err := echolimit.New(lim, declared())
			if err != nil {
				return nil, nil, err
			}
			e := echoServer(echolimit.Adapt(m.Handler))
			return e, closer(lim), echolimit.Check(e, m)
		}},
		{"sethvargo-echo", func() (http.Handler, func(), error) {
			mw, close, err := sethvargo()
			return echoServer(echo.WrapMiddleware(mw)), close, err
		}},
	}
}

// declared is the route's limit, declared to the Middleware.
func declared() httplimit.Option {
	return httplimit.WithRoute("GET "+route, strconv.Itoa(perHour)+"/hour")
}

func closer(lim floodgate.Store) func() { return func() { _ = lim.Close() } }

// sethvargo returns sethvargo/go-limiter's middleware on its memory store.
func sethvargo() (func(http.Handler) http.Handler, func(), error) {
	store, err := memorystore.New(&memorystore.Config{Tokens: perHour, Interval: time.Hour})
	if err != nil {
		return nil, nil, err
	}
	m, err := sethhttp.NewMiddleware(store, sethhttp.IPKeyFunc())
	if err != nil {
		return nil, nil, err
	}
	return m.Handle, func() { _ = store.Close(context.Background()) }, nil
}

// serveMux returns a ServeMux with the route.
func serveMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET "+route, nop)
	return mux
}

// chiRouter adds mw (none when nil) and the route to r, and returns r.
func chiRouter(r *chi.Mux, mw func(http.Handler) http.Handler) *chi.Mux {
	if mw != nil {
		r.Use(mw)
	}
	r.Get(route, nop)
	return r
}

// ginEngine returns an engine in release mode with mw (none when nil)
// and the route.
func ginEngine(mw gin.HandlerFunc) *gin.Engine {
	e := gin.New()
	if mw != nil {
		e.Use(mw)
	}
	e.GET(route, func(*gin.Context) {})
	return e
}

func init() { gin.SetMode(gin.ReleaseMode) }

// echoServer returns an Echo with mw (none when nil) and the route.
func echoServer(mw echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	if mw != nil {
		e.Use(mw)
	}
	e.GET(route, func(echo.Context) error { return nil })
	return e
}

// Requests returns one GET of route per client address.
func Requests() []*http.Request {
	rs := make([]*http.Request, Clients)
	for i := range rs {
		r := httptest.NewRequest("GET", route, nil)
		r.RemoteAddr = "198.51.100." + strconv.Itoa(i+1) + ":40000"
		rs[i] = r
	}
	return rs
}

// Discard is a ResponseWriter whose header map is cleared and reused, so
// that the middleware's own allocations are what is counted.
type Discard struct {
	H    http.Header
	Code int
}

func (d *Discard) Header() http.Header         { return d.H }
func (d *Discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *Discard) WriteHeader(code int)        { d.Code = code }

// Serve runs r through h on d, reset first, and returns an error unless
// the request was allowed.
func Serve(h http.Handler, d *Discard, r *http.Request) error {
	clear(d.H)
	d.Code = http.StatusOK
	h.ServeHTTP(d, r)
	if d.Code != http.StatusOK {
		return fmt.Errorf("status %d", d.Code)
	}
	return nil
}
