package redisstore_test

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var prefixSeq atomic.Int64

func open(t *testing.T, r *storetest.Redis, query string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	uri := "redis://" + r.Addr() + "?prefix=t" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":&" + query
	s, err := redisstore.Open(uri, opts...)
	require.NoError(t, err, "Open(%q)", uri)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestKillUnderLoad kills redis-server with SIGKILL while goroutines make
// decisions: a failed decision denies
// (the store has no policy of its own), nothing panics; after a restart on the same port the store recovers
// within seconds, and Close leaves no goroutine behind.
func TestKillUnderLoad(t *testing.T) {
	r := storetest.StartRedis(t)
	before := runtime.NumGoroutine()
	s, err := redisstore.Open("redis://" + r.Addr() + "?timeout=100ms&prefix=kill:")
	require.NoError(t, err)
	l := limit.PerDay(1 << 20)
	ctx := context.Background()
	require.Eventually(t, func() bool { _, err := s.AllowN(ctx, "warm", 1, l); return err == nil }, 5*time.Second, 10*time.Millisecond)

	var failed, openOnFailure atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d, err := s.AllowN(ctx, "k"+strconv.Itoa(g*1000+i%50), 1, l)
				if err != nil {
					failed.Add(1)
					if d.Allowed {
						openOnFailure.Add(1)
					}
				}
				time.Sleep(time.Millisecond) // paced like a server, not a spin loop
			}
		})
	}
	time.Sleep(150 * time.Millisecond)
	r.Kill(t)
	// Wait until a decision has failed (polled by hand: the goroutines of
	// assert.Eventually would count in the leak check below).
	for deadline := time.Now().Add(10 * time.Second); failed.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	assert.Positive(t, failed.Load(), "decisions after SIGKILL must fail")
	assert.Zero(t, openOnFailure.Load(), "a failed decision of the bare store must deny")

	d, err := s.AllowN(ctx, "down", 1, l)
	assert.ErrorIs(t, err, floodgate.ErrUnavailable)
	assert.False(t, d.Allowed)

	r.Restart(t)
	start := time.Now()
	require.Eventually(t, func() bool { _, err := s.AllowN(ctx, "back", 1, l); return err == nil },
		10*time.Second, 10*time.Millisecond, "no recovery after restarting Redis on the same port")
	t.Logf("recovered %v after the restart", time.Since(start))

	require.NoError(t, s.Close())
	// Poll by hand: assert.Eventually runs its condition in goroutines of
	// its own.
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > before && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	if n > before {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("goroutines: %d before Open, %d 5s after Close:\n%s", before, n, b.String())
	}
}

// TestPausedRedis stops redis-server with SIGSTOP: decisions end when
// their budget's deadline passes (context.DeadlineExceeded, wrapped in
// ErrUnavailable; TestBudget pins that deadline to the timeout) and
// deny; after SIGCONT Redis is used again.
func TestPausedRedis(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "timeout=100ms")
	l := limit.PerDay(5)
	ctx := context.Background()
	require.Eventually(t, func() bool { _, err := s.AllowN(ctx, "warm", 1, l); return err == nil }, 5*time.Second, 10*time.Millisecond)

	r.Pause(t)
	for i := range 5 {
		d, err := s.AllowN(ctx, "k", 1, l)
		assert.ErrorIs(t, err, floodgate.ErrUnavailable, "decision %d with Redis paused", i)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "decision %d with Redis paused: want it ended by the budget", i)
		assert.False(t, d.Allowed, "a failed decision of the bare store must deny")
	}
	// Many at once: those queued behind the calls in flight end by the
	// budget too, as their own calls would have.
	var wg sync.WaitGroup
	for g := range 128 {
		wg.Go(func() {
			d, err := s.AllowN(ctx, "k"+strconv.Itoa(g%8), 1, l)
			assert.ErrorIs(t, err, floodgate.ErrUnavailable, "concurrent decision %d with Redis paused", g)
			assert.ErrorIs(t, err, context.DeadlineExceeded, "concurrent decision %d with Redis paused: want it ended by the budget", g)
			assert.False(t, d.Allowed, "a failed decision of the bare store must deny")
		})
	}
	wg.Wait()
	r.Resume(t)
	require.Eventually(t, func() bool { _, err := s.AllowN(ctx, "k2", 1, l); return err == nil },
		10*time.Second, 10*time.Millisecond, "no recovery after SIGCONT")
}

// TestQueuedCallerLeaves: with Redis paused and the lane's calls in
// flight, a decision waits in the queue; when its caller's ctx ends there,
// it returns ctx.Err() (not ErrUnavailable: Redis did not fail it) at
// once, while Redis is still paused, and it is counted nowhere.
func TestQueuedCallerLeaves(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "timeout=60s")
	l := limit.PerDay(5)
	bg := context.Background()
	require.Eventually(t, func() bool { _, err := s.AllowN(bg, "warm", 1, l); return err == nil }, 5*time.Second, 10*time.Millisecond)

	r.Pause(t)
	var inFlight sync.WaitGroup
	for range 2 { // the lane's depth: both calls go out and hang
		inFlight.Go(func() { _, _ = s.AllowN(bg, "busy", 1, l) })
	}
	require.Eventually(t, func() bool { busy, _ := redisstore.Lane(s); return busy == 2 }, 10*time.Second, time.Millisecond,
		"the lane's two calls in flight")
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		_, err := s.AllowN(ctx, "leaver", 1, l)
		done <- err
	}()
	require.Eventually(t, func() bool { _, queued := redisstore.Lane(s); return queued == 1 }, 10*time.Second, time.Millisecond,
		"a third decision must queue behind the lane's two calls in flight")
	cancel()
	// The budget is a minute: only the caller's leaving can empty the
	// queue while Redis is paused.
	require.Eventually(t, func() bool { _, queued := redisstore.Lane(s); return queued == 0 }, 10*time.Second, time.Millisecond,
		"the leaver must leave the queue when its ctx ends, not when the budget does")
	err := <-done
	assert.ErrorIs(t, err, context.Canceled, "a queued decision whose caller left")
	assert.NotErrorIs(t, err, floodgate.ErrUnavailable, "the caller left: Redis did not fail")

	r.Resume(t)
	inFlight.Wait()
	d, err := s.Peek(bg, "leaver", l)
	require.NoError(t, err)
	fresh, err := s.Peek(bg, "never-asked", l)
	require.NoError(t, err)
	assert.Equal(t, fresh.Remaining, d.Remaining, "the leaver's decision was never counted")
}

// TestErrorReply puts a hash where a counter lives: Redis answers
// WRONGTYPE, that request fails with ErrReply (not ErrUnavailable), and
// other keys keep working, because Redis itself is up.
func TestErrorReply(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "timeout=2s", redisstore.WithPrefix("wt:"))
	l := limit.PerMinute(5)
	ctx := context.Background()
	r.CLI(t, "HSET", "wt:{victim}:s:5/60", "f", "v")
	for range 5 {
		d, err := s.AllowN(ctx, "victim", 1, l)
		assert.ErrorIs(t, err, redisstore.ErrReply)
		assert.NotErrorIs(t, err, floodgate.ErrUnavailable, "Redis answered: it is not unavailable")
		assert.Contains(t, err.Error(), "WRONGTYPE")
		assert.False(t, d.Allowed)
	}
	d, err := s.AllowN(ctx, "bystander", 1, l)
	require.NoError(t, err, "an error reply for one key must not mark Redis down")
	assert.True(t, d.Allowed)

	r.CLI(t, "SET", "wt:{foreign}:s:5/60", "not a counter")
	_, err = s.AllowN(ctx, "foreign", 1, l)
	assert.ErrorIs(t, err, redisstore.ErrReply, "a string that is not a counter")
}

// TestKeysAndTTL checks the Redis keys: one hash tag per user key, long
// keys hashed, millisecond TTLs no longer than the counter matters.
func TestKeysAndTTL(t *testing.T) {
	r := storetest.StartRedis(t)
	ctx := context.Background()
	burst, err := limit.PerMinute(5).WithBurst(2)
	require.NoError(t, err)
	for _, tc := range []struct {
		strategy string
		maxTTL   int // of a key of 5/minute after one request
	}{
		{"sliding-window", 120_000}, {"fixed-window", 60_000},
		{"gcra", 12_001}, // until the bucket is full again: one tick, P/5
		{"moving-window", 60_001},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			prefix := "ttl" + tc.strategy + ":"
			s := open(t, r, "timeout=2s&strategy="+tc.strategy, redisstore.WithPrefix(prefix))
			pastMinuteEnd(t, r)
			_, err := s.AllowN(ctx, "user 1", 1, limit.PerMinute(5), limit.PerHour(100), burst)
			require.NoError(t, err)
			_, err = s.AllowN(ctx, strings.Repeat("x", 1<<20), 1, limit.PerMinute(5))
			require.NoError(t, err)
			keys := strings.Split(r.CLI(t, "--scan", "--pattern", prefix+"*"), "\n")
			require.Len(t, keys, 4, "keys: %q", keys)
			for _, k := range keys {
				assert.Less(t, len(k), 100, "key %.40q… must be short: long user keys are hashed", k)
				if strings.HasSuffix(k, "/60") {
					ttl, err := strconv.Atoi(r.CLI(t, "PTTL", k))
					require.NoError(t, err)
					assert.Positive(t, ttl, "PTTL %s", k)
					assert.LessOrEqual(t, ttl, tc.maxTTL, "PTTL %s", k)
				}
			}
			assert.Contains(t, keys, prefix+"{user 1}:"+tc.strategy[:1]+":5/60")
			assert.Contains(t, keys, prefix+"{user 1}:"+tc.strategy[:1]+":100/3600")
			assert.Contains(t, keys, prefix+"{user 1}:"+tc.strategy[:1]+":5/60/2", "a burst other than the count is part of the key")
		})
	}
}

// pastMinuteEnd waits, when the server's clock is in the last 2 s of a
// minute, until that minute has ended: a fixed window's counter lives
// until its window ends, so one written in the last milliseconds of a
// minute (or hour) could expire before the test reads its TTL.
func pastMinuteEnd(t *testing.T, r *storetest.Redis) {
	t.Helper()
	if left := time.Minute - r.Time(t)%time.Minute; left < 2*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
}

// TestKeysHashTag checks the Redis keys of user keys that hold a hash
// tag of their own, as Redis Cluster reads one (the text of the first
// "{…}", when not empty): placed by that tag, the user key after '=',
// each key its own counter; braces without such a tag keep the hashed
// layout.
func TestKeysHashTag(t *testing.T) {
	r := storetest.StartRedis(t)
	ctx := context.Background()
	s := open(t, r, "timeout=2s", redisstore.WithPrefix("ht:"))
	long := strings.Repeat("x", 200)
	l := limit.PerMinute(5)
	for _, tc := range []struct {
		key, want string // want: the Redis key; "#" for some digest
	}{
		{"{ia}r:GET /x/{id}", "ht:{ia}:={ia}r:GET /x/{id}:s:5/60"},
		{"{ia}a:", "ht:{ia}:={ia}a::s:5/60"},
		{"x{ia}", "ht:{ia}:=x{ia}:s:5/60"},
		{"{ia}}", "ht:{ia}:={ia}}:s:5/60"},
		{"{{ia}", "ht:{{ia}:={{ia}:s:5/60"},
		{"#{ia}", "ht:{ia}:=#"},
		{"{ia}" + long, "ht:{ia}:=#"},
		{"{" + long + "}", "ht:{#"},
		{"{}{ia}", "ht:{#"}, // an empty first tag: no tag, as in Redis
		{"a{b", "ht:{#"},
		{"a}b{", "ht:{#"},
		{"ia", "ht:{ia}:s:5/60"},
	} {
		before := strings.Split(r.CLI(t, "--scan", "--pattern", "ht:*"), "\n")
		d, err := s.AllowN(ctx, tc.key, 2, l)
		require.NoError(t, err, "key %q", tc.key)
		require.EqualValues(t, 3, d.Remaining, "key %q: a counter of its own", tc.key)
		var added []string
		for _, k := range strings.Split(r.CLI(t, "--scan", "--pattern", "ht:*"), "\n") {
			if !slices.Contains(before, k) {
				added = append(added, k)
			}
		}
		require.Len(t, added, 1, "key %q: Redis keys added %q", tc.key, added)
		if strings.HasSuffix(tc.want, "#") {
			assert.True(t, strings.HasPrefix(added[0], tc.want), "key %q: Redis key %q, want a digest after %q", tc.key, added[0], tc.want)
			assert.Less(t, len(added[0]), 100, "key %q: Redis key %q is short", tc.key, added[0])
		} else {
			assert.Equal(t, tc.want, added[0], "key %q", tc.key)
		}
	}
}

// TestWindowTTLKept checks the TTL of a window counter written again in
// its window, at the server's clock: the write keeps the TTL that the
// window's first write set (SET … KEEPTTL), here shortened by hand, and
// the counter still counts.
func TestWindowTTLKept(t *testing.T) {
	r := storetest.StartRedis(t)
	ctx := context.Background()
	for _, strategy := range []string{"sliding-window", "fixed-window"} {
		t.Run(strategy, func(t *testing.T) {
			prefix := "kept" + strategy + ":"
			s := open(t, r, "timeout=2s&strategy="+strategy, redisstore.WithPrefix(prefix))
			// A day's window: the two calls share it but in the last
			// milliseconds of a UTC day.
			l := limit.PerDay(100)
			key := prefix + "{u}:" + strategy[:1] + ":100/86400"
			_, err := s.AllowN(ctx, "u", 1, l)
			require.NoError(t, err)
			r.CLI(t, "PEXPIRE", key, "500000") // shorter than any the script sets
			d, err := s.AllowN(ctx, "u", 1, l)
			require.NoError(t, err)
			assert.Equal(t, int64(98), d.Remaining, "the second decision counts the first")
			ttl, err := strconv.Atoi(r.CLI(t, "PTTL", key))
			require.NoError(t, err)
			assert.Positive(t, ttl, "PTTL %s", key)
			assert.LessOrEqual(t, ttl, 500000, "PTTL %s: the write kept the window's TTL", key)
		})
	}
}

// TestForeignValues puts values of the wrong kind where GCRA and
// moving-window state lives: the request gets ErrReply, others go on.
func TestForeignValues(t *testing.T) {
	r := storetest.StartRedis(t)
	ctx := context.Background()
	l := limit.PerMinute(5)
	for _, tc := range []struct{ strategy, key, want string }{
		{"gcra", "fv:{victim}:g:5/60", "foreign value"},
		{"moving-window", "fv:{victim}:m:5/60", "WRONGTYPE"},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			s := open(t, r, "timeout=2s&strategy="+tc.strategy, redisstore.WithPrefix("fv:"))
			r.CLI(t, "DEL", tc.key)
			r.CLI(t, "SET", tc.key, "not a counter")
			d, err := s.AllowN(ctx, "victim", 1, l)
			assert.ErrorIs(t, err, redisstore.ErrReply)
			assert.ErrorContains(t, err, tc.want)
			assert.False(t, d.Allowed, "fail closed")
			d, err = s.AllowN(ctx, "bystander-"+tc.strategy, 1, l)
			require.NoError(t, err)
			assert.True(t, d.Allowed)
		})
	}
}

// TestRefundForeignValues: Refund on a value that the store cannot have
// written (a GCRA tick at least the count, a number beyond 2^53, a
// malformed log member) fails with ErrReply and leaves the value as it
// was.
func TestRefundForeignValues(t *testing.T) {
	r := storetest.StartRedis(t)
	ctx := context.Background()
	l := limit.PerMinute(5)
	for _, tc := range []struct{ strategy, key, value, want string }{
		{"gcra", "rf:{victim}:g:5/60", "3 5", "not a GCRA bucket"},
		{"gcra", "rf:{victim}:g:5/60", "99999999999999999999 1", "not a GCRA bucket"},
		{"sliding-window", "rf:{victim}:s:5/60", "1 2 99999999999999999999", "not a window counter"},
		{"fixed-window", "rf:{victim}:f:5/60", "x 1 2", "not a window counter"},
		{"moving-window", "rf:{victim}:m:5/60", "", "foreign"},
	} {
		t.Run(tc.strategy+"/"+tc.value, func(t *testing.T) {
			s := open(t, r, "timeout=2s&strategy="+tc.strategy, redisstore.WithPrefix("rf:"))
			r.CLI(t, "DEL", tc.key)
			if tc.strategy == "moving-window" {
				r.CLI(t, "ZADD", tc.key, "1", "not a member")
			} else {
				r.CLI(t, "SET", tc.key, tc.value)
			}
			before := r.CLI(t, "DUMP", tc.key)
			err := s.Refund(ctx, "victim", 1, l)
			assert.ErrorIs(t, err, redisstore.ErrReply, "Refund on %q", tc.value)
			assert.ErrorContains(t, err, tc.want, "Refund on %q", tc.value)
			assert.Equal(t, before, r.CLI(t, "DUMP", tc.key), "the value after a refused Refund")
		})
	}
}

// TestForeignScores puts scores the moving-window script never writes in
// a key's sorted set (one far in the future that would format as
// LLONG_MIN, a negative one, a fraction): every request on that key gets
// ErrReply and is denied, never an unlimited allowance.
func TestForeignScores(t *testing.T) {
	r := storetest.StartRedis(t)
	ctx := context.Background()
	l := limit.PerMinute(5)
	s := open(t, r, "timeout=2s&strategy=moving-window", redisstore.WithPrefix("fs:"))
	for _, score := range []string{"1e30", "-5", "1.5", "inf"} {
		t.Run("score="+score, func(t *testing.T) {
			r.CLI(t, "DEL", "fs:{victim}:m:5/60")
			r.CLI(t, "ZADD", "fs:{victim}:m:5/60", score, "x")
			for range 10 {
				d, err := s.AllowN(ctx, "victim", 1, l)
				require.ErrorIs(t, err, redisstore.ErrReply, "AllowN with a foreign score %s", score)
				assert.ErrorContains(t, err, "foreign score")
				assert.False(t, d.Allowed, "fail closed")
			}
		})
	}
}

// TestScriptFlushed flushes the script cache: the next decision reloads
// the script (EVALSHA answers NOSCRIPT, EVAL follows) without an error.
func TestScriptFlushed(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "timeout=2s")
	ctx := context.Background()
	l := limit.PerMinute(3)
	_, err := s.AllowN(ctx, "k", 1, l)
	require.NoError(t, err)
	r.CLI(t, "SCRIPT", "FLUSH")
	d, err := s.AllowN(ctx, "k", 1, l)
	require.NoError(t, err, "after SCRIPT FLUSH")
	assert.EqualValues(t, 1, d.Remaining)
}

// TestCallerGone cancels the caller's context, before and during a call:
// the store returns the context's error, never ErrUnavailable, and the
// next caller is served by Redis as before.
func TestCallerGone(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "timeout=2s")
	l := limit.PerDay(100)
	require.Eventually(t, func() bool { _, err := s.AllowN(context.Background(), "warm", 1, l); return err == nil }, 5*time.Second, 10*time.Millisecond)
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		if i%2 == 0 {
			cancel()
		} else {
			time.AfterFunc(time.Duration(i)*10*time.Microsecond, cancel)
		}
		_, err := s.AllowN(ctx, "k", 1, l)
		cancel()
		if err != nil {
			assert.ErrorIs(t, err, context.Canceled, "call %d", i)
			assert.NotErrorIs(t, err, floodgate.ErrUnavailable, "call %d: a hang-up is not a store failure", i)
		}
	}
	_, err := s.AllowN(context.Background(), "k2", 1, l)
	assert.NoError(t, err)
}

func TestClosed(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "")
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	d, err := s.AllowN(context.Background(), "k", 1, limit.PerMinute(1))
	assert.ErrorIs(t, err, floodgate.ErrClosed)
	assert.False(t, d.Allowed)
}

// ExampleOpen shows a Store on a local Redis. It is compiled, not run:
// its output would depend on a running server.
func ExampleOpen() {
	s, err := redisstore.Open("redis://127.0.0.1:6379/0?timeout=50ms")
	if err != nil {
		panic(err) // only a malformed URI fails; Open never waits for Redis
	}
	defer s.Close()
	d, err := s.AllowN(context.Background(), "user:42", 1, limit.PerMinute(100))
	if err != nil {
		// Redis failed, and d denies; floodgate.Open wraps the store in a
		// floodgate.Fallback that answers by a failure policy instead.
		_ = err
	}
	_ = d.Allowed
}

// TestSubSecondPeriods: limits of 500 ms and 100 ms on one user key have
// keys and budgets of their own, and windows of their own length.
func TestSubSecondPeriods(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "timeout=2s&strategy=fixed-window", redisstore.WithPrefix("sub:"))
	half, err := limit.New(2, 500*time.Millisecond)
	require.NoError(t, err)
	tenth, err := limit.New(2, 100*time.Millisecond)
	require.NoError(t, err)
	const t0 = storetest.T0
	ctx := context.Background()
	for i, want := range []bool{true, true, false} {
		d, err := redisstore.AllowNAt(ctx, s, t0, "u", 1, half)
		require.NoError(t, err)
		assert.Equal(t, want, d.Allowed, "request %d of 2/500ms at T0", i)
		if !want {
			assert.Equal(t, 500*time.Millisecond, d.RetryAfter, "the window is 500ms long")
		}
	}
	d, err := redisstore.AllowNAt(ctx, s, t0, "u", 1, tenth)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "2/100ms shares nothing with 2/500ms")
	d, err = redisstore.AllowNAt(ctx, s, t0+500*time.Millisecond, "u", 1, half)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "the next 500ms window")
	keys := r.CLI(t, "--scan", "--pattern", "sub:*")
	assert.Contains(t, keys, "sub:{u}:f:2/500ms")
	assert.Contains(t, keys, "sub:{u}:f:2/100ms")
}

// recorder is a slog.Handler that keeps the records it is given.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recorder) WithGroup(string) slog.Handler      { return h }

func (h *recorder) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level == slog.LevelWarn {
			out = append(out, r.Message)
		}
	}
	return out
}

// TestEvictingPolicyWarns checks that a store connected to a server whose
// maxmemory-policy evicts keys logs one warning, and one whose policy is
// noeviction logs none.
func TestEvictingPolicyWarns(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   int
	}{{"allkeys-lru", 1}, {"volatile-ttl", 1}, {"noeviction", 0}} {
		t.Run("policy="+tc.policy, func(t *testing.T) {
			r := storetest.StartRedis(t, "--maxmemory-policy", tc.policy)
			h := &recorder{}
			s := open(t, r, "", redisstore.WithLogger(slog.New(h)))
			require.Eventually(t, func() bool {
				_, err := s.AllowN(context.Background(), "k", 1, limit.PerMinute(5))
				return err == nil
			}, 5*time.Second, 10*time.Millisecond, "the store never connected")
			if tc.want == 0 {
				// The check runs right after the connection: once the
				// server has answered its CONFIG GET, expect silence.
				require.Eventually(t, func() bool { return calls(t, r, "config|get") > 0 }, 5*time.Second, 10*time.Millisecond,
					"the store never asked for maxmemory-policy (no CONFIG GET)")
				assert.Empty(t, h.warnings(), "maxmemory-policy %s", tc.policy)
				return
			}
			require.Eventually(t, func() bool { return len(h.warnings()) > 0 }, 5*time.Second, 10*time.Millisecond,
				"no warning logged for maxmemory-policy %s", tc.policy)
			w := h.warnings()
			assert.Len(t, w, tc.want, "warnings for maxmemory-policy %s: %q", tc.policy, w)
			assert.Contains(t, w[0], "maxmemory-policy evicts")
		})
	}
}
