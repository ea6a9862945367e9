package floodgate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/floodgate-go/floodgate/limit"
)

// Observer is told what stores do, for metrics: every call of a Store
// wrapped by [Observe], and every change of health of a [Fallback]'s
// primary. Packages prometheus and otel (modules of their own) provide
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
	// ObserveHealth is called once per change of a Fallback's primary:
	// when it is marked down, and when it answers again.
	ObserveHealth(Health)
}

// Op names the Store method an [Observation] describes.
type Op uint8

const (
	// OpAllow is AllowN: a decision that counts.
	OpAllow Op = iota
	// OpPeek is Peek: a decision that counts nothing.
	OpPeek
	// OpReset is Reset.
	OpReset
	// OpRefund is Refund ([Refunder]).
	OpRefund
)

// String returns "allow", "peek", "reset" or "refund", fit for a metric
// label.
func (o Op) String() string {
	switch o {
	case OpAllow:
		return "allow"
	case OpPeek:
		return "peek"
	case OpReset:
		return "reset"
	case OpRefund:
		return "refund"
	}
	return "unknown"
}

// Observation describes one Store call. It carries no key: keys come
// from clients, so they must never become metric labels.
type Observation struct {
	// Op is the method called.
	Op Op
	// Store is the kind of store: "memory" for [MemoryStore], the kind
	// of its primary for a [Fallback], and otherwise the name of the
	// store's package ("redisstore").
	Store string
	// Strategy is the store's algorithm, when the store reports one
	// (MemoryStore, redisstore.Store, and a Fallback over either).
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
}

// Health describes a change of state of a [Fallback]'s primary store.
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
// each call of s and calls o.ObserveCall with the outcome. The returned
// Store is a [Refunder] exactly when s is one, and [StatsOf] sees through
// it. Closing it closes s.
//
// Observe does not report the health of a [Fallback]: give the Fallback
// the same Observer with [WithObserver], which [Open] does, and which
// also wraps Open's store with Observe. Without an Observer, stores run
// exactly as before: Observe is the only place calls are timed.
//
// Observe panics if s or o is nil.
func Observe(s Store, o Observer) Store {
	if s == nil || o == nil {
		panic("floodgate: Observe needs a store and an observer")
	}
	kind, strategy := storeKind(s), strategyOf(s)
	if r, ok := s.(Refunder); ok {
		return &observedRefunder{observed: observed{s: s, o: o, kind: kind, strategy: strategy}, r: r}
	}
	return &observed{s: s, o: o, kind: kind, strategy: strategy}
}

// observed is the Store that Observe returns for a store that cannot
// refund.
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
	s.report(OpAllow, start, limits, n, d, err)
	return d, err
}

func (s *observed) Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error) {
	start := time.Now()
	d, err := s.s.Peek(ctx, key, limits...)
	s.report(OpPeek, start, limits, 1, d, err)
	return d, err
}

func (s *observed) Reset(ctx context.Context, key string, limits ...limit.Limit) error {
	start := time.Now()
	err := s.s.Reset(ctx, key, limits...)
	s.report(OpReset, start, limits, 0, limit.Decision{}, err)
	return err
}

func (s *observed) Close() error { return s.s.Close() }

func (s *observed) stats() Stats { return StatsOf(s.s) }

func (s *observed) report(op Op, start time.Time, limits []limit.Limit, n int64, d limit.Decision, err error) {
	s.o.ObserveCall(Observation{
		Op: op, Store: s.kind, Strategy: s.strategy, Limits: limits, N: n,
		Decision: d, Err: err, Latency: time.Since(start),
		Fallback: err != nil && errors.Is(err, ErrStorage),
	})
}

// observedRefunder is the Store that Observe returns for a Refunder.
type observedRefunder struct {
	observed
	r Refunder
}

func (s *observedRefunder) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	start := time.Now()
	err := s.r.Refund(ctx, key, n, limits...)
	s.report(OpRefund, start, limits, n, limit.Decision{}, err)
	return err
}

// Stats is a snapshot of what a Store keeps in memory and of its health,
// for metrics that are read when scraped rather than counted per call.
type Stats struct {
	// Store is the kind of store, as in Observation.Store.
	Store string
	// Keys is the number of live (key, limit) pairs in the store's
	// engines (engine.Engine.Len): the MemoryStore's own, or the backup
	// of a Fallback. A network store's keys live on its server.
	Keys int
	// Full is how many requests were denied because a key table had
	// reached its cap (engine.Engine.Full).
	Full uint64
	// Evicted is how many idle (key, limit) pairs the sweepers evicted
	// (engine.Engine.Evicted).
	Evicted uint64
	// Up is false while a Fallback's primary is marked down; true for
	// every other store.
	Up bool
}

// statser is implemented by the stores of this package that StatsOf can
// see into.
type statser interface{ stats() Stats }

// StatsOf returns s's Stats, looking through the stores of this package
// (MemoryStore, Fallback, the Store of [Observe]); for any other store
// it returns its Store kind and Up true. It locks each engine shard briefly to count
// keys: call it when metrics are scraped, not per request.
func StatsOf(s Store) Stats {
	if st, ok := s.(statser); ok {
		return st.stats()
	}
	return Stats{Store: storeKind(s), Up: true}
}

func (s *MemoryStore) stats() Stats {
	return Stats{Store: "memory", Keys: s.e.Len(), Full: s.e.Full(), Evicted: s.e.Evicted(), Up: true}
}

func (f *Fallback) stats() Stats {
	var st Stats
	if f.backup != nil {
		st = StatsOf(f.backup)
	}
	p := StatsOf(f.primary)
	st.Keys += p.Keys
	st.Full += p.Full
	st.Evicted += p.Evicted
	st.Store, st.Up = p.Store, f.Up()
	return st
}

// storeKind names s for Observation.Store: "memory", the primary's kind
// for a Fallback, or the package name of s's type.
func storeKind(s Store) string {
	switch s := s.(type) {
	case *MemoryStore:
		return "memory"
	case *Fallback:
		return storeKind(s.primary)
	case *observed:
		return s.kind
	case *observedRefunder:
		return s.kind
	}
	name := strings.TrimLeft(fmt.Sprintf("%T", s), "*")
	if pkg, _, ok := strings.Cut(name, "."); ok {
		return pkg
	}
	return name
}

// strategyOf returns s's strategy: the engine's, the primary's for a
// Fallback, or what s's Strategy method reports; SlidingWindow (the
// zero Strategy) for stores that report none.
func strategyOf(s Store) limit.Strategy {
	switch s := s.(type) {
	case *MemoryStore:
		return s.e.Strategy()
	case *Fallback:
		return strategyOf(s.primary)
	case *observed:
		return s.strategy
	case *observedRefunder:
		return s.strategy
	case interface{ Strategy() limit.Strategy }:
		return s.Strategy()
	}
	return limit.SlidingWindow
}
