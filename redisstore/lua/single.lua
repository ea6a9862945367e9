-- The driver of one decision (the argument layout at the top of the
-- prelude): the window, GCRA and moving-window scripts are the prelude,
-- the strategy's functions, args.lua and this. It returns the decision's
-- reply section (see the strategy's file), or an error reply for data
-- the script did not write.
local out = {0}
local nk = #KEYS
local lims = {}
for i = 1, nk do
  local a = 2 + 3 * i
  lims[i] = {tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])}
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
