package prometheus_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/redistest"
	_ "github.com/floodgate-go/floodgate/redisstore" // registers redis://
)

// redisServer is a real redis-server for the test (see redistest).
type redisServer struct{ *redistest.Server }

func startRedis(t *testing.T) redisServer { return redisServer{redistest.Start(t)} }

func (r redisServer) addr() string       { return r.Addr() }
func (r redisServer) kill()              { r.Kill() }
func (r redisServer) start(t *testing.T) { r.Restart(t) }

// TestRedisOutage stops a real Redis behind the Collector and restarts
// it: floodgate_store_up goes 1 → 0 → 1, and
// floodgate_fallback_decisions_total counts the requests the failure
// policy answered meanwhile. The fallback's trip rule and backoff run on
// a manual clock, so the call that marks the store down, and the one
// that tries it again, are the same in every run.
func TestRedisOutage(t *testing.T) {
	r := startRedis(t)
	clk := clock.NewManual(time.Hour)
	s, _ := newServer(t, "redis://"+r.addr()+"?timeout=2s&backoff=50ms",
		floodgate.WithLogger(discardLogger()), floodgate.WithClock(clk))
	require.Eventually(t, func() bool { return s.do(t, 1, "GET", "/items/warm")[204] == 1 },
		10*time.Second, 20*time.Millisecond, "the first request through Redis")

	fams := s.scrape(t)
	assert.Equal(t, 1.0, value(fams, "floodgate_store_up", "store", "redis"), "store_up with Redis answering")
	assert.Zero(t, value(fams, "floodgate_fallback_decisions_total"), "fallback decisions with Redis answering")
	before := value(fams, "floodgate_http_decisions_total")

	r.kill()
	got := s.do(t, 6, "POST", "/login")
	assert.Equal(t, map[int]int{204: 3, 429: 3}, got, "POST /login with Redis down: the memory policy enforces 3/minute")
	fams = s.scrape(t)
	// The 3 allowed logins tried the dead Redis; the 3 denied ones were
	// denied by the local count, which holds them, without asking it.
	assert.Equal(t, 3.0, value(fams, "floodgate_fallback_decisions_total", "store", "redis"), "fallback decisions: one per request that tried Redis")
	assert.Equal(t, 3.0, value(fams, "floodgate_fallback_decisions_total", "reason", "error", "outcome", "allowed"), "fallback decisions allowed, by reason")
	assert.Equal(t, 3.0, value(fams, "floodgate_http_decisions_total", "route", "POST /login", "outcome", "denied"), "HTTP denials during the outage")
	assert.Equal(t, before+6, value(fams, "floodgate_http_decisions_total"), "HTTP decisions keep counting during the outage")
	require.Eventually(t, func() bool {
		s.do(t, 1, "GET", "/items/outage")
		return value(s.scrape(t), "floodgate_store_up", "store", "redis") == 0
	}, 10*time.Second, 10*time.Millisecond, "failed calls never marked the store down")
	fams = s.scrape(t)
	assert.Equal(t, 1.0, value(fams, "floodgate_store_state_changes_total", "state", "down"), "changes to down")
	s.do(t, 1, "GET", "/items/outage")
	fams = s.scrape(t)
	assert.Positive(t, value(fams, "floodgate_fallback_decisions_total", "reason", "down"), "fallback decisions while marked down")
	during := value(fams, "floodgate_fallback_decisions_total")

	r.start(t)
	require.Eventually(t, func() bool {
		clk.Advance(50 * time.Millisecond) // a backoff: the next request tries Redis
		s.do(t, 1, "GET", "/items/back")
		return value(s.scrape(t), "floodgate_store_up", "store", "redis") == 1
	}, 10*time.Second, 50*time.Millisecond, "floodgate_store_up never returned to 1 after Redis restarted")
	fams = s.scrape(t)
	assert.Equal(t, 1.0, value(fams, "floodgate_store_state_changes_total", "state", "up"), "changes to up")
	assert.GreaterOrEqual(t, value(fams, "floodgate_fallback_decisions_total"), during, "fallback decisions never go down")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestUnavailable stops a real Redis under each failure policy and
// finds floodgate_http_decisions_total counting the responses the
// middleware gave: a 503 (failure=closed: the policy denied without
// counting) as outcome="unavailable", a 429 (failure=memory: the local
// count denied) as "denied", and nothing of the one as the other.
func TestUnavailable(t *testing.T) {
	for _, c := range []struct {
		failure                      string
		want                         map[int]int
		allowed, denied, unavailable float64
	}{
		{"closed", map[int]int{503: 4}, 0, 0, 4},
		{"memory", map[int]int{204: 3, 429: 1}, 3, 1, 0},
	} {
		t.Run(c.failure, func(t *testing.T) {
			r := startRedis(t)
			s, _ := newServer(t, "redis://"+r.addr()+"?timeout=200ms&backoff=50ms&failure="+c.failure,
				floodgate.WithLogger(discardLogger()))
			require.Eventually(t, func() bool { return s.do(t, 1, "GET", "/items/warm")[204] == 1 },
				10*time.Second, 20*time.Millisecond, "the first request through Redis")
			r.kill()

			require.Equal(t, c.want, s.do(t, 4, "POST", "/login"), "POST /login (3/minute) with Redis down, failure=%s", c.failure)
			fams := s.scrape(t)
			for outcome, want := range map[string]float64{"allowed": c.allowed, "denied": c.denied, "unavailable": c.unavailable} {
				assert.Equal(t, want, value(fams, "floodgate_http_decisions_total", "route", "POST /login", "outcome", outcome),
					"floodgate_http_decisions_total{route=\"POST /login\",outcome=%q}", outcome)
			}
		})
	}
}
