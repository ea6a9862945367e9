package sethvargo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	golimiter "github.com/sethvargo/go-limiter"
	"github.com/sethvargo/go-limiter/httplimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/adapters/sethvargo"
	"github.com/floodgate-go/floodgate/internal/windowtest"
	_ "github.com/floodgate-go/floodgate/redisstore"
)

type backend struct {
	name string
	uri  func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"memory", func(*testing.T) string { return "memory://" }},
		{"redis", func(t *testing.T) string { return "redis://" + startRedis(t) }},
	}
}

func open(t *testing.T, uri string, c *sethvargo.Config) *sethvargo.Store {
	t.Helper()
	s, err := sethvargo.Open(uri, c)
	require.NoError(t, err, "sethvargo.Open(%q, %+v)", uri, c)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// TestExercise is go-limiter's memorystore TestStore_Exercise, ported:
// go-limiter publishes no store suite (its tests are internal to
// memorystore), so its scenarios run here, on memory and on Redis. One
// answer differs on purpose: Get of an unknown key returns the default
// limit and a full bucket (memorystore: 0, 0).
func TestExercise(t *testing.T) {
	for _, b := range backends() {
		t.Run("backend="+b.name, func(t *testing.T) {
			s := open(t, b.uri(t), &sethvargo.Config{Tokens: 5, Interval: 3 * time.Second})
			ctx := context.Background()
			type step struct {
				op             string // get, take, set, burst
				n              uint64
				interval       time.Duration
				tokens, remain uint64
				resetWithin    time.Duration // take: reset is at most this far
			}
			steps := []step{
				{op: "get", tokens: 5, remain: 5},
				{op: "take", tokens: 5, remain: 4, resetWithin: 3 * time.Second},
				{op: "get", tokens: 5, remain: 4},
				{op: "set", n: 11, interval: 5 * time.Second},
				{op: "get", tokens: 11, remain: 11},
				{op: "take", tokens: 11, remain: 10, resetWithin: 5 * time.Second},
				{op: "get", tokens: 11, remain: 10},
				{op: "burst", n: 5},
				{op: "take", tokens: 11, remain: 14, resetWithin: 5 * time.Second},
				{op: "get", tokens: 11, remain: 14},
			}
			windowtest.InOne(t, []time.Duration{3 * time.Second, 5 * time.Second}, func(t require.TestingT, key string) {
				for i, st := range steps {
					switch st.op {
					case "get":
						tokens, remain, err := s.Get(ctx, key)
						require.NoError(t, err, "step %d: Get", i)
						assert.Equal(t, []uint64{st.tokens, st.remain}, []uint64{tokens, remain}, "step %d: Get: tokens, remaining", i)
					case "take":
						before := time.Now()
						tokens, remain, reset, ok, err := s.Take(ctx, key)
						after := time.Now()
						require.NoError(t, err, "step %d: Take", i)
						assert.True(t, ok, "step %d: Take: ok", i)
						assert.Equal(t, []uint64{st.tokens, st.remain}, []uint64{tokens, remain}, "step %d: Take: tokens, remaining", i)
						// The window ends after the decision, and at most
						// resetWithin after it; the decision was made
						// between before and after.
						at := time.Unix(0, int64(reset))
						assert.True(t, before.Before(at) && !at.After(after.Add(st.resetWithin)),
							"step %d: Take: reset %v, want after the call's start %v and at most %v after its end %v", i, at, before, st.resetWithin, after)
					case "set":
						require.NoError(t, s.Set(ctx, key, st.n, st.interval), "step %d: Set(%d, %v)", i, st.n, st.interval)
					case "burst":
						require.NoError(t, s.Burst(ctx, key, st.n), "step %d: Burst(%d)", i, st.n)
					}
				}
			})
		})
	}
}

// TestTake is go-limiter's memorystore TestStore_Take, ported: 2×tokens
// concurrent takes, of which exactly tokens succeed with remaining
// tokens−1 … 0, then a take succeeds again one interval later.
func TestTake(t *testing.T) {
	for _, b := range backends() {
		for _, tc := range []struct {
			tokens   uint64
			interval time.Duration
		}{{5, 500 * time.Millisecond}, {10, time.Second}} {
			t.Run(fmt.Sprintf("backend=%s/tokens=%d/interval=%v", b.name, tc.tokens, tc.interval), func(t *testing.T) {
				s := open(t, b.uri(t), &sethvargo.Config{Tokens: tc.tokens, Interval: tc.interval})
				ctx := context.Background()
				type result struct {
					tokens, remaining uint64
					ok                bool
				}
				key := windowtest.InOne(t, []time.Duration{tc.interval}, func(t require.TestingT, key string) {
					results := make([]result, 2*tc.tokens)
					var wg sync.WaitGroup
					for i := range results {
						wg.Go(func() {
							tokens, remaining, _, ok, err := s.Take(ctx, key)
							assert.NoError(t, err, "Take")
							results[i] = result{tokens, remaining, ok}
						})
					}
					wg.Wait()
					sort.Slice(results, func(i, j int) bool {
						if results[i].remaining == results[j].remaining {
							return results[i].ok && !results[j].ok
						}
						return results[i].remaining > results[j].remaining
					})
					for i, r := range results {
						assert.Equal(t, tc.tokens, r.tokens, "take %d: tokens", i)
						if uint64(i) < tc.tokens {
							assert.Equal(t, tc.tokens-uint64(i)-1, r.remaining, "take %d: remaining", i)
							assert.True(t, r.ok, "take %d: ok", i)
						} else {
							assert.Equal(t, uint64(0), r.remaining, "take %d: remaining", i)
							assert.False(t, r.ok, "take %d: ok", i)
						}
					}
				})
				time.Sleep(tc.interval) // a later window, at least
				_, _, _, ok, err := s.Take(ctx, key)
				require.NoError(t, err, "Take one interval later")
				assert.True(t, ok, "Take one interval later: ok")
			})
		}
	}
}

// TestMiddleware serves go-limiter's httplimit middleware over the
// adapter on a real loopback server: tokens requests pass with
// go-limiter's headers, the next ones get 429 with Retry-After.
func TestMiddleware(t *testing.T) {
	for _, b := range backends() {
		t.Run("backend="+b.name, func(t *testing.T) {
			const n = 5
			s := open(t, b.uri(t), &sethvargo.Config{Tokens: n, Interval: time.Minute})
			mw, err := httplimit.NewMiddleware(s, httplimit.IPKeyFunc("X-Forwarded-For"))
			require.NoError(t, err)
			srv := httptest.NewServer(mw.Handle(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("ok"))
			})))
			t.Cleanup(srv.Close)
			// Each run is one client, named in X-Forwarded-For.
			windowtest.InOne(t, []time.Duration{time.Minute}, func(t require.TestingT, key string) {
				for i := 1; i <= n+2; i++ {
					req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
					require.NoError(t, err)
					req.Header.Set("X-Forwarded-For", "10.0.0."+strings.TrimPrefix(key, "k"))
					before := time.Now()
					resp, err := srv.Client().Do(req)
					after := time.Now()
					require.NoError(t, err, "GET %d", i)
					_ = resp.Body.Close()
					want, remaining := http.StatusOK, n-i
					if i > n {
						want, remaining = http.StatusTooManyRequests, 0
					}
					assert.Equal(t, want, resp.StatusCode, "GET %d: status", i)
					assert.Equal(t, strconv.Itoa(n), resp.Header.Get(httplimit.HeaderRateLimitLimit), "GET %d: limit header", i)
					assert.Equal(t, strconv.Itoa(remaining), resp.Header.Get(httplimit.HeaderRateLimitRemaining), "GET %d: remaining header", i)
					reset, err := time.Parse(time.RFC1123, resp.Header.Get(httplimit.HeaderRateLimitReset))
					require.NoError(t, err, "GET %d: reset header %q", i, resp.Header.Get(httplimit.HeaderRateLimitReset))
					// Whole seconds: the window ends within the minute
					// after a decision made between before and after.
					lo, hi := before.Truncate(time.Second), after.Add(time.Minute)
					assert.True(t, !reset.Before(lo) && !reset.After(hi), "GET %d: reset %v, want within the minute of the request, in [%v, %v]", i, reset, lo, hi)
					if i > n {
						assert.NotEmpty(t, resp.Header.Get(httplimit.HeaderRetryAfter), "GET %d: Retry-After", i)
					}
				}
			})
		})
	}
}

// TestOverridesBounded checks that the per-key limits of Set live in a
// bounded map: past MaxOverrides, the least recently used key goes back
// to the default limit, and the map never holds more.
func TestOverridesBounded(t *testing.T) {
	const max = 4
	s := open(t, "memory://", &sethvargo.Config{Tokens: 1, Interval: time.Hour, MaxOverrides: max})
	ctx := context.Background()
	for i := range 100 {
		require.NoError(t, s.Set(ctx, "k"+strconv.Itoa(i), 7, time.Hour), "Set k%d", i)
		assert.LessOrEqual(t, s.Overrides(), max, "Overrides after %d Sets", i+1)
	}
	tokens, _, err := s.Get(ctx, "k99")
	require.NoError(t, err)
	assert.Equal(t, uint64(7), tokens, "Get k99: the last Set is kept")
	tokens, _, err = s.Get(ctx, "k0")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), tokens, "Get k0: evicted, back to the default")

	// A key in use survives a newer, unused one.
	require.NoError(t, s.Set(ctx, "hot", 7, time.Hour))
	for i := range 3 {
		require.NoError(t, s.Set(ctx, "cold"+strconv.Itoa(i), 7, time.Hour))
		time.Sleep(time.Millisecond) // distinct last-use times
		_, _, _, _, err = s.Take(ctx, "hot")
		require.NoError(t, err)
	}
	require.NoError(t, s.Set(ctx, "new", 7, time.Hour))
	tokens, _, err = s.Get(ctx, "hot")
	require.NoError(t, err)
	assert.Equal(t, uint64(7), tokens, "Get hot: used most recently, kept")
	assert.Equal(t, max, s.Overrides(), "Overrides")
}

// TestBurst checks that Burst tokens are taken after the window's own
// and expire with the window.
func TestBurst(t *testing.T) {
	for _, b := range backends() {
		t.Run("backend="+b.name, func(t *testing.T) {
			const interval = 300 * time.Millisecond
			s := open(t, b.uri(t), &sethvargo.Config{Tokens: 1, Interval: interval})
			ctx := context.Background()
			key := windowtest.InOne(t, []time.Duration{interval}, func(t require.TestingT, key string) {
				require.NoError(t, s.Burst(ctx, key, 2))
				var oks []bool
				for range 4 {
					_, _, _, ok, err := s.Take(ctx, key)
					require.NoError(t, err)
					oks = append(oks, ok)
				}
				assert.Equal(t, []bool{true, true, true, false}, oks, "4 takes of 1/%v after Burst(2)", interval)
				require.NoError(t, s.Burst(ctx, key, 3))
			})
			time.Sleep(interval) // a later window, at least
			_, remaining, err := s.Get(ctx, key)
			require.NoError(t, err)
			assert.Equal(t, uint64(1), remaining, "Get in a later window: the burst has expired")
		})
	}
}

// TestErrors checks ErrLimit, ErrStopped, and that a Redis that cannot be
// reached is decided by floodgate.Open's failure policy with no error.
func TestErrors(t *testing.T) {
	t.Run("config", func(t *testing.T) {
		_, err := sethvargo.Open("memory://", &sethvargo.Config{Tokens: 1 << 53})
		assert.ErrorIs(t, err, sethvargo.ErrLimit, "Open with 2^53 tokens (MaxCount is 2^53−1)")
		_, err = sethvargo.Open("memory://", &sethvargo.Config{Interval: time.Microsecond})
		assert.ErrorIs(t, err, sethvargo.ErrLimit, "Open with an interval of 1µs")
		s := open(t, "memory://", nil)
		assert.ErrorIs(t, s.Set(context.Background(), "k", 0, time.Second), sethvargo.ErrLimit, "Set of 0 tokens")
	})
	t.Run("closed", func(t *testing.T) {
		s := open(t, "memory://", nil)
		require.NoError(t, s.Close(context.Background()))
		require.NoError(t, s.Close(context.Background()), "second Close")
		tokens, remaining, reset, ok, err := s.Take(context.Background(), "k")
		assert.True(t, errors.Is(err, golimiter.ErrStopped), "Take after Close: %v, want ErrStopped", err)
		assert.Equal(t, []any{uint64(0), uint64(0), uint64(0), false}, []any{tokens, remaining, reset, ok}, "Take after Close: zero values")
	})
	t.Run("redis=down/failure=memory", func(t *testing.T) {
		s := open(t, "redis://127.0.0.1:1?timeout=50ms&dial-timeout=50ms", &sethvargo.Config{Tokens: 2, Interval: time.Minute})
		var oks []bool
		for range 3 {
			_, _, _, ok, err := s.Take(context.Background(), "k")
			require.NoError(t, err, "Take while Redis is down: the policy decides")
			oks = append(oks, ok)
		}
		assert.Equal(t, []bool{true, true, false}, oks, "takes of 2/minute decided by the in-memory backup")
	})
}
