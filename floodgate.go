package floodgate

import (
	"context"
	"errors"

	"github.com/floodgate-go/floodgate/limit"
)

// Errors that stores and wrappers return, for errors.Is.
var (
	// ErrURI reports a storage URI that cannot be used: an unknown or
	// unregistered scheme, a missing host, a malformed, repeated or
	// unknown parameter. The message names the problem.
	ErrURI = errors.New("floodgate: invalid storage uri")
	// ErrClosed reports a call on a closed Store.
	ErrClosed = errors.New("floodgate: store closed")
	// ErrUnavailable reports that a store could not answer: it could not
	// be reached, it did not answer within its own time budget, or it
	// answered that it cannot serve. A caller's own cancellation or
	// deadline is never reported as ErrUnavailable.
	ErrUnavailable = errors.New("floodgate: store unavailable")
	// ErrStorage is wrapped by the errors of [NewFallback]'s Store: the primary
	// store failed, and the Decision returned beside the error is the one
	// chosen by the failure policy.
	ErrStorage = errors.New("floodgate: storage failed; decided by the failure policy")
)

// Store is the contract every Floodgate storage satisfies: the in-memory
// engine ([NewMemory]), the Redis store (package redisstore) and every
// wrapper ([NewFallback], [NewLease], [Observe]). Code that limits
// requests, such as package httplimit, takes a Store, so a store can be
// swapped, wrapped or written outside this module: the contract says
// everything a wrapper needs, so a wrapper forwards all of it.
//
// Every method is safe for concurrent use, honours ctx and never panics.
// The verbs mean what they mean on the engine: AllowN is
// engine.Engine.AllowN, Peek is engine.Engine.Peek, Refund is
// engine.Engine.Refund, Reset is engine.Engine.Reset. AllowAll is AllowN
// over several keys at once.
//
// Errors: a store returns a non-nil error only when it could not decide:
// it failed (wrapping [ErrUnavailable] or a store-specific error), it is
// closed ([ErrClosed]), or ctx ended first (ctx.Err(), which is the
// caller's and never the store's failure). The Decision beside an error
// is the store's answer under its failure policy: a store without a
// policy returns a denying Decision; a Fallback returns its policy's.
type Store interface {
	// AllowN reports whether key may make a request of cost n under every
	// one of limits, and counts n against all of them if so. A request
	// denied by one limit consumes none of the others.
	AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error)
	// Peek returns the Decision that AllowN(ctx, key, 1, limits...) would
	// return, without counting anything.
	Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error)
	// AllowAll decides charges together, all or nothing: the request is
	// allowed, and every charge counted, only if every charge fits; a
	// charge that denies consumes none of the others. It returns the
	// Decision that decided and the index of its charge: the first
	// denial in charge order, or, when every charge fits, the Decision
	// with the fewest units left (the first of equals). With no charges
	// it allows, with Remaining 0 and index -1.
	//
	// Use it for one request that several keys limit (an app-wide key
	// and a route's, a client and an account): AllowN decides one key.
	// A store that decides one key at a time implements it with
	// [AllowEach], which counts charge by charge and refunds on a
	// denial; a store with an atomic path over several keys decides
	// them in one step. Each store's doc says which it does. The error
	// is as AllowN's, for the charge that failed, joined with the error
	// of any refund that failed (see [AllowEach]). The charges and
	// their limits belong to the caller, who may reuse them once
	// AllowAll returns: a store keeps no reference to them.
	AllowAll(ctx context.Context, charges ...Charge) (limit.Decision, int, error)
	// Refund gives back n units of key's most recent usage under each of
	// limits, as if they had never been counted. It is how [AllowEach]
	// undoes what it took when a later charge denies, and how
	// middleware counts a request only when its response says so. A
	// store that cannot give units back returns an error wrapping
	// errors.ErrUnsupported.
	Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error
	// Reset forgets key's usage of each of limits.
	Reset(ctx context.Context, key string, limits ...limit.Limit) error
	// Info describes the store for metrics and health checks. A wrapper
	// reports what it wraps, with its own part added (a Fallback's Up).
	// It may count keys shard by shard: call it when metrics are
	// scraped, not per request.
	Info() Info
	// Close releases the store's goroutines and connections. It is
	// idempotent; calls after it return ErrClosed.
	Close() error
}

// Info describes a [Store]: what it is and how it is doing.
type Info struct {
	// Kind names the store, for a metric label: "memory" for the
	// in-memory engine, "redis" for package redisstore, the primary's
	// kind for a wrapper.
	Kind string
	// Strategy is the algorithm the store applies to every limit.
	Strategy limit.Strategy
	// Keys is the number of live (key, limit) pairs held in this
	// process's memory (engine.Engine.Len): a memory store's own, a
	// Fallback's backup. A network store's keys live on its server and
	// count 0 here.
	Keys int
	// Full is how many requests were denied because a key table had
	// reached its cap (engine.Engine.Full).
	Full uint64
	// Evicted is how many idle (key, limit) pairs the sweepers evicted
	// (engine.Engine.Evicted).
	Evicted uint64
	// Up is false while the store cannot decide by itself: a Fallback's
	// primary is marked down and the failure policy answers.
	Up bool
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
