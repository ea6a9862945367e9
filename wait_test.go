package floodgate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
)

// sleepTolerance is how much later than its RetryAfter a waiter may ask
// again: scheduler noise on the shared 2-core machine under -race, plus
// a Redis round trip. Measured there: usually under 2ms; stalls of a
// whole process (every client late by the same amount at the same
// instant) of up to 30ms. A waiter is never allowed to ask earlier than its
// RetryAfter (minus earlyTolerance for the clocks' granularity).
const (
	sleepTolerance = 100 * time.Millisecond
	earlyTolerance = time.Millisecond
)

// script is a Store that answers AllowN from a list, for the timing and
// error cases of Wait.
type script struct {
	floodgate.Store
	mu    sync.Mutex
	steps []scriptStep
	calls int
}

type scriptStep struct {
	d   limit.Decision
	err error
}

func (s *script) AllowN(context.Context, string, int64, ...limit.Limit) (limit.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.steps[min(s.calls, len(s.steps)-1)]
	s.calls++
	return st.d, st.err
}

func TestWait(t *testing.T) {
	allow := scriptStep{d: limit.Decision{Allowed: true, Remaining: 1}}
	deny := func(after time.Duration) scriptStep { return scriptStep{d: limit.Decision{RetryAfter: after}} }
	policy := fmt.Errorf("%w: %w", floodgate.ErrStorage, floodgate.ErrUnavailable)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     func(t *testing.T) context.Context
		steps   []scriptStep
		allowed bool
		err     error
		calls   int
		minTime time.Duration // Wait took at least this long
	}{
		{name: "allowed-at-once", steps: []scriptStep{allow}, allowed: true, calls: 1},
		{name: "denied-then-allowed", steps: []scriptStep{deny(40 * time.Millisecond), deny(20 * time.Millisecond), allow},
			allowed: true, calls: 3, minTime: 60 * time.Millisecond},
		{name: "retry-after-zero", steps: []scriptStep{deny(0), allow}, allowed: true, calls: 2, minTime: time.Millisecond},
		{name: "never", steps: []scriptStep{deny(limit.Never)}, err: floodgate.ErrNeverAllowed, calls: 1},
		{name: "closed", steps: []scriptStep{{d: limit.Decision{RetryAfter: limit.Never}, err: floodgate.ErrClosed}}, err: floodgate.ErrClosed, calls: 1},
		{name: "policy-decisions-stand", steps: []scriptStep{{d: limit.Decision{RetryAfter: 30 * time.Millisecond}, err: policy},
			{d: limit.Decision{Allowed: true}, err: policy}}, allowed: true, calls: 2, minTime: 30 * time.Millisecond},
		{name: "ctx-done-before", ctx: func(*testing.T) context.Context { return cancelled },
			steps: []scriptStep{allow}, err: context.Canceled, calls: 0},
		{name: "ctx-ends-while-waiting", ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, steps: []scriptStep{deny(time.Hour)}, err: context.DeadlineExceeded, calls: 1, minTime: 30 * time.Millisecond},
	} {
		t.Run("case="+tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(t)
			}
			s := &script{steps: tc.steps}
			start := time.Now()
			d, err := floodgate.Wait(ctx, s, "k", 1, limit.PerSecond(1))
			took := time.Since(start)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err, "Wait: error")
			} else {
				assert.NoError(t, err, "Wait")
			}
			assert.Equal(t, tc.allowed, d.Allowed, "Wait: Decision.Allowed")
			assert.Equal(t, tc.calls, s.calls, "Wait: AllowN calls")
			assert.GreaterOrEqual(t, took, tc.minTime-earlyTolerance, "Wait: took %v, want at least the RetryAfters %v", took, tc.minTime)
			assert.Less(t, took, tc.minTime+sleepTolerance, "Wait: took %v, want at most the RetryAfters %v + %v", took, tc.minTime, sleepTolerance)
		})
	}
}

// call is one AllowN that a recorder saw, in a form that JSON carries
// between processes.
type call struct {
	Start, End time.Time
	Allowed    bool
	Remaining  int64
	RetryAfter time.Duration
	ResetAfter time.Duration
}

// recorder is a Store that records every AllowN of one client (one
// goroutine), so that the test can measure each of Wait's sleeps against
// the RetryAfter it was based on.
type recorder struct {
	floodgate.Store
	calls []call
}

func (r *recorder) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	start := time.Now()
	d, err := r.Store.AllowN(ctx, key, n, limits...)
	r.calls = append(r.calls, call{start, time.Now(), d.Allowed, d.Remaining, d.RetryAfter, d.ResetAfter})
	return d, err
}

// waitClients runs clients goroutines that each Wait for perClient
// admissions of key under l in s, and returns every client's calls.
func waitClients(t testing.TB, s floodgate.Store, key string, l limit.Limit, clients, perClient int) [][]call {
	out := make([][]call, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			r := &recorder{Store: s}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for range perClient {
				if _, err := floodgate.Wait(ctx, r, key, 1, l); err != nil {
					t.Errorf("client %d: Wait: %v", i, err)
					return
				}
			}
			out[i] = r.calls
		})
	}
	wg.Wait()
	return out
}

// checkExact checks the calls of every client of one key under the
// fixed-window limit l, for a demand of want admissions:
//
//   - windows: each admission's window is identified by its end, the
//     call's return plus its ResetAfter; ends within half a period are
//     one window. No window admits more than l's count, every window
//     but the first and the last admits exactly l's count (the waiters
//     kept up), and the admissions of a window had distinct Remaining.
//   - sleeps: after each denial, the client asked again no earlier than
//     the denial's RetryAfter and at most sleepTolerance later.
func checkExact(t *testing.T, clients [][]call, l limit.Limit, want int) {
	t.Helper()
	type adm struct {
		end       time.Time
		remaining int64
	}
	var adms []adm
	var worst, best time.Duration = -1 << 62, 1 << 62
	sleeps := 0
	for ci, calls := range clients {
		for i, c := range calls {
			if c.Allowed {
				adms = append(adms, adm{c.End.Add(c.ResetAfter), c.Remaining})
				continue
			}
			if i+1 == len(calls) {
				t.Errorf("client %d: its last call was denied", ci)
				continue
			}
			retry := c.RetryAfter
			if retry <= 0 {
				retry = time.Millisecond
			}
			over := calls[i+1].Start.Sub(c.End) - retry
			worst, best = max(worst, over), min(best, over)
			sleeps++
			assert.GreaterOrEqual(t, over, -earlyTolerance, "client %d call %d: asked again %v before its RetryAfter %v", ci, i+1, -over, c.RetryAfter)
			assert.LessOrEqual(t, over, sleepTolerance, "client %d call %d: slept %v longer than its RetryAfter %v", ci, i+1, over, c.RetryAfter)
		}
	}
	require.Len(t, adms, want, "admissions")
	slices.SortFunc(adms, func(a, b adm) int { return a.end.Compare(b.end) })
	var windows [][]int64
	for i, a := range adms {
		if i == 0 || a.end.Sub(adms[i-1].end) > l.Period()/2 {
			windows = append(windows, nil)
		}
		windows[len(windows)-1] = append(windows[len(windows)-1], a.remaining)
	}
	counts := make([]int, len(windows))
	for i, w := range windows {
		counts[i] = len(w)
		assert.LessOrEqual(t, int64(len(w)), l.Count(), "window %d admitted %d under %v", i, len(w), l)
		if i > 0 && i < len(windows)-1 {
			assert.Equal(t, l.Count(), int64(len(w)), "window %d (not first or last) admitted %d under %v: waiters fell behind", i, len(w), l)
		}
		slices.Sort(w)
		assert.Equal(t, len(w), len(slices.Compact(w)), "window %d: Remaining values %v repeat", i, w)
	}
	t.Logf("%d admissions under %v in %d windows %v; %d sleeps, each %v..%v past its RetryAfter (tolerance %v)",
		len(adms), l, len(windows), counts, sleeps, best, worst, sleepTolerance)
}

// TestWaitExactMemory: many goroutines Wait on one key of the memory
// engine; every window admits exactly the limit, and no waiter sleeps
// past its RetryAfter.
func TestWaitExactMemory(t *testing.T) {
	s := floodgate.NewMemory(engine.WithStrategy(limit.FixedWindow))
	t.Cleanup(func() { _ = s.Close() })
	l, err := limit.New(5, 200*time.Millisecond)
	require.NoError(t, err)
	const clients, perClient = 10, 4
	checkExact(t, waitClients(t, s, "api", l, clients, perClient), l, clients*perClient)
}

// Environment of the child processes of TestWaitExactRedisProcesses.
const (
	envWaitChild = "FLOODGATE_WAIT_CHILD" // the Redis URI
	envWaitOut   = "FLOODGATE_WAIT_OUT"   // where the child writes its calls
	envWaitStart = "FLOODGATE_WAIT_START" // unix nanoseconds at which to start
)

const (
	redisWaitProcs     = 2
	redisWaitClients   = 5 // goroutines per process
	redisWaitPerClient = 4
)

func redisWaitLimit(t testing.TB) limit.Limit {
	l, err := limit.New(5, 200*time.Millisecond)
	require.NoError(t, err)
	return l
}

// TestWaitExactRedisProcesses re-executes the test binary as two
// processes, each with its own floodgate.Open store (its own Redis
// connections), whose goroutines Wait on one key of one real Redis: the
// total admitted per window is the limit, and no waiter slept past its
// RetryAfter.
func TestWaitExactRedisProcesses(t *testing.T) {
	if os.Getenv(envWaitChild) != "" {
		t.Skip("this is a child process")
	}
	r := storetest.StartRedis(t)
	uri := redisURI("redis", r.Addr(), limit.FixedWindow, "")
	start := time.Now().Add(500 * time.Millisecond) // both processes are running by then
	dir := t.TempDir()
	var outs []string
	var procs []*exec.Cmd
	for i := range redisWaitProcs {
		out := filepath.Join(dir, "calls"+strconv.Itoa(i)+".json")
		cmd := exec.Command(os.Args[0], "-test.run=^TestWaitRedisChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envWaitChild+"="+uri, envWaitOut+"="+out,
			envWaitStart+"="+strconv.FormatInt(start.UnixNano(), 10))
		require.NoError(t, cmd.Start(), "start child %d", i)
		outs, procs = append(outs, out), append(procs, cmd)
	}
	var clients [][]call
	for i, cmd := range procs {
		require.NoError(t, cmd.Wait(), "child %d", i)
		b, err := os.ReadFile(outs[i])
		require.NoError(t, err, "child %d's calls", i)
		var cs [][]call
		require.NoError(t, json.Unmarshal(b, &cs), "child %d's calls", i)
		clients = append(clients, cs...)
	}
	require.Len(t, clients, redisWaitProcs*redisWaitClients, "clients reported")
	checkExact(t, clients, redisWaitLimit(t), redisWaitProcs*redisWaitClients*redisWaitPerClient)
}

// TestWaitRedisChild is the body of one child process of
// TestWaitExactRedisProcesses; it skips unless run as one.
func TestWaitRedisChild(t *testing.T) {
	uri := os.Getenv(envWaitChild)
	if uri == "" {
		t.Skip("run by TestWaitExactRedisProcesses as a child process")
	}
	s, err := floodgate.Open(uri)
	require.NoError(t, err, "floodgate.Open(%q)", uri)
	t.Cleanup(func() { _ = s.Close() })
	ns, err := strconv.ParseInt(os.Getenv(envWaitStart), 10, 64)
	require.NoError(t, err)
	time.Sleep(time.Until(time.Unix(0, ns)))
	calls := waitClients(t, s, "api", redisWaitLimit(t), redisWaitClients, redisWaitPerClient)
	b, err := json.Marshal(calls)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(os.Getenv(envWaitOut), b, 0o600))
}
