package engine

import (
	"errors"
	"log/slog"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/limit"
)

// Option configures an Engine. Options are built by the With functions.
type Option interface{ apply(*config) }

type config struct {
	clk      clock.Clock
	strategy limit.Strategy
	maxKeys  int
	shards   int
	every    time.Duration
	snap     snapConfig // path "": no snapshot
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithClock sets the engine's time source. Default: a coarse clock of 1 ms
// resolution owned by the engine, which reads time with one atomic load
// (a system clock read costs as much as the rest of a decision; see
// docs/performance.md) and may lag real time by about a millisecond; it
// reads time since the Unix epoch (see the package documentation). Tests
// pass a *clock.Manual.
func WithClock(c clock.Clock) Option { return optionFunc(func(cfg *config) { cfg.clk = c }) }

// WithStrategy sets the algorithm applied to every limit: SlidingWindow
// (the default), FixedWindow, GCRA or MovingWindow. An unknown strategy
// means SlidingWindow.
func WithStrategy(s limit.Strategy) Option {
	return optionFunc(func(cfg *config) {
		if s > limit.MovingWindow {
			s = limit.SlidingWindow
		}
		cfg.strategy = s
	})
}

// WithMaxKeys caps the live keys of each distinct limit at about n. At the
// cap a new key is denied (RetryAfter is the limit's period) until the
// sweeper evicts idle keys; keys already tracked are unaffected, so the
// cap never lets a key exceed its limit. Default 0: no cap. The trade-off:
// without a cap, a flood of unique keys grows memory by one table slot per
// key (bytes per key: docs/performance.md) until their windows expire;
// with it, that flood is denied.
func WithMaxKeys(n int) Option { return optionFunc(func(cfg *config) { cfg.maxKeys = n }) }

// ErrFull reports a new key refused because its table holds the
// WithMaxKeys cap of live keys. The engine's own calls answer such a
// request with a denial instead (see WithMaxKeys); the adapters that
// count or store in the engine (adapters/httprate, adapters/throttled)
// return ErrFull.
var ErrFull = errors.New("engine: key table is full")

// WithShards sets the number of shards per limit, rounded up to a power of
// two. Default: 4×GOMAXPROCS, at least 8.
func WithShards(n int) Option { return optionFunc(func(cfg *config) { cfg.shards = n }) }

// WithSweepInterval sets how often the background sweeper evicts idle
// keys. Default 10 s. A shorter interval returns memory sooner at the
// cost of more frequent scans, each of which locks one shard at a time. A
// negative interval disables the sweeper, for tests that count keys:
// idle keys then stay, as after Close.
func WithSweepInterval(d time.Duration) Option {
	return optionFunc(func(cfg *config) {
		if d == 0 {
			d = 10 * time.Second
		}
		cfg.every = d
	})
}

// WithSnapshot keeps the engine's live state in the file at path, so
// that a restart keeps its counts: New restores the file (before it
// returns: seconds per million keys, docs/performance.md), the
// engine rewrites it every interval while it runs, and Close writes it
// one last time. Default: no snapshot, and nothing of this costs a
// decision anything beyond a nil check.
//
// A missing file starts empty. A file that is unreadable, corrupt,
// truncated, of another program or of a future version is logged at
// Error on log (slog.Default() when nil) and starts empty: a snapshot
// never crashes New and never restores more than it wrote. A file
// written under another strategy or another set of limits restores what
// still applies: the entries of limits that keep the same kind of state
// (the sliding and the fixed window share theirs), in windows that still
// count; state of limits nobody asks about again is evicted as usual.
// Times are translated through the wall clock, so windows that have
// passed while the process was down are dropped, and GCRA and
// moving-window state resumes exactly (to a GCRA tick, rounded towards
// denying, when the two processes' clocks disagree with the wall clock
// by amounts more than 2 ms apart).
//
// Writes are atomic (a temporary file in the same directory, fsync,
// rename, fsync of the directory), versioned and checksummed (CRC-32C),
// and take no lock across I/O: decisions go on while one runs. The
// trade-offs: the file holds the keys (it is created with mode 0600);
// the engine keeps a copy of each key it counts, tens of bytes per live
// key on top of the tables' own; an allowed decision costs one more
// lock-free lookup; a crash (kill -9) loses what was counted since the
// last write began, at most one interval and the time a write takes
// (seconds per million keys); and each process keeps its own file (give
// each engine its own path): instances that must share their counts
// need Redis. An interval of 0 means 10 s; a negative interval writes
// only at Close. An empty path means no snapshot.
func WithSnapshot(path string, every time.Duration, log *slog.Logger) Option {
	return optionFunc(func(cfg *config) {
		if every == 0 {
			every = 10 * time.Second
		}
		if log == nil {
			log = slog.Default()
		}
		cfg.snap = snapConfig{path: path, every: every, log: log}
	})
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
