package redisstore

import (
	"context"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
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
	at    time.Time
	start time.Time     // when it was made
	span  time.Duration // at − start
	done  chan struct{}
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
	lat     latency
}

// get returns a deadline between span − grain and span after now; the
// first call of each grain makes it and starts its timer. The span is
// the time budget, or longer while Redis answers slowly (see span).
func (ds *deadlines) get(now time.Time) *deadline {
	if d := ds.cur.Load(); d != nil && d.at.Sub(now) > d.span-ds.grain {
		return d
	}
	old := ds.cur.Load()
	span := ds.span(now)
	d := &deadline{at: now.Add(span), start: now, span: span, done: make(chan struct{})}
	time.AfterFunc(span, func() { close(d.done) })
	ds.cur.CompareAndSwap(old, d) // a racing caller's deadline is as good
	return d
}

// slowMax bounds how far the observed latency stretches a round trip's
// time budget: at most slowMax budgets.
const slowMax = 8

// span returns how long a round trip that starts at now may take. It is
// the time budget, except while Redis is answering, slowly: a round trip
// may take twice the 99th percentile of recent round trips (rounded up
// to a power of two microseconds; at most slowMax budgets) when a reply
// arrived within that long. So queueing under load, which delays
// replies but does not stop them, does not push calls into the failure
// policy; while a Redis that answers nothing (hung, stopped,
// unreachable) costs each call no more than the budget once that
// percentile has passed since its last reply.
func (ds *deadlines) span(now time.Time) time.Duration {
	span := min(max(ds.timeout, 2*ds.lat.p99()), slowMax*ds.timeout)
	if now.Sub(ds.lat.lastReply()) > span {
		return ds.timeout
	}
	return span
}

// latBuckets is the number of latency buckets: bucket b counts round
// trips of less than 2^b µs, at least 2^(b−1); the last one, longer.
const latBuckets = 32

// latDecay is how many round trips the latency histogram weighs before it
// halves its counts: recent round trips weigh most.
const latDecay = 1024

// latency is a histogram of recent round trips, in power-of-two buckets
// of microseconds, and the time of the last reply. Updates are atomic and
// lossy under races, which a percentile estimate tolerates.
type latency struct {
	buckets [latBuckets]atomic.Uint32
	n       atomic.Uint32
	last    atomic.Int64 // time of the last reply, in ns since latBase
}

// latBase is the origin of latency.last: monotonic time since it.
var latBase = time.Now()

// observe counts a round trip of rtt that ended at now.
func (l *latency) observe(rtt time.Duration, now time.Time) {
	l.last.Store(int64(now.Sub(latBase)))
	b := min(bits.Len64(uint64(max(0, rtt/time.Microsecond))), latBuckets-1)
	l.buckets[b].Add(1)
	if l.n.Add(1)%latDecay == 0 {
		for i := range l.buckets {
			l.buckets[i].Store(l.buckets[i].Load() / 2)
		}
	}
}

// lastReply returns the time of the last reply (latBase before any).
func (l *latency) lastReply() time.Time { return latBase.Add(time.Duration(l.last.Load())) }

// p99 returns the upper bound of the bucket of the 99th percentile of
// the recent round trips, 0 before any.
func (l *latency) p99() time.Duration {
	var counts [latBuckets]uint32
	var total uint64
	for i := range l.buckets {
		counts[i] = l.buckets[i].Load()
		total += uint64(counts[i])
	}
	if total == 0 {
		return 0
	}
	var above uint64
	for b := latBuckets - 1; b >= 0; b-- {
		above += uint64(counts[b])
		if above*100 > total {
			return time.Duration(1<<b) * time.Microsecond
		}
	}
	return 0
}

// overran is called when a round trip on c overran its budget: unless a
// probe is in flight, it sends one PING, which waits up to slowMax
// budgets, and counts its round trip as a reply. It is how the store
// learns that Redis became slow rather than dead, since an overrun call's
// own reply, when it comes, is not seen: behind queued calls, the PING
// takes as long as they do; on a Redis that answers nothing it never
// returns, and the budget stays as it is.
func (s *Store) overran(c rueidis.Client) {
	if c == nil || !s.probing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.probing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), slowMax*s.cfg.timeout)
		defer cancel()
		start := time.Now()
		if err := c.Do(ctx, c.B().Ping().Build()).Error(); err == nil {
			now := time.Now()
			s.deadlines.lat.observe(now.Sub(start), now)
		}
	}()
}

// replied records that the round trip whose budget is ctx (made by
// Store.budget) got a reply: Redis is alive, and this is how long it
// took, from the start of its shared deadline (at most a grain early).
func (s *Store) replied(ctx context.Context) {
	var d *deadline
	switch c := ctx.(type) {
	case *deadline:
		d = c
	case withValues:
		d = c.deadline
	default:
		return
	}
	now := time.Now()
	s.deadlines.lat.observe(now.Sub(d.start), now)
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
