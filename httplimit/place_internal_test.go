package httplimit

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
)

// TestPlaceByPath: a router pattern without a method (chi's, gin's,
// Echo's) finds the route or exemption declared with the request's
// method; with another method, or none declared, the pattern stands as
// the router gave it, and the default limits apply.
func TestPlaceByPath(t *testing.T) {
	store := floodgate.NewMemory()
	t.Cleanup(func() { _ = store.Close() })
	m, err := New(store,
		WithRouteFunc(func(r *http.Request) string { return r.Pattern }),
		WithRoute("POST /login", "5/minute"),
		WithRoute("GET /login", "50/minute"),
		WithRoute("/any", "7/minute"),
		WithExempt("GET /health"),
		WithDefaultLimits("100/minute"),
	)
	require.NoError(t, err)
	h := m.Handler(http.NotFoundHandler()).(*appHandler)
	c := m.cur.Load()
	tests := []struct {
		method, pattern string
		want            string
		limits          string // "": none; "default"
		exempt          bool
	}{
		{"POST", "/login", "POST /login", "5/minute", false},
		{"GET", "/login", "GET /login", "50/minute", false},
		{"PUT", "/login", "/login", "default", false},
		{"GET", "/health", "GET /health", "", true},
		{"POST", "/health", "/health", "default", false},
		{"GET", "/any", "/any", "7/minute", false},
		{"POST", "POST /login", "POST /login", "5/minute", false},
		{"GET", "/other", "/other", "default", false},
		{"GET", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.pattern, func(t *testing.T) {
			r := &http.Request{Method: tc.method, Pattern: tc.pattern}
			pattern, rt, exempt, _ := h.place(c, r)
			assert.Equal(t, tc.want, pattern)
			assert.Equal(t, tc.exempt, exempt)
			switch tc.limits {
			case "":
				assert.Nil(t, rt)
			case "default":
				assert.Same(t, c.def, rt)
			default:
				require.NotNil(t, rt)
				assert.Equal(t, tc.limits, rt.own.limits[0].String())
			}
		})
	}
}
