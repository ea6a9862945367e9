package echolimit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/echolimit"
	"github.com/floodgate-go/floodgate/internal/login"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

// app is the README's login service: POST /login, 5/minute per client.
func app(store floodgate.Store) (http.Handler, error) {
	m, err := echolimit.New(store, httplimit.WithRoute("POST /login", "5/minute"))
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.Use(echolimit.Adapt(m.Handler))
	e.POST("/login", loginHandler)
	if err := echolimit.Check(e, m); err != nil {
		return nil, err
	}
	return e, nil
}

// loginHandler is the login handler of package routertest, written for Echo.
func loginHandler(c echo.Context) error {
	if !login.Valid(c.FormValue("password")) {
		return c.String(http.StatusUnauthorized, "wrong password\n")
	}
	return c.String(http.StatusOK, "welcome\n")
}

// TestApp: the README's service on a loopback server answers 200 and 401,
// and the sixth login is a 429.
func TestApp(t *testing.T) { routertest.RunApp(t, app) }

// TestShapes: every way of mounting the Middleware on Echo is either
// enforced (the sixth login is a 429) or refused, with an error that
// names the pattern.
func TestShapes(t *testing.T) {
	route := httplimit.WithRoute(login.Pattern, login.Limit)
	routeFunc := httplimit.WithRouteFunc(echolimit.RouteFunc)

	t.Run("e.Use(Adapt(m.Handler)) is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route, routeFunc)
		e := echo.New()
		e.Use(echolimit.Adapt(m.Handler))
		e.POST(login.Path, loginHandler)
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, e))
	})
	t.Run("e.Use after the routes is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route, routeFunc)
		e := echo.New()
		e.POST(login.Path, loginHandler)
		e.Use(echolimit.Adapt(m.Handler)) // Echo applies e.Use middleware per request
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, e))
	})
	t.Run("group middleware is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, httplimit.WithRoute("POST /api/login", login.Limit), routeFunc)
		e := echo.New()
		api := e.Group("/api", echolimit.Adapt(m.Handler))
		api.POST(login.Path, loginHandler)
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, e)+"/api")
	})
	t.Run("Adapt(m.Limit) on one route is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, routeFunc)
		e := echo.New()
		e.POST(login.Path, loginHandler, echolimit.Adapt(m.Limit(login.Limit)))
		routertest.RequireLimited(t, routertest.Serve(t, e))
	})
	t.Run("Adapt(m.Handler) without RouteFunc panics at start-up", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route)
		assert.Panics(t, func() { echolimit.Adapt(m.Handler) }, "Adapt(m.Handler) without WithRouteFunc")
	})
	t.Run("Handler(e) without a route func panics at start-up", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route)
		e := echo.New()
		e.POST(login.Path, loginHandler)
		assert.Panics(t, func() { m.Handler(e) }, "Handler(echo) without WithRouteFunc")
	})
	t.Run("WrapMiddleware(m.Handler) without a route func is refused", func(t *testing.T) {
		// echo.WrapMiddleware calls m.Handler per request, so Handler's
		// panic comes with each request, and Verify reports it.
		m := routertest.NewMiddleware(t, route)
		e := echo.New()
		e.Use(echo.WrapMiddleware(m.Handler))
		e.POST(login.Path, loginHandler)
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
	m := routertest.NewMiddleware(t, httplimit.WithRoute(login.Pattern, login.Limit), httplimit.WithRouteFunc(echolimit.RouteFunc))
	e := echo.New()
	e.Use(echo.WrapMiddleware(m.Handler))
	e.POST(login.Path, loginHandler)
	routertest.RequireSilent(t, m, e, login.Pattern, "route function found no route")
	err := echolimit.Check(e, m)
	require.ErrorIs(t, err, httplimit.ErrConfig, "Check on echo.WrapMiddleware(m.Handler)")
	assert.Contains(t, err.Error(), `echolimit: `, "Check's error should name the package")
	assert.Contains(t, err.Error(), `route "POST /login"`, "Check's error should name the route")
}

func TestRouteFunc(t *testing.T) {
	var got []string
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc { // not through Adapt
		return func(c echo.Context) error {
			got = append(got, echolimit.RouteFunc(c.Request()))
			return next(c)
		}
	})
	e.Use(echolimit.Adapt(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = append(got, echolimit.RouteFunc(r))
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

// TestCountWhen: CountWhen sees the status an Echo handler writes, so
// "count only failed logins" counts the 401s and not the 200s.
func TestCountWhen(t *testing.T) {
	m, err := echolimit.New(routertest.Memory(t), routertest.FailedOnly())
	require.NoError(t, err)
	e := echo.New()
	e.Use(echolimit.Adapt(m.Handler))
	e.POST("/login", loginHandler)
	require.NoError(t, echolimit.Check(e, m))
	routertest.RequireFailedOnly(t, routertest.Serve(t, e))
}
