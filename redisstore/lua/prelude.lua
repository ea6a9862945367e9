-- Floodgate's prelude, the start of every script (redisstore/script.go
-- concatenates it with each script's body): exact wide products, the
-- checks on data that a script did not write, and TTLs. It reads no
-- arguments: a driver does (lua/single.lua for one decision, the layout
-- below; lua/batch.lua for several), and hands each strategy's functions
-- one decision at a time.
--
-- The layout of one decision (the window, GCRA, moving-window and refund
-- scripts of lua/single.lua):
--
--   KEYS[i]      the state of limit i
--   ARGV[1]      the cost n, a whole number ≥ 1
--   ARGV[2]      "1" to count an allowed request, "0" to only look
--                (Peek); the refund script ignores it
--   ARGV[3]      the strategy's key tag: "s:" sliding window, "f:" fixed
--                window, "g:" GCRA, "m:" moving window
--   ARGV[4]      now in microseconds since the Unix epoch, or "" for the
--                server clock (TIME)
--   ARGV[4+i]    limit i, 21 bytes: its count, period in microseconds
--                and burst (GCRA's; the others ignore it), each an
--                unsigned little-endian integer of 7 bytes
--                (struct.pack '<I7I7I7'; Store.limitArg,
--                redisstore/key.go), so one argument and one
--                struct.unpack per limit
--
-- User input reaches the scripts only as KEYS and ARGV, never as script
-- text. Error replies start with 'ERR floodgate: '. Every number handed to redis.call is formatted with %d: Lua's
-- own conversion keeps only 14 significant digits, and times in
-- microseconds have 16.
--
-- Each strategy file (window.lua, gcra.lua, moving.lua) defines the same
-- three functions over one decision, the request of cost n at time now
-- against nl limits of one key: KEYS[kb], …, KEYS[kb+nl−1], with limit i
-- as lims[i] = {count, period in µs, burst}, numbers. Its reply section
-- goes to out from index o: out[o] is the flag (0 allowed, 1 denied),
-- then the strategy's numbers.
--
--   check(tag, kb, lims, nl, n, now, out, o)  reads every limit and decides,
--       writing nothing (the moving window drops members that can never
--       count again); returns denied and a state for deny or apply, or
--       nil and an error reply ({err = …}) for data it did not write.
--   deny(nl, out, o, st)       completes a denied decision's section.
--   apply(tag, kb, lims, nl, n, commit, now, slack, out, o, st)
--       completes an allowed decision's section and, when commit is
--       set, writes every limit's new state.
--
-- So a driver can decide one request (single.lua), K independent
-- requests in one call, each checked and applied before the next, or K
-- requests all or nothing: all checked, then all applied only if none
-- denies (batch.lua).
--
-- A strategy may also define one, declared here, a fourth function for
-- the commonest decisions, independent and of one limit, which the batch
-- driver then calls for a run of them instead of the three:
--
--   one(tag, kb, lm, n, commit, now, slack, out, c)  decides the c
--       requests of KEYS[kb] to KEYS[kb+c−1] under limit lm, each
--       exactly as check, then deny or apply, would, and appends their
--       sections to out (in a form of its own, which the strategy's file
--       describes), or {2, the error} for one whose data the script did
--       not write.
local one

-- Wide products. Lua numbers are doubles: whole numbers below 2^53 are
-- exact, and so is every product below 2^53. A product at or above 2^53
-- rounds to a number at or above 2^53 (rounding is monotone and 2^53 is
-- a double), so a·b ≤ c·d computed with plain Lua numbers is exact
-- whenever either product is below 2^53: the fast path, which nearly
-- every limit takes (a count·period below 2^53 µs, or small counts).
-- B is 2^53.
local B = 9007199254740992
-- le(a, b, c, d) reports whether a·b ≤ c·d exactly, for whole a, b, c, d
-- below 2^53, whose products reach 2^106: the 128-bit comparisons of
-- decide.Window.Fits and decide.Ticks (math/bits.Mul64) in Lua. When the
-- rounded products differ they order the exact ones (rounding is
-- monotone). When they are equal, it compares the rounding errors, which
-- Dekker's exact product yields as doubles: a·b = x + ex exactly, with a
-- and b split in halves of 26 and 27 bits by Veltkamp's constant
-- 2^27 + 1 (IEEE doubles, round to nearest, no overflow: Redis's Lua 5.1
-- on x86-64 and arm64).
local function le(a, b, c, d)
  local x, y = a * b, c * d
  if x ~= y then return x < y end
  local t = 134217729 * a
  local ah = t - (t - a)
  local al = a - ah
  t = 134217729 * b
  local bh = t - (t - b)
  local bl = b - bh
  local ex = ((ah * bh - x) + ah * bl + al * bh) + al * bl
  t = 134217729 * c
  ah = t - (t - c)
  al = c - ah
  t = 134217729 * d
  bh = t - (t - d)
  bl = d - bh
  return ex <= ((ah * bh - y) + ah * bl + al * bh) + al * bl
end

-- Data a script did not write is an error reply, never an answer. The
-- scripts write whole numbers in [0, 2^53); whole(x) reports whether x
-- is one (false for nil, NaN, infinities, fractions and negatives).
local function whole(x)
  return x ~= nil and x == x and x >= 0 and x < B and x == math.floor(x)
end

-- ms(us, slack) is a TTL in milliseconds for PX or PEXPIRE: at least us
-- microseconds, rounded up, plus slack ms; formatted with %d.
local function ms(us, slack)
  return string.format('%d', math.min(math.floor(us / 1000) + 1 + slack, 1e15))
end

-- Every helper above is a closure made anew on each call (its cost:
-- docs/performance.md), so the prelude keeps to three, and the scripts'
-- own hot paths make none.
