package engine_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/logtest"
	"github.com/floodgate-go/floodgate/limit"
)

// t0 is a Unix-epoch time in the middle of a day, minute and second, so
// that windows of every period are partly used.
const t0 = 1_765_000_000*time.Second + 123_456_789*time.Nanosecond

// snapClock returns a manual clock reading start that is also the wall
// clock the snapshots translate through, so that engines on it agree to
// the nanosecond.
func snapClock(t *testing.T, start time.Duration) *clock.Manual {
	t.Helper()
	c := clock.NewManual(start)
	t.Cleanup(engine.SetWallClock(func() time.Time { return time.Unix(0, int64(c.Now())) }))
	return c
}

// logBuf is a logger that records its lines, and the buffer.
func logBuf() (*slog.Logger, *logtest.Buffer) {
	var b logtest.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// snapEngine returns an engine of strategy s on c with a snapshot at
// path written only at Close, and no sweeper.
func snapEngine(t *testing.T, s limit.Strategy, c *clock.Manual, path string, log *slog.Logger) *engine.Engine {
	t.Helper()
	e := engine.New(engine.WithClock(c), engine.WithStrategy(s), engine.WithSweepInterval(-1),
		engine.WithSnapshot(path, -1, log))
	t.Cleanup(func() { e.Close() })
	return e
}

// snapLimits are limits of every path: one-word cells, wide cells, and
// GCRA with a burst.
func snapLimits(t *testing.T) []limit.Limit {
	t.Helper()
	burst, err := limit.PerMinute(4).WithBurst(7)
	require.NoError(t, err)
	wide, err := limit.New(1<<40, time.Second)
	require.NoError(t, err)
	return []limit.Limit{limit.MustParse("5/minute"), limit.MustParse("3/second"), burst, wide}
}

// TestSnapshotRestartIsInvisible counts requests in one engine, closes it
// (which writes the snapshot), and checks that an engine restored from
// the file, after a downtime, gives every key the Decision that the
// first engine (which keeps answering after Close) gives at the same
// instant: windows that passed are dropped, GCRA and moving-window state
// is exact.
func TestSnapshotRestartIsInvisible(t *testing.T) {
	for _, s := range allStrategies() {
		for _, down := range []time.Duration{0, time.Nanosecond, 500 * time.Millisecond, time.Second, 30 * time.Second, time.Minute, 90 * time.Second, 5 * time.Minute} {
			t.Run("strategy="+s.String()+"/down="+down.String(), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "snap")
				c := snapClock(t, t0)
				log, logs := logBuf()
				a := snapEngine(t, s, c, path, log)
				ls := snapLimits(t)
				keys := []string{"alice", "bob", "", "ключ", strings.Repeat("k", 300)}
				for i := range 40 {
					c.Advance(37 * time.Millisecond)
					k := keys[i%len(keys)]
					a.AllowN(k, int64(1+i%3), ls[i%len(ls)])
					a.Allow(k, ls[(i+1)%len(ls)])
				}
				require.NoError(t, a.Close(), "Close (the final write)")
				c.Advance(down)
				b := snapEngine(t, s, c, path, log)
				assert.NotContains(t, logs.String(), "level=ERROR", "restore of a good file")
				for _, k := range keys {
					for _, l := range ls {
						assert.Equal(t, a.Peek(k, l), b.Peek(k, l), "Peek(%q, %v) after %v down: restored engine against the one that kept running", k, l, down)
					}
				}
				for _, k := range keys {
					assert.Equal(t, a.AllowN(k, 2, ls...), b.AllowN(k, 2, ls...), "AllowN(%q, 2, all) after %v down", k, down)
				}
			})
		}
	}
}

// TestSnapshotClockTranslation restores into a process whose engine clock
// disagrees with the wall clock by a different offset than the writer's:
// the state follows the wall clock, and never allows more than the exact
// translation would. A skew within the clocks' resolution is ignored.
func TestSnapshotClockTranslation(t *testing.T) {
	for _, s := range allStrategies() {
		for _, skew := range []time.Duration{7 * time.Second, time.Millisecond} {
			t.Run("strategy="+s.String()+"/skew="+skew.String(), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "snap")
				l := limit.MustParse("5/minute")
				c := clock.NewManual(t0)
				t.Cleanup(engine.SetWallClock(func() time.Time { return time.Unix(0, int64(c.Now())) }))
				a := snapEngine(t, s, c, path, nil)
				for range 5 {
					require.True(t, a.Allow("k", l), "Allow within the limit")
				}
				require.NoError(t, a.Close())
				// The new process's engine clock reads skew behind the wall.
				d := clock.NewManual(t0 - skew)
				t.Cleanup(engine.SetWallClock(func() time.Time { return time.Unix(0, int64(d.Now()+skew)) }))
				b := snapEngine(t, s, d, path, nil)
				assert.False(t, b.Allow("k", l), "the 6th request after a restart on a skewed clock")
				got, want := b.Peek("k", l), a.Peek("k", l)
				switch {
				case skew < 2*time.Millisecond:
					// Ignored: the state is the writer's, in engine time.
					assert.Equal(t, want.RetryAfter+skew, got.RetryAfter, "a skew within the clocks' resolution moves nothing")
				case s == limit.MovingWindow:
					assert.Equal(t, want.RetryAfter, got.RetryAfter, "the moving window's log follows the wall clock exactly")
				case s == limit.GCRA:
					// The engine's GCRA state is a whole tick (12 s here):
					// a shift by a part of one rounds towards denying.
					tick := l.Period() / time.Duration(l.Count())
					assert.GreaterOrEqual(t, got.RetryAfter, want.RetryAfter, "GCRA: translation rounds towards denying")
					assert.LessOrEqual(t, got.RetryAfter, want.RetryAfter+tick, "GCRA: by less than a tick")
				}
			})
		}
	}
}

// TestSnapshotBadFiles checks that every file that is not a whole
// snapshot of this version is logged at Error and starts empty: each
// truncation, each bit flip, another program's files, a future version.
func TestSnapshotBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	c := snapClock(t, t0)
	l := limit.MustParse("5/minute")
	a := snapEngine(t, limit.SlidingWindow, c, good, nil)
	for _, k := range []string{"a", "b"} {
		require.True(t, a.Allow(k, l))
	}
	require.NoError(t, a.Close())
	data, err := os.ReadFile(good)
	require.NoError(t, err)

	future := bytes.Clone(data)
	binary.LittleEndian.PutUint32(future[16:], 2)
	binary.LittleEndian.PutUint32(future[len(future)-4:], crc32.Checksum(future[:len(future)-4], crc32.MakeTable(crc32.Castagnoli)))
	cases := map[string][]byte{
		"empty":          {},
		"text":           []byte("hello, I am a log file\n"),
		"gzip":           {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"go.mod":         []byte("module github.com/floodgate-go/floodgate\n\ngo 1.26\n"),
		"version=future": future,
		"magic only":     []byte("\x89floodgate-snap\n"),
	}
	for i := range len(data) {
		cases["truncated at "+strconv.Itoa(i)] = data[:i]
		for bit := range 8 {
			flipped := bytes.Clone(data)
			flipped[i] ^= 1 << bit
			cases["flip byte "+strconv.Itoa(i)+" bit "+strconv.Itoa(bit)] = flipped
		}
	}
	cases["extended"] = append(bytes.Clone(data), 0)
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snap")
			require.NoError(t, os.WriteFile(path, b, 0o600))
			log, logs := logBuf()
			e := snapEngine(t, limit.SlidingWindow, c, path, log)
			assert.Contains(t, logs.String(), "level=ERROR", "New on a bad snapshot must log at Error")
			assert.Zero(t, e.Len(), "a bad snapshot must restore nothing")
			assert.Equal(t, int64(4), e.Peek("a", l).Remaining, "Peek after a bad snapshot: a fresh key")
		})
	}
}

// TestSnapshotMissingFile starts empty without an error, removes a
// crashed write's temporary file, and Close creates the file.
func TestSnapshotMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap")
	stale := path + ".tmp-1234"
	require.NoError(t, os.WriteFile(stale, []byte("half a write"), 0o600))
	c := snapClock(t, t0)
	log, logs := logBuf()
	e := snapEngine(t, limit.SlidingWindow, c, path, log)
	assert.Zero(t, e.Len())
	assert.NoFileExists(t, stale, "New removes the temporary file of a write cut short")
	assert.NotContains(t, logs.String(), "level=ERROR", "a missing snapshot is no error")
	require.NoError(t, e.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err, "Close writes the snapshot")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the snapshot holds keys: mode 0600")
}

// TestSnapshotUnwritable reports the final write's error from Close, and
// leaves no temporary file behind.
func TestSnapshotUnwritable(t *testing.T) {
	dir := t.TempDir()
	c := snapClock(t, t0)
	e := snapEngine(t, limit.SlidingWindow, c, filepath.Join(dir, "missing", "snap"), nil)
	require.True(t, e.Allow("k", limit.PerMinute(1)))
	assert.Error(t, e.Close(), "Close with a snapshot in a directory that does not exist")
	assert.NoError(t, e.Close(), "a second Close")
}

// TestSnapshotOtherStrategy restores only what applies: the window
// strategies share their state; GCRA and the moving window restore only
// their own, and a mismatch is logged at Warn, not Error.
func TestSnapshotOtherStrategy(t *testing.T) {
	l := limit.MustParse("5/minute")
	for _, from := range allStrategies() {
		for _, to := range allStrategies() {
			t.Run("from="+from.String()+"/to="+to.String(), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "snap")
				c := snapClock(t, t0)
				a := snapEngine(t, from, c, path, nil)
				for range 5 {
					require.True(t, a.Allow("k", l))
				}
				require.NoError(t, a.Close())
				log, logs := logBuf()
				b := snapEngine(t, to, c, path, log)
				assert.NotContains(t, logs.String(), "level=ERROR")
				windows := func(s limit.Strategy) bool { return s == limit.SlidingWindow || s == limit.FixedWindow }
				if from == to || windows(from) && windows(to) {
					assert.False(t, b.Allow("k", l), "6th request after a restore %s → %s", from, to)
				} else {
					assert.Contains(t, logs.String(), "level=WARN", "a snapshot of another strategy is worth a warning")
					assert.Zero(t, b.Len(), "nothing of %s applies to %s", from, to)
				}
			})
		}
	}
}

// TestSnapshotOtherLimits restores the entries of limits still in use,
// and the sweeper evicts those of limits nobody asks about again.
func TestSnapshotOtherLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap")
	c := snapClock(t, t0)
	old, kept := limit.MustParse("3/second"), limit.MustParse("5/minute")
	a := snapEngine(t, limit.SlidingWindow, c, path, nil)
	for range 3 {
		require.True(t, a.AllowN("k", 1, old, kept).Allowed)
	}
	require.NoError(t, a.Close())
	b := snapEngine(t, limit.SlidingWindow, c, path, nil)
	assert.Equal(t, a.Peek("k", kept), b.Peek("k", kept), "the kept limit after a restore")
	assert.Equal(t, 2, b.Len(), "both limits' entries are restored")
	c.Advance(4 * time.Second)
	assert.Equal(t, 1, engine.Sweep(b), "the old limit's entry goes with the first sweep after it idles")
	assert.Equal(t, a.Peek("k", kept), b.Peek("k", kept), "the kept limit after the sweep")
}

// TestSnapshotForgetsEvictedKeys writes only keys that still hold state:
// a key evicted by the sweeper is not in the next snapshot.
func TestSnapshotForgetsEvictedKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap")
	c := snapClock(t, t0)
	l := limit.MustParse("5/second")
	a := snapEngine(t, limit.SlidingWindow, c, path, nil)
	require.True(t, a.Allow("gone", l))
	c.Advance(10 * time.Second)
	require.True(t, a.Allow("kept", l))
	require.Equal(t, 1, engine.Sweep(a), "the idle key is evicted")
	require.NoError(t, a.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "gone", "an evicted key is not written")
	assert.Contains(t, string(data), "kept")
}

// TestSnapshotUnderTraffic writes snapshots in the background while
// goroutines count, and checks that a restore never allows more than the
// limit in the window (run it with -race).
func TestSnapshotUnderTraffic(t *testing.T) {
	c := snapClock(t, t0)
	l := limit.MustParse("100/minute")
	for _, s := range allStrategies() {
		t.Run("strategy="+s.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snap")
			e := engine.New(engine.WithClock(c), engine.WithStrategy(s), engine.WithSnapshot(path, time.Millisecond, nil))
			var wg sync.WaitGroup
			var allowed [4]int
			for g := range 4 {
				wg.Go(func() {
					for i := range 2000 {
						if e.Allow("k"+strconv.Itoa(i%50), l) {
							allowed[g]++
						}
					}
				})
			}
			wg.Wait()
			require.NoError(t, e.Close())
			b := snapEngine(t, s, c, path, nil)
			for i := range 50 {
				assert.Zero(t, b.Peek("k"+strconv.Itoa(i), l).Remaining, "key %d: all 100 were counted before the restart", i)
			}
		})
	}
}

// TestSnapshotPrunesKeys keeps the key registry to the keys that hold
// state, also when snapshots are written only at Close.
func TestSnapshotPrunesKeys(t *testing.T) {
	c := snapClock(t, t0)
	l := limit.MustParse("5/second")
	e := snapEngine(t, limit.SlidingWindow, c, filepath.Join(t.TempDir(), "snap"), nil)
	for i := range 100 {
		require.True(t, e.Allow("k"+strconv.Itoa(i), l))
	}
	assert.Equal(t, 100, engine.PruneSnapshotKeys(e), "keys with state stay")
	c.Advance(10 * time.Second)
	require.True(t, e.Allow("new", l))
	require.Equal(t, 100, engine.Sweep(e), "the idle keys are evicted")
	assert.Equal(t, 1, engine.PruneSnapshotKeys(e), "only the key with state is left")
}

// TestSnapshotZeroAllocs: with snapshots on, decisions on a known key
// still allocate nothing.
func TestSnapshotZeroAllocs(t *testing.T) {
	c := snapClock(t, t0)
	l := limit.MustParse("1000000000/day")
	for _, s := range allStrategies() {
		e := snapEngine(t, s, c, filepath.Join(t.TempDir(), "snap"), nil)
		require.True(t, e.Allow("k", l))
		assert.Zero(t, testing.AllocsPerRun(1000, func() { e.Allow("k", l) }), "allocations per Allow, %s, snapshots on", s)
		assert.Zero(t, testing.AllocsPerRun(1000, func() { e.AllowN("k", 1, l) }), "allocations per AllowN, %s, snapshots on", s)
	}
}
