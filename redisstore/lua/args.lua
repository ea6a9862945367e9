-- The arguments of one decision (the layout at the top of prelude.lua),
-- read by the scripts that decide one request (single.lua) and by
-- refund.lua.
local n = tonumber(ARGV[1])
local commit = ARGV[2] == '1'
local tag = ARGV[3]
-- slack lengthens the TTLs of keys written at a caller's time, so that
-- real time passing between calls (tests, replays) does not expire them.
local now, slack
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
  slack = 0
else
  now = tonumber(ARGV[4])
  slack = 60000
end

