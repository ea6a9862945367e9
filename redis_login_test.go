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

// serveLogin serves the demo's login (an app-wide limit, the route's
// limit per client address and an AlsoBy limit per account, all over
// 1000 days, so that the server's clock turns a window once in 1000 days,
// not during a test) through
// httplimit over floodgate.Open(uri) on a real HTTP server, and mux's
// other routes (nil: none) under opts; it returns the store and the
// server's URL.
func serveLogin(t *testing.T, uri string, mux *http.ServeMux, opts ...httplimit.Option) (floodgate.Store, string) {
	t.Helper()
	store, err := floodgate.Open(uri)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	account := httplimit.Key(func(r *http.Request) (string, bool) { return r.PostFormValue("account"), true })
	m, err := httplimit.New(store, append([]httplimit.Option{
		httplimit.WithAppLimits("1000/1000 days"),
		httplimit.WithRoute(login.Pattern, "3/1000 days", httplimit.AlsoBy("account", account, "100/1000 days")),
	}, opts...)...)
	require.NoError(t, err)
	if mux == nil {
		mux = http.NewServeMux()
	}
	mux.HandleFunc(login.Pattern, login.Handler)
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	return store, srv.URL
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
			one, oneURL := serveLogin(t, uri, nil)
			_, twoURL := serveLogin(t, uri, nil)
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
				assert.Equal(t, http.StatusOK, status, "request %d of 3", i)
				assert.Equal(t, 1, calls, "Redis script calls of allowed request %d", i)
			}
			status, calls := post(oneURL)
			assert.Equal(t, http.StatusTooManyRequests, status, "request 4 of 3, same instance")
			assert.Zero(t, calls, "Redis script calls of a request the instance's local count denies")
			for i := range 2 {
				status, calls := post(twoURL)
				assert.Equal(t, http.StatusTooManyRequests, status, "request %d of 3 through the other instance", 5+i)
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
				if strings.HasSuffix(k, ":s:1000/86400000") || strings.HasSuffix(k, ":s:100/86400000") {
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

// TestRedisClusterRequestOneCall serves requests through httplimit over
// floodgate.Open("redis+cluster://…") on a real 3-master cluster, from two
// instances with real HTTP clients, and counts the script calls on every
// master (INFO commandstats):
//   - a request with app-wide, shared and route limits is exactly one
//     call, allowed or denied, with no refund: its storage keys carry the
//     client's hash tag, so they share a slot;
//   - the demo's login, whose account limit (AlsoBy) is keyed by the
//     account, is one call per slot of {client, account}, sent at once.
func TestRedisClusterRequestOneCall(t *testing.T) {
	nodes := storetest.StartCluster(t, 3)
	uri := redisURI("redis+cluster", nodes[0].Addr(), limit.SlidingWindow, "")
	instance := func() (floodgate.Store, string) {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /api/items", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
		return serveLogin(t, uri, mux, httplimit.WithRoute("POST /api/items", "3/1000 days", httplimit.Shared("api", "500/1000 days")))
	}
	one, oneURL := instance()
	_, twoURL := instance()
	calls := func() int {
		n := 0
		for _, r := range nodes {
			n += scriptCalls(t, r)
		}
		return n
	}
	// Load the scripts on every master (a script's first call on a
	// server is EVALSHA answered NOSCRIPT, then EVAL): the single, batch
	// and refund scripts, on keys whose tags span the masters' slots.
	for i := range 64 {
		k := "{" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "}warm"
		_, err := one.Peek(context.Background(), k, limit.PerHour(1))
		require.NoError(t, err)
		_, _, err = one.AllowAll(context.Background(),
			floodgate.Charge{Key: k, N: 1, Limits: []limit.Limit{limit.PerHour(1)}},
			floodgate.Charge{Key: "other" + k, N: 1, Limits: []limit.Limit{limit.PerHour(1)}})
		require.NoError(t, err)
	}
	post := func(base, path string, form url.Values) (status, n int) {
		before := calls()
		resp, err := http.PostForm(base+path, form)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, calls() - before
	}

	t.Run("app, shared and route", func(t *testing.T) {
		for i := range 3 {
			status, n := post(oneURL, "/api/items", nil)
			assert.Equal(t, http.StatusCreated, status, "request %d of 3", i)
			assert.Equal(t, 1, n, "script calls of allowed request %d", i)
		}
		for i := range 2 {
			status, n := post(twoURL, "/api/items", nil)
			assert.Equal(t, http.StatusTooManyRequests, status, "request %d of 3 through the other instance", 4+i)
			assert.Equal(t, 1, n, "script calls of request %d, denied by Redis: one, no refund", 4+i)
		}
	})

	t.Run("login by address and account", func(t *testing.T) {
		// The client's storage keys are tagged {i127.0.0.1}, the
		// account's {vbob}: one call per slot.
		slots := 2
		if nodes[0].CLI(t, "CLUSTER", "KEYSLOT", "{i127.0.0.1}") == nodes[0].CLI(t, "CLUSTER", "KEYSLOT", "{vbob}") {
			slots = 1
		}
		form := url.Values{"password": {login.Password}, "account": {"bob"}}
		for i := range 3 {
			status, n := post(oneURL, login.Path, form)
			assert.Equal(t, http.StatusOK, status, "login %d of 3", i)
			assert.Equal(t, slots, n, "script calls of allowed login %d: one per slot", i)
		}
		status, _ := post(twoURL, login.Path, form)
		assert.Equal(t, http.StatusTooManyRequests, status, "login 4 of 3 through the other instance")
	})
}
