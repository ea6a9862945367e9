package fuzz_test

import (
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// snapHeader is the snapshot file's magic and version 1 (engine's
// snapshotfile.go); the fuzz input is the body between them and the
// checksum, so that mutations reach the parser instead of the checksum.
const snapHeader = "\x89floodgate-snap\n\x01\x00\x00\x00"

// FuzzSnapshotFile restores engines from checksummed files whose bodies
// the fuzzer writes: a restore never panics, and what it restores
// survives a write and another restore unchanged (as many pairs, and the
// same Decisions for the keys of the seeds).
func FuzzSnapshotFile(f *testing.F) {
	start := 1_765_000_000 * time.Second
	keys := []string{"a", "b", "ключ"}
	ls := []limit.Limit{limit.MustParse("5/minute"), limit.MustParse("3/second")}
	quiet := slog.New(slog.DiscardHandler)
	for _, s := range []limit.Strategy{limit.SlidingWindow, limit.FixedWindow, limit.GCRA, limit.MovingWindow} {
		path := filepath.Join(f.TempDir(), s.String())
		e := engine.New(engine.WithClock(clock.NewManual(start)), engine.WithStrategy(s), engine.WithSweepInterval(-1), engine.WithSnapshot(path, -1, quiet))
		for _, k := range keys {
			e.AllowN(k, 2, ls...)
		}
		require.NoError(f, e.Close())
		data, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(data[len(snapHeader) : len(data)-4])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		path := filepath.Join(t.TempDir(), "snap")
		file := append([]byte(snapHeader), body...)
		file = binary.LittleEndian.AppendUint32(file, crc32.Checksum(file, crc32.MakeTable(crc32.Castagnoli)))
		require.NoError(t, os.WriteFile(path, file, 0o600))
		for _, s := range []limit.Strategy{limit.SlidingWindow, limit.GCRA, limit.MovingWindow} {
			c := clock.NewManual(start)
			open := func() *engine.Engine {
				return engine.New(engine.WithClock(c), engine.WithStrategy(s), engine.WithSweepInterval(-1), engine.WithSnapshot(path, -1, quiet))
			}
			a := open()
			n := a.Len()
			var before []limit.Decision
			for _, k := range keys {
				before = append(before, a.Peek(k, ls...))
			}
			require.NoError(t, a.Close())
			b := open()
			require.Equal(t, n, b.Len(), "%s: pairs after a restore, a write and another restore", s)
			for i, k := range keys {
				require.Equal(t, before[i], b.Peek(k, ls...), "%s: Peek(%q) after a write and another restore", s, k)
			}
			require.NoError(t, b.Close())
		}
	})
}
