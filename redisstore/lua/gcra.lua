-- The GCRA script ("g:"). It judges one request against the GCRA buckets
-- of one or more limits of one key, and counts it in all of them when
-- every limit allows it. Arguments: see the prelude.
--
-- A bucket is a string "e j": its tat (see engine/doc.go) in ticks of
-- P/L, split as e·L + j with 0 ≤ j < L, because an absolute tick
-- (t·L/P, up to 2^80) does not fit the 53 bits of a Lua number while e
-- (the window number ⌊t/P⌋) and j do. The current tick k = e·L + j is
-- split the same way: e = ⌊now/P⌋ and j = ⌊r·L/P⌋ with r = now − e·P,
-- computed exactly by correcting a floating-point estimate with
-- three-limb products. A missing key is a full bucket.
--
-- It returns {0, now, e1, j1, be1, bj1, e2, …} when every limit allows,
-- or {1, now, e1, j1, be1, bj1, …}, nothing counted, when any denies,
-- where (e, j) is k and (be, bj) is base = max(tat, k), the tat before
-- the request. The caller (decodeGCRA, redisstore/decode.go) computes
-- the Decision in nanoseconds with decide.Bucket.Decide. A written
-- bucket lives (PX) until it is full again.
--
-- The script mirrors decide.Ticks.Tick (internal/decide/gcra.go: k,
-- through muldiv) and decide.Bucket.Fits (d + n ≤ burst, with
-- d = base − k), as the engine's gcraTake (engine/gcra.go) applies them.
local function muldiv(a, b, c)
  local q = math.floor(a * b / c)
  while q > 0 and not le(q, c, a, b) do q = q - 1 end
  while le(q + 1, c, a, b) do q = q + 1 end
  return q
end
local st = {}
local denied = false
for i = 1, #KEYS do
  local cnt, p, burst = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i]), tonumber(ARGV[4 + 3 * i])
  local e = math.floor(now / p)
  local r = now - e * p
  if r < 0 then e, r = e - 1, r + p end
  local j = muldiv(r, cnt, p)
  local be, bj, d = e, j, 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local te, tj = string.match(v, '^(%d+) (%d+)$')
    if not te then
      return foreign('a GCRA key holds a foreign value')
    end
    te, tj = tonumber(te), tonumber(tj)
    if not whole(te) or tj >= cnt then
      return foreign('a GCRA key holds a foreign value')
    end
    local dt = (te - e) * cnt + (tj - j)
    if dt > 0 then be, bj, d = te, tj, dt end
  end
  if d + n > burst then denied = true end
  st[i] = {e, j, be, bj, d, cnt, p}
end
if denied then
  local out = {1, now}
  for i = 1, #KEYS do
    for x = 1, 4 do out[#out + 1] = st[i][x] end
  end
  return out
end
local out = {0, now}
for i = 1, #KEYS do
  local s = st[i]
  if commit then
    local cnt = s[6]
    local tj = s[4] + n
    local carry = math.floor(tj / cnt)
    -- The bucket is full again at at(tat') ≤ now + ⌈(tat'−k)·P/L⌉ µs.
    redis.call('SET', KEYS[i], string.format('%d %d', s[3] + carry, tj - carry * cnt), 'PX', ms((s[5] + n) * s[7] / cnt))
  end
  out[#out + 1] = s[1]
  out[#out + 1] = s[2]
  out[#out + 1] = s[3]
  out[#out + 1] = s[4]
end
return out
