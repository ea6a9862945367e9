-- The refund script, for Store.Refund (redisstore/refund.go): it gives
-- back n units of a key's most recent usage under one or more limits,
-- for floodgate.Refunder. Arguments: see the prelude (ARGV[2] is
-- ignored; ARGV[3] names the strategy). It mirrors engine.RefundAt
-- (engine/refund.go):
--
--   - window ("epoch prev cur"): cur drops by n, never below zero, when
--     the stored window is the current one; older windows stay counted;
--   - GCRA ("e j", the tat in ticks split as e·L + j): the tat drops by
--     n ticks, with a borrow from e; a tat at or below now means full
--     (gcraRefundNewest);
--   - moving window (one sorted-set member per unit): the n newest
--     members go (ZPOPMAX; movingRefundNewest).
--
-- Usage never drops below zero, and the key's time to live is kept. Any
-- value the store did not write is an error reply.
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
        -- tat − n as a pair with an exact borrow (see gcra.lua): n is
        -- ⌊n/L⌋·L + n mod L.
        local q = math.floor(n / cnt)
        e, j = tonumber(e) - q, tonumber(j) - (n - q * cnt)
        if j < 0 then e, j = e - 1, j + cnt end
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
