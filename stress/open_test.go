package stress_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientNameRefusedAtOpen: a client name that Redis's CLIENT SETNAME
// refuses fails Open with ErrURI, naming the parameter, instead of
// opening a store whose every connection fails.
func TestClientNameRefusedAtOpen(t *testing.T) {
	for _, name := range []string{"a%20b", "a%0Ab", "caf%C3%A9", "tab%09"} {
		uri := "redis://127.0.0.1:1?client-name=" + name
		st, err := floodgate.Open(uri)
		if st != nil {
			st.Close()
		}
		require.ErrorIs(t, err, floodgate.ErrURI, "Open(%q)", uri)
		assert.Contains(t, err.Error(), "client-name", "Open(%q): the error names the parameter", uri)
	}
	st, err := floodgate.Open("redis://127.0.0.1:1?client-name=api-7_x")
	require.NoError(t, err, "a client name Redis accepts")
	require.NoError(t, st.Close())
}

// records keeps the messages of Error records.
type records struct {
	mu   sync.Mutex
	errs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelError {
		r.mu.Lock()
		r.errs = append(r.errs, rec.Message)
		r.mu.Unlock()
	}
	return nil
}

func (r *records) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// TestRefusedConnectionLogged: a connection that Redis refuses (here a
// database it does not have) is logged as an error once, not left to the failure
// policy to hide, and the calls fail with ErrStorage.
func TestRefusedConnectionLogged(t *testing.T) {
	r := storetest.StartRedis(t, "--databases", "4")
	logs := &records{}
	st, err := floodgate.Open("redis://"+r.Addr()+"/9?failure=open&timeout=50ms", floodgate.WithLogger(slog.New(logs)))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.AllowN(context.Background(), "k", 1, limit.PerMinute(5))
	require.ErrorIs(t, err, floodgate.ErrStorage, "AllowN with the database refused")
	require.Eventually(t, func() bool { return len(logs.all()) > 0 }, 5*time.Second, 10*time.Millisecond,
		"no error logged for a connection Redis refuses")
	assert.Contains(t, logs.all()[0], "refused the connection")
	assert.Len(t, logs.all(), 1, "error lines: %q", logs.all())
}

// TestColdStartClosed is the cold-start hole: under failure=closed the
// first call after Open, with Redis up, waits for the connection that
// Open started and is decided by Redis: allowed, with no error, in every
// one of 10 fresh stores.
func TestColdStartClosed(t *testing.T) {
	r := storetest.StartRedis(t)
	for i := range 10 {
		st, err := floodgate.Open("redis://"+r.Addr()+"?failure=closed&timeout=50ms&prefix="+newPrefix(),
			floodgate.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(t, err)
		d, err := st.AllowN(context.Background(), "login", 1, login)
		assert.NoError(t, err, "store %d: the first call after Open", i)
		assert.True(t, d.Allowed, "store %d: the first login after Open", i)
		require.NoError(t, st.Close())
	}
}
