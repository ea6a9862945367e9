package echoexample_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	echoexample "github.com/floodgate-go/floodgate/examples/echo"
	"github.com/floodgate-go/floodgate/examples/internal/login"
	"github.com/floodgate-go/floodgate/examples/internal/logintest"
	"github.com/floodgate-go/floodgate/httplimit"
)

func TestApp(t *testing.T) { logintest.RunApp(t, echoexample.App) }

// TestShapes: every way of mounting the Middleware on Echo is either
// enforced (the sixth login is a 429) or refused, with an error that
// names the pattern.
func TestShapes(t *testing.T) {
	route := httplimit.WithRoute(login.Pattern, login.Limit)
	routeFunc := httplimit.WithRouteFunc(echoexample.RouteFunc)

	t.Run("e.Use(Adapt(m.Handler)) is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route, routeFunc)
		e := echo.New()
		e.Use(echoexample.Adapt(m.Handler))
		e.POST(login.Path, echoexample.Login)
		logintest.RequireLimited(t, logintest.ServeVerified(t, m, e))
	})
	t.Run("e.Use after the routes is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route, routeFunc)
		e := echo.New()
		e.POST(login.Path, echoexample.Login)
		e.Use(echoexample.Adapt(m.Handler)) // Echo applies e.Use middleware per request
		logintest.RequireLimited(t, logintest.ServeVerified(t, m, e))
	})
	t.Run("group middleware is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, httplimit.WithRoute("POST /api/login", login.Limit), routeFunc)
		e := echo.New()
		api := e.Group("/api", echoexample.Adapt(m.Handler))
		api.POST(login.Path, echoexample.Login)
		logintest.RequireLimited(t, logintest.ServeVerified(t, m, e)+"/api")
	})
	t.Run("Adapt(m.Limit) on one route is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, routeFunc)
		e := echo.New()
		e.POST(login.Path, echoexample.Login, echoexample.Adapt(m.Limit(login.Limit)))
		logintest.RequireLimited(t, logintest.Serve(t, e))
	})
	t.Run("Adapt(m.Handler) without RouteFunc panics at start-up", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route)
		assert.Panics(t, func() { echoexample.Adapt(m.Handler) }, "Adapt(m.Handler) without WithRouteFunc")
	})
	t.Run("Handler(e) without a route func panics at start-up", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route)
		e := echo.New()
		e.POST(login.Path, echoexample.Login)
		assert.Panics(t, func() { m.Handler(e) }, "Handler(echo) without WithRouteFunc")
	})
	t.Run("WrapMiddleware(m.Handler) without a route func is refused", func(t *testing.T) {
		// echo.WrapMiddleware calls m.Handler per request, so Handler's
		// panic comes with each request, and Verify reports it.
		m := logintest.NewMiddleware(t, route)
		e := echo.New()
		e.Use(echo.WrapMiddleware(m.Handler))
		e.POST(login.Path, echoexample.Login)
		err := m.Verify(e)
		require.ErrorIs(t, err, httplimit.ErrConfig, "Verify on echo.WrapMiddleware(m.Handler) without a route func")
		assert.Contains(t, err.Error(), `route "POST /login"`, "Verify's error should name the route")
		assert.Contains(t, err.Error(), "panic", "Verify's error should say the handler panicked")
	})
}

// TestWrapMiddlewareRouteFunc: through echo.WrapMiddleware the route
// function sees no echo.Context and finds no route, so POST /login starts
// fine and is never limited. Verify refuses it, naming the route; Adapt
// carries the echo.Context instead.
func TestWrapMiddlewareRouteFunc(t *testing.T) {
	m := logintest.NewMiddleware(t, httplimit.WithRoute(login.Pattern, login.Limit), httplimit.WithRouteFunc(echoexample.RouteFunc))
	e := echo.New()
	e.Use(echo.WrapMiddleware(m.Handler))
	e.POST(login.Path, echoexample.Login)
	logintest.RequireSilent(t, m, e, login.Pattern, "route function found no route")
}

func TestRouteFunc(t *testing.T) {
	var got []string
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc { // not through Adapt
		return func(c echo.Context) error {
			got = append(got, echoexample.RouteFunc(c.Request()))
			return next(c)
		}
	})
	e.Use(echoexample.Adapt(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = append(got, echoexample.RouteFunc(r))
			next.ServeHTTP(w, r)
		})
	}))
	e.GET("/items/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	for _, tc := range []struct{ path, want string }{
		{"/items/42", "/items/:id"},
		{"/nowhere", ""},
	} {
		got = nil
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.path, nil))
		assert.Equal(t, []string{"", tc.want}, got, "RouteFunc for GET %s outside and inside Adapt", tc.path)
	}
}
