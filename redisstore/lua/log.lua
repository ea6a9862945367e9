-- Helpers of the moving-window log, shared by moving.lua and refund.lua
-- (script.go puts this file after the prelude for both). A log is a
-- sorted set: score the time in microseconds, one member "h:l:n" per
-- request, with n its cost and h·2^52 + l (0 ≤ l < 2^52) the units
-- logged before it, a running total that never wraps in practice (2^105
-- units); see moving.lua.

local H = 4503599627370496 -- 2^52
-- member(m) parses a member "h:l:n" into h, l and n; anything else is
-- foreign.
local function member(m)
  local h, l, k = string.match(m or '', '^(%d+):(%d+):(%d+)$')
  h, l, k = tonumber(h), tonumber(l), tonumber(k)
  if whole(h) and whole(l) and l < H and whole(k) and k > 0 then return h, l, k end
end
-- after(h, l, k) is the total h·2^52 + l plus k, as a pair, with an
-- exact carry (k < 2^53).
local function after(h, l, k)
  local kh = math.floor(k / H)
  l = l + (k - kh * H)
  if l >= H then return h + kh + 1, l - H end
  return h + kh, l
end
-- score(x) parses a score this script wrote: a whole number of
-- microseconds below 2^53. A foreign score (1e30 would format as
-- LLONG_MIN and turn the limit off) is an error, never an answer.
local function score(x)
  x = tonumber(x)
  if whole(x) then return x end
end
local foreign = 'ERR floodgate: a moving-window key holds a foreign score'
-- units(ah, al, bh, bl) is the units from total b to total a: exact
-- below 2^53, and at least 2^53 beyond (rounding is monotone), which is
-- more than any count or cost.
local function units(ah, al, bh, bl)
  return (ah - bh) * H + (al - bl)
end
