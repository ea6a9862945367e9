package floodgate

import (
	"context"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReserve walks one key through reserve, Wait's one step, on the
// memory engine: the units are counted only when allowed (Peek's
// Remaining after each step), a denial says how long to wait, and a cost
// above the limit is never allowed.
func TestReserve(t *testing.T) {
	s := NewMemory(engine.WithStrategy(limit.FixedWindow))
	t.Cleanup(func() { _ = s.Close() })
	l := limit.PerHour(3)
	ctx := context.Background()
	for i, st := range []struct {
		n         int64
		allowed   bool
		remaining int64 // Peek's Remaining afterwards
		err       error
	}{
		{n: 1, allowed: true, remaining: 1},
		{n: 3, allowed: false, remaining: 1}, // denied: nothing counted
		{n: 1, allowed: true, remaining: 0},
		{n: 1, allowed: true, remaining: 0},
		{n: 1, allowed: false, remaining: 0},
		{n: 4, allowed: false, remaining: 0, err: errNeverAllowed},
	} {
		wait, d, err := reserve(ctx, s, "k", st.n, l)
		p, perr := s.Peek(ctx, "k", l)
		require.NoError(t, perr)
		assert.Equal(t, st.remaining, p.Remaining, "step %d: Peek's Remaining after reserve(n=%d)", i, st.n)
		if st.err != nil {
			assert.ErrorIs(t, err, st.err, "step %d: Reserve(n=%d): error", i, st.n)
			assert.Equal(t, limit.Never, wait, "step %d: Reserve(n=%d): wait", i, st.n)
			continue
		}
		require.NoError(t, err, "step %d: Reserve(n=%d)", i, st.n)
		assert.Equal(t, st.allowed, d.Allowed, "step %d: Reserve(n=%d): Allowed", i, st.n)
		if st.allowed {
			assert.Zero(t, wait, "step %d: Reserve(n=%d): wait when allowed", i, st.n)
		} else {
			assert.Equal(t, d.RetryAfter, wait, "step %d: Reserve(n=%d): wait is the RetryAfter", i, st.n)
			assert.True(t, wait > 0 && wait <= time.Hour, "step %d: Reserve(n=%d): wait %v, want in (0, 1h]", i, st.n, wait)
		}
	}
	p, err := s.Peek(ctx, "k", l)
	require.NoError(t, err)
	assert.False(t, p.Allowed, "Peek after three allowed units of 3/hour")
}
