package floodgate

import (
	"context"
	"errors"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Observer is told what stores do, for metrics: every call of a Store
// wrapped by [Observe], and every change of health of the primary of a
// Store of [NewFallback]. Packages prometheus and otel (modules of their own) provide
// Observers that export metrics.
//
// Both methods run on the caller's goroutine, inside the request: they
// must be fast, must not block and must be safe for concurrent use. The
// arguments are values, so an Observer that keeps nothing costs no
// allocation; Observation.Limits belongs to the caller and must not be
// kept after ObserveCall returns.
type Observer interface {
	// ObserveCall is called once per Store call, after it returned.
	ObserveCall(Observation)
	// ObserveHealth is called once per change of a fallback's primary:
	// when it is marked down, and when it answers again.
	ObserveHealth(Health)
}

// The values of Observation.Op.
const (
	opAllow  = "allow"
	opPeek   = "peek"
	opRefund = "refund"
	opReset  = "reset"
)

// Observation describes one Store call. It carries no key: keys come
// from clients, so they must never become metric labels.
type Observation struct {
	// Op names the method called, fit for a metric label: "allow"
	// (AllowN: a decision that counts), "peek" (a decision that counts
	// nothing), "refund" or "reset". An AllowAll is reported charge by
	// charge, as "allow" Observations (see [Observe]).
	Op string
	// Store is the kind of store, its Info().Kind: "memory", "redis",
	// or the kind an outside store reports.
	Store string
	// Strategy is the store's algorithm, its Info().Strategy.
	Strategy limit.Strategy
	// Limits are the limits of the call. They belong to the caller:
	// do not keep them.
	Limits []limit.Limit
	// N is the cost of an AllowN or a Refund, 1 for Peek, 0 for Reset.
	N int64
	// Decision is the outcome of AllowN and Peek; zero for the others.
	Decision limit.Decision
	// Err is the error the call returned.
	Err error
	// Latency is how long the call took, the failure policy's part
	// included.
	Latency time.Duration
	// Fallback reports that the failure policy answered instead of the
	// primary store: Err wraps [ErrStorage].
	Fallback bool
	// Reason says why the policy answered, for a metric label: "budget"
	// when the primary did not answer within its time budget, "down"
	// when it was marked down and not asked, "error" for any other
	// failure; "" when Fallback is false.
	Reason string
}

// Health describes a change of state of the primary store of a
// [NewFallback] Store.
type Health struct {
	// Store is the kind of the primary store, as in Observation.Store.
	Store string
	// Up reports whether the primary is available again (true) or was
	// marked down (false).
	Up bool
	// Policy is the failure policy that answers while it is down.
	Policy Policy
	// Err is the failure that marked the primary down; nil when Up.
	Err error
}

// Observe returns s wrapped so that o is told of every call: it times
// each call of s and calls o.ObserveCall with the outcome. AllowAll is
// s's AllowAll, reported charge by charge: one "allow" Observation per
// charge up to the deciding one, each with the whole call's Latency and
// error; a charge other than the deciding one is reported allowed under
// its first limit. It reports the same whichever way s decides several
// keys (one step, or charge by charge with refunds). Info and Close are
// s's; closing the returned Store closes s.
//
// Observe does not report the health of a Fallback: give the Fallback
// the same Observer (FallbackConfig.Observer), which [Open] does with
// [WithObserver], and which also wraps Open's store with Observe.
// Observe is the only place calls are timed: a store without an
// Observer times nothing.
//
// Observe panics if s or o is nil.
func Observe(s Store, o Observer) Store {
	if s == nil || o == nil {
		panic("floodgate: Observe needs a store and an observer")
	}
	in := s.Info()
	return &observed{s: s, o: o, kind: in.Kind, strategy: in.Strategy}
}

// observed is the Store of Observe.
type observed struct {
	s        Store
	o        Observer
	kind     string
	strategy limit.Strategy
	_        noCopy
}

func (s *observed) AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error) {
	start := time.Now()
	d, err := s.s.AllowN(ctx, key, n, limits...)
	s.report(opAllow, start, limits, n, d, err)
	return d, err
}

// AllowAll forwards to s's AllowAll, then tells the Observer one
// "allow" Observation per charge that was judged: every charge when the
// request is allowed, the charges up to the denying one when it is not.
// Each carries the call's Latency and error. The deciding charge's
// Decision is the call's; a charge before it fitted, and is reported
// allowed with its first limit and its Remaining unknown (0): on a
// denial it was not counted, since AllowAll is all or nothing. Units
// that s gives back inside its own AllowAll (AllowEach's refunds) are
// not calls of the returned Store and are not reported as "refund".
func (s *observed) AllowAll(ctx context.Context, charges ...Charge) (limit.Decision, int, error) {
	start := time.Now()
	d, at, err := s.s.AllowAll(ctx, charges...)
	lat := time.Since(start)
	decided := len(charges)
	if !d.Allowed {
		decided = max(0, min(at+1, len(charges)))
	}
	for i, c := range charges[:decided] {
		cd := d
		if i != at {
			cd = limit.Decision{Allowed: true}
			if len(c.Limits) > 0 {
				cd.Limit = c.Limits[0]
			}
		}
		s.observe(opAllow, lat, c.Limits, c.N, cd, err)
	}
	return d, at, err
}

func (s *observed) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	start := time.Now()
	d, err := s.s.Peek(ctx, key, limits...)
	s.report(opPeek, start, limits, 1, d, err)
	return d, err
}

func (s *observed) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	start := time.Now()
	err := s.s.Refund(ctx, key, n, limits...)
	s.report(opRefund, start, limits, n, limit.Decision{}, err)
	return err
}

func (s *observed) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
	start := time.Now()
	err := s.s.Reset(ctx, key, limits...)
	s.report(opReset, start, limits, 0, limit.Decision{}, err)
	return err
}

func (s *observed) Info() Info { return s.s.Info() }

func (s *observed) Close() error { return s.s.Close() }

func (s *observed) report(op string, start time.Time, limits []limit.Limit, n int64, d limit.Decision, err error) {
	s.observe(op, time.Since(start), limits, n, d, err)
}

func (s *observed) observe(op string, lat time.Duration, limits []limit.Limit, n int64, d limit.Decision, err error) {
	s.o.ObserveCall(Observation{
		Op: op, Store: s.kind, Strategy: s.strategy, Limits: limits, N: n,
		Decision: d, Err: err, Latency: lat,
		Fallback: err != nil && errors.Is(err, ErrStorage), Reason: reason(err),
	})
}
