package floodgate

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Policy is what a [Fallback] decides while its primary store fails.
type Policy uint8

const (
	// FailMemory decides by the backup store, in [Open] an in-memory
	// engine with the same strategy: each instance then limits on its
	// own, so K instances allow up to K times a limit in total. The
	// default.
	FailMemory Policy = iota
	// FailOpen allows every request: availability over protection.
	FailOpen
	// FailClosed denies every request, with RetryAfter set to the
	// backoff: protection over availability.
	FailClosed
)

// String returns the policy's name as used in storage URIs: "memory",
// "open" or "closed".
func (p Policy) String() string {
	switch p {
	case FailMemory:
		return "memory"
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	}
	return "unknown"
}

// parsePolicy returns the Policy named s, as printed by String.
func parsePolicy(s string) (Policy, bool) {
	for _, p := range []Policy{FailMemory, FailOpen, FailClosed} {
		if s == p.String() {
			return p, true
		}
	}
	return 0, false
}

// tripAfter is how many failed calls, within one backoff, mark the
// primary down, provided the failures are at least tripShare percent of
// the calls of that window and the one before it. One slow reply (a GC pause, a full socket buffer) does
// not move every request onto the policy; an outage, which fails every
// call at once, does so within a few calls; and a partial failure (one
// dead node of a cluster, one key holding foreign data) fails only its
// own calls, because the others keep succeeding and keep the share low.
const (
	tripAfter = 3
	tripShare = 80
)

// errDown is the cause reported, without a call, while the primary is
// marked down.
var errDown = fmt.Errorf("%w: marked down after failing %d%% of its calls; one request tries it again every backoff", ErrUnavailable, tripShare)

// Fallback is a Store that holds a primary store and answers by a
// failure [Policy] when the primary fails. It is the one place where
// store failures are handled: it classifies them, marks the primary
// down, logs each change of state once, calls the error hook, and tries
// the primary again after a backoff.
//
// Only the primary's own failures count. A call whose ctx ended (the
// client hung up, the caller's deadline passed) returns ctx's error and
// the primary's Decision, and never marks the primary down or applies
// the policy: no caller can switch a limit off, or on for others, by
// hanging up.
//
// When at least tripAfter (3) calls within one backoff failed, and the
// failures are at least 80% of the calls of that window and the one
// before it, the primary is marked down:
// calls are answered by the policy at once, and one call per backoff
// tries the primary; its success marks it up again. Each transition is
// one log line (Warn down, Info up) and, with [WithObserver], one call of
// the Observer's ObserveHealth.
//
// The zero Fallback is not usable; call [NewFallback]. A Fallback is safe
// for concurrent use and must not be copied.
type Fallback struct {
	primary Store
	backup  Store // used by FailMemory; closed with the Fallback
	policy  Policy
	o       options
	kind    string // the primary's kind, for Health

	window atomic.Int64 // unix nanos when the current counting window began
	calls  atomic.Int32 // calls in the window
	fails  atomic.Int32 // failed calls in the window
	// The window before, which the share counts too.
	prevCalls, prevFails atomic.Int32
	down                 atomic.Bool  // answer by policy; probe after retryAt
	retryAt              atomic.Int64 // unix nanos after which one call probes the primary
	closed               atomic.Bool
	_                    noCopy
}

// NewFallback returns a Store that asks primary and, when primary fails,
// answers by policy. backup decides under FailMemory and must judge by
// the primary's strategy; it may be nil for the other policies.
// NewFallback panics if primary is nil, or backup is nil under
// FailMemory. Close closes both stores.
func NewFallback(primary Store, policy Policy, backup Store, opts ...Option) *Fallback {
	if primary == nil || (policy == FailMemory && backup == nil) || policy > FailClosed {
		panic("floodgate: NewFallback needs a primary store, a known policy, and a backup store for FailMemory")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	return &Fallback{primary: primary, backup: backup, policy: policy, o: o, kind: storeKind(primary)}
}

// Policy returns what f decides while its primary fails.
func (f *Fallback) Policy() Policy { return f.policy }

// Up reports whether the primary is considered available: false from
// the failure that marked it down until a call succeeds again.
func (f *Fallback) Up() bool { return !f.down.Load() }

// AllowN asks the primary; when it fails, the policy decides, and the
// error wraps ErrStorage and the primary's error.
func (f *Fallback) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	err := f.admit()
	if err == nil {
		var d limit.Decision
		d, err = f.primary.AllowN(ctx, key, n, limits...)
		if !f.failed(ctx, err) {
			return d, err
		}
	} else if errors.Is(err, ErrClosed) {
		return denied(limits), err
	}
	if f.policy == FailMemory {
		d, _ := f.backup.AllowN(ctx, key, n, limits...)
		return d, f.report(err)
	}
	return f.decide(limits), f.report(err)
}

// Peek asks the primary; when it fails, the policy decides, as in AllowN.
func (f *Fallback) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	err := f.admit()
	if err == nil {
		var d limit.Decision
		d, err = f.primary.Peek(ctx, key, limits...)
		if !f.failed(ctx, err) {
			return d, err
		}
	} else if errors.Is(err, ErrClosed) {
		return denied(limits), err
	}
	if f.policy == FailMemory {
		d, _ := f.backup.Peek(ctx, key, limits...)
		return d, f.report(err)
	}
	return f.decide(limits), f.report(err)
}

// Reset resets key in the backup store and in the primary; a failure of
// the primary is returned, wrapping ErrStorage, and counts like any other.
func (f *Fallback) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
	if f.closed.Load() {
		return ErrClosed
	}
	if f.backup != nil {
		_ = f.backup.Reset(ctx, key, limits...)
	}
	err := f.admit()
	if err == nil {
		err = f.primary.Reset(ctx, key, limits...)
		if !f.failed(ctx, err) {
			return err
		}
	}
	return f.report(err)
}

// Refund gives units back where they were counted: in the primary when
// it is up and a [Refunder], in the backup when the primary is marked
// down (under FailMemory the backup counted them). A failure of the
// primary is returned, wrapping ErrStorage, and counts like any other.
func (f *Fallback) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	err := f.admit()
	if err == nil {
		r, ok := f.primary.(Refunder)
		if !ok {
			return nil
		}
		err = r.Refund(ctx, key, n, limits...)
		if !f.failed(ctx, err) {
			return err
		}
	} else if errors.Is(err, ErrClosed) {
		return err
	}
	if r, ok := f.backup.(Refunder); ok && f.policy == FailMemory {
		_ = r.Refund(ctx, key, n, limits...)
	}
	return f.report(err)
}

// Close closes the primary and the backup. It is idempotent.
func (f *Fallback) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := f.primary.Close()
	if f.backup != nil {
		err = errors.Join(err, f.backup.Close())
	}
	return err
}

// admit returns nil when a call may go to the primary: it is up, or it is
// down and this call is the one probe of the current backoff.
func (f *Fallback) admit() error {
	if f.closed.Load() {
		return ErrClosed
	}
	if !f.down.Load() {
		return nil
	}
	now := time.Now().UnixNano()
	if at := f.retryAt.Load(); now >= at && f.retryAt.CompareAndSwap(at, now+int64(f.o.backoff)) {
		return nil
	}
	return errDown
}

// failed records the outcome of a call to the primary and reports
// whether it failed in a way the policy must answer: not for success, and
// not when the caller's ctx ended, which is never the store's failure.
func (f *Fallback) failed(ctx context.Context, err error) bool {
	if err == nil {
		f.count()
		if f.down.CompareAndSwap(true, false) {
			f.o.log.Info("floodgate: store available again; deciding by the store", "store", f.kind, "policy", f.policy.String())
			if f.o.obs != nil {
				f.o.obs.ObserveHealth(Health{Store: f.kind, Up: true, Policy: f.policy})
			}
		}
		return false
	}
	if ctx.Err() != nil || errors.Is(err, ErrClosed) {
		return false
	}
	calls := f.count()
	fails := f.fails.Add(1)
	share := int64(fails+f.prevFails.Load())*100 >= int64(calls+f.prevCalls.Load())*tripShare
	if fails >= tripAfter && share && f.down.CompareAndSwap(false, true) {
		f.retryAt.Store(time.Now().Add(f.o.backoff).UnixNano())
		f.o.log.Warn("floodgate: store unavailable; deciding by the failure policy until it answers",
			"store", f.kind, "policy", f.policy.String(), "retry", f.o.backoff, "error", err)
		if f.o.obs != nil {
			f.o.obs.ObserveHealth(Health{Store: f.kind, Policy: f.policy, Err: err})
		}
	}
	return true
}

// count counts a call in the current window, starting a new window when
// the current one is older than the backoff, and returns the window's
// calls.
func (f *Fallback) count() int32 {
	now := time.Now().UnixNano()
	if w := f.window.Load(); now-w > int64(f.o.backoff) && f.window.CompareAndSwap(w, now) {
		// The window just ended becomes the previous one, which the share
		// also counts: a new window's first few calls alone (three
		// failures on a dead cluster node's keys) are no evidence.
		pc, pf := f.calls.Swap(0), f.fails.Swap(0)
		if now-w > 2*int64(f.o.backoff) {
			pc, pf = 0, 0 // a quiet spell: nothing recent to weigh
		}
		f.prevCalls.Store(pc)
		f.prevFails.Store(pf)
	}
	return f.calls.Add(1)
}

// report wraps err in ErrStorage and hands it to the error hook.
func (f *Fallback) report(err error) error {
	err = fmt.Errorf("%w: %w", ErrStorage, err)
	if f.o.onError != nil {
		f.o.onError(err)
	}
	return err
}

// decide returns the Decision of the open or closed policy.
func (f *Fallback) decide(limits []limit.Limit) limit.Decision {
	var d limit.Decision
	if len(limits) > 0 {
		d.Limit = limits[0]
	}
	if f.policy == FailOpen {
		d.Allowed = true
		return d
	}
	d.RetryAfter = f.o.backoff
	return d
}
