package goredis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/redis/go-redis/v9"
)

// New returns a redisstore.Store whose round trips go through client: a
// *redis.Client (also what redis.NewFailoverClient returns), a
// *redis.ClusterClient or a *redis.Ring... any redis.UniversalClient. It
// never dials and never waits: client owns its connections, and the
// store's Close leaves it open. query holds the store's URI parameters
// (floodgate.Open lists them), such as "strategy=gcra&prefix=app:&timeout=20ms";
// those about connecting do nothing. New fails, with an error wrapping
// floodgate.ErrURI, on a nil client or an invalid parameter.
//
// For the store's time budget to bound a call, client must respect
// context deadlines (Options.ContextTimeoutEnabled); for every decision to
// count exactly once, it must not retry (Options.MaxRetries = -1): go-redis
// retries a command whose connection broke after it was sent.
func New(client redis.UniversalClient, query string) (*redisstore.Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: goredis: nil client", floodgate.ErrURI)
	}
	return redisstore.Open("redis://localhost?"+query, redisstore.WithEvaler(&evaler{c: client}))
}

// evaler is a redisstore.Evaler on a go-redis client. It is safe for
// concurrent use.
type evaler struct {
	c       redis.UniversalClient
	mu      sync.Mutex               // orders additions to scripts
	scripts atomic.Pointer[[]script] // copy on write; a store runs two scripts
}

// script is a go-redis Script, which caches the SHA-1 of its source.
type script struct {
	src string
	s   *redis.Script
}

var _ redisstore.Evaler = (*evaler)(nil)

// lookup returns the Script of src, making it on first use. The sources
// are the store's constants, so comparing them costs a length and a
// pointer comparison.
func (e *evaler) lookup(src string) *redis.Script {
	if p := e.scripts.Load(); p != nil {
		for _, sc := range *p {
			if sc.src == src {
				return sc.s
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var old []script
	if p := e.scripts.Load(); p != nil {
		old = *p
	}
	for _, sc := range old {
		if sc.src == src {
			return sc.s
		}
	}
	s := redis.NewScript(src)
	scripts := append(old[:len(old):len(old)], script{src, s})
	e.scripts.Store(&scripts)
	return s
}

// Eval runs src by EVALSHA, and by EVAL when the server answers NOSCRIPT.
func (e *evaler) Eval(ctx context.Context, src string, keys, args []string) ([]int64, error) {
	argv := make([]any, len(args))
	for i, a := range args {
		argv[i] = a
	}
	v, err := e.lookup(src).Run(ctx, e.c, keys, argv...).Result()
	if err != nil {
		return nil, classify(err)
	}
	return ints(v)
}

// Del deletes keys.
func (e *evaler) Del(ctx context.Context, keys ...string) error {
	if err := e.c.Del(ctx, keys...).Err(); err != nil {
		return classify(err)
	}
	return nil
}

// ints returns a script's reply, an integer or an array of integers, as
// a slice; anything else is an error wrapping redisstore.ErrReply.
func ints(v any) ([]int64, error) {
	switch v := v.(type) {
	case int64:
		return []int64{v}, nil
	case []any:
		out := make([]int64, len(v))
		for i, x := range v {
			n, ok := x.(int64)
			if !ok {
				return nil, fmt.Errorf("%w: goredis: element %d of the script's reply is %T %v, not an integer", redisstore.ErrReply, i, x, x)
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: goredis: the script's reply is %T %v, not integers", redisstore.ErrReply, v, v)
}

// classify wraps in redisstore.ErrReply the error replies about the
// request (WRONGTYPE, a script's own error, redis.Nil); other errors (I/O,
// deadlines, the pool, and replies that mean the server cannot serve
// right now) are returned as they are, and the store reports them as
// floodgate.ErrUnavailable.
func classify(err error) error {
	var re redis.Error
	if !errors.As(err, &re) || serverDown(re.Error()) {
		return err
	}
	return fmt.Errorf("%w: %w", redisstore.ErrReply, err)
}

// serverDown reports whether the error reply msg means the server cannot
// serve at all right now, or that a cluster's slots are moving, rather
// than that this request was wrong; the list is redisstore's.
func serverDown(msg string) bool {
	if strings.HasPrefix(msg, "ERR max number of clients") {
		return true
	}
	msg = strings.TrimPrefix(msg, "ERR ") // KVRocks prefixes every error
	word, _, _ := strings.Cut(msg, " ")
	switch word {
	case "LOADING", "BUSY", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN",
		"NOREPLICAS", "MISCONF", "MOVED", "ASK":
		return true
	}
	return false
}
