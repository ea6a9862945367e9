package floodgate_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	_ "github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenLease(t *testing.T) {
	for _, q := range []string{"lease=10", "lease=10%", "lease=0.5%", "lease=10%25", "strategy=gcra&lease=10%&timeout=1s"} {
		s, err := floodgate.Open("redis://127.0.0.1:1?" + q)
		require.NoError(t, err, "Open(redis://…?%s)", q)
		assert.Equal(t, "redis", s.Info().Kind, "Open(redis://…?%s)", q)
		s.Close()
	}
	for _, uri := range []string{
		"redis://127.0.0.1:1?lease=0", "redis://127.0.0.1:1?lease=-3", "redis://127.0.0.1:1?lease=x",
		"redis://127.0.0.1:1?lease=0%", "redis://127.0.0.1:1?lease=101%", "memory://?lease=10",
		"redis://127.0.0.1:1?lease=10%&x=%zz",
	} {
		_, err := floodgate.Open(uri)
		assert.ErrorIs(t, err, floodgate.ErrURI, "Open(%q)", uri)
	}
	s, err := floodgate.Open("redis://127.0.0.1:1")
	require.NoError(t, err)
	assert.Equal(t, "redis", s.Info().Kind, "Open without lease=")
	s.Close()
}

// Overshoot of K processes sharing one Redis, each deciding a hot key
// with leases: L per fixed one-second window, slice S, G goroutines per
// process.
const (
	overK = 4
	overG = 2
	overL = 200
	overS = 20
)

// TestLeaseOvershootRedis starts K processes (this test binary, re-run as
// TestLeaseChild) on one real Redis, each with its own connections and
// G goroutines calling one hot key for 4 seconds under fixed-window
// L/second with lease=S: in odd seconds paced below L (one call per 50 ms
// per goroutine: the key is hot and each process holds a partly spent
// lease when the second turns), in even seconds as fast as they can, so
// that the leases carried into them are spent. Every allowed call is
// counted in the one-second window of the moment it returned (Redis runs
// on the same clock). Per window they allow at most
// L + K·(S−1) + K·G: the lease bound plus the calls in flight at a
// window's turn, which a plain store has too (docs/redis.md).
func TestLeaseOvershootRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes for 4 seconds")
	}
	r := storetest.StartRedis(t)
	start := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)
	uri := fmt.Sprintf("redis://%s?prefix=over%d:&strategy=fixed-window&lease=%d&timeout=2s", r.Addr(), prefixSeq.Add(1), overS)
	perWindow := map[int64]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range overK {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "FLOODGATE_LEASE_CHILD="+uri, "FLOODGATE_LEASE_START="+strconv.FormatInt(start.UnixNano(), 10))
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start(), "start child %d", i)
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var w int64
				var n int
				if _, err := fmt.Sscanf(sc.Text(), "window %d allowed %d", &w, &n); err == nil {
					mu.Lock()
					perWindow[w] += n
					mu.Unlock()
				}
			}
			assert.NoError(t, cmd.Wait(), "child %d", i)
		})
	}
	wg.Wait()
	bound := overL + overK*(overS-1) + overK*overG
	require.NotEmpty(t, perWindow, "the children reported no allowed calls")
	for w, n := range perWindow {
		assert.LessOrEqual(t, n, bound, "allowed in the window at %d s by %d processes, want ≤ L + K·(S−1) + K·G = %d", w, overK, bound)
	}
	t.Logf("allowed per one-second window by %d processes × %d goroutines, L=%d, S=%d (bound %d): %v",
		overK, overG, overL, overS, bound, perWindow)
}

// TestLeaseChild is one process of TestLeaseOvershootRedis; it runs only
// when started by it.
func TestLeaseChild(t *testing.T) {
	uri := os.Getenv("FLOODGATE_LEASE_CHILD")
	if uri == "" {
		t.Skip("a child of TestLeaseOvershootRedis")
	}
	startNs, err := strconv.ParseInt(os.Getenv("FLOODGATE_LEASE_START"), 10, 64)
	require.NoError(t, err)
	s, err := floodgate.Open(uri)
	require.NoError(t, err)
	defer s.Close()
	lim := limit.PerSecond(overL)
	ctx := context.Background()
	time.Sleep(time.Until(time.Unix(0, startNs)))
	end := time.Unix(0, startNs).Add(4 * time.Second)
	counts := make([]map[int64]int, overG)
	var wg sync.WaitGroup
	for g := range overG {
		counts[g] = map[int64]int{}
		wg.Go(func() {
			for now := time.Now(); now.Before(end); now = time.Now() {
				if now.Unix()%2 == 1 {
					time.Sleep(50 * time.Millisecond)
				}
				d, err := s.AllowN(ctx, "hot", 1, lim)
				if err == nil && d.Allowed {
					counts[g][time.Now().Unix()]++
				}
			}
		})
	}
	wg.Wait()
	sum := map[int64]int{}
	for _, c := range counts {
		for w, n := range c {
			sum[w] += n
		}
	}
	var b strings.Builder
	for w, n := range sum {
		fmt.Fprintf(&b, "window %d allowed %d\n", w, n)
	}
	fmt.Print(b.String())
}

// BenchmarkLeaseHotKey compares, in one run against one real Redis, the
// plain Redis store and lease mode on one hot key from 64 goroutines.
func BenchmarkLeaseHotKey(b *testing.B) {
	r := storetest.StartRedis(b)
	for _, mode := range []string{"plain", "lease"} {
		b.Run("mode="+mode, func(b *testing.B) {
			uri := fmt.Sprintf("redis://%s?prefix=hot%d:&timeout=1s", r.Addr(), prefixSeq.Add(1))
			if mode == "lease" {
				uri += "&lease=1000"
			}
			s, err := floodgate.Open(uri)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			lim := limit.PerHour(limit.MaxCount)
			ctx := context.Background()
			require.Eventually(b, func() bool { _, err := s.AllowN(ctx, "fixture", 1, lim); return err == nil },
				5*time.Second, 10*time.Millisecond, "fixture: Redis never answered")
			var failed atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(1, (64+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if d, err := s.AllowN(ctx, "hot", 1, lim); err != nil || !d.Allowed {
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d decisions failed or were denied", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}
