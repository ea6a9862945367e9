package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/floodgate-go/floodgate"
)

// Evaler runs the store's scripts and deletes its keys through a Redis
// client other than rueidis, such as go-redis (adapters/goredis). The
// store never dials when it has one; see [WithEvaler].
//
// An Evaler must be safe for concurrent use. The store calls it with its
// own time budget as ctx (the caller's values, never the caller's
// cancellation): an Evaler must honour ctx's deadline, and must not retry
// a call that may have reached the server, or a decision may be counted
// twice.
type Evaler interface {
	// Eval runs the Lua source script with keys as KEYS and args as ARGV,
	// by EVALSHA of its cached SHA-1, sending it by EVAL once when the
	// server answers NOSCRIPT. script is one of a few constant strings,
	// so an implementation may cache per script. args are bytes, not
	// all text (each limit is one binary argument), to be sent as they
	// are, as go-redis and rueidis send strings. The keys of one call
	// share a cluster hash slot. The reply is an array of integers, or
	// one integer, returned as a slice of one; any other reply, like an
	// error reply about the request (WRONGTYPE), is an error wrapping
	// [ErrReply].
	Eval(ctx context.Context, script string, keys, args []string) ([]int64, error)

	// Del deletes keys, which share a cluster hash slot. An error reply
	// about the request wraps [ErrReply].
	Del(ctx context.Context, keys ...string) error
}

// WithEvaler makes the store run every script and DEL through e instead
// of a rueidis client: for services that already hold a go-redis client
// (see adapters/goredis, whose New calls Open with it). The store then
// never dials: the URI's address, credentials, TLS and pool parameters
// are ignored (any valid one will do, such as "redis://localhost"); its
// strategy, prefix and timeout still apply. Close leaves e's client open.
// The maxmemory-policy check at connect is skipped.
//
// e's errors are classified as the store's own are: an error wrapping
// [ErrReply] is about this request; any other means Redis could not
// serve and is returned wrapping floodgate.ErrUnavailable; when the
// caller's context has ended, the caller gets ctx.Err(). Default none;
// WithEvaler and [WithClient] exclude each other.
//
// The trade-off is speed: the store's own rueidis client pipelines all
// goroutines' calls over a few connections, which go-redis does not (see
// the package documentation, Client).
func WithEvaler(e Evaler) Option {
	return optionFunc(func(c *config) { c.evaler = e })
}

// evalVia runs script through the store's Evaler, for a caller whose
// context is ctx, with the store's time budget.
func (s *Store) evalVia(ctx context.Context, script string, keys, args []string) ([]int64, error) {
	// Copies, so that the callers' KEYS and ARGV, which an interface
	// call would make escape, stay on their stacks on the rueidis path.
	k, a := slices.Clone(keys), slices.Clone(args)
	budget, cancel := s.budget(ctx)
	defer cancel()
	vals, err := s.cfg.evaler.Eval(budget, script, k, a)
	if err != nil {
		return nil, failedVia(ctx, err)
	}
	return vals, nil
}

// delVia deletes keys through the store's Evaler; see evalVia.
func (s *Store) delVia(ctx context.Context, keys []string) error {
	budget, cancel := s.budget(ctx)
	defer cancel()
	if err := s.cfg.evaler.Del(budget, keys...); err != nil {
		return failedVia(ctx, err)
	}
	return nil
}

// failedVia is failed for an Evaler's errors: the caller's ctx.Err(),
// else an error wrapping ErrReply as it is, else one wrapping
// floodgate.ErrUnavailable.
func failedVia(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, ErrReply) || errors.Is(err, floodgate.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", floodgate.ErrUnavailable, err)
}
