-- The window script: the sliding-window counter ("s:") and the fixed
-- window ("f:"). It judges one request against the counters of one or
-- more limits of one key, and counts it in all of them when every limit
-- allows it. Arguments: see the prelude.
--
-- A counter is a string "epoch prev cur". The script mirrors the
-- engine's load (engine/window.go: the counts rolled forward to the
-- reading's window, or judged at the start of a newer stored window) and
-- decide.Window.Fits (internal/decide/window.go: the admission test,
-- through le), as the engine's take applies them. Products such as
-- prev·(P−r) reach 2^78, beyond the 53 bits that Lua numbers hold
-- exactly, so le compares them in three limbs of base 2^26: with a count
-- below 2^30 and a period below 2^52 µs every partial product stays
-- below 2^53.
--
-- It returns {0, prev1, cur1, r1, prev2, cur2, r2, …} when every limit
-- allows (cur includes n when counted), or {1, prev1, cur1, r1, …} with
-- every limit as it stands, nothing counted, when any limit denies, so
-- that the caller can compute the wait of the whole call; r is the time
-- into the window in microseconds. The caller (Store.decode,
-- redisstore/decode.go) turns these into Decisions with
-- decide.Window.Decide, the memory engine's arithmetic.
local fixed = tag == 'f:'
local function load(i, p)
  local e = math.floor(now / p)
  local r = now - e * p
  local prev, cur = 0, 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local ce, cp, cc = string.match(v, '^(%d+) (%d+) (%d+)$')
    if not ce then
      return foreign('a counter key holds a foreign value')
    end
    ce, cp, cc = tonumber(ce), tonumber(cp), tonumber(cc)
    if not (whole(ce) and whole(cp) and whole(cc)) then
      return foreign('a counter key holds a foreign value')
    end
    if ce == e then
      prev, cur = cp, cc
    elseif ce == e - 1 then
      prev = cc
    elseif ce > e then
      e, r, prev, cur = ce, 0, cp, cc
    end
  end
  if fixed then prev = 0 end
  return {e, r, prev, cur, p}
end
local st, fresh, last = {}, {}, {}
local denied = false
for i = 1, #KEYS do
  local cnt, p = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  local s = load(i, p)
  if s.err then return s end
  fresh[i] = s
  local j = last[KEYS[i]]
  if j then
    -- The same counter listed twice: like the engine, judge the second
    -- entry after the first one's count.
    s = {st[j][1], st[j][2], st[j][3], st[j][4], p}
  end
  local e, r, prev, cur = s[1], s[2], s[3], s[4]
  if cur + n > cnt or (prev > 0 and not le(prev, p - r, cnt - cur - n, p)) then
    denied = true
  elseif commit and not denied then
    cur = cur + n
    last[KEYS[i]] = i
  end
  st[i] = {e, r, prev, cur, p}
end
if denied then
  -- Nothing is counted: every limit as it stands, for the call's wait.
  local out = {1}
  for i = 1, #KEYS do
    out[#out + 1] = fresh[i][3]
    out[#out + 1] = fresh[i][4]
    out[#out + 1] = fresh[i][2]
  end
  return out
end
local out = {0}
for i = 1, #KEYS do
  local s = st[i]
  if commit and last[KEYS[i]] == i then
    local ttl = 2 * s[5] - s[2]
    if fixed then ttl = s[5] - s[2] end
    redis.call('SET', KEYS[i], string.format('%d %d %d', s[1], s[3], s[4]), 'PX', math.floor((ttl + 999) / 1000) + slack)
  end
  out[#out + 1] = s[3]
  out[#out + 1] = s[4]
  out[#out + 1] = s[2]
end
return out
