-- The driver of one decision (the argument layout at the top of the
-- prelude): the window, GCRA and moving-window scripts are the prelude,
-- the strategy's functions, args.lua and this. The Store sends a lone
-- decision (none queued with it) through it, and an Evaler every
-- decision. It returns the decision's reply section (see the strategy's
-- file), or an error reply for data the script did not write.
--
-- A decision of one limit goes through the strategy's one when it has
-- one (the window's), whose short section it returns: fewer steps than
-- check, then deny or apply, and a shorter reply, so that a lone call
-- costs Redis no more than the single-decision scripts before batching
-- did (bench/redisserial.sh). Store.section reads it back, as it does in
-- a batch's reply.
local nk = #KEYS
if one and nk == 1 then
  local out = {}
  local cnt, p, b = struct.unpack('<I7I7I7', ARGV[5])
  one(tag, 1, {cnt, p, b}, n, commit, now, slack, out, 1)
  -- one's section is three numbers, or {2, the error} for data the
  -- script did not write.
  if out[3] == nil then return redis.error_reply(out[2]) end
  return out
end
local out = {0}
local lims = {}
for i = 1, nk do
  local cnt, p, b = struct.unpack('<I7I7I7', ARGV[4 + i])
  lims[i] = {cnt, p, b}
end
local denied, st = check(tag, 1, lims, nk, n, now, out, 1)
if denied == nil then return st end
if denied then
  out[1] = 1
  deny(nk, out, 1, st)
else
  apply(tag, 1, lims, nk, n, commit, now, slack, out, 1, st)
end
return out
