package floodgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/limit"
)

// Policy is what a Store of [NewFallback] decides while its primary store fails.
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

// FallbackConfig configures [NewFallback]. The zero value of each field
// means its documented default.
type FallbackConfig struct {
	// Policy decides while the primary fails. Default FailMemory.
	Policy Policy
	// Backup decides under FailMemory and must judge by the primary's
	// strategy ([Open] uses an in-memory engine with a key cap).
	// Required under FailMemory, unused under the others. Closed with
	// the Fallback.
	Backup Store
	// Backoff is how long a failed primary stays marked down before one
	// request tries it again (URI: backoff=). Shorter recovers sooner;
	// longer sends fewer requests into a struggling store. Default 1s.
	Backoff time.Duration
	// Logger records each change of state, one line each: Warn when the
	// primary is marked down, Info when it answers again. Never per
	// request. Default slog.Default().
	Logger *slog.Logger
	// Observer is told each change of the primary's health
	// (Observer.ObserveHealth). Default none.
	Observer Observer
	// OnError is called with every error answered by the policy (each
	// wraps [ErrStorage]), including calls answered without trying a
	// primary marked down. It must be fast and safe for concurrent use.
	// Default none.
	OnError func(error)
	// Clock times the backoff and the windows of the trip rule. Default
	// clock.System(); tests use clock.Manual.
	Clock clock.Clock
}

// NewFallback returns a Store that asks primary and answers by
// cfg.Policy when primary fails. It is the one place where store
// failures are handled: it classifies them, marks the primary down, logs
// each change of state once, calls the error hook, and tries the
// primary again after a backoff.
//
// Only the primary's own failures count. A call whose ctx ended (the
// client hung up, the caller's deadline passed) returns ctx's error and
// the primary's Decision, and never marks the primary down or applies
// the policy: no caller can switch a limit off, or on for others, by
// hanging up.
//
// When at least 3 calls within one backoff failed, and the failures are
// at least 80% of the calls of that window and the one before it, the
// primary is marked down: calls are answered by the policy at once, and
// one call per backoff tries the primary; its success marks it up again.
// Each transition is one log line and one call of the Observer's
// ObserveHealth. While the primary is down, Info reports Up false.
//
// Refund gives units back where they were counted: in the primary when
// it is up, and under FailMemory in the backup too while the primary is
// marked down. Reset resets both. Info is the primary's, with the
// backup's keys added and Up false while the primary is marked down.
// Close closes both stores.
//
// NewFallback panics if primary is nil, the policy is unknown, or
// cfg.Backup is nil under FailMemory.
func NewFallback(primary Store, cfg FallbackConfig) Store {
	if primary == nil || (cfg.Policy == FailMemory && cfg.Backup == nil) || cfg.Policy > FailClosed {
		panic("floodgate: NewFallback needs a primary store, a known policy, and a backup store for FailMemory")
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Policy != FailMemory {
		cfg.Backup = nil
	}
	return &fallback{primary: primary, backup: cfg.Backup, policy: cfg.Policy, cfg: cfg, kind: primary.Info().Kind}
}

// fallback is the Store of NewFallback.
type fallback struct {
	primary Store
	backup  Store // used by FailMemory; closed with the fallback
	policy  Policy
	cfg     FallbackConfig
	kind    string // the primary's kind, for Health

	window atomic.Int64 // clock time when the current counting window began
	calls  atomic.Int32 // calls in the window
	fails  atomic.Int32 // failed calls in the window
	// The window before, which the share counts too.
	prevCalls, prevFails atomic.Int32
	down                 atomic.Bool  // answer by policy; probe after retryAt
	retryAt              atomic.Int64 // clock time after which one call probes the primary
	closed               atomic.Bool
	_                    noCopy
}

// Info is the primary's, with the backup's keys added and Up false while
// the primary is marked down.
func (f *fallback) Info() Info {
	in := f.primary.Info()
	if f.backup != nil {
		b := f.backup.Info()
		in.Keys += b.Keys
		in.Full += b.Full
		in.Evicted += b.Evicted
	}
	in.Up = in.Up && !f.down.Load()
	return in
}

// AllowN asks the primary; when it fails, the policy decides, and the
// error wraps ErrStorage and the primary's error.
func (f *fallback) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
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
func (f *fallback) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
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
func (f *fallback) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
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
// it is up, in the backup when the primary is marked down (under
// FailMemory the backup counted them). A failure of the primary is
// returned, wrapping ErrStorage, and counts like any other; a primary
// that cannot refund (errors.ErrUnsupported) is not a failure, and its
// error is returned as it is.
func (f *fallback) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	err := f.admit()
	if err == nil {
		err = f.primary.Refund(ctx, key, n, limits...)
		if errors.Is(err, errors.ErrUnsupported) || !f.failed(ctx, err) {
			return err
		}
	} else if errors.Is(err, ErrClosed) {
		return err
	}
	if f.backup != nil {
		_ = f.backup.Refund(ctx, key, n, limits...)
	}
	return f.report(err)
}

// Close closes the primary and the backup. It is idempotent.
func (f *fallback) Close() error {
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
func (f *fallback) admit() error {
	if f.closed.Load() {
		return ErrClosed
	}
	if !f.down.Load() {
		return nil
	}
	now := int64(f.cfg.Clock.Now())
	if at := f.retryAt.Load(); now >= at && f.retryAt.CompareAndSwap(at, now+int64(f.cfg.Backoff)) {
		return nil
	}
	return errDown
}

// failed records the outcome of a call to the primary and reports
// whether it failed in a way the policy must answer: not for success, and
// not when the caller's ctx ended, which is never the store's failure.
func (f *fallback) failed(ctx context.Context, err error) bool {
	if err == nil {
		f.count()
		if f.down.CompareAndSwap(true, false) {
			// A fresh start for the trip rule: the outage's failures are
			// no evidence against the store that just answered.
			f.window.Store(int64(f.cfg.Clock.Now()))
			f.calls.Store(0)
			f.fails.Store(0)
			f.prevCalls.Store(0)
			f.prevFails.Store(0)
			f.cfg.Logger.Info("floodgate: store available again; deciding by the store", "store", f.kind, "policy", f.policy.String())
			if f.cfg.Observer != nil {
				f.cfg.Observer.ObserveHealth(Health{Store: f.kind, Up: true, Policy: f.policy})
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
		f.retryAt.Store(int64(f.cfg.Clock.Now() + f.cfg.Backoff))
		f.cfg.Logger.Warn("floodgate: store unavailable; deciding by the failure policy until it answers",
			"store", f.kind, "policy", f.policy.String(), "retry", f.cfg.Backoff, "error", err)
		if f.cfg.Observer != nil {
			f.cfg.Observer.ObserveHealth(Health{Store: f.kind, Policy: f.policy, Err: err})
		}
	}
	return true
}

// count counts a call in the current window, starting a new window when
// the current one is older than the backoff, and returns the window's
// calls.
func (f *fallback) count() int32 {
	now := int64(f.cfg.Clock.Now())
	if w := f.window.Load(); now-w > int64(f.cfg.Backoff) && f.window.CompareAndSwap(w, now) {
		// The window just ended becomes the previous one, which the share
		// also counts: a new window's first few calls alone (three
		// failures on a dead cluster node's keys) are no evidence.
		pc, pf := f.calls.Swap(0), f.fails.Swap(0)
		if now-w > 2*int64(f.cfg.Backoff) {
			pc, pf = 0, 0 // a quiet spell: nothing recent to weigh
		}
		f.prevCalls.Store(pc)
		f.prevFails.Store(pf)
	}
	return f.calls.Add(1)
}

// report wraps err in ErrStorage and hands it to the error hook.
func (f *fallback) report(err error) error {
	err = fmt.Errorf("%w: %w", ErrStorage, err)
	if f.cfg.OnError != nil {
		f.cfg.OnError(err)
	}
	return err
}

// decide returns the Decision of the open or closed policy.
func (f *fallback) decide(limits []limit.Limit) limit.Decision {
	var d limit.Decision
	if len(limits) > 0 {
		d.Limit = limits[0]
	}
	if f.policy == FailOpen {
		d.Allowed = true
		return d
	}
	d.RetryAfter = f.cfg.Backoff
	return d
}
