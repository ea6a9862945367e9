package redisstore

import (
	"context"
	"sync/atomic"
	"time"
)

// budgetGrain is the fraction of the time budget by which the budgets of
// calls sharing one deadline may differ: a call gets between
// (1 − 1/budgetGrain)·timeout and timeout.
const budgetGrain = 16

// deadline is a context.Context shared by every round trip that starts
// within one grain (timeout/budgetGrain) of the others: its Done channel
// closes at its deadline, by one timer for all of them. It carries no
// values and is never cancelled; it replaces, on the hot path, the
// context.WithTimeout(context.WithoutCancel(ctx)) pair, which cost four
// to five allocations per call (the timer, the timerCtx, the
// withoutCancelCtx and the lazily made Done channel; BenchmarkAllowN).
//
// A deadline is immutable once published and safe for concurrent use;
// it is used through a pointer.
type deadline struct {
	at   time.Time
	done chan struct{}
}

var _ context.Context = (*deadline)(nil)

func (d *deadline) Deadline() (time.Time, bool) { return d.at, true }
func (d *deadline) Done() <-chan struct{}       { return d.done }
func (d *deadline) Value(any) any               { return nil }
func (d *deadline) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// withValues is a deadline that answers Value from the caller's context,
// for a client given by WithClient, whose hooks (tracing, metrics) may
// read the caller's values. It costs one allocation.
type withValues struct {
	*deadline
	values context.Context
}

func (c withValues) Value(k any) any { return c.values.Value(k) }

// deadlines hands out shared deadlines for one time budget.
type deadlines struct {
	timeout time.Duration
	grain   time.Duration
	cur     atomic.Pointer[deadline]
}

// get returns a deadline between timeout − grain and timeout after now;
// the first call of each grain makes it and starts its timer.
func (ds *deadlines) get(now time.Time) *deadline {
	if d := ds.cur.Load(); d != nil && d.at.Sub(now) > ds.timeout-ds.grain {
		return d
	}
	old := ds.cur.Load()
	d := &deadline{at: now.Add(ds.timeout), done: make(chan struct{})}
	time.AfterFunc(ds.timeout, func() { close(d.done) })
	ds.cur.CompareAndSwap(old, d) // a racing caller's deadline is as good
	return d
}

// noCancel is the CancelFunc of a shared deadline: its timer is shared, so
// there is nothing to release.
func noCancel() {}

// budget returns the context of one round trip made for a caller whose
// context is ctx: the store's own time budget, detached from ctx's
// cancellation and deadline. rueidis pipelines the commands of all
// callers over shared connections, and a command context that ends while
// the client dials or writes fails that connection for every caller
// sharing it ("dial tcp: operation was canceled", and "context deadline
// exceeded" for others' calls): that is how hung-up clients, and clients
// with very short deadlines, used to fail the requests of others
// (TestCallerGoneIsNotAFailure). So a caller who hangs up or whose
// deadline passes mid-call waits at most the budget for the reply, and a
// call that completes stands, counted: an attacker gains nothing by
// hanging up. A caller whose context has ended before the call is
// answered at once with ctx.Err(), and nothing is counted (eval).
//
// The budget is a shared [deadline] (no allocation); calls through a
// client of the caller's (WithClient) keep ctx's values at the cost of
// one allocation.
func (s *Store) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.deadlines.get(time.Now())
	if s.owned {
		return d, noCancel // our own client reads no values
	}
	return withValues{d, ctx}, noCancel
}
