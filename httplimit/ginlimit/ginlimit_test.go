package ginlimit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/ginlimit"
	"github.com/floodgate-go/floodgate/internal/login"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

func init() { gin.SetMode(gin.TestMode) } // no route listing on stdout, which examples compare

// app is the README's login service: POST /login, 5/minute per client.
func app(store floodgate.Store) (http.Handler, error) {
	m, err := ginlimit.New(store, httplimit.WithRoute("POST /login", "5/minute"))
	if err != nil {
		return nil, err
	}
	engine := gin.New()
	if err := ginlimit.Use(engine, m); err != nil {
		return nil, err
	}
	engine.POST("/login", loginHandler)
	if err := ginlimit.Check(engine, m); err != nil {
		return nil, err
	}
	return engine, nil
}

// loginHandler is the login handler of package routertest, written for gin.
func loginHandler(c *gin.Context) {
	if !login.Valid(c.PostForm("password")) {
		c.String(http.StatusUnauthorized, "wrong password\n")
		return
	}
	c.String(http.StatusOK, "welcome\n")
}

// TestApp: the README's service on a loopback server answers 200 and 401,
// and the sixth login is a 429.
func TestApp(t *testing.T) { routertest.RunApp(t, app) }

// TestShapes: every way of mounting the Middleware on gin is either
// enforced (the sixth login is a 429) or refused at start-up with an
// error that names the pattern.
func TestShapes(t *testing.T) {
	route := httplimit.WithRoute(login.Pattern, login.Limit)
	routeFunc := httplimit.WithRouteFunc(ginlimit.RouteFunc)

	t.Run("Use before the routes is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route, routeFunc)
		e := gin.New()
		require.NoError(t, ginlimit.Use(e, m), "Use")
		e.POST(login.Path, loginHandler)
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, e))
	})
	t.Run("Use after a route is refused", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route, routeFunc)
		e := gin.New()
		e.POST(login.Path, loginHandler)
		err := ginlimit.Use(e, m)
		require.Error(t, err, "Use on an engine with routes: gin would not run the Middleware for them")
		assert.Contains(t, err.Error(), "POST /login", "Use's error should name the route")
	})
	t.Run("Use without RouteFunc is refused", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route)
		err := ginlimit.Use(gin.New(), m)
		require.ErrorIs(t, err, httplimit.ErrConfig, "Use with a Middleware that has no route function")
		assert.Contains(t, err.Error(), `"POST /login"`, "Use's error should name the pattern")
	})
	t.Run("Adapt(m.Handler) without RouteFunc panics at start-up", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route)
		assert.Panics(t, func() { ginlimit.Adapt(m.Handler) }, "Adapt(m.Handler) without WithRouteFunc")
	})
	t.Run("Handler(engine) without a route func panics at start-up", func(t *testing.T) {
		m := routertest.NewMiddleware(t, route)
		e := gin.New()
		e.POST(login.Path, loginHandler)
		assert.Panics(t, func() { m.Handler(e) }, "Handler(gin engine) without WithRouteFunc")
	})
	t.Run("group Use is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, httplimit.WithRoute("POST /api/login", login.Limit), routeFunc)
		e := gin.New()
		api := e.Group("/api")
		api.Use(ginlimit.Adapt(m.Handler))
		api.POST(login.Path, loginHandler)
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, e)+"/api")
	})
	t.Run("Adapt(m.Limit) on one route is enforced", func(t *testing.T) {
		m := routertest.NewMiddleware(t, routeFunc)
		e := gin.New()
		e.POST(login.Path, ginlimit.Adapt(m.Limit(login.Limit)), loginHandler)
		routertest.RequireLimited(t, routertest.Serve(t, e))
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
			e.POST(login.Path, loginHandler)
			e.Use(mw)
		}},
		{"group Use after the route", login.Pattern, func(e *gin.Engine, mw gin.HandlerFunc) {
			g := e.Group("/")
			g.POST(login.Path, loginHandler)
			g.Use(mw)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := routertest.NewMiddleware(t, httplimit.WithRoute(tc.pattern, login.Limit), httplimit.WithRouteFunc(ginlimit.RouteFunc))
			e := gin.New()
			tc.mount(e, ginlimit.Adapt(m.Handler))
			routertest.RequireSilent(t, m, e, tc.pattern, "never reached the Middleware")
			err := ginlimit.Check(e, m)
			require.ErrorIs(t, err, httplimit.ErrConfig, "Check after %s", tc.name)
			assert.Contains(t, err.Error(), `ginlimit: `, "Check's error should name the package")
			assert.Contains(t, err.Error(), `route "`+tc.pattern+`"`, "Check's error should name the route")
		})
	}
}

func TestRouteFunc(t *testing.T) {
	var got []string
	e := gin.New()
	e.Use(func(c *gin.Context) { got = append(got, ginlimit.RouteFunc(c.Request)) }) // not through Adapt
	e.Use(ginlimit.Adapt(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = append(got, ginlimit.RouteFunc(r))
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

// TestCountWhen: CountWhen sees the status a gin handler writes, so
// "count only failed logins" counts the 401s and not the 200s.
func TestCountWhen(t *testing.T) {
	m, err := ginlimit.New(routertest.Memory(t), routertest.FailedOnly())
	require.NoError(t, err)
	engine := gin.New()
	require.NoError(t, ginlimit.Use(engine, m))
	engine.POST("/login", loginHandler)
	require.NoError(t, ginlimit.Check(engine, m))
	routertest.RequireFailedOnly(t, routertest.Serve(t, engine))
}
