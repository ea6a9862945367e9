package otel_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/redistest"
	_ "github.com/floodgate-go/floodgate/redisstore" // registers redis://
)

// redisServer is a real redis-server for the test (see redistest).
type redisServer struct{ *redistest.Server }

func startRedis(t *testing.T) redisServer { return redisServer{redistest.Start(t)} }

func (r redisServer) addr() string       { return r.Addr() }
func (r redisServer) kill()              { r.Kill() }
func (r redisServer) start(t *testing.T) { r.Restart(t) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestUnavailable stops a real Redis under each failure policy and
// finds floodgate.http.decisions counting the responses the middleware
// gave: a 503 (failure=closed: the policy denied without counting) as
// outcome="unavailable", a 429 (failure=memory: the local count denied)
// as "denied", and nothing of the one as the other.
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
			s := newServer(t, "redis://"+r.addr()+"?timeout=200ms&backoff=50ms&failure="+c.failure,
				floodgate.WithLogger(discardLogger()))
			require.Eventually(t, func() bool { return s.do(t, 1, "GET", "/items/warm")[204] == 1 },
				10*time.Second, 20*time.Millisecond, "the first request through Redis")
			r.kill()

			require.Equal(t, c.want, s.do(t, 4, "POST", "/login"), "POST /login (3/minute) with Redis down, failure=%s", c.failure)
			rm := s.collect(t)
			for outcome, want := range map[string]float64{"allowed": c.allowed, "denied": c.denied, "unavailable": c.unavailable} {
				assert.Equal(t, want, value(rm, "floodgate.http.decisions", "route", "POST /login", "outcome", outcome),
					"floodgate.http.decisions{route=\"POST /login\",outcome=%q}", outcome)
			}
		})
	}
}
