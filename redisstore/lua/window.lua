-- The window script: the sliding-window counter ("s:") and the fixed
-- window ("f:"). It judges one request against the counters of one or
-- more limits of one key, and counts it in all of them when every limit
-- allows it. Arguments: see the prelude.
--
-- A counter is a string "epoch prev cur". The script mirrors the
-- engine's load (engine/window.go: the counts rolled forward to the
-- reading's window, or judged at the start of a newer stored window) and
-- decide.Window.Fits (internal/decide/window.go: the admission test
-- prev·(P−r) ≤ (L−cur−n)·P), as the engine's take applies them. The
-- products are compared as Lua numbers when either is below 2^53, where
-- the comparison is exact (see le in the prelude), and with le otherwise:
-- nearly every limit takes the first path, a count near 2^29 on a long
-- period the second.
--
-- It returns {0, prev1, cur1, r1, prev2, cur2, r2, …} when every limit
-- allows (cur includes n when counted), or {1, prev1, cur1, r1, …} with
-- every limit as it stands, nothing counted, when any limit denies, so
-- that the caller can compute the wait of the whole call; r is the time
-- into the window in microseconds, or, for a reading older than the
-- stored window (judged at its start), minus the time from the reading to
-- that start. The caller (Store.decode,
-- redisstore/decode.go) turns these into Decisions with
-- decide.Window.Decide, the memory engine's arithmetic.
--
-- The KEYS are distinct: Store.decide drops repeated limits, and
-- Store.key gives distinct limits distinct keys.
local fixed = tag == 'f:'
local nk = #KEYS
-- out is the reply: {flag, then prev, cur, r per limit as read}; st
-- holds each limit's cur after the request and the head of its new
-- value, "epoch prev ", so that a write formats only what changed
-- (string.format is among a script's dearest steps: docs/performance.md).
local out, st = {0}, {}
local denied = false
for i = 1, nk do
  local cnt, p = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  local e = math.floor(now / p)
  local r = now - e * p
  local prev, cur, head, ahead = 0, 0, nil, 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local h, ce, cp, cc = string.match(v, '^((%d+) (%d+) )(%d+)$')
    local ccs = cc
    ce, cp, cc = tonumber(ce), tonumber(cp), tonumber(cc)
    if not (whole(ce) and whole(cp) and whole(cc)) then
      return redis.error_reply('ERR floodgate: a counter key holds a foreign value')
    end
    if ce == e then
      prev, cur, head = cp, cc, h
    elseif ce == e - 1 then
      prev = cc
      if not fixed then head = string.format('%d ', e) .. ccs .. ' ' end
    elseif ce > e then
      -- A reading older than the stored window: judged at its start.
      -- The reply's r is then −ahead, the µs from the reading to that
      -- start, since waits count from the reading (decide.Later).
      ahead = ce * p - now
      e, r, prev, cur, head = ce, 0, cp, cc, h
    end
  end
  if fixed then prev = 0 end
  out[3 * i - 1], out[3 * i], out[3 * i + 1] = prev, cur, r - ahead
  if cur + n > cnt then
    denied = true
  elseif prev > 0 then
    -- prev·(P−r) ≤ (L−cur−n)·P, on the prelude's fast path when it can.
    local x, y = prev * (p - r), (cnt - cur - n) * p
    if x < B or y < B then
      denied = denied or x > y
    else
      denied = denied or not le(prev, p - r, cnt - cur - n, p)
    end
  end
  if commit then cur = cur + n end
  st[2 * i - 1], st[2 * i] = cur, head or string.format('%d 0 ', e)
end
if denied then
  -- Nothing is counted: every limit as it stands, for the call's wait.
  out[1] = 1
  return out
end
for i = 1, nk do
  out[3 * i] = st[2 * i - 1]
  if commit then
    local p, r = tonumber(ARGV[3 + 3 * i]), math.max(out[3 * i + 1], 0)
    local ttl = 2 * p - r
    if fixed then ttl = p - r end
    redis.call('SET', KEYS[i], st[2 * i] .. string.format('%d', st[2 * i - 1]),
      'PX', math.floor((ttl + 999) / 1000) + slack)
  end
end
return out
