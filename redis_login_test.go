package floodgate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/internal/login"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptCalls returns the script calls (EVALSHA and EVAL) in r's INFO
// commandstats.
func scriptCalls(t *testing.T, r *storetest.Redis) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(r.CLI(t, "INFO", "commandstats"), "\n") {
		for _, cmd := range []string{"evalsha", "eval"} {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls=")
			if ok {
				c, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				require.NoError(t, err, "INFO commandstats: %s", line)
				n += c
			}
		}
	}
	return n
}

// TestRedisLoginOneCall serves the demo's login through httplimit over
// floodgate.Open("redis://…") on a real redis-server, from two instances
// with real HTTP clients: an app-wide limit, the route's limit per
// client address and an AlsoBy limit per account. Every request that
// Redis decides, allowed or denied, is exactly one Redis script call
// (INFO commandstats); a request that the instance's own local count
// denies makes none. A denied request counts in none of the other
// scopes, with no refund call.
func TestRedisLoginOneCall(t *testing.T) {
	r := storetest.StartRedis(t)
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.GCRA, limit.MovingWindow} {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			uri := redisURI("redis", r.Addr(), s, "")
			prefix := uri[strings.Index(uri, "prefix=")+7:]
			prefix = prefix[:strings.IndexByte(prefix, '&')]
			account := httplimit.Key(func(r *http.Request) (string, bool) { return r.PostFormValue("account"), true })
			instance := func() (floodgate.Store, string) {
				store, err := floodgate.Open(uri)
				require.NoError(t, err)
				t.Cleanup(func() { store.Close() })
				m, err := httplimit.New(store,
					httplimit.WithAppLimits("1000/hour"),
					httplimit.WithRoute(login.Pattern, "3/hour", httplimit.AlsoBy("account", account, "100/hour")))
				require.NoError(t, err)
				mux := http.NewServeMux()
				mux.HandleFunc(login.Pattern, login.Handler)
				srv := httptest.NewServer(m.Handler(mux))
				t.Cleanup(srv.Close)
				return store, srv.URL
			}
			one, oneURL := instance()
			_, twoURL := instance()
			// A script's first call on a server is EVALSHA answered
			// NOSCRIPT, then EVAL: load both first, the single script (a
			// lone decision) and the batch script (AllowAll).
			_, err := one.Peek(context.Background(), "warm", limit.PerHour(1))
			require.NoError(t, err)
			_, _, err = one.AllowAll(context.Background(), floodgate.Charge{Key: "warm", N: 1, Limits: []limit.Limit{limit.PerHour(1)}})
			require.NoError(t, err)
			post := func(base string) (status, calls int) {
				before := scriptCalls(t, r)
				resp, err := http.PostForm(base+login.Path, url.Values{"password": {login.Password}, "account": {"bob"}})
				require.NoError(t, err)
				resp.Body.Close()
				return resp.StatusCode, scriptCalls(t, r) - before
			}
			for i := range 3 {
				status, calls := post(oneURL)
				assert.Equal(t, http.StatusOK, status, "request %d of 3/hour", i)
				assert.Equal(t, 1, calls, "Redis script calls of allowed request %d", i)
			}
			status, calls := post(oneURL)
			assert.Equal(t, http.StatusTooManyRequests, status, "request 4 of 3/hour, same instance")
			assert.Zero(t, calls, "Redis script calls of a request the instance's local count denies")
			for i := range 2 {
				status, calls := post(twoURL)
				assert.Equal(t, http.StatusTooManyRequests, status, "request %d of 3/hour through the other instance", 5+i)
				assert.Equal(t, 1, calls, "Redis script calls of request %d, denied by Redis: one, no refund", 5+i)
			}
			if s != limit.SlidingWindow {
				return
			}
			// The denials counted in neither the app's nor the account's
			// budget: each holds the 3 allowed requests.
			keys := strings.Split(r.CLI(t, "--scan", "--pattern", prefix+"*"), "\n")
			counted := 0
			for _, k := range keys {
				if strings.HasSuffix(k, ":s:1000/3600") || strings.HasSuffix(k, ":s:100/3600") {
					counted++
					// The counter's cur, its last 7 bytes (redisstore/lua/window.lua).
					cur := r.CLI(t, "EVAL", "return struct.unpack('<I7', redis.call('GET', KEYS[1]), 15)", "1", k)
					assert.Equal(t, "3", cur, "%s: want 3 counted", k)
				}
			}
			assert.Equal(t, 2, counted, "the app's and the account's keys among %q", keys)
		})
	}
}
