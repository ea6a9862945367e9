package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
)

// refundScript gives back n units of a key's most recent usage under one
// or more limits, for floodgate.Refunder. It mirrors engine.RefundAt:
//
//   - window ("epoch prev cur"): cur drops by n, never below zero, when the
//     stored window is the current one; older windows stay counted;
//   - GCRA ("e j", the tat in ticks split as e·L + j): the tat drops by n
//     ticks, with a borrow from e; a tat at or below now means full;
//   - moving window (one sorted-set member per unit): the n newest
//     members go (ZPOPMAX).
//
// Usage never drops below zero, and the key's time to live is kept.
//
//	KEYS[i]      the state of limit i
//	ARGV[1]      the cost n
//	ARGV[2]      "1" (unused)
//	ARGV[3]      the strategy's key tag: "s:", "f:", "g:" or "m:"
//	ARGV[4]      now in microseconds since the Unix epoch, or "" for TIME
//	ARGV[2+3i]   the count of limit i
//	ARGV[3+3i]   the period of limit i in microseconds
//	ARGV[4+3i]   the burst of limit i (unused)
//
// Any value the store did not write is an error reply.
const refundScript = `
local n = tonumber(ARGV[1])
local tag = ARGV[3]
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
else
  now = tonumber(ARGV[4])
end
for i = 1, #KEYS do
  local cnt, p = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  if tag == 'm:' then
    redis.call('ZPOPMAX', KEYS[i], n)
  else
    local v = redis.call('GET', KEYS[i])
    if v then
      if tag == 'g:' then
        local e, j = string.match(v, '^(%d+) (%d+)$')
        if not e then return redis.error_reply('ERR floodgate: not a GCRA bucket: ' .. KEYS[i]) end
        e, j = tonumber(e), tonumber(j) - n
        if j < 0 then
          local borrow = math.ceil(-j / cnt)
          e, j = e - borrow, j + borrow * cnt
        end
        if e < 0 then e, j = 0, 0 end
        redis.call('SET', KEYS[i], string.format('%d %d', e, j), 'KEEPTTL')
      else
        local e, prev, cur = string.match(v, '^(%d+) (%d+) (%d+)$')
        if not e then return redis.error_reply('ERR floodgate: not a window counter: ' .. KEYS[i]) end
        if tonumber(e) == math.floor(now / p) then
          cur = math.max(0, tonumber(cur) - n)
          redis.call('SET', KEYS[i], string.format('%s %s %d', e, prev, cur), 'KEEPTTL')
        end
      end
    end
  end
end
return 0
`

var refundLua = rueidis.NewLuaScript(refundScript)

// Refund gives back n units of key's most recent usage under each of
// limits, as engine.Engine.Refund does in memory (see refundScript): for
// floodgate.AllowAll's all-or-nothing decisions across keys, and for
// middleware that counts a request only when its response says so. It
// fails like AllowN.
func (s *Store) Refund(ctx context.Context, key string, n int64, limits ...limit.Limit) error {
	return s.refund(ctx, "", key, n, limits)
}

// RefundAt is Refund at time now; see AllowNAt.
func (s *Store) RefundAt(ctx context.Context, now time.Duration, key string, n int64, limits ...limit.Limit) error {
	return s.refund(ctx, nowArg(now), key, n, limits)
}

func (s *Store) refund(ctx context.Context, now, key string, n int64, limits []limit.Limit) error {
	if n < 1 {
		return nil
	}
	j := 0
	for j < len(limits) && limits[j].Valid() {
		j++
	}
	ls := dedup(limits[:j])
	if len(ls) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	keys := make([]string, len(ls))
	args := make([]string, 4, 4+3*len(ls))
	args[0], args[1], args[2], args[3] = strconv.FormatInt(n, 10), "1", s.tag, now
	for i, l := range ls {
		keys[i] = s.key(key, l)
		a := s.limitArgs(l)
		args = append(args, a[0], a[1], a[2])
	}
	budget, cancel := s.budget(ctx)
	defer cancel()
	if err := refundLua.Exec(budget, c, keys, args).Error(); err != nil {
		return failed(ctx, err)
	}
	return nil
}
