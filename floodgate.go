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
	// ErrStorage is wrapped by the errors of a [Fallback]: the primary
	// store failed, and the Decision returned beside the error is the one
	// chosen by the failure policy.
	ErrStorage = errors.New("floodgate: storage failed; decided by the failure policy")
)

// Store is the contract every Floodgate storage satisfies: the in-memory
// engine (through [Memory]), the Redis store (package redisstore) and
// every wrapper ([Fallback]). Code that limits requests, such as package
// httplimit, takes a Store, so a store can be swapped, mocked or wrapped.
//
// Every method is safe for concurrent use, honours ctx and never panics.
// The verbs mean what they mean on the engine: AllowN is
// engine.Engine.AllowN, Peek is engine.Engine.Peek, Reset is
// engine.Engine.Reset.
//
// Errors: a store returns a non-nil error only when it could not decide:
// it failed (wrapping [ErrUnavailable] or a store-specific error), it is
// closed ([ErrClosed]), or ctx ended first (ctx.Err(), which is the
// caller's and never the store's failure). The Decision beside an error
// is the store's answer under its failure policy: a store without a
// policy returns a denying Decision; a [Fallback] returns its policy's.
//
// Extensions (a decision over several keys at once, giving units back)
// come as further interfaces that a Store may implement and callers
// discover with a type assertion, as io does with io.WriterTo; wrappers
// forward them. Adding one never breaks an existing Store.
type Store interface {
	// AllowN reports whether key may make a request of cost n under every
	// one of limits, and counts n against all of them if so. A request
	// denied by one limit consumes none of the others.
	AllowN(ctx context.Context, key string, n int64, limits ...limit.Limit) (limit.Decision, error)
	// Peek returns the Decision that AllowN(ctx, key, 1, limits...) would
	// return, without counting anything.
	Peek(ctx context.Context, key string, limits ...limit.Limit) (limit.Decision, error)
	// Reset forgets key's usage of each of limits.
	Reset(ctx context.Context, key string, limits ...limit.Limit) error
	// Close releases the store's goroutines and connections. It is
	// idempotent; calls after it return ErrClosed.
	Close() error
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
