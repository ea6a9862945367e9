package floodgate_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logLines is a slog.Handler that keeps every record's level and message.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logLines) WithGroup(string) slog.Handler            { return l }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r.Level.String()+" "+r.Message)
	return nil
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// TestCallerGoneIsNotAFailure hangs up, under each policy, many calls on
// a healthy Redis, before and during the round trip, and lets the
// caller's own deadline expire, while an innocent
// client makes requests: the store is never marked down, nothing is
// logged, no hang-up is decided by the policy (so under "open" no
// hung-up call is allowed), and the innocent client gets exactly its
// limit.
func TestCallerGoneIsNotAFailure(t *testing.T) {
	r := storetest.StartRedis(t)
	for _, policy := range []string{"memory", "open", "closed"} {
		t.Run("failure="+policy, func(t *testing.T) {
			logs := &logLines{}
			var hooked atomic.Int64
			st, err := floodgate.Open(redisURI("redis", r.Addr(), limit.SlidingWindow, "&backoff=100ms&failure="+policy),
				floodgate.WithLogger(slog.New(logs)), floodgate.WithErrorHandler(func(error) { hooked.Add(1) }))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			l := limit.PerMinute(5)
			require.Eventually(t, func() bool { _, err := st.AllowN(context.Background(), "warm", 1, l); return err == nil },
				5*time.Second, 10*time.Millisecond)

			var gone, goneAllowed atomic.Int64
			var mu sync.Mutex
			var wrong []error // errors of hung-up calls that are not their own cancellation
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 100 {
						ctx, cancel := context.WithCancel(context.Background())
						switch i % 3 {
						case 0: // hung up before the call
							cancel()
						case 1: // hangs up during the call
							time.AfterFunc(time.Duration(i%7)*20*time.Microsecond, cancel)
						default: // the caller's own deadline, already past or passing during the call
							cancel()
							ctx, cancel = context.WithTimeout(context.Background(), time.Duration(i%5)*10*time.Microsecond)
						}
						d, err := st.AllowN(ctx, "attacker"+strconv.Itoa(g), 1, l)
						cancel()
						if err != nil {
							gone.Add(1)
							own := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
							if !own || errors.Is(err, floodgate.ErrStorage) {
								mu.Lock()
								wrong = append(wrong, err)
								mu.Unlock()
							}
							if d.Allowed {
								goneAllowed.Add(1)
							}
						}
					}
				})
			}
			allowed := 0
			for i := range 8 {
				d, err := st.AllowN(context.Background(), "innocent", 1, l)
				assert.NoError(t, err, "innocent call %d during the hang-ups", i)
				if d.Allowed {
					allowed++
				}
			}
			wg.Wait()
			assert.Empty(t, wrong, "hung-up and expired calls must return their own context error, never a storage failure")
			t.Logf("%d of 400 calls hung up with an error", gone.Load())
			assert.Positive(t, gone.Load(), "no call saw its own cancellation; the test did not test")
			assert.Zero(t, goneAllowed.Load(), "hung-up calls allowed by the policy")
			assert.Equal(t, 5, allowed, "the innocent client gets exactly its limit of 5/minute")
			assert.True(t, st.Info().Up, "hang-ups marked a healthy Redis down")
			assert.Empty(t, logs.all(), "hang-ups were logged")
			assert.Zero(t, hooked.Load(), "hang-ups reached the error hook")
		})
	}
}

// TestOutageLogsOncePerChange kills Redis under traffic and restarts it:
// one Warn line when the store goes down, one Info line when it is back,
// and nothing per request, while the error hook sees every policy
// decision.
func TestOutageLogsOncePerChange(t *testing.T) {
	r := storetest.StartRedis(t)
	logs := &logLines{}
	var hooked atomic.Int64
	st, err := floodgate.Open(redisURI("redis", r.Addr(), limit.SlidingWindow, "&timeout=100ms&backoff=50ms"),
		floodgate.WithLogger(slog.New(logs)), floodgate.WithErrorHandler(func(error) { hooked.Add(1) }))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	l := limit.PerDay(1000)
	ctx := context.Background()
	require.Eventually(t, func() bool { _, err := st.AllowN(ctx, "warm", 1, l); return err == nil }, 5*time.Second, 10*time.Millisecond)

	r.Kill(t)
	for i := range 100 {
		d, err := st.AllowN(ctx, "k"+strconv.Itoa(i%10), 1, l)
		assert.ErrorIs(t, err, floodgate.ErrStorage, "call %d with Redis down", i)
		assert.True(t, d.Allowed, "call %d: the memory policy allows within 1000/day", i)
	}
	assert.False(t, st.Info().Up, "100 failed calls did not mark the store down")
	assert.EqualValues(t, 100, hooked.Load(), "each policy decision reaches the error hook")

	r.Restart(t)
	settled(t, st, 20)
	assert.True(t, st.Info().Up)
	lines := logs.all()
	require.Len(t, lines, 2, "log lines across one outage: %q", lines)
	assert.Contains(t, lines[0], "WARN floodgate: store unavailable")
	assert.Contains(t, lines[1], "INFO floodgate: store available again")
}

// TestOpenRefusesBadURIs: every malformed, repeated or unknown parameter
// is an error wrapping ErrURI that names it; nothing opens with defaults.
func TestOpenRefusesBadURIs(t *testing.T) {
	for _, tc := range []struct{ uri, names string }{
		{"memory://?max-keys=100%", "max-keys"},
		{"memory://?max-keys=-1", "max-keys"},
		{"memory://?max-keys=lots", "max-keys"},
		{"memory://?colour=blue", "colour"},
		{"memory://?strategy=leaky", "strategy"},
		{"memory://?strategy=gcra&strategy=fixed-window", "strategy"},
		{"memory://host", "memory://"},
		{"memory:///path", "memory://"},
		{"memory://?snapshot=", "snapshot"},
		{"memory://?snapshot-interval=1s", "snapshot-interval"},
		{"memory://?snapshot=x&snapshot-interval=0s", "snapshot-interval"},
		{"memory://?snapshot=x&snapshot-interval=soon", "snapshot-interval"},
		{"memory://?snapshot=x&snapshot=y", "snapshot"},
		{"redis://localhost?snapshot=x", "snapshot"},
		{"redis://localhost?failure=%zz", "failure"},
		{"redis://localhost?fail%zzure=open", "fail%zzure"},
		{"redis://localhost?failure=maybe", "failure"},
		{"redis://localhost?strategy=gcra&strategy=fixed-window", "strategy"},
		{"redis://localhost?failure=open&failure=closed", "failure"},
		{"redis://localhost?backoff=soon", "backoff"},
		{"redis://localhost?backoff=0s", "backoff"},
		{"redis://localhost?max-keys=x", "max-keys"},
		{"redis://localhost?colour=blue", "colour"},
		{"memcached://localhost", "memcached"},
		{"localhost:6379", "scheme"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			st, err := floodgate.Open(tc.uri)
			if st != nil {
				st.Close()
			}
			require.ErrorIs(t, err, floodgate.ErrURI, "Open(%q)", tc.uri)
			assert.Contains(t, err.Error(), tc.names, "the error names the problem")
		})
	}
}

// TestOpenEmptyMeansMemory: the empty URI is memory://, as in limits.
func TestOpenEmptyMeansMemory(t *testing.T) {
	for _, uri := range []string{"", "  ", "memory://", "memory:///"} {
		st, err := floodgate.Open(uri)
		require.NoError(t, err, "Open(%q)", uri)
		assert.Equal(t, "memory", st.Info().Kind, "Open(%q)", uri)
		require.NoError(t, st.Close())
	}
}

// TestOpenStrategy: the URI's strategy reaches the store; without one
// it is the sliding window.
func TestOpenStrategy(t *testing.T) {
	for uri, want := range map[string]limit.Strategy{
		"memory://":                        limit.SlidingWindow,
		"":                                 limit.SlidingWindow,
		"memory://?strategy=fixed-window":  limit.FixedWindow,
		"memory://?strategy=gcra":          limit.GCRA,
		"memory://?strategy=moving-window": limit.MovingWindow,
	} {
		st, err := floodgate.Open(uri)
		require.NoError(t, err, "Open(%q)", uri)
		assert.Equal(t, want, st.Info().Strategy, "Open(%q)", uri)
		require.NoError(t, st.Close())
	}
}

// settled waits until n calls in a row succeed on st. After a restart,
// each rueidis connection opened before it fails its first command (EOF):
// the store does not retry (a retried EVALSHA could count twice), so a
// few calls right after recovery may still be answered by the policy.
func settled(t *testing.T, st floodgate.Store, n int) {
	t.Helper()
	ok := 0
	require.Eventually(t, func() bool {
		if _, err := st.AllowN(context.Background(), "settle", 1, limit.PerDay(1<<20)); err != nil {
			ok = 0
			return false
		}
		ok++
		return ok >= n
	}, 10*time.Second, time.Millisecond, "no %d successful calls in a row after restarting Redis", n)
}
