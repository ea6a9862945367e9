package floodgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/engineinternal"
	"github.com/floodgate-go/floodgate/limit"
)

// Policy is what a Store of [NewFallback] decides while its primary store fails.
type Policy uint8

const (
	// FailMemory decides by the local count (FallbackConfig.Backup, an
	// in-memory engine with the same strategy), which already holds what
	// this instance admitted: each instance then limits on its own, so K
	// instances allow up to K times a limit in total. The default.
	FailMemory Policy = iota
	// FailOpen allows every request while the primary is marked down:
	// availability over protection. A call that fails while the primary
	// is not marked down (one that overruns its time budget, an error
	// reply) is allowed only when the local count allows it: it denies
	// what this instance alone has used up, which the primary would
	// deny too.
	FailOpen
	// FailClosed denies every request, with RetryAfter set to the
	// backoff: protection over availability. A request it denies is
	// given back to the local count.
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
	// Backup is the local count: an in-memory store, with the primary's
	// strategy, where the Fallback counts every unit that this instance
	// admits, whoever answered. It is a lower bound of the primary's
	// count, so a request it denies is denied without asking the
	// primary, and under FailMemory it decides while the primary fails,
	// starting from what this instance already admitted. Default: an
	// in-memory engine (NewMemory) with the primary's strategy, Clock,
	// and a key cap of 1,048,576 pairs (about 34 MB; [Open]'s max-keys=).
	// A smaller cap bounds memory lower; at the cap the Fallback first
	// evicts the pairs whose windows have all expired, and a key that
	// still finds no room is decided by the primary alone, uncounted
	// here. Closed with the Fallback.
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
	// Clock times the backoff and the windows of the trip rule, and is
	// the default Backup's clock. Default clock.System(); tests use
	// clock.Manual.
	Clock clock.Clock
}

// NewFallback returns a Store that asks primary and answers by
// cfg.Policy when primary fails. It is the one place where store
// failures are handled: it classifies them, marks the primary down, logs
// each change of state once, calls the error hook, and tries the
// primary again after a backoff.
//
// The local count. Every unit this instance admits is also counted in
// cfg.Backup, in memory, before the primary is asked: a count of this
// instance's own requests, so a lower bound of the primary's. A request
// it denies is denied at once (this instance alone used the limit, so
// the primary would deny it too); a request the primary then denies, or
// that fails under FailClosed, is given back. So:
//
//   - a call the primary does not answer in time, or fails, or that
//     finds it marked down, is denied when this instance alone used the
//     limit, under every policy, and otherwise decided by the policy;
//   - under FailMemory an outage starts from what this instance admitted
//     in the window, not from zero, and so does a burst of parallel
//     requests whose replies are late: one instance admits at most the
//     limit per window, whatever the primary's latency;
//   - after the primary comes back empty (a restart without
//     persistence, a failover that lost writes), a request is allowed
//     only when both the primary and the local count allow it;
//
// The local count never denies what the primary would allow, unless this
// instance alone used the whole limit. K instances sharing a primary
// that fails allow at most K times the limit between them. It costs one
// in-memory decision per call (and one refund when the primary denies);
// docs/redis.md has the figures.
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
// AllowAll is AllowN over several keys: every charge is counted in the
// local count first, and the primary's own AllowAll decides them all
// (in one call where the primary has an atomic path over several keys).
// A charge the local count denies denies the request at once, as in
// AllowN; a denial or an error of the primary gives every charge back
// to the local count. When the primary fails, the policy answers each
// charge as it answers AllowN, and the request is allowed only if it
// allows every charge: under FailMemory and FailClosed no limit is ever
// exceeded in this instance, and a denied request leaves nothing
// counted. A primary that cannot refund (errors.ErrUnsupported from its
// AllowAll) is not failing: its Decision and error are returned as they
// are.
//
// Refund gives units back in both counts; Reset resets both. Info is the
// primary's, with the local count's keys added and Up false while the
// primary is marked down. Close closes both stores.
//
// NewFallback panics if primary is nil or the policy is unknown.
func NewFallback(primary Store, cfg FallbackConfig) Store {
	if primary == nil || cfg.Policy > FailClosed {
		panic("floodgate: NewFallback needs a primary store and a known policy")
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	in := primary.Info()
	if cfg.Backup == nil {
		opts := []engine.Option{engine.WithStrategy(in.Strategy), engine.WithMaxKeys(fallbackKeys)}
		if cfg.Clock != nil {
			opts = append(opts, engine.WithClock(cfg.Clock))
		}
		cfg.Backup = NewMemory(opts...)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	f := &fallback{primary: primary, backup: cfg.Backup, policy: cfg.Policy, cfg: cfg, kind: in.Kind}
	f.mem, _ = cfg.Backup.(*memoryStore)
	return f
}

// fallback is the Store of NewFallback.
type fallback struct {
	primary Store
	backup  Store        // the local count; closed with the fallback
	mem     *memoryStore // backup, when it is this package's own: read directly
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

	sweptAt atomic.Int64 // backup engine time of the last sweep at the key cap
	_       noCopy
}

// local says what the local count made of a request.
type local uint8

const (
	localHeld   local = iota // allowed and counted: give it back if the request is denied
	localDenied              // this instance alone used the limit
	localNoRoom              // no room for the key at the cap: the local count has no say
)

// capSweepEvery is how often, at most, a full local count sweeps its
// expired pairs at once instead of waiting for its background sweeper.
const capSweepEvery = time.Second

// take counts n of key in the local count.
func (f *fallback) take(ctx context.Context, key string, n int64, limits []limit.Limit) (limit.Decision, local) {
	m := f.mem
	if m == nil {
		d, err := f.backup.AllowN(ctx, key, n, limits...)
		switch {
		case err != nil:
			return d, localNoRoom
		case d.Allowed:
			return d, localHeld
		}
		return d, localDenied
	}
	for try := 0; ; try++ {
		full := m.e.Full()
		d := m.e.AllowN(key, n, limits...)
		switch {
		case d.Allowed:
			return d, localHeld
		case m.e.Full() == full:
			return d, localDenied
		case try > 0 || !f.sweep():
			return d, localNoRoom
		}
	}
}

// sweep evicts, at most once per capSweepEvery, the local count's pairs
// whose windows have all expired, and reports whether it evicted any.
func (f *fallback) sweep() bool {
	now := int64(f.cfg.Clock.Now())
	at := f.sweptAt.Load()
	if now-at < int64(capSweepEvery) || !f.sweptAt.CompareAndSwap(at, now) {
		return false
	}
	return engineinternal.Sweep(f.mem.e) > 0
}

// deniedLocally answers a request that the local count denied, ld: this
// instance alone used the limit, so the primary would deny it too, and
// it is not asked. While the primary is marked down the policy answers,
// and the call that is due to probe the primary probes it by a Peek,
// which counts nothing: a key over its limit does not keep a primary
// marked down, nor FailOpen allowing.
func (f *fallback) deniedLocally(ctx context.Context, key string, limits []limit.Limit, ld limit.Decision) (limit.Decision, error) {
	if !f.down.Load() {
		return ld, nil
	}
	err := f.admit()
	if err == nil {
		_, err = f.primary.Peek(ctx, key, limits...)
		if !f.failed(ctx, err) {
			return ld, nil
		}
	}
	if f.policy == FailMemory || errors.Is(err, ErrClosed) {
		return ld, f.report(err)
	}
	return f.decide(limits), f.report(err)
}

// give gives n of key back to the local count.
func (f *fallback) give(ctx context.Context, key string, n int64, limits []limit.Limit) {
	if f.mem != nil {
		f.mem.e.Refund(key, n, limits...)
		return
	}
	_ = f.backup.Refund(ctx, key, n, limits...)
}

// Info is the primary's, with the backup's keys added and Up false while
// the primary is marked down.
func (f *fallback) Info() Info {
	in := f.primary.Info()
	b := f.backup.Info()
	in.Keys += b.Keys
	in.Full += b.Full
	in.Evicted += b.Evicted
	in.Up = in.Up && !f.down.Load()
	return in
}

// AllowN counts the request locally, then asks the primary; when the
// primary fails, the policy decides, and the error wraps ErrStorage and
// the primary's error.
func (f *fallback) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	if f.closed.Load() {
		return denied(limits), ErrClosed
	}
	ld, lv := f.take(ctx, key, n, limits)
	if lv == localDenied {
		return f.deniedLocally(ctx, key, limits, ld)
	}
	err := f.admit()
	if err == nil {
		var d limit.Decision
		d, err = f.primary.AllowN(ctx, key, n, limits...)
		if !f.failed(ctx, err) {
			if lv == localHeld {
				if !d.Allowed || err != nil {
					f.give(ctx, key, n, limits)
				}
			}
			return d, err
		}
	} else if errors.Is(err, ErrClosed) {
		if lv == localHeld {
			f.give(ctx, key, n, limits)
		}
		return denied(limits), err
	}
	switch {
	case lv == localNoRoom && f.policy == FailMemory:
		return ld, f.report(err) // the local count is full: denied, as a full engine does
	case lv == localHeld && f.policy != FailClosed:
		return ld, f.report(err) // memory and open: what this instance's count allows
	case lv == localHeld:
		f.give(ctx, key, n, limits)
	}
	return f.decide(limits), f.report(err)
}

// held is what the local count made of one charge of AllowAll.
type held struct {
	d  limit.Decision
	lv local
}

// AllowAll counts every charge locally, then asks the primary's AllowAll;
// when the primary fails, the policy answers each charge as in AllowN
// (policyAll).
func (f *fallback) AllowAll(ctx context.Context, charges ...Charge) (limit.Decision, int, error) {
	if len(charges) == 0 {
		return limit.Decision{Allowed: true}, -1, nil
	}
	if f.closed.Load() {
		return denied(charges[0].Limits), 0, ErrClosed
	}
	var buf [8]held
	hs := buf[:0]
	deniedAt := -1
	for i, c := range charges {
		d, lv := f.take(ctx, c.Key, c.N, c.Limits)
		hs = append(hs, held{d, lv})
		if lv != localDenied || deniedAt >= 0 {
			continue
		}
		deniedAt = i
		if !f.down.Load() {
			// This instance alone used the limit: the primary would deny
			// it too, and is not asked.
			f.giveAll(ctx, charges, hs)
			return d, i, nil
		}
		if f.policy != FailOpen {
			// Marked down, the request is denied whatever the probe says
			// (policyAll): counting the later charges would only hold
			// units that concurrent requests may need.
			break
		}
		// FailOpen allows while the primary is marked down, each charge
		// counted as AllowN counts it.
	}
	err := f.admit()
	switch {
	case err == nil && deniedAt >= 0:
		// The probe of the backoff, by a Peek, as deniedLocally probes.
		c := charges[deniedAt]
		_, err = f.primary.Peek(ctx, c.Key, c.Limits...)
		if !f.failed(ctx, err) {
			f.giveAll(ctx, charges, hs)
			return hs[deniedAt].d, deniedAt, nil
		}
	case err == nil:
		var (
			d  limit.Decision
			at int
		)
		d, at, err = f.primary.AllowAll(ctx, charges...)
		if !f.failed(ctx, storeErr(err)) {
			if !d.Allowed || err != nil {
				f.giveAll(ctx, charges, hs)
			}
			return d, at, err
		}
	case errors.Is(err, ErrClosed):
		f.giveAll(ctx, charges, hs)
		return denied(charges[0].Limits), 0, err
	}
	return f.policyAll(ctx, charges, hs, err)
}

// policyAll answers AllowAll when the primary failed with err: each
// charge as AllowN's policy answers it, from what the local count made
// of it (hs, every charge's unless one was denied, which then decides),
// the first denial deciding for all and giving every charge back.
func (f *fallback) policyAll(ctx context.Context, charges []Charge, hs []held, err error) (limit.Decision, int, error) {
	err = f.report(err)
	best, at := limit.Decision{}, -1
	for i, h := range hs {
		c := charges[i]
		var d limit.Decision
		switch {
		case h.lv == localHeld && f.policy != FailClosed:
			d = h.d // memory and open: what this instance's count allows
		case h.lv != localHeld && f.policy == FailMemory:
			d = h.d // denied by the local count, or it is full: denied, as a full engine does
		default:
			d = f.decide(c.Limits) // open allows, closed denies
		}
		if !d.Allowed {
			f.giveAll(ctx, charges, hs)
			return d, i, err
		}
		if at < 0 || d.Remaining < best.Remaining {
			best, at = d, i
		}
	}
	return best, at, err
}

// giveAll gives back to the local count every charge it holds of hs.
func (f *fallback) giveAll(ctx context.Context, charges []Charge, hs []held) {
	for i, h := range hs {
		if h.lv == localHeld {
			f.give(ctx, charges[i].Key, charges[i].N, charges[i].Limits)
		}
	}
}

// storeErr returns err, or nil when err says only that refunds are
// unsupported (errors.ErrUnsupported, alone or joined): the primary
// decided, and kept an earlier charge counted, which is no failure.
func storeErr(err error) error {
	if unsupportedOnly(err) {
		return nil
	}
	return err
}

func unsupportedOnly(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		for _, e := range errs {
			if !unsupportedOnly(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	return errors.Is(err, errors.ErrUnsupported)
}

// Peek asks the local count, then the primary; when the primary fails,
// the policy decides, as in AllowN.
func (f *fallback) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	if f.closed.Load() {
		return denied(limits), ErrClosed
	}
	ld, lerr := f.backup.Peek(ctx, key, limits...)
	if lerr == nil && !ld.Allowed {
		return f.deniedLocally(ctx, key, limits, ld)
	}
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
	if f.policy == FailMemory || (f.policy == FailOpen && lerr == nil && !errors.Is(err, errDown)) {
		return ld, f.report(err)
	}
	return f.decide(limits), f.report(err)
}

// Reset resets key in the local count and in the primary; a failure of
// the primary is returned, wrapping ErrStorage, and counts like any other.
func (f *fallback) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
	if f.closed.Load() {
		return ErrClosed
	}
	_ = f.backup.Reset(ctx, key, limits...)
	err := f.admit()
	if err == nil {
		err = f.primary.Reset(ctx, key, limits...)
		if !f.failed(ctx, err) {
			return err
		}
	}
	return f.report(err)
}

// Refund gives units back in the local count and in the primary. A
// failure of the primary is returned, wrapping ErrStorage, and counts
// like any other; a primary that cannot refund (errors.ErrUnsupported)
// is not a failure, and its error is returned as it is.
func (f *fallback) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	if f.closed.Load() {
		return ErrClosed
	}
	_ = f.backup.Refund(ctx, key, n, limits...)
	err := f.admit()
	if err == nil {
		err = f.primary.Refund(ctx, key, n, limits...)
		if errors.Is(err, errors.ErrUnsupported) || !f.failed(ctx, err) {
			return err
		}
	} else if errors.Is(err, ErrClosed) {
		return err
	}
	return f.report(err)
}

// Close closes the primary and the backup. It is idempotent.
func (f *fallback) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return nil
	}
	return errors.Join(f.primary.Close(), f.backup.Close())
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
			"store", f.kind, "policy", f.policy.String(), "retry", f.cfg.Backoff.String(), "error", err)
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

// reason returns Observation.Reason for a call's error.
func reason(err error) string {
	switch {
	case err == nil || !errors.Is(err, ErrStorage):
		return ""
	case errors.Is(err, errDown):
		return "down"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "budget"
	}
	return "error"
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
