package httplimit

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// verifying counts the Verify calls in flight in the process: while it is
// zero, handlers skip the context lookup that recognises Verify's
// requests.
var verifying atomic.Int32

// probeKey is the context key of a Verify request. The key is private
// and the request never leaves the process, so no client can forge one.
type probeKey struct{}

// probe is what one Verify request met on its way through a handler.
type probe struct {
	m       *Middleware
	mu      sync.Mutex
	handler bool   // the Middleware's Handler answered it
	pattern string // the pattern Handler placed it on
	limit   bool   // only a handler of Limit answered it
}

// probeOf returns the Verify request r carries, if any.
func probeOf(r *http.Request) (*probe, bool) {
	p, ok := r.Context().Value(probeKey{}).(*probe)
	return p, ok
}

// answerProbe answers a Verify request of h's Middleware, recording the
// route h places it on, and passes one of another Middleware on
// uncounted. It reports whether r was a Verify request.
func (h *appHandler) answerProbe(w http.ResponseWriter, r *http.Request) bool {
	p, ok := probeOf(r)
	if !ok {
		return false
	}
	if p.m != h.m {
		h.next.ServeHTTP(w, r)
		return true
	}
	pattern, _, _, _ := h.place(h.m.cur.Load(), r)
	p.mu.Lock()
	p.handler, p.pattern = true, pattern
	p.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	return true
}

// answerProbe answers a Verify request of l's Middleware, which reached a
// handler of Limit without passing the Middleware's Handler, and passes
// one of another Middleware on uncounted.
func (l *limited) answerProbe(w http.ResponseWriter, r *http.Request) bool {
	p, ok := probeOf(r)
	if !ok {
		return false
	}
	if p.m != l.m {
		l.next.ServeHTTP(w, r)
		return true
	}
	p.mu.Lock()
	p.limit = true
	p.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	return true
}

// Verify proves, at start-up, that h limits every route declared to the
// Middleware ([WithRoute] and [WithExempt]) as declared. Call it on the
// finished handler, the one the server will serve, once every route is
// registered; it returns nil, or an error wrapping [ErrConfig] that names
// each route h does not limit and says why.
//
// For each declared pattern, Verify sends h one request in process: the
// pattern's method (GET when it has none), host and path, with each
// wildcard ("{id}", "{id:[0-9]+}", ":id", "*", "{path...}") replaced by a
// value such as "x" or "1". The request is marked by a private context
// value no client can send, so the Middleware recognises it wherever it
// sits in the chain: its Handler answers it itself, counting nothing and
// calling nothing further, and records the pattern it placed the request
// on. A route is reported when that pattern is not the declared one, when
// Handler cannot tell the request's route (a route function that sees no
// route where it runs, such as chi's RoutePattern() in r.Use, or a route
// function behind echo.WrapMiddleware), when only handlers of
// [Middleware.Limit] saw it, when it never reached the Middleware (gin's
// Use added after the route), or when h panicked.
//
// The request's context is already cancelled and its body is empty, so
// an application handler reached by mistake, where the Middleware is
// missing from a route's chain, should do little; still, call Verify
// before the service takes traffic. Verify works whether or not the
// Middleware is enabled. It cannot check [WithDefaultLimits], which
// applies to routes it does not know.
func (m *Middleware) Verify(h http.Handler) error {
	verifying.Add(1)
	defer verifying.Add(-1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var problems []string
	c := m.cur.Load()
	for _, pattern := range c.declared() {
		if problem := m.verifyRoute(ctx, c, h, pattern); problem != "" {
			problems = append(problems, problem)
		}
	}
	if len(problems) > 0 {
		return configError("%s", strings.Join(problems, "; "))
	}
	return nil
}

// verifyRoute sends h the Verify request for pattern and returns what is
// wrong, or "".
func (m *Middleware) verifyRoute(ctx context.Context, c *setup, h http.Handler, pattern string) string {
	r, err := probeRequest(pattern)
	if err != nil {
		return err.Error()
	}
	what := fmt.Sprintf("route %q: a %s request to %s", pattern, r.Method, r.URL.Path)
	p := &probe{m: m}
	r = r.WithContext(context.WithValue(ctx, probeKey{}, p))
	if v := serveProbe(h, r); v != nil {
		return fmt.Sprintf("%s made the handler panic: %v", what, v)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.handler && p.pattern == pattern:
		return ""
	case p.handler && p.pattern == "" && c.routeFunc != nil:
		return what + " reached the Middleware, whose route function found no route there " +
			"(a function that reads the router's state before the router has routed, or behind a bridge that hides it)"
	case p.handler && p.pattern == "":
		return what + " reached the Middleware, but the ServeMux it wraps serves no such route (check the method and the wildcard names)"
	case p.handler:
		return fmt.Sprintf("%s was placed on the route %q: use exactly the pattern the router serves", what, p.pattern)
	case p.limit:
		return what + " reached only handlers of Limit, never the Middleware's Handler, so the route's declared rules do not apply"
	}
	return what + " never reached the Middleware: it is not in this route's chain " +
		"(gin, for one, applies Use only to routes registered after it)"
}

// serveProbe serves r on h and returns what h panicked with, if anything.
func serveProbe(h http.Handler, r *http.Request) (panicked any) {
	defer func() { panicked = recover() }()
	h.ServeHTTP(&probeWriter{h: http.Header{}}, r)
	return nil
}

// probeWriter discards the response to a Verify request.
type probeWriter struct{ h http.Header }

func (w *probeWriter) Header() http.Header         { return w.h }
func (w *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *probeWriter) WriteHeader(int)             {}

// probeRequest builds the Verify request for a pattern: its method (GET
// when it has none), host and path, with each wildcard filled in.
func probeRequest(pattern string) (*http.Request, error) {
	method, rest := http.MethodGet, pattern
	if m, r, ok := strings.Cut(pattern, " "); ok {
		method, rest = m, strings.TrimLeft(r, " ")
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil, configError("route %q: a pattern is [METHOD ][HOST]/PATH", pattern)
	}
	host, path := rest[:i], rest[i:]
	segs := strings.Split(path, "/")
	for j, seg := range segs {
		switch {
		case strings.HasPrefix(seg, ":"), strings.HasPrefix(seg, "*"): // gin, echo, chi
			segs[j] = "x"
		case strings.Contains(seg, "{"):
			segs[j] = fillWildcards(seg)
		}
	}
	r, err := http.NewRequest(method, "http://example.com"+strings.Join(segs, "/"), http.NoBody)
	if err != nil {
		return nil, configError("route %q: %v", pattern, err)
	}
	if host != "" {
		r.Host = host
	}
	r.RemoteAddr = "192.0.2.1:1234"
	return r, nil
}

// fillWildcards replaces each {…} of a path segment by a value: none for
// ServeMux's {$}, one that matches the regular expression of chi's
// {name:regexp}, and "x" otherwise.
func fillWildcards(seg string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(seg, '{')
		j := strings.IndexByte(seg, '}')
		if i < 0 || j < i {
			b.WriteString(seg)
			return b.String()
		}
		b.WriteString(seg[:i])
		inner := seg[i+1 : j]
		seg = seg[j+1:]
		if inner == "$" {
			continue
		}
		v := "x"
		if _, expr, ok := strings.Cut(inner, ":"); ok {
			if re, err := regexp.Compile(`^(?:` + expr + `)$`); err == nil {
				for _, c := range []string{"1", "x", "a", "0", "A", "x1", "1x", "-", "a-1"} {
					if re.MatchString(c) {
						v = c
						break
					}
				}
			}
		}
		b.WriteString(v)
	}
}
