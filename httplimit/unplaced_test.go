package httplimit_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/httplimit"
)

// TestUnplacedRoute: a request whose route the route function cannot
// tell gets the default limits when they exist, and is counted by the
// decision hook (the metrics) whether or not a limit applies.
func TestUnplacedRoute(t *testing.T) {
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" || r.URL.Path == "/hidden" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	routeOf := func(r *http.Request) string {
		if r.URL.Path == "/login" {
			return "POST /login"
		}
		return "" // /hidden: a route the function does not see
	}
	for _, tc := range []struct {
		name   string
		opts   []httplimit.Option
		codes  []int  // statuses of 4 requests to /hidden
		scope  string // Event.Scope of each
		limits string // X-RateLimit-Limit of the first
	}{
		{"default limits", []httplimit.Option{httplimit.WithDefaultLimits("2/minute")},
			[]int{200, 200, 429, 429}, "default", "2"},
		{"default and app limits", []httplimit.Option{httplimit.WithDefaultLimits("3/minute"), httplimit.WithAppLimits("100/minute")},
			[]int{200, 200, 200, 429}, "default", "3"},
		{"app limits only", []httplimit.Option{httplimit.WithAppLimits("100/minute")},
			[]int{200, 200, 200, 200}, "app", "100"},
		{"no limit applies", nil, []int{200, 200, 200, 200}, "unplaced", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t)
			var ev events
			opts := append([]httplimit.Option{httplimit.WithRouteFunc(routeOf), httplimit.WithDecisionHook(ev.hook),
				httplimit.WithRoute("POST /login", "100/minute")}, tc.opts...)
			srv := serve(t, newMiddleware(t, l, opts...).Handler(router))
			for i, want := range tc.codes {
				r := do(t, srv, "GET", "/hidden")
				require.Equal(t, want, r.code, "request %d to /hidden", i+1)
				if i == 0 {
					assert.Equal(t, tc.limits, r.h.Get("X-RateLimit-Limit"), "X-RateLimit-Limit of the first")
				}
			}
			got := ev.all()
			require.Len(t, got, len(tc.codes), "hook events for %d unplaced requests", len(tc.codes))
			for i, e := range got {
				assert.Equal(t, "", e.Pattern, "event %d: pattern", i+1)
				assert.Equal(t, tc.scope, e.Scope, "event %d: scope", i+1)
				assert.Equal(t, tc.codes[i] == 200, e.Decision.Allowed, "event %d: allowed", i+1)
			}
			// A placed request is unaffected: its route's own budget.
			r := do(t, srv, "POST", "/login")
			assert.Equal(t, http.StatusOK, r.code, "POST /login")
			assert.Equal(t, "100", r.h.Get("X-RateLimit-Limit"), "POST /login X-RateLimit-Limit")
			require.Len(t, ev.all(), len(tc.codes)+1, "hook events after POST /login")
		})
	}
}
