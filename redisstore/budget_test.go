package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBudget checks the contexts of round trips: a shared deadline within
// (timeout − grain, timeout], closed by its timer, never by the caller;
// a caller's earlier deadline ignored; no allocation on the shared path.
func TestBudget(t *testing.T) {
	const timeout = 80 * time.Millisecond
	s, err := Open("redis://127.0.0.1:1?timeout=80ms") // never connects; budget needs no server
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	t.Run("shared deadline", func(t *testing.T) {
		before := time.Now()
		ctx, cancel := s.budget(context.Background())
		defer cancel()
		dl, ok := ctx.Deadline()
		require.True(t, ok, "budget(Background).Deadline() has no deadline")
		assert.WithinRange(t, dl, before.Add(timeout-timeout/budgetGrain), time.Now().Add(timeout),
			"budget(Background).Deadline(), want within (timeout − grain, timeout] of the call")
		assert.NoError(t, ctx.Err(), "budget(Background).Err() before the deadline")
		select {
		case <-ctx.Done():
		case <-time.After(10 * timeout):
			t.Fatalf("budget(Background).Done() not closed %v after a budget of %v", 10*timeout, timeout)
		}
		assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded, "budget(Background).Err() after Done")
		assert.False(t, time.Now().Before(dl), "budget(Background).Done() closed before its Deadline %v", dl)
	})

	t.Run("shared within a grain", func(t *testing.T) {
		a, _ := s.budget(context.Background())
		b, _ := s.budget(context.Background())
		// Two calls a grain apart may get different deadlines; two in a
		// row almost always share one.
		if a != b {
			c, _ := s.budget(context.Background())
			assert.Same(t, b, c, "three budgets in a row made three deadlines")
		}
	})

	t.Run("caller cancels", func(t *testing.T) {
		caller, stop := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		ctx, cancel := s.budget(caller)
		defer cancel()
		stop()
		assert.NoError(t, ctx.Err(), "the budget's Err() after its caller cancelled")
	})

	t.Run("caller's earlier deadline", func(t *testing.T) {
		// A caller's short deadline never reaches rueidis: it failed the
		// shared connection for other callers (TestCallerGoneIsNotAFailure).
		caller, stop := context.WithDeadline(context.Background(), time.Now().Add(timeout/4))
		defer stop()
		ctx, cancel := s.budget(caller)
		defer cancel()
		dl, _ := ctx.Deadline()
		assert.Greater(t, time.Until(dl), timeout/2, "budget(ctx with an earlier deadline).Deadline() is the store's own")
		stop()
		assert.NoError(t, ctx.Err(), "the budget's Err() after its caller's deadline")
	})

	t.Run("caller's later deadline", func(t *testing.T) {
		caller, stop := context.WithTimeout(context.Background(), time.Hour)
		defer stop()
		ctx, cancel := s.budget(caller)
		defer cancel()
		dl, _ := ctx.Deadline()
		assert.WithinDuration(t, time.Now().Add(timeout), dl, timeout/budgetGrain+10*time.Millisecond,
			"budget(ctx with a deadline an hour away).Deadline()")
	})

	t.Run("allocations", func(t *testing.T) {
		ctx := context.WithValue(context.Background(), ctxKey{}, "v")
		allocs := testing.AllocsPerRun(1000, func() {
			_, cancel := s.budget(ctx)
			cancel()
		})
		// One timer per grain (5 ms here) is shared by every call in it.
		assert.Less(t, allocs, 0.5, "allocations per budget(ctx without deadline)")
	})
}

type ctxKey struct{}
