package floodgate_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
)

// TestOpenSnapshot opens memory:// with a snapshot twice: the second
// store keeps the first one's counts, and a bad file is logged on Open's
// logger and starts empty.
func TestOpenSnapshot(t *testing.T) {
	ctx := context.Background()
	l := limit.MustParse("5/minute")
	path := filepath.Join(t.TempDir(), "limits.snap")
	uri := "memory://?snapshot=" + path + "&snapshot-interval=1h"
	a, err := floodgate.Open(uri)
	require.NoError(t, err, "Open(%q)", uri)
	for i := range 5 {
		d, err := a.AllowN(ctx, "login:203.0.113.7", 1, l)
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d", i+1)
	}
	require.NoError(t, a.Close(), "Close writes the snapshot")

	b, err := floodgate.Open(uri)
	require.NoError(t, err, "Open(%q) again", uri)
	d, err := b.AllowN(ctx, "login:203.0.113.7", 1, l)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the 6th request, after a restart on the snapshot")
	assert.Equal(t, 1, b.Info().Keys, "Info().Keys after the restore")
	require.NoError(t, b.Close())

	require.NoError(t, os.WriteFile(path, []byte("not a snapshot"), 0o600))
	var logs bytes.Buffer
	c, err := floodgate.Open(uri, floodgate.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err, "Open on a bad snapshot still opens")
	t.Cleanup(func() { c.Close() })
	assert.Contains(t, logs.String(), "level=ERROR", "a bad snapshot is logged at Error on Open's logger")
	assert.Zero(t, c.Info().Keys, "a bad snapshot starts empty")
}
