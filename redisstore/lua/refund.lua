-- The refund script, for Store.Refund (redisstore/refund.go): it gives
-- back n units of a key's most recent usage under one or more limits,
-- for floodgate.Refunder. Arguments: see the prelude (ARGV[2] is
-- ignored; ARGV[3] names the strategy). It mirrors engine.RefundAt
-- (engine/refund.go):
--
--   - window (epoch, prev and cur, in binary or the text form "epoch
--     prev cur": see window.lua): cur drops by n, never below zero, when
--     the stored window is the current one, and the counter is written
--     in binary; older windows stay counted;
--   - GCRA ("e j", the tat in ticks split as e·L + j): the tat drops by
--     n ticks, with a borrow from e; a tat at or below now means full
--     (gcraRefundNewest);
--   - moving window (one sorted-set member "h:l:n" per request, see
--     moving.lua): n units go from the newest members
--     (movingRefundNewest): the members wholly refunded, found by a
--     binary search on the running totals, go with one ZREMRANGEBYRANK,
--     and the next older one loses the rest of n; O(log² N) whatever n.
--
-- Usage never drops below zero, and the key's time to live is kept (a
-- moving-window log refunded whole is deleted). A value the store
-- cannot have written is an error reply: a window counter or GCRA
-- bucket that is not whole numbers below 2^53 (a GCRA j at least the
-- count), or a moving-window member that is not "h:l:n" (its score is
-- not read).
for i = 1, #KEYS do
  local cnt, p = struct.unpack('<I7I7I7', ARGV[4 + i])
  if tag == 'm:' then
    local key = KEYS[i]
    local top = redis.call('ZRANGE', key, -1, -1)
    if top[1] then
      local low = redis.call('ZRANGE', key, 0, 0)
      local th, tl, tk = member(top[1])
      local lh, ll = member(low[1])
      if not (th and lh) then return redis.error_reply(foreign) end
      local ah, al = after(th, tl, tk) -- the total after the newest member
      if units(ah, al, lh, ll) <= n then
        redis.call('DEL', key)
      else
        -- The oldest rank x whose members, x to the newest, hold at most
        -- n units (rank 0 holds more); x = the newest rank + 1 when the
        -- newest alone holds more.
        local card = redis.call('ZCARD', key)
        local lo, hi, gone = 1, card, 0
        while lo < hi do
          local mid = math.floor((lo + hi) / 2)
          local xh, xl = member(redis.call('ZRANGE', key, mid, mid)[1])
          if not xh then return redis.error_reply(foreign) end
          local u = units(ah, al, xh, xl)
          if u <= n then hi, gone = mid, u else lo = mid + 1 end
        end
        local cut = redis.call('ZRANGE', key, lo - 1, lo - 1, 'WITHSCORES')
        local ch, cl, ck = member(cut[1])
        if not ch then return redis.error_reply(foreign) end
        if lo < card then redis.call('ZREMRANGEBYRANK', key, lo, -1) end
        if n > gone then
          redis.call('ZREM', key, cut[1])
          redis.call('ZADD', key, cut[2], string.format('%d:%d:%d', ch, cl, ck - (n - gone)))
        end
      end
    end
  else
    local v = redis.call('GET', KEYS[i])
    if v then
      if tag == 'g:' then
        local e, j = string.match(v, '^(%d+) (%d+)$')
        e, j = tonumber(e), tonumber(j)
        if not (whole(e) and whole(j) and j < cnt) then
          return redis.error_reply('ERR floodgate: not a GCRA bucket: ' .. KEYS[i])
        end
        -- tat − n as a pair with an exact borrow (see gcra.lua): n is
        -- ⌊n/L⌋·L + n mod L.
        local q = math.floor(n / cnt)
        e, j = e - q, j - (n - q * cnt)
        if j < 0 then e, j = e - 1, j + cnt end
        if e < 0 then e, j = 0, 0 end
        redis.call('SET', KEYS[i], string.format('%d %d', e, j), 'KEEPTTL')
      else
        local e, prev, cur
        if #v == 21 then e, prev, cur = struct.unpack('<I7I7I7', v) end
        if not (whole(e) and whole(prev) and whole(cur)) then
          e, prev, cur = string.match(v, '^(%d+) (%d+) (%d+)$')
          e, prev, cur = tonumber(e), tonumber(prev), tonumber(cur)
          if not (whole(e) and whole(prev) and whole(cur)) then
            return redis.error_reply('ERR floodgate: not a window counter: ' .. KEYS[i])
          end
        end
        if e == math.floor(now / p) then
          redis.call('SET', KEYS[i], struct.pack('<I7I7I7', e, prev, math.max(0, cur - n)), 'KEEPTTL')
        end
      end
    end
  end
end
return 0
