-- The driver of several decisions in one call (Store's coalescing and
-- Store.AllowAll): the batch scripts are the prelude, the strategy's
-- functions and this. Its arguments:
--
--   ARGV[1]  the strategy's key tag ("s:", "f:", "g:" or "m:") and
--            the mode: "i", the decisions are independent, each
--            checked and applied before the next (so two on one key
--            see each other, as if made one after the other); "a", all
--            or nothing, every decision checked, then all applied only
--            if none denies (Store.AllowAll); so "s:i", "g:a"…
--   then the L distinct limits of the call, each one argument of 21
--            bytes: its count, period in µs and burst, each an
--            unsigned little-endian integer of 7 bytes (struct.pack
--            '<I7I7I7'), unpacked once per call (Store.limitArg,
--            redisstore/key.go). The script counts them by their
--            length: a run's arguments below are decimal numbers
--            (below 2^53, so 16 digits at most) or "1@µs" (18 bytes at
--            most), never 21 bytes.
--   then runs of decisions alike but for their keys, each: the number
--   of decisions c; their cost n; "1" to count or "0" to look, at the
--   server's TIME (read once for the whole call), or "1@µs" or "0@µs"
--   at a time of the caller's; their number of limits nl; and nl
--   indexes (from 1) into the limits. Each decision's nl KEYS come
--   next in KEYS, decision after decision.
--
-- So a call of decisions alike (the common case: cost 1, counted, one
-- limit) has a few arguments in all and one key per decision: every
-- argument costs Redis about a microsecond to parse, hand to Lua and
-- collect (docs/scale.md).
--
-- It returns the decisions' reply sections one after the other, each
-- that of one decision alone (see the strategy's file), or, in "i" for
-- a decision of one limit, that of the strategy's one when it has one
-- (the window's), so the caller decodes each as it would a lone one. In "i", data a script did not
-- write fails only its decision, whose section is then {2, the error};
-- in "a" it fails the call, before anything is written.
local head = ARGV[1]
local tag, all = string.sub(head, 1, 2), string.byte(head, 3) == 97 -- 'a'
local limits = {}
local a, v = 2, ARGV[2]
while v and #v == 21 do
  local cnt, p, b = struct.unpack('<I7I7I7', v)
  limits[a - 1] = {cnt, p, b}
  a = a + 1
  v = ARGV[a]
end
local out = {}
local time
local k, na = 1, #ARGV
local held = {} -- "a": each decision's section and state, applied at the end
local denials = false
while a <= na do
  local c, n, when, nl = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2], tonumber(ARGV[a + 3])
  local commit = string.byte(when) == 49 -- '1'
  local now, slack
  if #when == 1 then
    if not time then
      local t = redis.call('TIME')
      time = t[1] * 1000000 + t[2]
    end
    now, slack = time, 0
  else
    -- A caller's time: slack lengthens the TTLs of keys written at it,
    -- so that real time passing between calls (tests, replays) does
    -- not expire them.
    now, slack = tonumber(string.sub(when, 3)), 60000
  end
  -- The run's limits, shared by its decisions (the functions only read
  -- them).
  local lims = {}
  for i = 1, nl do lims[i] = limits[tonumber(ARGV[a + 3 + i])] end
  if one and nl == 1 and not all then
    -- The strategy's own path for a run of independent decisions of one
    -- limit, when it has one: the same decisions, fewer steps.
    one(tag, k, lims[1], n, commit, now, slack, out, c)
    k = k + c
  else
    for _ = 1, c do
      local sec, o = out, #out + 1
      if all then sec, o = {}, 1 end
      sec[o] = 0
      local denied, st = check(tag, k, lims, nl, n, now, sec, o)
      if all then
        if denied == nil then return st end
        denials = denials or denied
        held[#held + 1] = {sec, denied, st, k, lims, nl, n, commit, now, slack}
      elseif denied == nil then
        -- Only this decision fails: its section is {2, the error}.
        for x = #out, o + 1, -1 do out[x] = nil end
        out[o + 1] = st.err or 'ERR floodgate: a script error'
        out[o] = 2
      elseif denied then
        out[o] = 1
        deny(nl, out, o, st)
      else
        apply(tag, k, lims, nl, n, commit, now, slack, out, o, st)
      end
      k = k + nl
    end
  end
  a = a + 4 + nl
end
if all then
  for _, h in ipairs(held) do
    local sec, nl = h[1], h[6]
    if h[2] then
      sec[1] = 1
      deny(nl, sec, 1, h[3])
    else
      -- Counted only if no decision denied.
      apply(tag, h[4], h[5], nl, h[7], h[8] and not denials, h[9], h[10], sec, 1, h[3])
    end
    for x = 1, #sec do out[#out + 1] = sec[x] end
  end
end
return out
