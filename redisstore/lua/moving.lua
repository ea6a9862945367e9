-- The moving-window strategy ("m:"). check judges one request against
-- the moving-window logs of one or more limits of one key; apply counts
-- it in all of them (see the prelude for the three functions and their
-- arguments).
--
-- A log is a sorted set with one member per allowed request, as the
-- engine keeps one entry per (time, cost): score the time in
-- microseconds, member "h:l:n" with n the request's cost and h·2^52 + l
-- the units logged before it (a running total, so that the units of any
-- run of consecutive members is the difference of two totals). Two
-- requests at the same microsecond share a member, as in the engine, so
-- members order by score alone. One request's work is a few O(log N)
-- commands whatever its cost; a denial's wait adds a binary search of
-- O(log N) more.
--
-- The key is judged at at = max(now, newest score), as in the engine.
-- Every call first removes the members that can never count again,
-- score ≤ newest − P; those with score > at − P count (an entry at t
-- stops counting at exactly t + P); members in between are kept for
-- readings older than at, which are judged at the newest score. The
-- units counting are the newest member's total after it minus the
-- oldest counting member's total before it, at most the count: below
-- 2^53, so exact as a Lua number although the totals are pairs.
--
-- A decision's reply section is {0, now, at1, sum1, last1, at2, …} when
-- every limit allows,
-- or {1, now, at1, sum1, last1, free1, at2, …}, nothing counted, when any
-- limit denies, where sum is the units counted before the request, last
-- the newest score (−1 when nothing counts) and free the score of the
-- oldest member whose expiry lets n fit (−1 when n fits, or exceeds the
-- count). The caller (decodeMoving, redisstore/decode.go) computes the
-- Decision in nanoseconds with decide.Log.Decide. A written log lives
-- (PEXPIRE) until its newest member stops counting. A request of a cost
-- above the count is denied without a write, like any other denial (only
-- the removal of members that can never count again writes then).
--
-- The script mirrors the engine's movingTake (engine/moving.go: at =
-- max(now, newest), then drop, counting, the shared entry of one instant
-- and, for a denial, free) and decide.Log.Fits (internal/decide/moving.go:
-- sum + n ≤ cnt).
--
-- The log's invariants, which every write above keeps and every call
-- checks on what it reads: members parse, scores are whole microseconds,
-- totals grow with scores, so that the units counting hold at least the
-- costs of the oldest and newest counting members and, since every commit
-- kept sum + n ≤ cnt, at most the count; and each probe of the search
-- lies between its bounds. A log that breaks one was not written by this
-- script (or was edited by hand): the reply is an error, never an
-- answer, so no data can be forged into an allow.

local forged = 'ERR floodgate: a moving-window key holds a log this script did not write'
-- check returns whether any limit denies and st, per limit: at, sum,
-- last (−1 when nothing counts), free, the newest member, its score, its
-- total before (a pair) and cost, the total after it (a pair) and the
-- period.
local function check(tag, kb, lims, nl, n, now, out, o)
  out[o + 1] = now
  local st = {}
  local denied = false
  for i = 1, nl do
    local key = KEYS[kb + i - 1]
    local cnt, p = lims[i][1], lims[i][2]
    local at, sum, last, free = now, 0, -1, -1
    local tm, ts, th, tl, tk, ah, al = false, -1, 0, 0, 0, 0, 0
    local top = redis.pcall('ZRANGE', key, -1, -1, 'WITHSCORES')
    if top.err then return nil, top end -- WRONGTYPE
    if top[1] then
      tm, ts = top[1], score(top[2])
      th, tl, tk = member(tm)
      local low = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      local fm, first = low[1], score(low[2])
      local fh, fl, fk = member(fm)
      -- The set is ordered by score, so its two ends bound every score.
      if not (ts and th and first and fh) then return nil, redis.error_reply(foreign) end
      ah, al = after(th, tl, tk) -- the total after the newest member
      if ts > at then at = ts end
      if first <= at - p then
        -- The oldest member does not count: drop what never counts again
        -- and find the oldest that does.
        if first <= ts - p then
          redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', ts - p))
        end
        local f = redis.call('ZRANGE', key, '(' .. string.format('%d', at - p), '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
        fm, first = f[1], score(f[2])
        fh, fl, fk = member(fm)
        if fm and not (first and fh) then return nil, redis.error_reply(foreign) end
      end
      if fm then
        last = ts
        sum = units(ah, al, fh, fl)
        local least = tk
        if fm ~= tm then least = tk + fk end
        if sum < least or sum > cnt then return nil, redis.error_reply(forged) end
        if sum + n > cnt and n <= cnt then
          -- The oldest member x whose expiry frees need = sum + n − cnt
          -- units: the least rank x with units from the oldest counting
          -- member's total to the total after x at least need,
          -- between the oldest counting member's rank and the newest's,
          -- which qualifies (n ≤ cnt). Probes alternate between
          -- interpolating on the totals (one or two probes when the costs
          -- are alike) and bisecting (at most 2·log2 N probes in all).
          local need = sum + n - cnt
          local lo, ulo = -1, 0 -- a rank below x and its units
          if fm ~= low[1] then lo = redis.call('ZRANK', key, fm) - 1 end
          local hi, uhi = redis.call('ZCARD', key) - 1, sum -- x ≤ hi
          free = ts
          local bisect = false
          while hi - lo > 1 do
            local mid
            if bisect then
              mid = math.floor((lo + hi) / 2)
            else
              mid = lo + math.ceil((need - ulo) / (uhi - ulo) * (hi - lo))
              mid = math.max(lo + 1, math.min(hi - 1, mid))
            end
            bisect = not bisect
            local x = redis.call('ZRANGE', key, mid, mid, 'WITHSCORES')
            local xh, xl, xk = member(x[1])
            local xs = score(x[2])
            if not (xh and xs) then return nil, redis.error_reply(foreign) end
            xh, xl = after(xh, xl, xk)
            local u = units(xh, xl, fh, fl)
            if u <= ulo or u > uhi then return nil, redis.error_reply(forged) end
            if u >= need then hi, uhi, free = mid, u, xs else lo, ulo = mid, u end
          end
        end
      end
    end
    if sum + n > cnt then denied = true end
    st[i] = {at, sum, last, free, tm, ts, th, tl, tk, ah, al, p}
  end
  return denied, st
end

-- deny writes each limit's at, sum, last and free.
local function deny(nl, out, o, st)
  for i = 1, nl do
    local s, x = st[i], o + 4 * i - 2
    out[x], out[x + 1], out[x + 2], out[x + 3] = s[1], s[2], s[3], s[4]
  end
end

-- apply writes each limit's at, sum and last and, when commit is set,
-- logs the request.
local function apply(tag, kb, lims, nl, n, commit, now, slack, out, o, st)
  for i = 1, nl do
    local s = st[i]
    local at = s[1]
    if commit then
      local key = KEYS[kb + i - 1]
      if s[6] == at then
        -- The newest member is at the same instant: it takes the cost, as
        -- the engine's entry of one instant does.
        redis.call('ZREM', key, s[5])
        redis.call('ZADD', key, at, string.format('%d:%d:%d', s[7], s[8], s[9] + n))
      else
        redis.call('ZADD', key, at, string.format('%d:%d:%d', s[10], s[11], n))
      end
      redis.call('PEXPIRE', key, ms(at + s[12] - now, slack))
    end
    local x = o + 3 * i - 1
    out[x], out[x + 1], out[x + 2] = at, s[2], s[3]
  end
end
