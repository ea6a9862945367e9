package chilimit_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/httplimit/chilimit"
	"github.com/floodgate-go/floodgate/internal/login"
	"github.com/floodgate-go/floodgate/internal/routertest"
)

// recoverError runs f and returns the error it panicked with, or nil.
func recoverError(t *testing.T, f func()) (err error) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			e, ok := v.(error)
			require.True(t, ok, "panicked with %T %v, want an error", v, v)
			err = e
		}
	}()
	f()
	return nil
}

// app is the README's login service: POST /login, 5/minute per client.
func app(store floodgate.Store) (http.Handler, error) {
	r := chi.NewRouter()
	m, err := chilimit.New(store, r, httplimit.WithRoute("POST /login", "5/minute"))
	if err != nil {
		return nil, err
	}
	r.Use(m.Handler)
	r.Post("/login", login.Handler)
	if err := chilimit.Check(r, m); err != nil {
		return nil, err
	}
	return r, nil
}

// TestApp: the README's service on a loopback server answers 200 and 401,
// and the sixth login is a 429.
func TestApp(t *testing.T) { routertest.RunApp(t, app) }

// TestShapes: every way of mounting the Middleware on chi is either
// enforced (the sixth login is a 429) or refused at start-up with an
// error that names the pattern. None limits nothing silently.
func TestShapes(t *testing.T) {
	route := httplimit.WithRoute(login.Pattern, login.Limit)

	t.Run("Handler(router) without a route func panics", func(t *testing.T) {
		r := chi.NewRouter()
		r.Post(login.Path, login.Handler)
		m := routertest.NewMiddleware(t, route)
		err := recoverError(t, func() { m.Handler(r) })
		require.ErrorIs(t, err, httplimit.ErrConfig, "Handler(chi router) without WithRouteFunc: want a panic with a configuration error")
		assert.Contains(t, err.Error(), `"POST /login"`, "the panic should name the pattern")
	})
	t.Run("Handler(router) with RouteFunc is enforced", func(t *testing.T) {
		r := chi.NewRouter()
		m := routertest.NewMiddleware(t, route, httplimit.WithRouteFunc(chilimit.RouteFunc(r)))
		r.Post(login.Path, login.Handler)
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, m.Handler(r)))
	})
	t.Run("r.Use(m.Handler) with RouteFunc is enforced", func(t *testing.T) {
		r := chi.NewRouter()
		m := routertest.NewMiddleware(t, route, httplimit.WithRouteFunc(chilimit.RouteFunc(r)))
		r.Use(m.Handler)
		r.Post(login.Path, login.Handler)
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, r))
	})
	t.Run("r.Use(m.Handler) without a route func panics at registration", func(t *testing.T) {
		r := chi.NewRouter()
		m := routertest.NewMiddleware(t, route)
		r.Use(m.Handler) // chi builds the chain when the first route is registered
		err := recoverError(t, func() { r.Post(login.Path, login.Handler) })
		require.ErrorIs(t, err, httplimit.ErrConfig, "r.Post after r.Use(m.Handler) without WithRouteFunc: want a panic with a configuration error")
		assert.Contains(t, err.Error(), `"POST /login"`, "the panic should name the pattern")
	})
	t.Run("sub-router Use with RouteFunc of the top router is enforced", func(t *testing.T) {
		top := chi.NewRouter()
		m := routertest.NewMiddleware(t, httplimit.WithRoute("POST /api/login", login.Limit),
			httplimit.WithRouteFunc(chilimit.RouteFunc(top)))
		top.Route("/api", func(r chi.Router) {
			r.Use(m.Handler)
			r.Post(login.Path, login.Handler)
		})
		routertest.RequireLimited(t, routertest.ServeVerified(t, m, top)+"/api")
	})
	t.Run("Limit on one route is enforced", func(t *testing.T) {
		r := chi.NewRouter()
		m := routertest.NewMiddleware(t, httplimit.WithRouteFunc(chilimit.RouteFunc(r)))
		r.With(m.Limit(login.Limit)).Post(login.Path, login.Handler)
		routertest.RequireLimited(t, routertest.Serve(t, r))
	})
}

// TestNaiveRouteFunc: the route function that first comes to mind,
// chi.RouteContext(r.Context()).RoutePattern(), sees no pattern in
// r.Use, where chi has not routed yet, so POST /login starts fine and is
// never limited. Verify refuses it, naming the route; RouteFunc routes
// the request itself instead.
func TestNaiveRouteFunc(t *testing.T) {
	naive := func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }
	r := chi.NewRouter()
	m := routertest.NewMiddleware(t, httplimit.WithRoute(login.Pattern, login.Limit), httplimit.WithRouteFunc(naive))
	r.Use(m.Handler)
	r.Post(login.Path, login.Handler)
	routertest.RequireSilent(t, m, r, login.Pattern, "route function found no route")
	err := chilimit.Check(r, m)
	require.ErrorIs(t, err, httplimit.ErrConfig, "Check on r.Use with the naive route function")
	assert.Contains(t, err.Error(), `chilimit: `, "Check's error should name the package")
	assert.Contains(t, err.Error(), `route "POST /login"`, "Check's error should name the route")
}

// TestMisspeltRoute: a declared pattern that chi does not serve is
// refused by Verify, naming it.
func TestMisspeltRoute(t *testing.T) {
	r := chi.NewRouter()
	m := routertest.NewMiddleware(t, httplimit.WithRoute("POST /logn", login.Limit), httplimit.WithRouteFunc(chilimit.RouteFunc(r)))
	r.Use(m.Handler)
	r.Post(login.Path, login.Handler)
	err := chilimit.Check(r, m)
	require.True(t, errors.Is(err, httplimit.ErrConfig), "Check with a misspelt pattern returned %v, want a configuration error", err)
	assert.Contains(t, err.Error(), `route "POST /logn"`, "Check's error should name the pattern")
}

// TestRouteFunc pins the patterns RouteFunc reports against the real chi,
// and that they are the ones chi.Walk lists, the patterns a service
// declares.
func TestRouteFunc(t *testing.T) {
	ok := func(http.ResponseWriter, *http.Request) {}
	top := chi.NewRouter()
	top.Post("/login", ok)
	top.Get("/items/{id}", ok)
	top.Get("/files/*", ok)
	top.Route("/api", func(r chi.Router) {
		r.Get("/", ok)
		r.Get("/users/{userID}/posts/{postID}", ok)
	})
	admin := chi.NewRouter()
	admin.Delete("/users/{id}", ok)
	top.Mount("/admin", admin)

	var walked []string
	require.NoError(t, chi.Walk(top, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		walked = append(walked, method+" "+route)
		return nil
	}))

	fn := chilimit.RouteFunc(top)
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/login", "/login"},
		{"GET", "/login", ""}, // 405
		{"GET", "/nowhere", ""},
		{"GET", "/items/42", "/items/{id}"},
		{"GET", "/files/a/b.txt", "/files/*"},
		{"GET", "/api/", "/api/"},
		{"GET", "/api/users/1/posts/2", "/api/users/{userID}/posts/{postID}"},
		{"DELETE", "/admin/users/7", "/admin/users/{id}"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			got := fn(r)
			assert.Equal(t, tc.want, got, "RouteFunc(%s %s)", tc.method, tc.path)
			if got != "" {
				assert.Contains(t, walked, tc.method+" "+got, "chi.Walk should list the pattern RouteFunc reports")
			}
		})
	}
	t.Run("allocations", func(t *testing.T) {
		if raceEnabled {
			t.Skip("the race detector makes sync.Pool drop items")
		}
		for _, tc := range []struct {
			path string
			max  float64
		}{
			{"/items/42", 0},
			{"/api/users/1/posts/2", 2}, // chi's Find joins the sub-router's pattern
		} {
			r := httptest.NewRequest("GET", tc.path, nil)
			got := testing.AllocsPerRun(100, func() { fn(r) })
			assert.LessOrEqual(t, got, tc.max, "RouteFunc(GET %s) allocations per request", tc.path)
		}
	})
}

// TestRouteFuncRemembersStaticPaths: the route function answers the same
// the second time, from what it remembers for a path that is its route's
// pattern, and by method.
func TestRouteFuncRemembersStaticPaths(t *testing.T) {
	r := chi.NewRouter()
	nop := func(http.ResponseWriter, *http.Request) {}
	r.Get("/login", nop)
	r.Post("/items", nop)
	r.Get("/items/{id}", nop)
	r.Route("/api", func(api chi.Router) { api.Get("/groups", nop) })
	fn := chilimit.RouteFunc(r)
	for range 3 {
		for _, tc := range []struct{ method, path, want string }{
			{"GET", "/login", "/login"},
			{"POST", "/login", ""},
			{"POST", "/items", "/items"},
			{"GET", "/items", ""},
			{"GET", "/items/7", "/items/{id}"},
			{"GET", "/items/{id}", "/items/{id}"},
			{"GET", "/api/groups", "/api/groups"},
			{"GET", "/nowhere", ""},
		} {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			assert.Equal(t, tc.want, fn(req), "%s %s", tc.method, tc.path)
		}
	}
}

// TestCountWhen: CountWhen sees the status a chi handler writes.
func TestCountWhen(t *testing.T) {
	r := chi.NewRouter()
	m, err := chilimit.New(routertest.Memory(t), r, routertest.FailedOnly())
	require.NoError(t, err)
	r.Use(m.Handler)
	r.Post("/login", login.Handler)
	require.NoError(t, chilimit.Check(r, m))
	routertest.RequireFailedOnly(t, routertest.Serve(t, r))
}
