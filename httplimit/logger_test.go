package httplimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
)

// jsonLog is a JSON slog handler's output, safe for concurrent writes.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *jsonLog) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "log line %q is not JSON", line)
		recs = append(recs, rec)
	}
	return recs
}

// noRefund is a Store that cannot give units back.
type noRefund struct{ floodgate.Store }

func (noRefund) Refund(context.Context, string, int64, ...limit.Limit) error {
	return fmt.Errorf("test store: %w", errors.ErrUnsupported)
}

func (r noRefund) AllowAll(ctx context.Context, charges ...floodgate.Charge) (limit.Decision, int, error) {
	return floodgate.AllowEach(ctx, r, charges...)
}

// TestWithLoggerOncePerMiddleware: the Middleware's lines go to the
// logger of WithLogger, with structured attributes, once however many
// requests trigger them.
func TestWithLoggerOncePerMiddleware(t *testing.T) {
	out := &jsonLog{}
	store := noRefund{floodgate.NewMemory()}
	t.Cleanup(func() { store.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	m, err := httplimit.New(store, httplimit.WithLogger(slog.New(slog.NewJSONHandler(out, nil))),
		httplimit.WithRoute("POST /login", "100/minute", httplimit.CountWhen(func(int) bool { return false })))
	require.NoError(t, err)
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)

	for range 5 {
		for _, req := range []struct{ method, path string }{{"POST", "/login"}, {"GET", "/nowhere"}} {
			r, err := http.NewRequest(req.method, srv.URL+req.path, nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(r)
			require.NoError(t, err, "%s %s", req.method, req.path)
			resp.Body.Close()
		}
	}
	recs := out.records(t)
	require.Len(t, recs, 1, "log records after 10 requests, 5 of them 404s: %v", recs)
	assert.Equal(t, "ERROR", recs[0]["level"], "level of %q", recs[0]["msg"])
	assert.Contains(t, recs[0]["msg"], "CountWhen needs a store")
	assert.Equal(t, "memory", recs[0]["store"], "store attribute of the CountWhen line: the store's Info().Kind")
	assert.Contains(t, recs[0]["error"], "unsupported", "error attribute of the CountWhen line")
}

// TestNotFoundIsQuiet: a request the router finds no route for (404 or
// 405) is no limit skipped, so nothing is logged, on a ServeMux or
// through WithRouteFunc; a request the router serves while the route
// function sees no route is a skipped limit, logged once at Error.
func TestNotFoundIsQuiet(t *testing.T) {
	// router answers like a router behind WithRouteFunc: 404 and 405 for
	// unknown routes, 200 for the ones it serves.
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/login" && r.Method == "POST", r.URL.Path == "/hidden":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/login":
			w.WriteHeader(http.StatusMethodNotAllowed)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	routeOf := func(r *http.Request) string {
		if r.URL.Path == "/login" && r.Method == "POST" {
			return "POST /login"
		}
		return "" // /hidden: a route the function does not see
	}
	mux := http.NewServeMux()
	mux.Handle("POST /login", router)
	for _, tc := range []struct {
		name    string
		handler func(*httplimit.Middleware) http.Handler
		opts    []httplimit.Option
	}{
		{"ServeMux", func(m *httplimit.Middleware) http.Handler { return m.Handler(mux) }, nil},
		{"WithRouteFunc", func(m *httplimit.Middleware) http.Handler { return m.Handler(router) }, []httplimit.Option{httplimit.WithRouteFunc(routeOf)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &jsonLog{}
			l, _ := newLimiter(t)
			opts := append([]httplimit.Option{httplimit.WithLogger(slog.New(slog.NewJSONHandler(out, nil))),
				httplimit.WithRoute("POST /login", "100/minute"), httplimit.WithAppLimits("1000/minute")}, tc.opts...)
			m := newMiddleware(t, l, opts...)
			srv := serve(t, tc.handler(m))
			for range 3 {
				assert.Equal(t, http.StatusNotFound, do(t, srv, "GET", "/nowhere").code, "GET /nowhere")
				assert.Equal(t, http.StatusMethodNotAllowed, do(t, srv, "GET", "/login").code, "GET /login")
				assert.Equal(t, http.StatusOK, do(t, srv, "POST", "/login").code, "POST /login")
			}
			assert.Empty(t, out.records(t), "log records after 404s, 405s and limited requests")
			if tc.name != "WithRouteFunc" {
				return
			}
			for range 3 {
				assert.Equal(t, http.StatusOK, do(t, srv, "GET", "/hidden").code, "GET /hidden")
			}
			recs := out.records(t)
			require.Len(t, recs, 1, "log records after 3 requests served on a route the route function does not see: %v", recs)
			assert.Equal(t, "ERROR", recs[0]["level"])
			assert.Contains(t, recs[0]["msg"], "could not tell")
			assert.Equal(t, "/hidden", recs[0]["path"], "path attribute")
			assert.Equal(t, float64(200), recs[0]["status"], "status attribute")
		})
	}
}
