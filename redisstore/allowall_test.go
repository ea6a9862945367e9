package redisstore_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/seam"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptCalls returns the script calls (EVALSHA and EVAL) that servers
// have run.
func scriptCalls(t *testing.T, servers ...*storetest.Redis) int {
	t.Helper()
	n := 0
	for _, s := range servers {
		n += calls(t, s, "evalsha") + calls(t, s, "eval")
	}
	return n
}

// TestAllowAllOneCall makes a login's three charges (the route's limit
// on the client, an app-wide limit, the account's limit) with AllowAll
// on a single Redis, for every strategy: each decision, allowed or
// denied, is exactly one script call (INFO commandstats), and a denial
// counts nothing in the other charges, with no refund call. It runs at a
// fixed time (internal/seam).
func TestAllowAllOneCall(t *testing.T) {
	r := storetest.StartRedis(t)
	// A stopped clock: GCRA's ticks and the windows are aligned to the
	// epoch, so on the server's clock a tick turning between the first
	// charge and the last Peek would hand a unit back.
	ctx := seam.WithClock(context.Background(), clock.NewManual(time.Duration(1_700_000_000)*time.Second))
	for _, strategy := range []string{"sliding-window", "fixed-window", "gcra", "moving-window"} {
		t.Run("strategy="+strategy, func(t *testing.T) {
			s := open(t, r, "timeout=2s&strategy="+strategy, redisstore.WithPrefix("aa"+strategy[:1]+":"))
			route, app, account := limit.PerHour(3), limit.PerHour(100), limit.PerHour(50)
			charges := []floodgate.Charge{
				{Key: "route:/login:10.0.0.1", N: 1, Limits: []limit.Limit{route}},
				{Key: "app", N: 1, Limits: []limit.Limit{app}},
				{Key: "account:bob", N: 1, Limits: []limit.Limit{account}},
			}
			// A script's first call on a server is EVALSHA answered
			// NOSCRIPT, then EVAL: load both first, the single script
			// (a lone decision) and the batch script (AllowAll).
			_, err := s.Peek(ctx, "warm", route)
			require.NoError(t, err)
			_, _, err = s.AllowAll(ctx, floodgate.Charge{Key: "warm", N: 1, Limits: []limit.Limit{route}})
			require.NoError(t, err)
			for i := range 3 {
				before := scriptCalls(t, r)
				d, at, err := s.AllowAll(ctx, charges...)
				require.NoError(t, err, "AllowAll #%d", i+1)
				assert.True(t, d.Allowed, "AllowAll #%d = %+v, want allowed", i+1, d)
				assert.Equal(t, 0, at, "AllowAll #%d: the charge with the fewest left is the route's", i+1)
				assert.EqualValues(t, 2-i, d.Remaining, "AllowAll #%d", i+1)
				assert.Equal(t, 1, scriptCalls(t, r)-before, "script calls of allowed AllowAll #%d", i+1)
			}
			before := scriptCalls(t, r)
			d, at, err := s.AllowAll(ctx, charges...)
			require.NoError(t, err)
			assert.False(t, d.Allowed, "AllowAll #4 = %+v, want denied by the route", d)
			assert.Equal(t, 0, at, "the denying charge")
			assert.Equal(t, route, d.Limit)
			assert.Equal(t, 1, scriptCalls(t, r)-before, "script calls of a denied AllowAll: one, no refund")
			for _, c := range charges[1:] {
				p, err := s.Peek(ctx, c.Key, c.Limits...)
				require.NoError(t, err)
				assert.EqualValues(t, c.Limits[0].Count()-4, p.Remaining, "Peek(%s) after 3 allowed and 1 denied: the denial took nothing", c.Key)
			}
		})
	}
}

// TestAllowAllCluster runs AllowAll on a 3-master cluster: three charges
// whose keys share a hash slot (one user key under several limits and
// costs) are one script call, allowed or denied (no refund call); charges on keys of several
// slots are decided one at a time with refunds, and still all or
// nothing.
func TestAllowAllCluster(t *testing.T) {
	nodes := storetest.StartCluster(t, 3)
	s := openURI(t, "redis+cluster://"+nodes[0].Addr()+"?timeout=2s&prefix=aac:")
	// A stopped clock: no window turns between the calls.
	ctx := seam.WithClock(context.Background(), clock.NewManual(time.Duration(1_700_000_000)*time.Second))
	minute, hour, day := limit.PerMinute(2), limit.PerHour(10), limit.PerDay(100)
	// Load the scripts on the master of user 1's slot (a script's first
	// call on a server is EVALSHA answered NOSCRIPT, then EVAL): the
	// single script (a lone decision) and the batch script (AllowAll).
	_, err := s.Peek(ctx, "user 1", limit.PerDay(1))
	require.NoError(t, err)
	_, _, err = s.AllowAll(ctx, floodgate.Charge{Key: "user 1", N: 1, Limits: []limit.Limit{limit.PerDay(1)}})
	require.NoError(t, err)
	same := []floodgate.Charge{
		{Key: "user 1", N: 1, Limits: []limit.Limit{minute}},
		{Key: "user 1", N: 3, Limits: []limit.Limit{hour}},
		{Key: "user 1", N: 5, Limits: []limit.Limit{day}},
	}
	for i, want := range []bool{true, true, false} {
		before := scriptCalls(t, nodes...)
		d, _, err := s.AllowAll(ctx, same...)
		require.NoError(t, err)
		assert.Equal(t, want, d.Allowed, "AllowAll #%d on one slot = %+v", i+1, d)
		assert.Equal(t, 1, scriptCalls(t, nodes...)-before, "script calls of AllowAll #%d on one slot", i+1)
	}
	p, err := s.Peek(ctx, "user 1", hour)
	require.NoError(t, err)
	assert.EqualValues(t, 10-6-1, p.Remaining, "the hour's units after two allowed of 3 and a denial")
	p, err = s.Peek(ctx, "user 1", day)
	require.NoError(t, err)
	assert.EqualValues(t, 100-10-1, p.Remaining, "the day's units after two allowed of 5 and a denial")

	apart := []floodgate.Charge{
		{Key: "route:/login:10.0.0.1", N: 1, Limits: []limit.Limit{minute}},
		{Key: "account:bob", N: 1, Limits: []limit.Limit{hour}},
	}
	for i, want := range []bool{true, true, false} {
		d, at, err := s.AllowAll(ctx, apart...)
		require.NoError(t, err)
		assert.Equal(t, want, d.Allowed, "AllowAll #%d over two slots = %+v (charge %d)", i+1, d, at)
	}
	p, err = s.Peek(ctx, "account:bob", hour)
	require.NoError(t, err)
	assert.EqualValues(t, 10-2-1, p.Remaining, "the account's units after two allowed and a refunded denial")
}

// TestAllowAllMatchesAllowEach runs random requests of several charges
// (some on shared keys, some repeating a key, some without limits, of
// cost 0 or with a zero Limit) through the store's AllowAll and through
// floodgate.AllowEach (one charge at a time, with refunds) on a second
// store, at the same times: the answers are the same, step by step.
func TestAllowAllMatchesAllowEach(t *testing.T) {
	r := storetest.StartRedis(t)
	for _, strategy := range []string{"sliding-window", "fixed-window", "gcra", "moving-window"} {
		t.Run("strategy="+strategy, func(t *testing.T) {
			one := open(t, r, "timeout=2s&strategy="+strategy, redisstore.WithPrefix("am1"+strategy[:1]+":"))
			each := open(t, r, "timeout=2s&strategy="+strategy, redisstore.WithPrefix("am2"+strategy[:1]+":"))
			clk := clock.NewManual(time.Duration(1_700_000_000) * time.Second)
			ctx := seam.WithClock(context.Background(), clk)
			rng := rand.New(rand.NewPCG(9, uint64(len(strategy))))
			limits := []limit.Limit{limit.PerSecond(5), limit.PerMinute(20), limit.PerHour(40)}
			for step := range 400 {
				clk.Advance(time.Duration(rng.IntN(400)) * time.Millisecond)
				var charges []floodgate.Charge
				for range 1 + rng.IntN(4) {
					c := floodgate.Charge{Key: "k" + strconv.Itoa(rng.IntN(4)), N: int64(1 + rng.IntN(3))}
					for _, l := range limits {
						if rng.IntN(2) == 0 {
							c.Limits = append(c.Limits, l)
						}
					}
					switch rng.IntN(40) {
					case 0:
						c.N = 0
					case 1:
						c.Limits = append(c.Limits, limit.Limit{})
					}
					charges = append(charges, c)
				}
				d1, i1, err1 := one.AllowAll(ctx, charges...)
				d2, i2, err2 := floodgate.AllowEach(ctx, each, charges...)
				require.NoError(t, err1, "step %d: AllowAll(%+v)", step, charges)
				require.NoError(t, err2, "step %d: floodgate.AllowEach(%+v)", step, charges)
				require.Equal(t, d2, d1, "step %d: AllowAll(%+v): Decision", step, charges)
				require.Equal(t, i2, i1, "step %d: AllowAll(%+v): index", step, charges)
			}
		})
	}
}
