package redisstore

// wideLua defines, for the scripts, mul(a, b): the exact product of two
// integers below 2^53 as three limbs of base 2^26, and le(a, b, c, d):
// whether a·b ≤ c·d, compared limb by limb. It mirrors the 128-bit
// comparisons of decide.Window.Fits (math/bits.Mul64).
const wideLua = `
local W = 67108864
local function mul(a, b)
  local a1 = math.floor(a / W)
  local a0 = a - a1 * W
  local b1 = math.floor(b / W)
  local b0 = b - b1 * W
  local lo = a0 * b0
  local mid = a1 * b0 + a0 * b1 + math.floor(lo / W)
  return a1 * b1 + math.floor(mid / W), mid % W, lo % W
end
local function le(a, b, c, d)
  local h1, m1, l1 = mul(a, b)
  local h2, m2, l2 = mul(c, d)
  if h1 ~= h2 then return h1 < h2 end
  if m1 ~= m2 then return m1 < m2 end
  return l1 <= l2
end
`

// windowScript judges one request against the counters of one or more
// limits of one key, and counts it in all of them when every limit allows
// it. User input reaches it only as KEYS and ARGV, never as script text.
//
//	KEYS[i]      the counter of limit i: a string "epoch prev cur"
//	ARGV[1]      the cost n
//	ARGV[2]      "1" to count an allowed request, "0" to only look (Peek)
//	ARGV[3]      the strategy's key tag: "f:" for the fixed window, "s:"
//	             for the sliding window
//	ARGV[4]      now in microseconds since the Unix epoch, or "" for the
//	             server clock (TIME)
//	ARGV[2+3i]   the count of limit i
//	ARGV[3+3i]   the period of limit i in microseconds
//	ARGV[4+3i]   the burst of limit i (unused)
//
// It returns {0, prev1, cur1, r1, prev2, cur2, r2, …} when every limit
// allows (cur includes n when counted), or {1, prev1, cur1, r1, …} with
// every limit as it stands, nothing counted, when any limit denies, so
// that the caller can compute the wait of the whole call; r is the time
// into the window in microseconds. The caller (Store.decode) turns these into Decisions with
// decide.Window.Decide, the memory engine's arithmetic.
//
// The script mirrors, in Lua, the engine's load (engine/window.go: the
// counts rolled forward to the reading's window, or judged at the start
// of a newer stored window) and decide.Window.Fits (the admission test,
// through le), as the engine's take applies them. Products such as prev·(P−r) reach 2^78, beyond the 53 bits
// that Lua numbers hold exactly, so le compares them in three limbs of
// base 2^26: with a count below 2^30 and a period below 2^52 µs every
// partial product stays below 2^53.
const windowScript = `
local n = tonumber(ARGV[1])
local now, slack
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
  slack = 0
else
  now = tonumber(ARGV[4])
  slack = 60000
end
local commit = ARGV[2] == '1'
local fixed = ARGV[3] == 'f:'
` + wideLua + `
local function load(i, p)
  local e = math.floor(now / p)
  local r = now - e * p
  local prev, cur = 0, 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local ce, cp, cc = string.match(v, '^(%d+) (%d+) (%d+)$')
    if not ce then
      return redis.error_reply('ERR floodgate: a counter key holds a foreign value')
    end
    ce, cp, cc = tonumber(ce), tonumber(cp), tonumber(cc)
    if ce > 9007199254740991 or cp > 9007199254740991 or cc > 9007199254740991 then
      return redis.error_reply('ERR floodgate: a counter key holds a foreign value')
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
`
