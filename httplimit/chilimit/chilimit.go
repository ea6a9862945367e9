package chilimit

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
)

// New returns httplimit.New(store, opts...) with the route function
// [RouteFunc](router) appended: the Middleware knows each request's chi
// pattern. router must be the top-level router, the one the server
// serves. Mount it with router.Use(m.Handler) before the routes, then
// call [Check] once every route is registered.
func New(store floodgate.Store, router chi.Routes, opts ...httplimit.Option) (*httplimit.Middleware, error) {
	opts = append(opts[:len(opts):len(opts)], httplimit.WithRouteFunc(RouteFunc(router)))
	return httplimit.New(store, opts...)
}

// Check is the start-up self-test: it returns m.Verify(router), an error
// naming each route declared to m that router does not limit, wrapped
// with this package's name. Call it once every route is registered and
// refuse to start on an error.
func Check(router http.Handler, m *httplimit.Middleware) error {
	if err := m.Verify(router); err != nil {
		return fmt.Errorf("chilimit: %w", err)
	}
	return nil
}

// RouteFunc returns a route function for [httplimit.WithRouteFunc] that
// reports the chi pattern that serves a request on router, such as
// "/items/{id}" or, through a mounted sub-router, "/api/items/{id}"; ""
// when no route matches (a 404 or a 405). A pattern without a method
// names the route declared with one: WithRoute("POST /login", …) limits
// r.Post("/login", …). [New] installs it.
//
// router must be the top-level router: the function routes the full
// request path on it, so it gives the same answer wherever the
// Middleware sits. It costs one more route lookup per request, on a
// pooled chi.Context: no allocation for a route of router itself, and
// the two of chi's Find for one in a mounted sub-router. A path that is
// its route's pattern (a route without parameters, such as "/login")
// is looked up once and remembered, up to maxStatic of them: chi routes
// are registered before the router serves, and no later route takes
// such a path from its pattern. Its patterns are those chi.Walk lists:
// "/api/" stays "/api/", where chi.Context.RoutePattern would trim it to
// "/api".
func RouteFunc(router chi.Routes) func(*http.Request) string {
	pool := sync.Pool{New: func() any { return chi.NewRouteContext() }}
	var static staticRoutes
	return func(r *http.Request) string {
		// The path chi routes on, as chi's Mux.routeHTTP takes it.
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		if path == "" {
			path = "/"
		}
		if pattern, ok := static.find(r.Method, path); ok {
			return pattern
		}
		rctx := pool.Get().(*chi.Context)
		rctx.Reset()
		pattern := router.Find(rctx, r.Method, path)
		pool.Put(rctx)
		if pattern == path {
			static.add(r.Method, path)
		}
		return pattern
	}
}

// maxStatic bounds the paths a route function remembers.
const maxStatic = 1024

// staticRoutes remembers the paths that are their route's pattern, with
// the methods chi serves them for: a table never modified once
// published, replaced whole on the rare add, so that a lookup takes no
// lock. It is keyed by the path alone, a string, which hashes faster
// than a method and path together.
type staticRoutes struct {
	t  atomic.Pointer[staticTable]
	mu sync.Mutex // serialises add
}

type staticTable struct {
	methods map[string][]string // path → methods
	n       int                 // method and path pairs
}

func (s *staticRoutes) find(method, path string) (string, bool) {
	if t := s.t.Load(); t != nil {
		for _, m := range t.methods[path] {
			if m == method {
				return path, true
			}
		}
	}
	return "", false
}

func (s *staticRoutes) add(method, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.t.Load()
	if old != nil && (old.n >= maxStatic || slices.Contains(old.methods[path], method)) {
		return
	}
	t := &staticTable{methods: map[string][]string{}, n: 1}
	if old != nil {
		t.methods, t.n = maps.Clone(old.methods), old.n+1
	}
	// Clip: the appended method goes to a new array, never into one an
	// earlier table still reads.
	t.methods[path] = append(slices.Clip(t.methods[path]), method)
	s.t.Store(t)
}
