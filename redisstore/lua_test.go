package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxWhole is 2^53 − 1, the largest count the scripts take: every whole
// number up to it is exact as a Lua number.
const maxWhole = 1<<53 - 1

// luaClient starts a redis-server and returns a client on it, for tests
// that run the scripts, or parts of them, with arguments of their own.
func luaClient(t *testing.T) rueidis.Client {
	t.Helper()
	r := storetest.StartRedis(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.Addr()}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// edgy returns a whole number in [0, 2^53): near a power of two, near
// 2^53, or uniform, so that products straddle 2^53, 2^78 and 2^106.
func edgy(rng *rand.Rand) uint64 {
	switch rng.IntN(4) {
	case 0:
		v := uint64(1)<<rng.IntN(54) + uint64(rng.IntN(5)) - 2
		return min(v, maxWhole)
	case 1:
		return maxWhole - uint64(rng.IntN(1000))
	case 2:
		return uint64(rng.IntN(1 << 20))
	}
	return rng.Uint64N(maxWhole + 1)
}

// TestLuaLe checks the prelude's le(a, b, c, d), a·b ≤ c·d on Lua
// numbers, against 128-bit products for operands up to 2^53 − 1: equal
// products, products one apart, and random ones.
func TestLuaLe(t *testing.T) {
	c := luaClient(t)
	script := rueidis.NewLuaScript(preludeLua + `
local out = {}
for i = 5, #ARGV, 4 do
  local a, b, c, d = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  out[#out + 1] = le(a, b, c, d) and 1 or 0
end
return out
`)
	rng := rand.New(rand.NewPCG(1, 2))
	type q struct{ a, b, c, d uint64 }
	var cases []q
	for range 4000 {
		a, b := edgy(rng), edgy(rng)
		switch rng.IntN(4) {
		case 0: // the same product, other factors
			cases = append(cases, q{a, b, b, a})
		case 1: // neighbouring factors: products within about 2^53 of each other
			cc := min(maxWhole, a+uint64(rng.IntN(3))) - min(a, 1)
			d := min(maxWhole, b+uint64(rng.IntN(3))) - min(b, 1)
			cases = append(cases, q{a, b, a, b}, q{a, b, cc, d})
		default:
			cases = append(cases, q{a, b, edgy(rng), edgy(rng)})
		}
	}
	// Products that three 26-bit limbs ordered wrongly, and neighbours of
	// the largest.
	cases = append(cases,
		q{7760486004017576, 6319859144273615, 7760486004017577, 6319859144273614},
		q{8343178262512898, 8275753507332564, 8343178262512899, 8275753507332564},
		q{7481598136095115, 6221575940812851, 7481598136095116, 6221575940812850},
		q{8030452837846065, 5312190917835694, 8030452837846066, 5312190917835693},
		q{6973961449206549, 8928643040046060, 6973961449206548, 8928643040046060},
		q{maxWhole, maxWhole, maxWhole, maxWhole - 1},
		q{maxWhole - 1, maxWhole, maxWhole, maxWhole - 1},
		q{1 << 52, 1 << 52, 1<<52 + 1, 1<<52 - 1},
		q{1<<52 + 1, 1<<52 - 1, 1 << 52, 1 << 52})
	for start := 0; start < len(cases); start += 500 {
		batch := cases[start:min(start+500, len(cases))]
		args := []string{"1", "0", "s:", ""}
		for _, x := range batch {
			for _, v := range []uint64{x.a, x.b, x.c, x.d} {
				args = append(args, strconv.FormatUint(min(v, maxWhole), 10))
			}
		}
		got, err := script.Exec(context.Background(), c, nil, args).AsIntSlice()
		require.NoError(t, err)
		require.Len(t, got, len(batch))
		for i, x := range batch {
			a, b, cc, d := min(x.a, maxWhole), min(x.b, maxWhole), min(x.c, maxWhole), min(x.d, maxWhole)
			h1, l1 := bits.Mul64(a, b)
			h2, l2 := bits.Mul64(cc, d)
			want := h1 < h2 || h1 == h2 && l1 <= l2
			assert.Equal(t, want, got[i] == 1, "le(%d, %d, %d, %d)", a, b, cc, d)
		}
	}
}

// bigCase is one random request on a large limit: counts, bursts and
// costs up to 2^53 − 1, periods up to 2^52 µs, which no limit.Limit
// holds yet (limit.MaxCount is 2^29 − 1), so the scripts get them as
// arguments directly.
type bigCase struct {
	cnt, p, burst, n, now uint64
}

func newBigCase(rng *rand.Rand) bigCase {
	c := bigCase{cnt: max(1, edgy(rng)), p: max(1000, edgy(rng)>>1)}
	c.burst = max(1, edgy(rng))
	if rng.IntN(2) == 0 {
		c.burst = c.cnt
	}
	c.n = max(1, edgy(rng)%(c.burst+1))
	c.now = 1_700_000_000_000_000 + rng.Uint64N(1<<50) // Unix µs, below 2^53
	return c
}

func (c bigCase) args(tag string) []string {
	f := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return []string{f(c.n), "1", tag, f(c.now), packLimit(c.cnt, c.p, c.burst)}
}

// windowBinary returns a window counter as the scripts store it
// (window.lua): epoch, prev and cur, each 7 bytes, unsigned, little
// endian, the layout of a limit's argument (packLimit).
func windowBinary(e, prev, cur uint64) string { return packLimit(e, prev, cur) }

// windowText returns a window counter in the text form "epoch prev cur"
// that the scripts still read.
func windowText(e, prev, cur uint64) string { return fmt.Sprintf("%d %d %d", e, prev, cur) }

// TestWindowScriptLargeCounts runs the sliding-window scripts on random
// counters of large limits and checks their admission, reply and write
// against decide.Window.Fits, the engine's 128-bit test: the single
// script (a decision of one limit goes through window.lua's one, whose
// reply is the short section) and the batch script all or nothing
// (check, then deny or apply, the long section). Every other counter is
// in the text form, which a write replaces with the binary one.
func TestWindowScriptLargeCounts(t *testing.T) {
	c := luaClient(t)
	ctx := context.Background()
	single, batch := rueidis.NewLuaScript(windowScript), rueidis.NewLuaScript(windowBatch)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		bc := newBigCase(rng)
		e, r := bc.now/bc.p, bc.now%bc.p
		prev, cur := edgy(rng)%(bc.cnt+1), edgy(rng)%(bc.cnt+1)
		if rng.IntN(3) == 0 {
			cur = 0
		}
		state := windowBinary(e, prev, cur)
		if i%2 == 0 {
			state = windowText(e, prev, cur)
		}
		w := decide.Window{R: r, Prev: prev, Cur: cur}
		fits := w.Fits(true, bc.n, bc.cnt, bc.p)
		want := []int64{1, int64(prev), int64(cur), int64(r)}
		wantState := state
		if fits {
			want = []int64{0, int64(prev), int64(cur + bc.n), int64(r)}
			wantState = windowBinary(e, prev, cur+bc.n)
		}
		f := func(v uint64) string { return strconv.FormatUint(v, 10) }
		batchArgs := []string{"s:a", packLimit(bc.cnt, bc.p, bc.burst), "1", f(bc.n), "1@" + f(bc.now), "1", "1"}
		for _, tc := range []struct {
			name   string
			script *rueidis.Lua
			args   []string
			want   []int64
		}{
			{"single", single, bc.args("s:"), short(want)},
			{"batch, all or nothing", batch, batchArgs, want},
		} {
			key := "w" + strconv.Itoa(i) + tc.name
			require.NoError(t, c.Do(ctx, c.B().Set().Key(key).Value(state).Build()).Error())
			got, err := tc.script.Exec(ctx, c, []string{key}, tc.args).AsIntSlice()
			require.NoError(t, err, "%s: %+v on %q", tc.name, bc, state)
			assert.Equal(t, tc.want, got, "%s: %+v on %q: reply", tc.name, bc, state)
			stored, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
			require.NoError(t, err)
			assert.Equal(t, wantState, stored, "%s: %+v on %q: the counter after", tc.name, bc, state)
		}
	}
}

// short returns a window decision's section {flag, prev, cur, r} as
// window.lua's one replies it: {prev, cur, r}, or {−prev−1, cur, r}
// denied.
func short(long []int64) []int64 {
	if long[0] == 1 {
		return []int64{-long[1] - 1, long[2], long[3]}
	}
	return long[1:]
}

// windowCase is a window counter and a request on it, for
// TestWindowTextForm: the counter's window ce, its prev and cur, and the
// request's cost n under count cnt.
type windowCase struct {
	ce, cp, cc, n, cnt uint64
}

// expect returns the reply section (long) of the decision of wc at now
// under period p, as decide.Window judges it, and the counter after it:
// its epoch, prev and cur, and whether it is written.
func (wc windowCase) expect(fixed, commit bool, p, now uint64) (reply []int64, e, prev, cur uint64, written bool) {
	e = now / p
	r := now % p
	rr := int64(r)
	switch {
	case wc.ce == e:
		prev, cur = wc.cp, wc.cc
	case wc.ce+1 == e:
		prev = wc.cc
	case wc.ce > e: // ahead: judged at the start of its window
		e, prev, cur, r, rr = wc.ce, wc.cp, wc.cc, 0, -int64(wc.ce*p-now)
	}
	if fixed {
		prev = 0
	}
	fits := decide.Window{R: r, Prev: prev, Cur: cur}.Fits(!fixed, wc.n, wc.cnt, p)
	if fits && commit {
		cur += wc.n
	}
	reply = []int64{1, int64(prev), int64(cur), rr}
	if fits {
		reply[0] = 0
	}
	return reply, e, prev, cur, fits && commit
}

// TestWindowTextForm checks that the window scripts read a counter in
// the text form "epoch prev cur", which they wrote before the binary
// one, as they read the same counter in binary: the same replies, which
// are decide.Window's, and the same counter after, in binary (a denial or
// a look leaves each as it was), for each tag, each place of the stored
// window against the reading's (the same, the one before, older,
// ahead), requests allowed and denied, counted or looked at, at the
// server's clock and at a caller's, through the single script and both
// batch paths. A write at the server's clock in the reading's window
// keeps the key's TTL; any other write sets a new one. Refunds read both
// forms too.
func TestWindowTextForm(t *testing.T) {
	c := luaClient(t)
	ctx := context.Background()
	single, batch, refund := rueidis.NewLuaScript(windowScript), rueidis.NewLuaScript(windowBatch), rueidis.NewLuaScript(refundScript)
	serverNow := func() uint64 {
		tm, err := c.Do(ctx, c.B().Time().Build()).AsStrSlice()
		require.NoError(t, err)
		sec, err1 := strconv.ParseUint(tm[0], 10, 64)
		us, err2 := strconv.ParseUint(tm[1], 10, 64)
		require.NoError(t, errors.Join(err1, err2))
		return sec*1_000_000 + us
	}
	t0 := serverNow()
	// A period of about 22 years that puts the server's clock in the
	// middle of window 2 for the whole test.
	p := t0 * 2 / 5
	const e, ttl = 2, 123_456_789 // the reading's window; the TTL set before each decision
	f := func(v uint64) string { return strconv.FormatUint(v, 10) }
	var cases []windowCase
	for _, ce := range []uint64{e, e - 1, e - 2, e + 1} {
		cases = append(cases,
			windowCase{ce, 4, 3, 1, 10},
			windowCase{ce, 4, 10, 1, 10}, // cur denies
			windowCase{ce, 20, 0, 1, 10}, // prev denies (sliding) at the reading's window
			windowCase{ce, 0, 0, 10, 10}, // all of it
			windowCase{ce, maxWhole - 7, maxWhole / 2, 3, maxWhole},
			windowCase{ce, 1 << 52, 1<<52 - 1, 1, maxWhole},
		)
	}
	k := 0
	for _, tag := range []string{"s:", "f:"} {
		fixed := tag == "f:"
		for _, wc := range cases {
			for _, commit := range []bool{true, false} {
				for _, server := range []bool{true, false} {
					flag, when, now := "0", "", e*p+p/3
					if commit {
						flag = "1"
					}
					if !server {
						when = f(now)
					}
					batchWhen := flag
					if !server {
						batchWhen += "@" + when
					}
					lim := []string{packLimit(wc.cnt, p, wc.cnt)}
					for _, drv := range []struct {
						name   string
						script *rueidis.Lua
						args   []string
						long   bool
					}{
						{"single", single, append([]string{f(wc.n), flag, tag, when}, lim...), false},
						{"batch, independent", batch, append(append([]string{tag + "i"}, lim...), "1", f(wc.n), batchWhen, "1", "1"), false},
						{"batch, all or nothing", batch, append(append([]string{tag + "a"}, lim...), "1", f(wc.n), batchWhen, "1", "1"), true},
					} {
						what := fmt.Sprintf("%s %+v commit=%v server=%v %s", tag, wc, commit, server, drv.name)
						var replies [2][]int64
						var after [2]string
						var wrote bool
						for form, v := range []string{windowText(wc.ce, wc.cp, wc.cc), windowBinary(wc.ce, wc.cp, wc.cc)} {
							k++
							key := "tf" + strconv.Itoa(k)
							require.NoError(t, c.Do(ctx, c.B().Set().Key(key).Value(v).PxMilliseconds(ttl).Build()).Error())
							got, err := drv.script.Exec(ctx, c, []string{key}, drv.args).AsIntSlice()
							require.NoError(t, err, "%s on %q", what, v)
							replies[form] = got
							if server { // the script's TIME, from its reply's r
								r := got[len(got)-1]
								if wc.ce > e {
									now = uint64(int64(wc.ce*p) + r)
								} else {
									now = uint64(int64(e*p) + r)
								}
								require.True(t, now >= t0 && now < t0+600_000_000, "%s: the script's time %d, the test's %d", what, now, t0)
							}
							long, we, wp, wcur, written := wc.expect(fixed, commit, p, now)
							wrote = written
							want := long
							if !drv.long {
								want = short(long)
							}
							assert.Equal(t, want, got, "%s on %q: reply", what, v)
							stored, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
							require.NoError(t, err)
							after[form] = stored
							pttl, err := c.Do(ctx, c.B().Pttl().Key(key).Build()).AsInt64()
							require.NoError(t, err)
							if !written {
								assert.Equal(t, v, stored, "%s on %q: a counter not written", what, v)
								assert.LessOrEqual(t, pttl, int64(ttl), "%s on %q: its TTL", what, v)
								continue
							}
							require.Len(t, stored, 21, "%s on %q: written in binary", what, v)
							se, sp, sc := binary.LittleEndian.Uint64([]byte(stored[0:7]+"\x00")), binary.LittleEndian.Uint64([]byte(stored[7:14]+"\x00")), binary.LittleEndian.Uint64([]byte(stored[14:21]+"\x00"))
							assert.Equal(t, [2]uint64{we, wcur}, [2]uint64{se, sc}, "%s on %q: epoch and cur after", what, v)
							if !fixed {
								assert.Equal(t, wp, sp, "%s on %q: prev after", what, v)
							}
							if server && wc.ce == e {
								assert.True(t, pttl <= ttl && pttl > ttl-60_000, "%s on %q: PTTL %d, the key's %d kept", what, v, pttl, ttl)
							} else {
								assert.Greater(t, pttl, int64(ttl), "%s on %q: a new TTL", what, v)
							}
						}
						if !server { // at the server's clock, r differs by the time between the calls
							assert.Equal(t, replies[0], replies[1], "%s: text and binary replies", what)
						}
						// Written alike, but for a fixed window's prev, which
						// a write in place (binary, the reading's window, the
						// server's clock) leaves as stored.
						if wrote && !(fixed && server && wc.ce == e) {
							assert.Equal(t, after[1], after[0], "%s: text and binary after", what)
						}
					}
				}
			}
		}
	}

	// Refund: cur drops by n in the reading's window, never below 0, the
	// TTL kept; an older window is left as it is.
	for _, rc := range []struct{ ce, cp, cc, n, want uint64 }{
		{e, 4, 7, 3, 4}, {e, 4, 2, 3, 0}, {e - 1, 4, 7, 3, 7},
	} {
		for _, v := range []string{windowText(rc.ce, rc.cp, rc.cc), windowBinary(rc.ce, rc.cp, rc.cc)} {
			k++
			key := "tf" + strconv.Itoa(k)
			require.NoError(t, c.Do(ctx, c.B().Set().Key(key).Value(v).PxMilliseconds(ttl).Build()).Error())
			require.NoError(t, refund.Exec(ctx, c, []string{key}, []string{f(rc.n), "1", "s:", "", packLimit(10, p, 10)}).Error())
			stored, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
			require.NoError(t, err)
			want := v
			if rc.ce == e {
				want = windowBinary(rc.ce, rc.cp, rc.want)
			}
			assert.Equal(t, want, stored, "refund %d on %q", rc.n, v)
			pttl, err := c.Do(ctx, c.B().Pttl().Key(key).Build()).AsInt64()
			require.NoError(t, err)
			assert.True(t, pttl <= ttl && pttl > ttl-60_000, "refund on %q: PTTL %d, the key's %d kept", v, pttl, ttl)
		}
	}
}

// TestWindowForeign checks which stored values the window scripts take
// for counters: 21 bytes in binary with numbers below 2^53, or the text
// form (of any length, 21 bytes too); anything else is a foreign value,
// an error reply, and stays as it was.
func TestWindowForeign(t *testing.T) {
	c := luaClient(t)
	ctx := context.Background()
	single, batch := rueidis.NewLuaScript(windowScript), rueidis.NewLuaScript(windowBatch)
	bin := windowBinary(28, 1, 2)
	for i, tc := range []struct {
		value string
		ok    bool
	}{
		{bin, true},
		{windowText(28, 1, 2), true},
		{"123456789 12345 12345", true}, // text of 21 bytes
		{windowBinary(1000, maxWhole, maxWhole), true},
		{windowBinary(1<<53, 0, 0), false},
		{windowBinary(0, 1<<53, 0), false},
		{windowBinary(0, 0, 1<<55), false},
		{bin[:20], false},
		{bin + "\x00", false},
		{strings.Repeat("x", 21), false},
		{"1 2 99999999999999999999", false},
		{"-1 2 3", false},
		{"1 2 3 ", false},
		{"1.5 2 3", false},
		{"", false},
	} {
		for _, drv := range []struct {
			name   string
			script *rueidis.Lua
			args   []string
		}{
			{"single", single, []string{"1", "1", "s:", "1000000000", packLimit(10, 1000000, 10)}},
			{"batch", batch, []string{"s:i", packLimit(10, 1000000, 10), "1", "1", "1@1000000000", "1", "1"}},
		} {
			key := "fv" + strconv.Itoa(i) + drv.name
			require.NoError(t, c.Do(ctx, c.B().Set().Key(key).Value(tc.value).Build()).Error())
			got, err := drv.script.Exec(ctx, c, []string{key}, drv.args).ToArray()
			if drv.name == "batch" && err == nil && len(got) == 2 { // {2, the error}
				msg, _ := got[1].ToString()
				err = errors.New(msg)
			}
			stored, gerr := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
			require.NoError(t, gerr)
			if tc.ok {
				assert.NoError(t, err, "%s on %q", drv.name, tc.value)
				assert.Len(t, stored, 21, "%s on %q: written in binary, or left as it was", drv.name, tc.value)
				continue
			}
			assert.ErrorContains(t, err, "foreign value", "%s on %q", drv.name, tc.value)
			assert.Equal(t, tc.value, stored, "%s on %q: left as it was", drv.name, tc.value)
		}
	}
}

// TestGCRAScriptLargeCounts runs the GCRA script on random buckets of
// large limits and checks k, base, the admission and the written tat
// against math/big: tick(now) = ⌊now·L/P⌋, allowed iff
// max(tat, k) + n ≤ k + burst; then a refund of m: tat − m, at least 0.
func TestGCRAScriptLargeCounts(t *testing.T) {
	c := luaClient(t)
	ctx := context.Background()
	script, refund := rueidis.NewLuaScript(gcraScript), rueidis.NewLuaScript(refundScript)
	rng := rand.New(rand.NewPCG(5, 6))
	num := func(v uint64) *big.Int { return new(big.Int).SetUint64(v) }
	split := func(x, cnt *big.Int) (int64, int64) {
		q, m := new(big.Int).QuoRem(x, cnt, new(big.Int))
		return q.Int64(), m.Int64()
	}
	for i := range 3000 {
		bc := newBigCase(rng)
		cnt := num(bc.cnt)
		k := new(big.Int).Div(new(big.Int).Mul(num(bc.now), cnt), num(bc.p))
		e, j := split(k, cnt)
		// A tat around k: behind it, in its window, or some bursts ahead.
		te := uint64(max(0, e+int64(rng.IntN(4))-1))
		if rng.IntN(8) == 0 {
			te += edgy(rng) % 1000
		}
		tj := edgy(rng) % bc.cnt
		key := "g" + strconv.Itoa(i)
		state := fmt.Sprintf("%d %d", te, tj)
		require.NoError(t, c.Do(ctx, c.B().Set().Key(key).Value(state).Build()).Error())
		got, err := script.Exec(ctx, c, []string{key}, bc.args("g:")).AsIntSlice()
		require.NoError(t, err, "%+v on %q", bc, state)

		tat := new(big.Int).Add(new(big.Int).Mul(num(te), cnt), num(tj))
		base := tat
		if base.Cmp(k) < 0 {
			base = k
		}
		be, bj := split(base, cnt)
		after := new(big.Int).Add(base, num(bc.n))
		allowed := after.Cmp(new(big.Int).Add(k, num(bc.burst))) <= 0
		want := []int64{1, int64(bc.now), e, j, be, bj}
		wantState := state
		if allowed {
			want[0] = 0
			ae, aj := split(after, cnt)
			wantState = fmt.Sprintf("%d %d", ae, aj)
		}
		assert.Equal(t, want, got, "%+v on %q: reply", bc, state)
		stored, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
		require.NoError(t, err)
		assert.Equal(t, wantState, stored, "%+v on %q: the bucket after", bc, state)

		// Refund: the tat drops by m ticks, never below zero.
		m := max(1, edgy(rng)%(bc.burst+1))
		var se, sj uint64
		_, err = fmt.Sscanf(stored, "%d %d", &se, &sj)
		require.NoError(t, err)
		tat = new(big.Int).Add(new(big.Int).Mul(num(se), cnt), num(sj))
		tat.Sub(tat, num(m))
		if tat.Sign() < 0 {
			tat.SetInt64(0)
		}
		re, rj := split(tat, cnt)
		args := bc.args("g:")
		args[0] = strconv.FormatUint(m, 10)
		require.NoError(t, refund.Exec(ctx, c, []string{key}, args).Error(), "refund %d on %q", m, stored)
		got2, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%d %d", re, rj), got2, "refund %d on %q (count %d)", m, stored, bc.cnt)
	}
}

// TestMovingScriptLargeCounts runs the moving-window and refund scripts
// through random requests and refunds on limits of counts up to 2^53 − 1
// (so that the running totals wrap past 2^53) and checks every reply
// against a log kept as the engine keeps it (engine/moving.go: one entry
// per instant, at = max(now, newest), entries stop counting at t + P).
func TestMovingScriptLargeCounts(t *testing.T) {
	c := luaClient(t)
	ctx := context.Background()
	allow, refund := rueidis.NewLuaScript(movingScript), rueidis.NewLuaScript(refundScript)
	rng := rand.New(rand.NewPCG(7, 8))
	type entry struct{ t, n uint64 }
	for round := range 40 {
		cnt := max(1, edgy(rng))
		if round%4 == 0 {
			cnt = uint64(1 + rng.IntN(20)) // small counts: many members
		}
		p := uint64(1000 + rng.IntN(100_000))
		key := "m" + strconv.Itoa(round)
		now := uint64(1_700_000_000_000_000)
		var log []entry
		for step := range 200 {
			now += uint64(rng.IntN(int(p / 8)))
			if rng.IntN(10) == 0 {
				now -= uint64(rng.IntN(int(p / 4))) // the clock steps back
			}
			n := max(1, edgy(rng)%(cnt+1)/uint64(1+rng.IntN(4)))
			if rng.IntN(20) == 0 {
				n = cnt + 1 + edgy(rng)%1000
			}
			args := []string{strconv.FormatUint(n, 10), "1", "m:", strconv.FormatUint(now, 10), packLimit(cnt, p, cnt)}
			what := fmt.Sprintf("round %d step %d: n=%d cnt=%d p=%d now=%d", round, step, n, cnt, p, now)
			if rng.IntN(6) == 0 {
				// Refund n units from the newest entries.
				require.NoError(t, refund.Exec(ctx, c, []string{key}, args).Error(), what)
				for left := n; left > 0 && len(log) > 0; {
					x := &log[len(log)-1]
					m := min(x.n, left)
					x.n -= m
					left -= m
					if x.n == 0 {
						log = log[:len(log)-1]
					}
				}
				continue
			}
			got, err := allow.Exec(ctx, c, []string{key}, args).AsIntSlice()
			require.NoError(t, err, what)

			// The engine's movingTake.
			newest := uint64(0)
			if len(log) > 0 {
				newest = log[len(log)-1].t
			}
			at := max(now, newest)
			for len(log) > 0 && log[0].t+p <= newest {
				log = log[1:]
			}
			sum, first := uint64(0), 0
			for first < len(log) && log[first].t+p <= at {
				first++
			}
			for _, x := range log[first:] {
				sum += x.n
			}
			last := int64(-1)
			if sum > 0 {
				last = int64(newest)
			}
			if n <= cnt && sum+n <= cnt {
				assert.Equal(t, []int64{0, int64(now), int64(at), int64(sum), last}, got, what)
				if len(log) > 0 && log[len(log)-1].t == at {
					log[len(log)-1].n += n
				} else {
					log = append(log, entry{at, n})
				}
				continue
			}
			free := int64(-1)
			if n <= cnt {
				freed := uint64(0)
				for _, x := range log[first:] {
					if freed += x.n; freed >= sum+n-cnt {
						free = int64(x.t)
						break
					}
				}
			}
			assert.Equal(t, []int64{1, int64(now), int64(at), int64(sum), last, free}, got, what)
		}
	}
}
