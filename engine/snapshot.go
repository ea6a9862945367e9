package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/floodgate-go/floodgate/shard"
)

// Snapshots: the engine's live state written to a file, so that a
// restart keeps its counts (WithSnapshot).
//
// The key tables store hashes under a per-process seed, never the keys,
// so a snapshot needs the keys themselves: an engine with snapshots on
// keeps a registry of the keys it has counted (keys), filled when a
// request is allowed (a denied request never creates state), read by
// each write and pruned of keys that no longer hold state in any table.
// A write iterates the registry one shard at a time, copying its
// pointers under the shard's lock and nothing else, then reads each
// key's cells with atomic loads (a moving-window log under its own mutex
// for the copy of its entries, a wide cell under its lock bit only when
// a holder is in the way): it never holds a lock across I/O and never
// stops the world, so a decision waits at most for one key's copy (a new
// key's first decision: for one registry shard's copy of pointers). The
// result is not one instant's state: each (key, limit) is read atomically
// at some instant during the write, which a restore treats alike.
//
// Times are engine times (nanoseconds since the Unix epoch, by the
// clock's contract); the file records the wall clock's offset from the
// engine clock when it was written, and a restore shifts every time by
// the difference between that offset and its own, so that state written
// by one process is judged against the same wall-clock instants by the
// next (each process's engine clock is the wall clock read once at start
// plus monotonic time, and two processes can disagree by any step of
// the wall clock between them). Differences below clockNoise are the
// clocks' resolution, not a step, and shift nothing.

// snapshotter is the snapshot half of an Engine with WithSnapshot.
type snapshotter struct {
	snapConfig
	// keys maps the hash of every key that may hold state to the key
	// itself (a copy, so that the caller's string is not kept alive).
	keys  *shard.Objects[string]
	mu    sync.Mutex // one write at a time
	batch []*string  // the registry's pointers, copied by a write; under mu
	done  chan struct{}
}

// snapConfig is what WithSnapshot sets.
type snapConfig struct {
	path  string
	every time.Duration
	log   *slog.Logger
}

// registryShards is the registry's shard count: a write locks one shard
// at a time while it copies the shard's pointers, so shards are kept
// small (about 1,000 keys each at a million keys).
const registryShards = 1024

// wallClock reads the wall clock for the snapshot's time translation; a
// test seam (export_test.go).
var wallClock = time.Now

// note records key (of hash h) in the registry: once, on the key's first
// allowed request. Known keys cost one lock-free lookup.
func (s *snapshotter) note(h uint64, key string) {
	if s.keys.Load(h) == nil {
		s.add(h, key)
	}
}

func (s *snapshotter) add(h uint64, key string) {
	_, _ = s.keys.LoadOrCreate(h, func() *string { k := strings.Clone(key); return &k }) // uncapped: never fails
}

// snapshotLoop writes the snapshot every interval until Close. With
// writes only at Close, it prunes the registry every 10 s instead, as
// each write does, so that keys that come and go do not pile up.
func (e *Engine) snapshotLoop() {
	s := e.snap
	defer close(s.done)
	every, write := s.every, true
	if every < 0 {
		every, write = 10*time.Second, false
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		if !write {
			e.pruneKeys()
		} else if err := e.writeSnapshot(); err != nil {
			s.log.Error("floodgate: snapshot not written; the previous one stays", "path", s.path, "err", err)
		}
	}
}

// writeSnapshot writes the engine's state to the snapshot's path
// atomically: a temporary file in the same directory, synced, renamed
// over the path, and the directory synced, so that a crash at any point
// leaves either the previous snapshot or the new one, whole.
func (e *Engine) writeSnapshot() (err error) {
	s := e.snap
	s.mu.Lock()
	defer s.mu.Unlock()
	dir, base := filepath.Split(s.path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*") // mode 0600: the file holds the keys
	if err != nil {
		return fmt.Errorf("engine: snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = fmt.Errorf("engine: snapshot: %w", err)
		}
	}()
	if err = e.encode(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), s.path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// restoreSnapshot loads the snapshot at the engine's path, if any, into
// the empty engine. A missing file starts empty; a file that cannot be
// read or fails any check is logged at Error and starts empty too:
// nothing of it is restored.
func (e *Engine) restoreSnapshot() {
	s := e.snap
	// A write cut short by a crash leaves its temporary file: no reader
	// wants it.
	if stale, _ := filepath.Glob(s.path + ".tmp-*"); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	data, err := readSnapshot(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.log.Info("floodgate: no snapshot yet; starting empty", "path", s.path)
		return
	case err != nil:
		s.log.Error("floodgate: snapshot unreadable; starting empty", "path", s.path, "err", err)
		return
	}
	start := time.Now()
	// Check everything before restoring anything: a file that fails a
	// check late must not leave a partial restore.
	if _, err := e.decode(data, false); err != nil {
		s.log.Error("floodgate: snapshot rejected; starting empty", "path", s.path, "err", err)
		return
	}
	st, _ := e.decode(data, true)
	if st.strategy != e.strategy {
		s.log.Warn("floodgate: snapshot written under another strategy; restoring only what applies",
			"path", s.path, "written", st.strategy, "running", e.strategy)
	}
	s.log.Info("floodgate: snapshot restored", "path", s.path, "keys", st.keys,
		"restored", st.restored, "skipped", st.skipped, "took", time.Since(start))
}

// pruneKeys drops from the registry the keys that hold no cell in any
// table, as a write does.
func (e *Engine) pruneKeys() {
	s := e.snap
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.batch[:0]
	s.keys.Sweep(func(k *string) bool { keys = append(keys, k); return false })
	for _, k := range keys {
		e.forget(shard.Hash(*k))
	}
	clear(keys)
	s.batch = keys[:0]
}

// readSnapshot returns the file at path, reading no further than its
// first bytes when they are not a snapshot's magic header (another
// program's file may be large).
func readSnapshot(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, len(snapMagic))
	n, err := io.ReadFull(f, head)
	if err != nil || string(head) != snapMagic {
		return head[:n], nil // decode says what is wrong with it
	}
	rest, err := io.ReadAll(f)
	return append(head, rest...), err
}
