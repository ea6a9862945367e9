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
	require.Len(t, recs, 2, "log records after 10 requests: %v", recs)
	var msgs []string
	for _, rec := range recs {
		msgs = append(msgs, rec["msg"].(string))
		assert.Equal(t, "ERROR", rec["level"], "level of %q", rec["msg"])
		if strings.Contains(rec["msg"].(string), "cannot tell the route") {
			assert.Equal(t, "GET", rec["method"], "method attribute")
			assert.Equal(t, "/nowhere", rec["path"], "path attribute")
		} else {
			assert.Equal(t, "memory", rec["store"], "store attribute of the CountWhen line: the store's Info().Kind")
			assert.Contains(t, rec["error"], "unsupported", "error attribute of the CountWhen line")
		}
	}
	assert.ElementsMatch(t, []bool{true, true}, []bool{
		strings.Contains(strings.Join(msgs, "\n"), "cannot tell the route"),
		strings.Contains(strings.Join(msgs, "\n"), "CountWhen needs a store"),
	}, "messages: %q", msgs)
}
