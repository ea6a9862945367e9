package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
			s.checkPolicy(c)
			return
		}
		err = fmt.Errorf("connect: %w", err)
		if prev := s.lastErr.Load(); prev == nil || (*prev).Error() != err.Error() {
			s.refused(err)
		}
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

// refused logs a failed connection attempt that Redis answered with an
// error (a wrong password, database or client name): every later attempt
// will fail the same way until the configuration is fixed, so it is an
// error for an operator, not a state for the failure policy to hide.
// Network failures are not logged here: the failure policy logs the
// outage.
func (s *Store) refused(err error) {
	var re *rueidis.RedisError
	if !errors.As(err, &re) {
		return
	}
	log := s.cfg.logger
	if log == nil {
		log = slog.Default()
	}
	log.Error("redisstore: Redis refused the connection; every connection will fail until the configuration is fixed, and the failure policy decides meanwhile",
		"error", err)
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

// checkPolicy logs one warning when the server's maxmemory-policy evicts
// keys (allkeys-*, volatile-*): a store's counters would then vanish under
// memory pressure, and a flood of new keys could evict other clients'
// counters. Servers that refuse CONFIG GET (managed services, ACLs) are
// not checked, silently.
//
// It also logs an Error when the server is older than Redis 6.0, whose
// SET … KEEPTTL the window scripts use: every window decision there fails
// with an error reply (ErrReply), so the limit cannot be applied.
func (s *Store) checkPolicy(c rueidis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.dialTimeout)
	defer cancel()
	log := s.cfg.logger
	if log == nil {
		log = slog.Default()
	}
	if info, err := c.Do(ctx, c.B().Info().Section("server").Build()).ToString(); err == nil {
		if v, ok := tooOld(info); ok {
			log.Error("redisstore: the Redis server is older than 6.0, which the scripts need (SET KEEPTTL): decisions will fail with an error reply; upgrade Redis (see docs/redis.md)",
				"redis_version", v)
		}
	}
	m, err := c.Do(ctx, c.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap()
	if err != nil {
		return
	}
	if p := m["maxmemory-policy"]; evicts(p) {
		log.Warn("redisstore: the Redis maxmemory-policy evicts keys; under memory pressure rate-limit counters are dropped and a flood of keys can evict other clients' counters: use noeviction (see docs/redis.md)",
			"maxmemory-policy", p)
	}
}

// tooOld reports the redis_version of an INFO server reply when it is
// older than 6.0; a reply without one (another server) is not judged.
func tooOld(info string) (string, bool) {
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		major, _, _ := strings.Cut(v, ".")
		n, err := strconv.Atoi(major)
		return v, err == nil && n < 6
	}
	return "", false
}

// evicts reports whether maxmemory-policy p evicts keys.
func evicts(p string) bool {
	return strings.HasPrefix(p, "allkeys-") || strings.HasPrefix(p, "volatile-")
}
