-- The window strategy: the sliding-window counter ("s:") and the fixed
-- window ("f:"). check judges one request against the counters of one or
-- more limits of one key; apply counts it in all of them (see the
-- prelude for the three functions and their arguments).
--
-- A counter is 21 bytes: its window's number (epoch), the count of the
-- window before it (prev) and its own (cur), each an unsigned
-- little-endian integer of 7 bytes (struct.pack '<I7I7I7'), whole
-- numbers below 2^53. Binary, not text: reading it takes no pattern
-- match and no conversions, writing it no string.format, and its fixed
-- width lets a write change cur alone, in place (see write); together
-- 18% of Redis's instructions per decision (docs/scale.md). A counter
-- in the text form "epoch prev cur" (decimal digits, one space apart),
-- which the scripts wrote before, is still read, and judged alike; the
-- next write stores it in binary. The two cannot be taken for each
-- other: each 7-byte group of a binary counter ends in a byte below 0x20
-- (its number is below 2^53), which is neither a digit nor a space, and
-- in a text every byte is one of those, which makes a group at least
-- 2^53. A value that is neither form is foreign: an error reply.
--
-- The functions mirror the engine's load (engine/window.go: the counts
-- rolled forward to the reading's window, or judged at the start of a
-- newer stored window) and decide.Window.Fits (internal/decide/window.go:
-- the admission test prev·(P−r) ≤ (L−cur−n)·P), as the engine's take
-- applies them. The products are compared as Lua numbers when either is
-- below 2^53, where the comparison is exact (see le in the prelude), and
-- with le otherwise: nearly every limit takes the first path, a count
-- near 2^29 on a long period the second.
--
-- A decision's reply section is {0, prev1, cur1, r1, prev2, cur2, r2, …}
-- when every limit allows (cur includes n when counted), or {1, prev1,
-- cur1, r1, …} with every limit as it stands, nothing counted, when any
-- limit denies, so that the caller can compute the wait of the whole
-- call; r is the time into the window in microseconds, or, for a reading
-- older than the stored window (judged at its start), minus the time
-- from the reading to that start. The caller (Store.decode,
-- redisstore/decode.go) turns these into Decisions with
-- decide.Window.Decide, the memory engine's arithmetic.
--
-- one, the batch driver's path for independent decisions of one
-- limit, replies in three numbers, not four: {prev, cur, r} when it
-- allows and {−prev−1, cur, r} when it denies (a reply number costs
-- Redis about 800 instructions, a fortieth of a decision; Store.section,
-- redisstore/batch.go, reads it back as the section above).
--
-- The KEYS of one decision are distinct: Store.decide drops repeated
-- limits, and Store.key gives distinct limits distinct keys.

-- The globals of the hot path as locals (upvalues of the functions
-- below): a global is a table lookup at each use, and these run once
-- per decision.
local KEYS, pcall_, call_, pack, unpack, match = KEYS, redis.pcall, redis.call, struct.pack, struct.unpack, string.match

local foreign = 'ERR floodgate: a counter key holds a foreign value'

-- judge reads the counter of one limit lm at KEYS[kx] and judges the
-- request of cost n at time now against it. It returns whether the
-- limit denies; prev, cur and r for the reply; the epoch of the
-- counter's new value (its prev is the reply's, its cur the reply's cur
-- plus n); and whether the counter is the reading's window (see write):
-- false if not, 1 if it is, in binary, 2 if it is, in the text form. Or
-- nil and an error reply for data it did not write.
--
-- What depends only on a limit and the time (the window e, the time r
-- into it) is kept in the limit's table for the next decision at that
-- time: a batch's decisions share the server's TIME and mostly one
-- limit, so it is computed once per call.
local function judge(fixed, kx, lm, n, now)
  local cnt, p = lm[1], lm[2]
  if lm.now ~= now then
    local e = math.floor(now / p)
    lm.now, lm.e, lm.r, lm.px, lm.slack = now, e, now - e * p, nil, nil
  end
  local e, r = lm.e, lm.r
  local prev, cur, ew, ahead, current = 0, 0, e, 0, false
  local v = pcall_('GET', KEYS[kx])
  if v then
    -- A string, or an error reply, {err = …} (WRONGTYPE); a string's
    -- err is string.err, nil (cheaper than type(v), a call).
    if v.err then return nil, v end
    local ce, cp, cc
    if #v == 21 then
      -- Unsigned, so never negative, NaN or infinite, and whole; below
      -- 2^53 is all that is left to check (the scripts write no more).
      ce, cp, cc = unpack('<I7I7I7', v)
      if ce >= B or cp >= B or cc >= B then ce = nil end
    end
    local form = 1
    if not ce then
      -- The text form (see the top). Each part is digits only, so x + 0
      -- converts it (one strtod, where tonumber takes two) to a whole
      -- number, exact below 2^53, and rounded or infinite, so at least
      -- 2^53, above.
      local ces, cps, ccs = match(v, '^(%d+) (%d+) (%d+)$')
      if not ces then return nil, redis.error_reply(foreign) end
      ce, cp, cc = ces + 0, cps + 0, ccs + 0
      if ce >= B or cp >= B or cc >= B then return nil, redis.error_reply(foreign) end
      form = 2
    end
    if ce == e then
      prev, cur, current = cp, cc, form
    elseif ce == e - 1 then
      prev = cc
    elseif ce > e then
      -- A reading older than the stored window: judged at its start.
      -- The reply's r is then −ahead, the µs from the reading to that
      -- start, since waits count from the reading (decide.Later).
      ahead = ce * p - now
      ew, r, prev, cur = ce, 0, cp, cc
    end
  end
  if fixed then prev = 0 end
  local denied = false
  if cur + n > cnt then
    denied = true
  elseif prev > 0 then
    -- prev·(P−r) ≤ (L−cur−n)·P, on the prelude's fast path when it can.
    local y, z = prev * (p - r), (cnt - cur - n) * p
    if y < B or z < B then
      denied = y > z
    else
      denied = not le(prev, p - r, cnt - cur - n, p)
    end
  end
  return denied, prev, cur, r - ahead, ew, current
end

-- write sets the counter of limit lm at KEYS[kx] to epoch ew, prev and
-- cur, with a TTL of how long it still matters: until the end of the
-- next window (sliding) or of this one (fixed), a time that depends only
-- on the window. So a counter read in the reading's window (current)
-- keeps the TTL that the write which started that window set, at the
-- server's clock: it ends no earlier than this write's would (the same
-- end, and either TTL rounded up to the millisecond). In binary, only
-- its cur changes: SETRANGE writes those 7 bytes in place, keeping the
-- epoch, prev and TTL, at about 3 000 instructions less than a SET of the
-- whole value (docs/scale.md); the text form is replaced whole, with
-- KEEPTTL. Neither parses a TTL nor removes and re-adds the key's
-- expiry, which saves about 5 000 more. The key is there: the script
-- has just read it, and a script's clock stands still, so no key expires
-- during it. A caller's time (slack) writes the TTL every time, so that
-- real time passing between its calls does not expire counters. ro is
-- the reply's r: the TTL of a limit at one time, not ahead of its
-- window, is formatted once (kept with judge's values). A fixed
-- window's prev is 0 (judge's), as in the engine.
local function write(fixed, kx, lm, ew, prev, cur, current, ro, now, slack)
  if current and slack == 0 then
    if current == 1 then
      call_('SETRANGE', KEYS[kx], '14', pack('<I7', cur))
    else
      call_('SET', KEYS[kx], pack('<I7I7I7', ew, prev, cur), 'KEEPTTL')
    end
    return
  end
  local px
  if ro == lm.r and lm.now == now and lm.slack == slack then
    px = lm.px
  else
    local p, r = lm[2], math.max(ro, 0)
    local ttl = 2 * p - r
    if fixed then ttl = p - r end
    px = string.format('%d', math.floor((ttl + 999) / 1000) + slack)
    if ro == lm.r and lm.now == now then lm.px, lm.slack = px, slack end
  end
  call_('SET', KEYS[kx], pack('<I7I7I7', ew, prev, cur), 'PX', px)
end

-- check reads each limit's counter into out (prev, cur, r) and returns
-- whether any limit denies, with st: each limit's epoch to write and, at
-- nl + i, whether its counter is the reading's window.
local function check(tag, kb, lims, nl, n, now, out, o)
  local fixed = tag == 'f:'
  local st = {}
  local denied = false
  for i = 1, nl do
    local d, prev, cur, r, ew, current = judge(fixed, kb + i - 1, lims[i], n, now)
    if d == nil then return nil, prev end
    local x = o + 3 * i
    out[x - 2], out[x - 1], out[x] = prev, cur, r
    st[i], st[nl + i] = ew, current
    denied = denied or d
  end
  return denied, st
end

-- deny: check left every limit as it stands, which is the denial's
-- section.
local function deny() end

-- apply sets each limit's cur to include n when counted and, if commit,
-- writes the counters (see write).
local function apply(tag, kb, lims, nl, n, commit, now, slack, out, o, st)
  if not commit then return end
  local fixed = tag == 'f:'
  for i = 1, nl do
    local x = o + 3 * i
    local cur = out[x - 1] + n
    out[x - 1] = cur
    write(fixed, kb + i - 1, lims[i], st[i], out[x - 2], cur, st[nl + i], out[x], now, slack)
  end
end

-- one decides c independent requests of one limit lm, those of KEYS[kb]
-- to KEYS[kb+c−1], each as check, then deny or apply, would, appending
-- their sections to out (in three numbers: see the top); data it did not
-- write fails only its request, whose section is then {2, the error}.
-- The batch driver's path for a run of such decisions: no state table,
-- a call per decision instead of three, a shorter reply.
one = function(tag, kb, lm, n, commit, now, slack, out, c)
  local fixed = tag == 'f:'
  local o = #out + 1
  for kx = kb, kb + c - 1 do
    local d, prev, cur, r, ew, current = judge(fixed, kx, lm, n, now)
    if d == nil then
      out[o], out[o + 1] = 2, prev.err or 'ERR floodgate: a script error'
      o = o + 2
    else
      if d then
        out[o] = -prev - 1 -- denied: the flag in prev's sign
      else
        out[o] = prev
        if commit then
          cur = cur + n
          if current == 1 and slack == 0 then
            call_('SETRANGE', KEYS[kx], '14', pack('<I7', cur)) -- write's commonest case
          else
            write(fixed, kx, lm, ew, prev, cur, current, r, now, slack)
          end
        end
      end
      out[o + 1], out[o + 2] = cur, r
      o = o + 3
    end
  end
end
