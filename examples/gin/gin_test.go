package ginexample_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ginexample "github.com/floodgate-go/floodgate/examples/gin"
	"github.com/floodgate-go/floodgate/examples/internal/login"
	"github.com/floodgate-go/floodgate/examples/internal/logintest"
	"github.com/floodgate-go/floodgate/httplimit"
)

func init() { gin.SetMode(gin.TestMode) } // no route listing on stdout, which examples compare

func TestApp(t *testing.T) { logintest.RunApp(t, ginexample.App) }

// TestShapes: every way of mounting the Middleware on gin is either
// enforced (the sixth login is a 429) or refused at start-up with an
// error that names the pattern.
func TestShapes(t *testing.T) {
	route := httplimit.WithRoute(login.Pattern, login.Limit)
	routeFunc := httplimit.WithRouteFunc(ginexample.RouteFunc)

	t.Run("Use before the routes is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route, routeFunc)
		e := gin.New()
		require.NoError(t, ginexample.Use(e, m), "Use")
		e.POST(login.Path, ginexample.Login)
		logintest.RequireLimited(t, logintest.ServeVerified(t, m, e))
	})
	t.Run("Use after a route is refused", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route, routeFunc)
		e := gin.New()
		e.POST(login.Path, ginexample.Login)
		err := ginexample.Use(e, m)
		require.Error(t, err, "Use on an engine with routes: gin would not run the Middleware for them")
		assert.Contains(t, err.Error(), "POST /login", "Use's error should name the route")
	})
	t.Run("Use without RouteFunc is refused", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route)
		err := ginexample.Use(gin.New(), m)
		require.ErrorIs(t, err, httplimit.ErrConfig, "Use with a Middleware that has no route function")
		assert.Contains(t, err.Error(), `"POST /login"`, "Use's error should name the pattern")
	})
	t.Run("Adapt(m.Handler) without RouteFunc panics at start-up", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route)
		assert.Panics(t, func() { ginexample.Adapt(m.Handler) }, "Adapt(m.Handler) without WithRouteFunc")
	})
	t.Run("Handler(engine) without a route func panics at start-up", func(t *testing.T) {
		m := logintest.NewMiddleware(t, route)
		e := gin.New()
		e.POST(login.Path, ginexample.Login)
		assert.Panics(t, func() { m.Handler(e) }, "Handler(gin engine) without WithRouteFunc")
	})
	t.Run("group Use is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, httplimit.WithRoute("POST /api/login", login.Limit), routeFunc)
		e := gin.New()
		api := e.Group("/api")
		api.Use(ginexample.Adapt(m.Handler))
		api.POST(login.Path, ginexample.Login)
		logintest.RequireLimited(t, logintest.ServeVerified(t, m, e)+"/api")
	})
	t.Run("Adapt(m.Limit) on one route is enforced", func(t *testing.T) {
		m := logintest.NewMiddleware(t, routeFunc)
		e := gin.New()
		e.POST(login.Path, ginexample.Adapt(m.Limit(login.Limit)), ginexample.Login)
		logintest.RequireLimited(t, logintest.Serve(t, e))
	})
}

// TestLateUse: gin applies middleware added by engine.Use (or a group's
// Use) only to routes registered after it, so a Middleware added after
// POST /login starts fine and never limits it. Verify refuses it, naming
// the route; Use refuses an engine that already has routes.
func TestLateUse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pattern string
		mount   func(e *gin.Engine, mw gin.HandlerFunc)
	}{
		{"engine.Use after the route", login.Pattern, func(e *gin.Engine, mw gin.HandlerFunc) {
			e.POST(login.Path, ginexample.Login)
			e.Use(mw)
		}},
		{"group Use after the route", login.Pattern, func(e *gin.Engine, mw gin.HandlerFunc) {
			g := e.Group("/")
			g.POST(login.Path, ginexample.Login)
			g.Use(mw)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := logintest.NewMiddleware(t, httplimit.WithRoute(tc.pattern, login.Limit), httplimit.WithRouteFunc(ginexample.RouteFunc))
			e := gin.New()
			tc.mount(e, ginexample.Adapt(m.Handler))
			logintest.RequireSilent(t, m, e, tc.pattern, "never reached the Middleware")
		})
	}
}

func TestRouteFunc(t *testing.T) {
	var got []string
	e := gin.New()
	e.Use(func(c *gin.Context) { got = append(got, ginexample.RouteFunc(c.Request)) }) // not through Adapt
	e.Use(ginexample.Adapt(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = append(got, ginexample.RouteFunc(r))
			next.ServeHTTP(w, r)
		})
	}))
	e.GET("/items/:id", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	for _, tc := range []struct{ path, want string }{
		{"/items/42", "/items/:id"},
		{"/nowhere", ""},
	} {
		got = nil
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.path, nil))
		assert.Equal(t, []string{"", tc.want}, got, "RouteFunc for GET %s outside and inside Adapt", tc.path)
	}
}
