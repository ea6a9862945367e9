package redisstore

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// budgetStore returns a Store whose only state is its time budget, which
// is all that budget reads: no client, no connection, no goroutine.
func budgetStore(timeout time.Duration) *Store {
	s := &Store{owned: true}
	s.deadlines.timeout, s.deadlines.grain = timeout, timeout/budgetGrain
	return s
}

// TestBudget checks the contexts of round trips in a synctest bubble,
// whose clock moves only when every goroutine waits: a shared deadline
// exactly timeout after the call that made it, closed by its timer at
// that instant and never by the caller; one deadline per grain; a
// caller's deadline, earlier or later, ignored; no allocation on the
// shared path.
func TestBudget(t *testing.T) {
	const timeout = 80 * time.Millisecond
	const grain = timeout / budgetGrain

	t.Run("shared deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := budgetStore(timeout)
			start := time.Now()
			ctx, cancel := s.budget(context.Background())
			defer cancel()
			dl, ok := ctx.Deadline()
			require.True(t, ok, "budget(Background).Deadline() has no deadline")
			assert.Equal(t, start.Add(timeout), dl, "budget(Background).Deadline(), want timeout after the call")

			time.Sleep(timeout - time.Nanosecond)
			synctest.Wait()
			assert.NoError(t, ctx.Err(), "budget(Background).Err() 1ns before its deadline")
			select {
			case <-ctx.Done():
				t.Fatal("budget(Background).Done() closed 1ns before its deadline")
			default:
			}
			time.Sleep(time.Nanosecond)
			synctest.Wait()
			select {
			case <-ctx.Done():
			default:
				t.Fatal("budget(Background).Done() not closed at its deadline")
			}
			assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded, "budget(Background).Err() at its deadline")
		})
	})

	t.Run("shared within a grain", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := budgetStore(timeout)
			a, _ := s.budget(context.Background())
			time.Sleep(grain - time.Nanosecond)
			b, _ := s.budget(context.Background())
			assert.Same(t, a, b, "budget() %v after the first: a grain is %v, want the same deadline", grain-time.Nanosecond, grain)
			time.Sleep(time.Nanosecond)
			c, _ := s.budget(context.Background())
			assert.NotSame(t, a, c, "budget() one grain (%v) after the first: want a new deadline", grain)
			dl, _ := c.Deadline()
			assert.Equal(t, time.Now().Add(timeout), dl, "the new deadline")
		})
	})

	t.Run("caller cancels", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := budgetStore(timeout)
			caller, stop := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
			ctx, cancel := s.budget(caller)
			defer cancel()
			stop()
			synctest.Wait()
			assert.NoError(t, ctx.Err(), "the budget's Err() after its caller cancelled")
		})
	})

	t.Run("caller's earlier deadline", func(t *testing.T) {
		// A caller's short deadline never reaches rueidis: it failed the
		// shared connection for other callers (TestCallerGoneIsNotAFailure).
		synctest.Test(t, func(t *testing.T) {
			s := budgetStore(timeout)
			caller, stop := context.WithTimeout(context.Background(), timeout/4)
			defer stop()
			start := time.Now()
			ctx, cancel := s.budget(caller)
			defer cancel()
			dl, _ := ctx.Deadline()
			assert.Equal(t, start.Add(timeout), dl, "budget(ctx with an earlier deadline).Deadline() is the store's own")
			time.Sleep(timeout / 4)
			synctest.Wait()
			assert.ErrorIs(t, caller.Err(), context.DeadlineExceeded, "the caller's context after its deadline")
			assert.NoError(t, ctx.Err(), "the budget's Err() after its caller's deadline")
		})
	})

	t.Run("caller's later deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := budgetStore(timeout)
			caller, stop := context.WithTimeout(context.Background(), time.Hour)
			defer stop()
			start := time.Now()
			ctx, cancel := s.budget(caller)
			defer cancel()
			dl, _ := ctx.Deadline()
			assert.Equal(t, start.Add(timeout), dl, "budget(ctx with a deadline an hour away).Deadline()")
		})
	})

	t.Run("allocations", func(t *testing.T) {
		// In the bubble no time passes during the runs: one deadline
		// (made by AllocsPerRun's warm-up call) serves them all.
		synctest.Test(t, func(t *testing.T) {
			s := budgetStore(timeout)
			ctx := context.WithValue(context.Background(), ctxKey{}, "v")
			allocs := testing.AllocsPerRun(1000, func() {
				_, cancel := s.budget(ctx)
				cancel()
			})
			assert.Zero(t, allocs, "allocations per budget(ctx without deadline) within one grain")
		})
	})
}

type ctxKey struct{}
