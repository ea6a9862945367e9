package redistest_test

import (
	"context"
	"testing"

	"github.com/floodgate-go/floodgate/internal/redistest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServer starts a server, decides on it, kills it (calls fail) and
// restarts it on the same port (calls succeed again, on empty state).
func TestServer(t *testing.T) {
	r := redistest.Start(t)
	s, err := redisstore.Open(r.URI() + "?timeout=500ms")
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	l := limit.PerMinute(1)
	require.Eventually(t, func() bool { _, err := s.AllowN(ctx, "warm", 1, l); return err == nil }, 5e9, 1e7)
	d, err := s.AllowN(ctx, "k", 1, l)
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	r.Kill()
	_, err = s.AllowN(ctx, "k", 1, l)
	assert.Error(t, err, "a call with the server killed")
	r.Restart(t)
	require.Eventually(t, func() bool { d, err := s.AllowN(ctx, "k", 1, l); return err == nil && d.Allowed }, 5e9, 1e7,
		"the restarted server holds no counts")
}
