package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// errDown is returned, without a round trip, while Redis is marked down.
var errDown = fmt.Errorf("%w: marked down after failures; a background check will try it again", ErrUnavailable)

// tripAfter is how many failed round trips in a row mark Redis down. One
// slow reply (a GC pause, a full socket buffer) does not move every
// request onto the policy; an outage, which fails every request at once,
// does so within a few requests.
const tripAfter = 3

// failed classifies the error of a round trip, marks Redis down after
// tripAfter failures in a row, and returns the error to report.
func (s *Store) failed(err error) error {
	if re, ok := rueidis.IsRedisErr(err); ok && !serverDown(re) {
		// Redis answered: it is up, this request is the problem.
		return fmt.Errorf("%w: %w", ErrReply, err)
	}
	if s.fails.Add(1) >= tripAfter && s.down.CompareAndSwap(false, true) {
		s.warned.Store(true)
		s.cfg.log.Warn("floodgate: redis unavailable; deciding by the failure policy",
			"policy", s.cfg.policy.String(), "backoff", s.cfg.backoff, "error", err)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
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

func (s *Store) succeeded() {
	if s.fails.Load() != 0 {
		s.fails.Store(0)
	}
}

// report hands err to the error handler and, for error replies, to the
// log at most once per backoff; it returns err.
func (s *Store) report(err error) error {
	if s.cfg.onError != nil {
		s.cfg.onError(err)
	}
	if errors.Is(err, ErrReply) {
		now := time.Now().UnixNano()
		if last := s.logged.Load(); now-last >= int64(s.cfg.backoff) && s.logged.CompareAndSwap(last, now) {
			s.cfg.log.Warn("floodgate: redis error reply; this request was decided by the failure policy",
				"policy", s.cfg.policy.String(), "error", err)
		}
	}
	return err
}

// health connects, then, each time Redis is marked down, checks it every
// backoff until it answers a PING within the dial timeout.
func (s *Store) health() {
	defer close(s.done)
	readyOnce := sync.OnceFunc(func() { close(s.ready) })
	defer readyOnce()
	var c rueidis.Client
	for first := true; ; first = false {
		var err error
		c, err = rueidis.NewClient(s.opt)
		if err == nil {
			break
		}
		dialErr := err
		s.dialErr.Store(&dialErr)
		err = fmt.Errorf("%w: connect: %w", ErrUnavailable, err)
		if first {
			s.warned.Store(true)
			s.cfg.log.Warn("floodgate: redis unavailable at start; deciding by the failure policy",
				"policy", s.cfg.policy.String(), "backoff", s.cfg.backoff, "error", err)
		}
		s.report(err)
		readyOnce()
		if !s.sleep(s.cfg.backoff) {
			return
		}
	}
	select {
	case <-s.stop:
		c.Close()
		return
	default:
	}
	s.client.Store(&c)
	s.up()
	readyOnce()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			if !s.sleep(s.cfg.backoff) {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.dialTimeout)
			err := c.Do(ctx, c.B().Ping().Build()).Error()
			cancel()
			if err == nil {
				s.up()
				break
			}
			s.report(fmt.Errorf("%w: health check: %w", ErrUnavailable, err))
		}
	}
}

func (s *Store) up() {
	s.fails.Store(0)
	if s.down.CompareAndSwap(true, false) && s.warned.CompareAndSwap(true, false) {
		s.cfg.log.Info("floodgate: redis available", "addr", strings.Join(s.opt.InitAddress, ","))
	}
}

// sleep waits d and reports false if the store was closed meanwhile.
func (s *Store) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}
