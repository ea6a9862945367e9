-- The moving-window script ("m:"). It judges one request against the
-- moving-window logs of one or more limits of one key, and counts it in
-- all of them when every limit allows it. Arguments: see the prelude.
--
-- A log is a sorted set with one member per allowed cost unit: score the
-- time in microseconds, member "time:i", where i numbers the units
-- counted at that time (a log never holds more than Count members). The
-- key is judged at at = max(now, newest score), as in the engine. Every
-- call first removes the members that can never count again, score ≤
-- newest − P, and counts those with score > at − P (an entry at t stops
-- counting at exactly t + P); members in between are kept for readings
-- older than at, which are judged at the newest score. A denial reads the
-- score of the unit whose expiry frees enough room, by rank.
--
-- It returns {0, now, at1, sum1, last1, at2, …} when every limit allows,
-- or {1, now, at1, sum1, last1, free1, at2, …}, nothing counted, when any
-- limit denies, where sum is the units counted before the request, last
-- the newest score (−1 when empty) and free the score of the oldest unit
-- whose expiry lets n fit (−1 when n fits, or exceeds the count). The
-- caller (decodeMoving, redisstore/decode.go) computes the Decision in
-- nanoseconds with decide.Log.Decide. A written log lives (PEXPIRE)
-- until its newest member stops counting.
--
-- The script mirrors the engine's movingTake (engine/moving.go: at =
-- max(now, newest), then drop, counting and, for a denial, free) and
-- decide.Log.Fits (internal/decide/moving.go: sum + n ≤ cnt).
local st = {}
local denied = false
for i = 1, #KEYS do
  local cnt, p = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  local at, last = now, -1
  local top = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  if top[2] then
    -- The set is ordered, so checking both ends bounds every member. A
    -- foreign score (1e30 would format as LLONG_MIN below and turn the
    -- limit off) is an error, never an answer.
    local low = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if not (whole(tonumber(top[2])) and whole(tonumber(low[2]))) then
      return redis.error_reply('ERR floodgate: a moving-window key holds a foreign score')
    end
    last = tonumber(top[2])
    if last > at then at = last end
  end
  if last >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%d', last - p))
  end
  local kept = redis.call('ZCARD', KEYS[i])
  local sum = redis.call('ZCOUNT', KEYS[i], '(' .. string.format('%d', at - p), '+inf')
  if sum == 0 then last = -1 end
  local free = -1
  if sum + n > cnt then
    denied = true
    if n <= cnt then
      local x = kept - sum + sum + n - cnt - 1
      free = tonumber(redis.call('ZRANGE', KEYS[i], x, x, 'WITHSCORES')[2])
    end
  end
  st[i] = {at, sum, last, p, free}
end
if denied then
  local out = {1, now}
  for i = 1, #KEYS do
    for x = 1, 3 do out[#out + 1] = st[i][x] end
    out[#out + 1] = st[i][5]
  end
  return out
end
local out = {0, now}
for i = 1, #KEYS do
  local s = st[i]
  if commit then
    local at = string.format('%d', s[1])
    local c = redis.call('ZCOUNT', KEYS[i], at, at)
    local args = {}
    for j = c, c + n - 1 do
      args[#args + 1] = at
      args[#args + 1] = at .. ':' .. string.format('%d', j)
      if #args >= 2000 then
        redis.call('ZADD', KEYS[i], unpack(args))
        args = {}
      end
    end
    if #args > 0 then redis.call('ZADD', KEYS[i], unpack(args)) end
    redis.call('PEXPIRE', KEYS[i], ms(s[1] + s[4] - now))
  end
  out[#out + 1] = s[1]
  out[#out + 1] = s[2]
  out[#out + 1] = s[3]
end
return out
