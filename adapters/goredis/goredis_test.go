package goredis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/adapters/goredis"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/seam"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var strategies = []string{"sliding-window", "fixed-window", "gcra", "moving-window"}

// newClient returns a go-redis client on addr configured as New's
// documentation asks: context deadlines respected, no retries.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a go-redis-backed store on c, closed in Cleanup. The
// budget is generous: the tests run under -race on a shared machine.
func newStore(t testing.TB, c redis.UniversalClient, query string) *redisstore.Store {
	t.Helper()
	s, err := goredis.New(c, "timeout=2s&"+query)
	require.NoError(t, err, "goredis.New")
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestSameDecisions runs one random sequence of AllowN, Peek, Reset
// and Refund calls at explicit times (a manual clock, carried by the ctx:
// internal/seam) on a go-redis-backed store and on
// a rueidis-backed one (redisstore.Open), on one redis-server under two
// prefixes, and wants the same Decision and error from both at every step.
func TestSameDecisions(t *testing.T) {
	r := startRedis(t)
	c := newClient(t, r.addr)
	limits := []limit.Limit{limit.PerSecond(3), limit.PerMinute(10), limit.PerHour(25), mustBurst(t, limit.PerMinute(4), 6)}
	keys := []string{"alice", "bob", "{carol}", "dave:1"}
	for _, name := range strategies {
		t.Run("strategy="+name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			viaGoRedis := newStore(t, c, "strategy="+name+"&prefix=gr:")
			viaRueidis, err := redisstore.Open("redis://" + r.addr + "?strategy=" + name + "&prefix=ru:&timeout=2s")
			require.NoError(t, err, "redisstore.Open")
			t.Cleanup(func() { _ = viaRueidis.Close() })
			clk := clock.NewManual(1_700_000_000*time.Second + time.Duration(rng.Int64N(int64(time.Hour))))
			ctx := seam.WithClock(context.Background(), clk)
			allowed, denied := 0, 0
			for step := range 400 {
				if rng.IntN(40) == 0 {
					clk.Advance(time.Duration(rng.Int64N(int64(2 * time.Minute))))
				} else {
					clk.Advance(time.Duration(rng.Int64N(int64(200 * time.Millisecond))))
				}
				now := clk.Now()
				key := keys[rng.IntN(len(keys))]
				ls := []limit.Limit{limits[rng.IntN(len(limits))]}
				if rng.IntN(3) == 0 {
					ls = append(ls, limits[rng.IntN(len(limits))])
				}
				n := 1 + rng.Int64N(3)
				var call string
				var dg, dr limit.Decision
				var eg, er error
				switch op := rng.IntN(10); {
				case op < 6:
					call = fmt.Sprintf("AllowN(%q, %d, %v) at %v", key, n, ls, now)
					dg, eg = viaGoRedis.AllowN(ctx, key, n, ls...)
					dr, er = viaRueidis.AllowN(ctx, key, n, ls...)
				case op < 8:
					call = fmt.Sprintf("Peek(%q, %v) at %v", key, ls, now)
					dg, eg = viaGoRedis.Peek(ctx, key, ls...)
					dr, er = viaRueidis.Peek(ctx, key, ls...)
				case op < 9:
					call = fmt.Sprintf("Refund(%q, %d, %v) at %v", key, n, ls, now)
					eg = viaGoRedis.Refund(ctx, key, n, ls...)
					er = viaRueidis.Refund(ctx, key, n, ls...)
				default:
					call = fmt.Sprintf("Reset(%q, %v)", key, ls)
					eg = viaGoRedis.Reset(ctx, key, ls...)
					er = viaRueidis.Reset(ctx, key, ls...)
				}
				require.NoError(t, eg, "step %d: go-redis %s", step, call)
				require.NoError(t, er, "step %d: rueidis %s", step, call)
				require.Equal(t, dr, dg, "step %d: %s via go-redis, want rueidis's Decision", step, call)
				if strings.HasPrefix(call, "AllowN(") {
					if dg.Allowed {
						allowed++
					} else {
						denied++
					}
				}
			}
			t.Logf("AllowN: %d allowed, %d denied", allowed, denied)
			assert.Positive(t, allowed, "allowed AllowN calls in the sequence")
			assert.Positive(t, denied, "denied AllowN calls in the sequence")
			got, err := c.Keys(ctx, "gr:*").Result()
			require.NoError(t, err, "KEYS gr:*")
			assert.NotEmpty(t, got, "KEYS gr:* after the sequence: the go-redis store wrote nothing")
		})
	}
}

func mustBurst(t testing.TB, l limit.Limit, b int64) limit.Limit {
	t.Helper()
	l, err := l.WithBurst(b)
	require.NoError(t, err, "%v.WithBurst(%d)", l, b)
	return l
}

// TestWrongType replaces a counter's key by a list: every call on it is an
// ErrReply (WRONGTYPE), not a failure of Redis, and other keys still work.
func TestWrongType(t *testing.T) {
	r := startRedis(t)
	c := newClient(t, r.addr)
	ctx := context.Background()
	l := limit.PerMinute(5)
	for _, name := range strategies {
		t.Run("strategy="+name, func(t *testing.T) {
			prefix := "wt:" + name + ":"
			s := newStore(t, c, "strategy="+name+"&prefix="+prefix)
			_, err := s.AllowN(ctx, "user", 1, l)
			require.NoError(t, err, "AllowN(user, %v)", l)
			keys, err := c.Keys(ctx, prefix+"*").Result()
			require.NoError(t, err, "KEYS %s*", prefix)
			require.Len(t, keys, 1, "KEYS %s* after one decision", prefix)
			require.NoError(t, c.Del(ctx, keys[0]).Err(), "DEL %s", keys[0])
			require.NoError(t, c.RPush(ctx, keys[0], "x").Err(), "RPUSH %s x", keys[0])

			d, err := s.AllowN(ctx, "user", 1, l)
			assert.ErrorIs(t, err, redisstore.ErrReply, "AllowN on a list: got %v", err)
			assert.NotErrorIs(t, err, floodgate.ErrUnavailable, "AllowN on a list: got %v", err)
			assert.False(t, d.Allowed, "AllowN on a list = %+v, want denied", d)
			_, err = s.Peek(ctx, "user", l)
			assert.ErrorIs(t, err, redisstore.ErrReply, "Peek on a list: got %v", err)
			err = s.Refund(ctx, "user", 1, l)
			assert.ErrorIs(t, err, redisstore.ErrReply, "Refund on a list: got %v", err)

			d, err = s.AllowN(ctx, "other", 1, l)
			assert.NoError(t, err, "AllowN(other) beside a broken key")
			assert.True(t, d.Allowed, "AllowN(other) = %+v, want allowed", d)
			assert.NoError(t, s.Reset(ctx, "user", l), "Reset(user) deletes the list")
			d, err = s.AllowN(ctx, "user", 1, l)
			assert.NoError(t, err, "AllowN(user) after Reset")
			assert.True(t, d.Allowed, "AllowN(user) after Reset = %+v, want allowed", d)
		})
	}
}

// TestStoppedServer: with the server gone every call fails with
// floodgate.ErrUnavailable and a denying Decision.
func TestStoppedServer(t *testing.T) {
	r := startRedis(t)
	s := newStore(t, newClient(t, r.addr), "")
	ctx := context.Background()
	l := limit.PerMinute(5)
	_, err := s.AllowN(ctx, "user", 1, l)
	require.NoError(t, err, "AllowN before the server stops")
	r.stop()

	d, err := s.AllowN(ctx, "user", 1, l)
	assert.ErrorIs(t, err, floodgate.ErrUnavailable, "AllowN with the server stopped: got %v", err)
	assert.NotErrorIs(t, err, redisstore.ErrReply, "AllowN with the server stopped: got %v", err)
	assert.False(t, d.Allowed, "AllowN with the server stopped = %+v, want denied", d)
	_, err = s.Peek(ctx, "user", l)
	assert.ErrorIs(t, err, floodgate.ErrUnavailable, "Peek with the server stopped: got %v", err)
	assert.ErrorIs(t, s.Refund(ctx, "user", 1, l), floodgate.ErrUnavailable, "Refund with the server stopped")
	assert.ErrorIs(t, s.Reset(ctx, "user", l), floodgate.ErrUnavailable, "Reset with the server stopped")
}

// TestHungServer: a server that accepts connections and never answers
// costs a call its budget, then floodgate.ErrUnavailable; a caller's
// context that ends meanwhile gives the caller's error.
func TestHungServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "listen")
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = conn.Close() }) // read nothing, answer nothing
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: l.Addr().String(), ContextTimeoutEnabled: true, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	s, err := goredis.New(c, "timeout=100ms")
	require.NoError(t, err, "goredis.New")
	t.Cleanup(func() { _ = s.Close() })

	start := time.Now()
	_, err = s.AllowN(context.Background(), "user", 1, limit.PerMinute(5))
	assert.ErrorIs(t, err, floodgate.ErrUnavailable, "AllowN on a hung server: got %v", err)
	assert.Less(t, time.Since(start), 2*time.Second, "AllowN on a hung server took %v with a 100ms budget", time.Since(start))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = s.AllowN(ctx, "user", 1, limit.PerMinute(5))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "AllowN whose caller's deadline passes on a hung server: got %v", err)
	assert.NotErrorIs(t, err, floodgate.ErrUnavailable, "AllowN whose caller's deadline passes: got %v", err)
}

// TestCancelledContext: a caller whose context has ended gets
// context.Canceled, and nothing is counted.
func TestCancelledContext(t *testing.T) {
	r := startRedis(t)
	s := newStore(t, newClient(t, r.addr), "")
	l := limit.PerMinute(5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := s.AllowN(ctx, "user", 1, l)
	assert.ErrorIs(t, err, context.Canceled, "AllowN with a cancelled context: got %v", err)
	assert.False(t, d.Allowed, "AllowN with a cancelled context = %+v, want denied", d)
	_, err = s.Peek(ctx, "user", l)
	assert.ErrorIs(t, err, context.Canceled, "Peek with a cancelled context: got %v", err)
	assert.ErrorIs(t, s.Refund(ctx, "user", 1, l), context.Canceled, "Refund with a cancelled context")

	d, err = s.Peek(context.Background(), "user", l)
	require.NoError(t, err, "Peek(user)")
	assert.Equal(t, int64(4), d.Remaining, "Peek(user) after a cancelled AllowN = %+v, want 4 (nothing counted)", d)
}

// TestNoScript: after SCRIPT FLUSH the store sends the script again.
func TestNoScript(t *testing.T) {
	r := startRedis(t)
	c := newClient(t, r.addr)
	s := newStore(t, c, "")
	ctx := context.Background()
	l := limit.PerMinute(5)
	for i := range 3 {
		require.NoError(t, c.ScriptFlush(ctx).Err(), "SCRIPT FLUSH")
		d, err := s.AllowN(ctx, "user", 1, l)
		require.NoError(t, err, "AllowN %d after SCRIPT FLUSH", i+1)
		assert.Equal(t, int64(4-i), d.Remaining, "AllowN %d after SCRIPT FLUSH = %+v", i+1, d)
	}
}

type ctxKey struct{}

// valueHook records the ctxKey value of each command's context.
type valueHook struct{ seen chan any }

func (h valueHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h valueHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		select {
		case h.seen <- ctx.Value(ctxKey{}):
		default:
		}
		return next(ctx, cmd)
	}
}
func (h valueHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestHooksSeeCallerValues: the client's hooks (tracing, metrics) see the
// caller's context values, though not its cancellation.
func TestHooksSeeCallerValues(t *testing.T) {
	r := startRedis(t)
	c := newClient(t, r.addr)
	h := valueHook{seen: make(chan any, 1)}
	c.AddHook(h)
	s := newStore(t, c, "")
	ctx := context.WithValue(context.Background(), ctxKey{}, "trace-1")
	_, err := s.AllowN(ctx, "user", 1, limit.PerMinute(5))
	require.NoError(t, err, "AllowN")
	assert.Equal(t, "trace-1", <-h.seen, "the hook's ctx.Value(ctxKey{}) during AllowN")
}

func TestNewRefuses(t *testing.T) {
	_, err := goredis.New(nil, "")
	assert.ErrorIs(t, err, floodgate.ErrURI, "New(nil)")
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	_, err = goredis.New(c, "prefix={bad}")
	assert.ErrorIs(t, err, floodgate.ErrURI, "New(c, prefix={bad})")
	_, err = goredis.New(c, "no-such=1")
	assert.ErrorIs(t, err, floodgate.ErrURI, "New(c, no-such=1)")
}
