package throttled

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	gthrottled "github.com/throttled/throttled/v2"
)

// RedisStore is a throttled.GCRAStoreCtx on Redis, through a rueidis
// client, for instances that share their limits. Build one with
// [NewRedis]; the zero RedisStore is not usable. A RedisStore is safe for
// concurrent use and may be copied (it holds the client and the prefix).
type RedisStore struct {
	c      rueidis.Client
	prefix string
}

var _ gthrottled.GCRAStoreCtx = (*RedisStore)(nil)

// NewRedis returns a RedisStore on c, which the caller closes. Every key
// is prefix followed by throttled's key (prefix may be empty). Values
// are int64 decimal strings, as in throttled's own Redis stores, so a
// RedisStore reads and writes the same keys as they do.
func NewRedis(c rueidis.Client, prefix string) *RedisStore {
	return &RedisStore{c: c, prefix: prefix}
}

// errReply is returned when the GetWithTime script answers something
// other than its three elements.
var errReply = errors.New("throttled: unexpected reply from the redis GetWithTime script")

var (
	// getWithTime reads the key and the server's clock in one round
	// trip: {seconds, microseconds, value or nil}.
	getWithTime = rueidis.NewLuaScript(`local t = redis.call('TIME')
return {t[1], t[2], redis.call('GET', KEYS[1])}`)
	// compareAndSwap sets KEYS[1] to ARGV[2] for ARGV[3] ms if it holds
	// ARGV[1] (both decimal strings); a missing key is not equal.
	compareAndSwap = rueidis.NewLuaScript(`if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)
)

// GetWithTime returns key's value, or -1 when key is absent, and the
// Redis server's clock (microsecond precision), in one round trip, so
// that every instance measures time on the same clock.
func (s *RedisStore) GetWithTime(ctx context.Context, key string) (int64, time.Time, error) {
	arr, err := getWithTime.Exec(ctx, s.c, []string{s.prefix + key}, nil).ToArray()
	if err != nil {
		return 0, time.Time{}, err
	}
	if len(arr) < 2 {
		return 0, time.Time{}, errReply
	}
	sec, err := arr[0].AsInt64()
	if err != nil {
		return 0, time.Time{}, err
	}
	usec, err := arr[1].AsInt64()
	if err != nil {
		return 0, time.Time{}, err
	}
	now := time.Unix(sec, usec*int64(time.Microsecond))
	if len(arr) < 3 || arr[2].IsNil() {
		return -1, now, nil
	}
	v, err := arr[2].AsInt64()
	if err != nil {
		return 0, now, err
	}
	return v, now, nil
}

// SetIfNotExistsWithTTL sets key to value, expiring after ttl (≤ 0: one
// second; rounded up to a whole millisecond), if key is absent, and
// reports whether it did: one SET NX PX.
func (s *RedisStore) SetIfNotExistsWithTTL(ctx context.Context, key string, value int64, ttl time.Duration) (bool, error) {
	cmd := s.c.B().Set().Key(s.prefix + key).Value(strconv.FormatInt(value, 10)).Nx().PxMilliseconds(millis(ttl)).Build()
	err := s.c.Do(ctx, cmd).Error()
	if rueidis.IsRedisNil(err) {
		return false, nil
	}
	return err == nil, err
}

// CompareAndSwapWithTTL sets key to next, expiring after ttl (≤ 0: one
// second; rounded up to a whole millisecond), if key holds old, and
// reports whether it did: one script. A missing key reports false with
// no error.
func (s *RedisStore) CompareAndSwapWithTTL(ctx context.Context, key string, old, next int64, ttl time.Duration) (bool, error) {
	n, err := compareAndSwap.Exec(ctx, s.c, []string{s.prefix + key},
		[]string{strconv.FormatInt(old, 10), strconv.FormatInt(next, 10), strconv.FormatInt(millis(ttl), 10)}).AsInt64()
	return n == 1, err
}

// millis returns ttl in whole milliseconds for PX, rounded up so that a
// key never expires before its TTL; a TTL ≤ 0 is one second, as in
// throttled's Redis stores (which also raise any TTL under a second to
// one and round the others down to whole seconds).
func millis(ttl time.Duration) int64 {
	if ttl <= 0 {
		ttl = minTTL
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}
