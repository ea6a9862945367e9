package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/redis/rueidis"
)

// connectRetry is how long the store waits between failed attempts at its
// first connection. After it, the client reconnects on its own.
const connectRetry = time.Second

// connect makes the client, trying again every connectRetry until it
// succeeds or the store is closed.
func (s *Store) connect() {
	first := true
	for {
		c, err := rueidis.NewClient(s.opt)
		if err == nil {
			s.mu.Lock()
			if s.closed.Load() {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.client.Store(&c)
			s.mu.Unlock()
			if first {
				close(s.ready)
			}
			return
		}
		err = fmt.Errorf("connect: %w", err)
		s.lastErr.Store(&err)
		if first {
			close(s.ready)
			first = false
		}
		t := time.NewTimer(connectRetry)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// failed classifies the error of a round trip made for a caller whose
// context is ctx. The caller's own cancellation or deadline is returned as
// ctx.Err(): it says nothing about Redis. An error reply about this
// request wraps ErrReply; everything else (I/O, the store's own time
// budget, replies that mean the server cannot serve) wraps
// floodgate.ErrUnavailable.
func failed(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if re, ok := rueidis.IsRedisErr(err); ok && !serverDown(re) {
		return fmt.Errorf("%w: %w", ErrReply, err)
	}
	return fmt.Errorf("%w: %w", floodgate.ErrUnavailable, err)
}

// serverDown reports whether an error reply means the server cannot
// serve at all right now, rather than that this request was wrong.
func serverDown(re *rueidis.RedisError) bool {
	if re.IsLoading() || re.IsClusterDown() || re.IsTryAgain() {
		return true
	}
	msg := re.Error()
	for _, p := range []string{"BUSY", "MASTERDOWN", "READONLY", "NOREPLICAS", "MISCONF"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
