-- The GCRA strategy ("g:"). check judges one request against the GCRA
-- buckets of one or more limits of one key; apply counts it in all of
-- them (see the prelude for the three functions and their arguments).
--
-- A bucket is a string "e j": its tat (see engine/doc.go) in ticks of
-- P/L, split as e·L + j with 0 ≤ j < L, because an absolute tick
-- (t·L/P, up to 2^80) does not fit the 53 bits of a Lua number while e
-- (the window number ⌊t/P⌋) and j do. The current tick k = e·L + j is
-- split the same way: e = ⌊now/P⌋ and j = ⌊r·L/P⌋ with r = now − e·P:
-- a plain division when r·L is below 2^53 (exact: see the prelude), else
-- a floating-point estimate corrected with le. A missing key is a full
-- bucket.
--
-- A decision's reply section is {0, now, e1, j1, be1, bj1, e2, …} when
-- every limit allows,
-- or {1, now, e1, j1, be1, bj1, …}, nothing counted, when any denies,
-- where (e, j) is k and (be, bj) is base = max(tat, k), the tat before
-- the request. The caller (decodeGCRA, redisstore/decode.go) computes
-- the Decision in nanoseconds with decide.Bucket.Decide. A written
-- bucket lives (PX) until it is full again.
--
-- The script mirrors decide.Ticks.Tick (internal/decide/gcra.go: k) and
-- decide.Bucket.Fits (base + n ≤ k + burst), as the engine's gcraTake
-- (engine/gcra.go) applies them, exactly for counts, bursts and costs up
-- to 2^53 − 1 and periods up to 2^52 µs.

-- check writes now and each limit's e, j, be, bj to out and returns
-- whether any limit denies, with st holding each limit's tat after the
-- request, base + n, as a pair.
local function check(tag, kb, lims, nl, n, now, out, o)
  out[o + 1] = now
  local st = {}
  local denied = false
  for i = 1, nl do
    local lm = lims[i]
    local cnt, p, burst = lm[1], lm[2], lm[3]
    local e = math.floor(now / p)
    local r = now - e * p
    local j = r * cnt
    if j < B then
      j = math.floor(j / p) -- exact: r·L is below 2^53 (see the prelude)
    else
      -- ⌊r·L/P⌋ from an estimate: the largest q with q·P ≤ r·L (q < L).
      j = math.min(math.floor(j / p), cnt - 1)
      while j > 0 and not le(j, p, r, cnt) do j = j - 1 end
      while j + 1 < cnt and le(j + 1, p, r, cnt) do j = j + 1 end
    end
    -- base = max(tat, k), compared as (e, j) pairs: 0 ≤ j < L, so pairs
    -- order like the ticks they stand for.
    local be, bj = e, j
    local v = redis.pcall('GET', KEYS[kb + i - 1])
    if type(v) == 'table' then return nil, v end -- WRONGTYPE
    if v then
      local te, tj = string.match(v, '^(%d+) (%d+)$')
      te, tj = tonumber(te), tonumber(tj)
      if not whole(te) or not tj or tj >= cnt then
        return nil, redis.error_reply('ERR floodgate: a GCRA key holds a foreign value')
      end
      if te > e or te == e and tj > j then be, bj = te, tj end
    end
    -- Allowed iff base + n ≤ k + burst, in pairs with exact carries: a
    -- number x below 2^53 is ⌊x/L⌋·L + x mod L, where the division is exact
    -- (see the prelude), and two j's are summed without passing L. The
    -- difference d = (be−e)·L + (bj−j) would pass 2^53 for large counts;
    -- the pairs stay exact for counts and costs up to 2^53 − 1.
    local q = math.floor(n / cnt)
    local ne, nj = be + q, n - q * cnt
    if bj >= cnt - nj then ne, nj = ne + 1, bj - (cnt - nj) else nj = bj + nj end
    q = math.floor(burst / cnt)
    local ke, kj = e + q, burst - q * cnt
    if j >= cnt - kj then ke, kj = ke + 1, j - (cnt - kj) else kj = j + kj end
    if ne > ke or ne == ke and nj > kj then denied = true end
    local x = o + 4 * i - 2
    out[x], out[x + 1], out[x + 2], out[x + 3] = e, j, be, bj
    st[2 * i - 1], st[2 * i] = ne, nj
  end
  return denied, st
end

-- deny: check's section is the denial's.
local function deny() end

-- apply writes each bucket's new tat when commit is set.
local function apply(tag, kb, lims, nl, n, commit, now, slack, out, o, st)
  if not commit then return end
  for i = 1, nl do
    local cnt, p = lims[i][1], lims[i][2]
    local ne, nj = st[2 * i - 1], st[2 * i]
    local x = o + 4 * i - 2
    -- tat' = base + n. The bucket is full again at
    -- at(tat') ≤ now + ⌈(tat'−k)·P/L⌉ µs, with
    -- (tat'−k)·P/L = (ne−e)·P + (nj−j)·P/L.
    redis.call('SET', KEYS[kb + i - 1], string.format('%d %d', ne, nj),
      'PX', ms((ne - out[x]) * p + (nj - out[x + 1]) * p / cnt, slack))
  end
end
