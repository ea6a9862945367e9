package httprate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gohttprate "github.com/go-chi/httprate"
	"github.com/redis/rueidis"
)

// RedisCounter is an httprate.LimitCounter on Redis, through a rueidis
// client, for instances that share their counts. Build one with
// [NewRedis]; the zero RedisCounter is not usable. A RedisCounter is safe
// for concurrent use and must not be copied.
type RedisCounter struct {
	c      rueidis.Client
	prefix string
	window atomic.Int64 // the window length in ms that Config set; 0: none
}

var _ gohttprate.LimitCounter = (*RedisCounter)(nil)

// NewRedis returns a RedisCounter on c, which the caller closes. The
// count of key in the window that starts at w is the Redis key
// prefix{key}:<w in Unix ms> (prefix may be empty): the braces keep both
// windows of a key in one Redis Cluster slot.
func NewRedis(c rueidis.Client, prefix string) *RedisCounter {
	return &RedisCounter{c: c, prefix: prefix}
}

// Config sets the window of every later call; httprate calls it from
// NewRateLimiter. requestLimit does not change what is counted. The
// window must be a whole number of milliseconds, at least one; otherwise
// every later call returns an error wrapping ErrWindow.
func (c *RedisCounter) Config(_ int, windowLength time.Duration) {
	ms := int64(windowLength / time.Millisecond)
	if windowLength%time.Millisecond != 0 || ms < 1 {
		ms = -int64(windowLength) // the error names it
	}
	c.window.Store(ms)
}

// windowMs returns the window in ms, or an error wrapping ErrWindow.
func (c *RedisCounter) windowMs() (int64, error) {
	switch ms := c.window.Load(); {
	case ms > 0:
		return ms, nil
	case ms == 0:
		return 0, fmt.Errorf("%w: Config was not called", ErrWindow)
	default:
		return 0, fmt.Errorf("%w: window %v is not a whole number of milliseconds, at least one", ErrWindow, time.Duration(-ms))
	}
}

// incrementBy adds ARGV[1] to KEYS[1], never below 0, and makes it
// expire ARGV[2] ms on: one round trip.
var incrementBy = rueidis.NewLuaScript(`local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v < 0 then redis.call('SET', KEYS[1], 0) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return v`)

// Increment is IncrementBy(key, currentWindow, 1).
func (c *RedisCounter) Increment(key string, currentWindow time.Time) error {
	return c.IncrementBy(key, currentWindow, 1)
}

// IncrementBy counts amount requests of key in the window that starts at
// currentWindow (a negative amount takes them off it, never below 0), in
// one script, which also makes the key expire two windows on, when it
// can no longer be the previous window. An amount of 0 sends nothing.
func (c *RedisCounter) IncrementBy(key string, currentWindow time.Time, amount int) error {
	w, err := c.windowMs()
	if err != nil || amount == 0 {
		return err
	}
	return incrementBy.Exec(context.Background(), c.c, []string{c.key(key, currentWindow)},
		[]string{strconv.Itoa(amount), strconv.FormatInt(2*w, 10)}).Error()
}

// Get returns the requests of key counted in the window that starts at
// currentWindow and in the one that starts at previousWindow, in one
// round trip (MGET).
func (c *RedisCounter) Get(key string, currentWindow, previousWindow time.Time) (curr, prev int, err error) {
	if _, err := c.windowMs(); err != nil {
		return 0, 0, err
	}
	ctx := context.Background()
	kc, kp := c.key(key, currentWindow), c.key(key, previousWindow)
	var msgs []rueidis.RedisMessage
	if sameSlot(kc) {
		msgs, err = c.c.Do(ctx, c.c.B().Mget().Key(kc, kp).Build()).ToArray()
		if err != nil {
			return 0, 0, err
		}
	} else {
		// An empty hash tag ({}): the two keys may be in different
		// Cluster slots, where MGET is refused, so two GETs, pipelined.
		for _, r := range c.c.DoMulti(ctx, c.c.B().Get().Key(kc).Build(), c.c.B().Get().Key(kp).Build()) {
			m, err := r.ToMessage()
			if err != nil && !rueidis.IsRedisNil(err) {
				return 0, 0, err
			}
			msgs = append(msgs, m)
		}
	}
	if len(msgs) != 2 {
		return 0, 0, fmt.Errorf("httprate: redis answered %d counts, want 2", len(msgs))
	}
	n := [2]int{}
	for i, m := range msgs {
		if m.IsNil() {
			continue
		}
		v, err := m.AsInt64()
		if err != nil {
			return 0, 0, err
		}
		n[i] = int(v)
	}
	return n[0], n[1], nil
}

// key returns the Redis key of key's count in the window starting at w.
func (c *RedisCounter) key(key string, w time.Time) string {
	return c.prefix + "{" + key + "}:" + strconv.FormatInt(w.UnixMilli(), 10)
}

// sameSlot reports whether every key that key(k, w) makes for one k has
// the same Redis Cluster hash tag, which is the text between the first
// "{" and the first "}" after it, up to the braces that key adds: unless
// it is empty, then Cluster hashes the whole key.
func sameSlot(k string) bool {
	i := strings.IndexByte(k, '{')
	return i+1 < len(k) && k[i+1] != '}'
}
