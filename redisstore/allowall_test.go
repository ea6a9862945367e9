package redisstore_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
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
// costs) are one script call, allowed or denied (no refund call);
// charges on keys of three slots are one call per slot on its master
// (INFO commandstats on every master), and a denial adds one refund call
// per charge that another slot allowed, which leaves nothing held.
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

	// User keys that share a hash tag of their own, as httplimit's
	// scopes of one client do: one slot, so one call, and a denial
	// counts nothing and refunds nothing.
	tagged := []floodgate.Charge{
		{Key: "{i10.0.0.1}a:", N: 1, Limits: []limit.Limit{day}},
		{Key: "{i10.0.0.1}s:api", N: 1, Limits: []limit.Limit{hour}},
		{Key: "{i10.0.0.1}r:POST /login", N: 1, Limits: []limit.Limit{minute}},
	}
	_, _, err = s.AllowAll(ctx, floodgate.Charge{Key: "{i10.0.0.1}warm", N: 1, Limits: []limit.Limit{limit.PerDay(1)}})
	require.NoError(t, err)
	for i, want := range []bool{true, true, false} {
		before := scriptCalls(t, nodes...)
		d, at, err := s.AllowAll(ctx, tagged...)
		require.NoError(t, err)
		assert.Equal(t, want, d.Allowed, "AllowAll #%d on keys of one hash tag = %+v", i+1, d)
		if !want {
			assert.Equal(t, 2, at, "the route's minute denies the third")
		}
		assert.Equal(t, 1, scriptCalls(t, nodes...)-before, "script calls of AllowAll #%d on keys of one hash tag", i+1)
	}
	for i, c := range tagged {
		p, err := s.Peek(ctx, c.Key, c.Limits[0])
		require.NoError(t, err)
		// A Peek's Remaining is after a request of 1.
		assert.EqualValues(t, max(c.Limits[0].Count()-2-1, 0), p.Remaining, "charge %d (%s): two allowed, the denial counted nothing", i, c.Key)
	}

	// A login's scopes: the client's route, the app, the account, on
	// keys of three slots. Each slot's charges are one call on its master,
	// all at once; a denial refunds the slots that allowed.
	owners := slotOwners(t, nodes[0])
	apart := []floodgate.Charge{
		{Key: "route:/login:10.0.0.1", N: 1, Limits: []limit.Limit{minute}},
		{Key: "app", N: 1, Limits: []limit.Limit{day}},
		{Key: "account:bob", N: 1, Limits: []limit.Limit{hour}},
	}
	perSlot := map[int]int{} // script calls per master (by port): one per slot of its
	seen := map[int]bool{}
	for _, c := range apart {
		sl := keySlot(c.Key)
		require.False(t, seen[sl], "the charges' keys share slot %d", sl)
		seen[sl] = true
		perSlot[owners[sl]]++
	}
	perMaster := func() map[int]int {
		m := map[int]int{}
		for _, n := range nodes {
			m[n.Port] = scriptCalls(t, n)
		}
		return m
	}
	// Load the batch and refund scripts on the three masters: each charge
	// in turn denies (a cost over its limit), on other keys of the same
	// slots (another limit), and the others are refunded.
	for i := range apart {
		warm := slices.Clone(apart)
		for j := range warm {
			warm[j].Limits = []limit.Limit{limit.PerDay(1000)}
		}
		warm[i].N = 1001
		d, at, err := s.AllowAll(ctx, warm...)
		require.NoError(t, err)
		require.False(t, d.Allowed, "warm-up AllowAll %d = %+v", i, d)
		require.Equal(t, i, at, "warm-up AllowAll %d: the denying charge", i)
	}
	for i, want := range []bool{true, true, false} {
		before := perMaster()
		d, at, err := s.AllowAll(ctx, apart...)
		require.NoError(t, err)
		assert.Equal(t, want, d.Allowed, "AllowAll #%d over three slots = %+v (charge %d)", i+1, d, at)
		wantCalls := maps.Clone(perSlot)
		if !want {
			assert.Equal(t, 0, at, "the route denies the third")
			// Refunds of the app's and the account's charges, which
			// their slots allowed and counted.
			wantCalls[owners[keySlot("app")]]++
			wantCalls[owners[keySlot("account:bob")]]++
		}
		after := perMaster()
		for port, n := range wantCalls {
			assert.Equal(t, n, after[port]-before[port], "script calls on the master on port %d, AllowAll #%d over three slots", port, i+1)
		}
	}
	// The denial holds nothing: the app and the account hold the two
	// allowed requests' units, no more (Peek's Remaining counts the
	// request it looks at).
	p, err = s.Peek(ctx, "app", day)
	require.NoError(t, err)
	assert.EqualValues(t, 100-2-1, p.Remaining, "the app's units after two allowed and a refunded denial")
	p, err = s.Peek(ctx, "account:bob", hour)
	require.NoError(t, err)
	assert.EqualValues(t, 10-2-1, p.Remaining, "the account's units after two allowed and a refunded denial")
	p, err = s.Peek(ctx, "route:/login:10.0.0.1", minute)
	require.NoError(t, err)
	assert.False(t, p.Allowed, "the route's 2/minute after two allowed")

	// The calls go at once: while the route's master holds scripts back
	// (CLIENT PAUSE WRITE), the other masters run theirs, where calls
	// made one after the other would wait for the route's.
	var paused *storetest.Redis
	for _, n := range nodes {
		if n.Port == owners[keySlot(apart[0].Key)] {
			paused = n
		}
	}
	others := 0
	for port, n := range perSlot {
		if port != paused.Port {
			others += n
		}
	}
	require.NotZero(t, others, "no charge on another master than the route's")
	patient := openURI(t, "redis+cluster://"+nodes[0].Addr()+"?timeout=60s&prefix=aac2:")
	before := perMaster()
	paused.CLI(t, "CLIENT", "PAUSE", "60000", "WRITE")
	done := make(chan struct{})
	var d limit.Decision
	go func() {
		defer close(done)
		d, _, err = patient.AllowAll(ctx, apart...)
	}()
	require.Eventually(t, func() bool {
		after, n := perMaster(), 0
		for port := range perSlot {
			if port != paused.Port {
				n += after[port] - before[port]
			}
		}
		return n == others
	}, 30*time.Second, 10*time.Millisecond, "the other masters' calls while the route's master holds scripts back")
	select {
	case <-done:
		t.Error("AllowAll returned while the route's master held its call back")
	default:
	}
	paused.CLI(t, "CLIENT", "UNPAUSE")
	<-done
	require.NoError(t, err)
	assert.True(t, d.Allowed, "AllowAll over three slots after the pause = %+v", d)
}

// TestAllowAllClusterSlotDown runs AllowAll over keys on three masters
// of a cluster after the master of the last charge's key was killed: its
// call fails, so AllowAll denies at that charge with an error wrapping
// floodgate.ErrUnavailable, and the charges that the two live masters
// allowed are refunded: nothing stays held.
func TestAllowAllClusterSlotDown(t *testing.T) {
	nodes := storetest.StartCluster(t, 3)
	for _, n := range nodes {
		n.CLI(t, "CONFIG", "SET", "cluster-require-full-coverage", "no")
	}
	owners := slotOwners(t, nodes[0])
	// One key on each master, in the nodes' order.
	keys := make([]string, len(nodes))
	for i, found := 0, 0; found < len(nodes); i++ {
		k := "k" + strconv.Itoa(i)
		for j, n := range nodes {
			if keys[j] == "" && owners[keySlot(k)] == n.Port {
				keys[j] = k
				found++
			}
		}
	}
	s := openURI(t, "redis+cluster://"+nodes[0].Addr()+","+nodes[1].Addr()+"?timeout=2s&prefix=aad:")
	ctx := seam.WithClock(context.Background(), clock.NewManual(time.Duration(1_700_000_000)*time.Second))
	hour := limit.PerHour(10)
	var charges []floodgate.Charge
	for _, k := range keys {
		charges = append(charges, floodgate.Charge{Key: k, N: 1, Limits: []limit.Limit{hour}})
	}
	d, _, err := s.AllowAll(ctx, charges...)
	require.NoError(t, err)
	require.True(t, d.Allowed, "AllowAll before the kill = %+v", d)
	nodes[2].Kill(t)
	d, at, err := s.AllowAll(ctx, charges...)
	require.ErrorIs(t, err, floodgate.ErrUnavailable, "AllowAll with the last charge's master down")
	assert.False(t, d.Allowed, "AllowAll with the last charge's master down = %+v", d)
	assert.Equal(t, 2, at, "the failed charge")
	for _, c := range charges[:2] {
		p, err := s.Peek(ctx, c.Key, hour)
		require.NoError(t, err)
		assert.EqualValues(t, 10-1-1, p.Remaining, "Peek(%s): the first AllowAll's unit, none of the failed one's", c.Key)
	}
}

// TestAllowAllMatchesAllowEach runs random requests of several charges
// (some on shared keys, some repeating a key, some without limits, of
// cost 0 or with a zero Limit) through the store's AllowAll and through
// floodgate.AllowEach (one charge at a time, with refunds) on a second
// store, at the same times: the answers are the same, step by step.
func TestAllowAllMatchesAllowEach(t *testing.T) {
	r := storetest.StartRedis(t)
	nodes := storetest.StartCluster(t, 3)
	for _, topo := range []struct{ name, uri string }{
		{"redis", "redis://" + r.Addr()},
		// k0 to k3 lie in several slots: a request's charges go as one call
		// per slot, refunded on a denial.
		{"cluster", "redis+cluster://" + nodes[0].Addr() + "," + nodes[1].Addr() + "," + nodes[2].Addr()},
	} {
		for _, strategy := range []string{"sliding-window", "fixed-window", "gcra", "moving-window"} {
			t.Run("topology="+topo.name+"/strategy="+strategy, func(t *testing.T) {
				matchAllowEach(t, topo.uri, strategy)
			})
		}
	}
}

// matchAllowEach runs 400 random requests through AllowAll and through
// floodgate.AllowEach on two stores on uri, and requires the same
// answers.
func matchAllowEach(t *testing.T, uri, strategy string) {
	one := openURI(t, uri+"?timeout=2s&strategy="+strategy, redisstore.WithPrefix("am1"+strategy[:1]+":"))
	each := openURI(t, uri+"?timeout=2s&strategy="+strategy, redisstore.WithPrefix("am2"+strategy[:1]+":"))
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
}
