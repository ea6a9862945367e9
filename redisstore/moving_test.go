package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// calls returns the calls of cmd in INFO commandstats, 0 when none.
func calls(tb testing.TB, r *storetest.Redis, cmd string) int {
	tb.Helper()
	for _, line := range strings.Split(r.CLI(tb, "INFO", "commandstats"), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls=")
		if ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			require.NoError(tb, err, "INFO commandstats: %s", line)
			return n
		}
	}
	return 0
}

// TestMovingCostAboveCount asks for more than a moving-window limit's
// count, on a fresh key and on a used one: the request is denied with
// RetryAfter limit.Never and writes nothing (no key, no ZADD, no
// PEXPIRE), whatever the cost. It still reads the key, for the engine's
// Remaining and ResetAfter.
func TestMovingCostAboveCount(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "timeout=2s&strategy=moving-window", redisstore.WithPrefix("big:"))
	ctx := context.Background()
	l := limit.PerMinute(100)
	for _, n := range []int64{101, 1_000_000, 1 << 40} {
		d, err := s.AllowN(ctx, "fresh", n, l)
		require.NoError(t, err, "AllowN(fresh, %d)", n)
		assert.Equal(t, limit.Decision{Limit: l, Remaining: 100, RetryAfter: limit.Never}, d, "AllowN(fresh, %d)", n)
	}
	assert.Equal(t, "0", r.CLI(t, "EXISTS", "big:{fresh}:m:100/60"), "a refused cost wrote the key")
	assert.Zero(t, calls(t, r, "zadd")+calls(t, r, "pexpire"), "writes for refused costs")

	_, err := s.AllowN(ctx, "used", 30, l)
	require.NoError(t, err)
	before := r.CLI(t, "ZRANGE", "big:{used}:m:100/60", "0", "-1", "WITHSCORES")
	zadds := calls(t, r, "zadd")
	d, err := s.AllowN(ctx, "used", 1_000_000, l)
	require.NoError(t, err)
	assert.Equal(t, int64(70), d.Remaining, "AllowN(used, 1e6)")
	assert.Equal(t, limit.Never, d.RetryAfter, "AllowN(used, 1e6)")
	assert.Equal(t, zadds, calls(t, r, "zadd"), "ZADD calls after a refused cost")
	assert.Equal(t, before, r.CLI(t, "ZRANGE", "big:{used}:m:100/60", "0", "-1", "WITHSCORES"), "the log after a refused cost")
}

// TestMovingBigCosts counts costs of 100 000 and 1 000 000 in one
// request each (on 20 keys): one member and one ZADD per request,
// whatever the cost. Then it denies requests on a log of 100 000
// members, at a time of the test's choosing (AllowNAt), and checks each
// wait exactly: on a log of equal costs, until the oldest member stops
// counting; on a log of uneven costs, whose wait takes a binary search,
// until the member whose expiry frees the request's units. It logs
// Redis's own time per call (usec_per_call) and the log's size; the
// numbers are in docs/performance.md, and BenchmarkServerCost measures
// the server's cost per call.
func TestMovingBigCosts(t *testing.T) {
	r := storetest.StartRedis(t)
	s := open(t, r, "timeout=5s&strategy=moving-window", redisstore.WithPrefix("bc:"))
	ctx := context.Background()
	_, err := s.AllowN(ctx, "warm", 1, limit.PerMinute(1)) // loads the script
	require.NoError(t, err)
	for _, n := range []int64{100_000, 1_000_000} {
		l := limit.PerMinute(n)
		r.CLI(t, "CONFIG", "RESETSTAT")
		for k := range 20 {
			d, err := s.AllowN(ctx, "k"+strconv.Itoa(k), n, l)
			require.NoError(t, err)
			assert.True(t, d.Allowed, "AllowN(cost = count = %d)", n)
		}
		key := "bc:{k0}:m:" + strconv.FormatInt(n, 10) + "/60"
		assert.Equal(t, "1", r.CLI(t, "ZCARD", key), "members after one request of cost %d", n)
		assert.Equal(t, 20, calls(t, r, "zadd"), "ZADD calls for 20 requests of cost %d", n)
		t.Logf("cost = count = %d: %.1f µs per call on the server (usec_per_call), %s B (MEMORY USAGE)",
			n, serverUsec(t, r, "evalsha"), r.CLI(t, "MEMORY", "USAGE", key))
	}

	// A full log of 100 000 requests of cost 1, one a microsecond, the
	// newest 1 µs before now.
	const members = 100_000
	const now = storetest.T0
	start := int64(now/time.Microsecond) - members
	l := limit.PerMinute(members)
	key := "bc:{full}:m:100000/60"
	for i := 0; i < members; i += 5000 {
		args := []string{"ZADD", key}
		for j := i; j < i+5000; j++ {
			args = append(args, strconv.FormatInt(start+int64(j), 10), "0:"+strconv.Itoa(j)+":1")
		}
		r.CLI(t, args...)
	}
	r.CLI(t, "CONFIG", "RESETSTAT")
	wait := time.Minute - members*time.Microsecond // until the oldest member stops counting
	for i := range 100 {
		d, err := redisstore.AllowNAt(ctx, s, now, "full", 1, l)
		require.NoError(t, err)
		assert.False(t, d.Allowed, "call %d: AllowNAt(T0, 1) on a full log", i)
		assert.Equal(t, wait, d.RetryAfter, "call %d: AllowNAt(T0, 1) on a full log: RetryAfter", i)
	}
	t.Logf("denial on a log of %d members: %.1f µs per call on the server (usec_per_call), %d ZRANGE calls in 100",
		members, serverUsec(t, r, "evalsha"), calls(t, r, "zrange"))

	// The same log, every member's cost different: the search bisects.
	r.CLI(t, "DEL", key)
	total := 0
	costs := make([]int, members)
	for i := 0; i < members; i += 5000 {
		args := []string{"ZADD", key}
		for j := i; j < i+5000; j++ {
			costs[j] = 1 + j%3
			args = append(args, strconv.FormatInt(start+int64(j), 10), "0:"+strconv.Itoa(total)+":"+strconv.Itoa(costs[j]))
			total += costs[j]
		}
		r.CLI(t, args...)
	}
	// A request of half the count waits until the oldest members that
	// hold half the count have stopped counting: member x's expiry.
	x, freed := 0, costs[0]
	for freed < total/2 {
		x++
		freed += costs[x]
	}
	wait = time.Minute - time.Duration(members-x)*time.Microsecond
	l = limit.PerMinute(int64(total))
	key2 := "bc:{full}:m:" + strconv.Itoa(total) + "/60"
	r.CLI(t, "RENAME", key, key2)
	r.CLI(t, "CONFIG", "RESETSTAT")
	for i := range 100 {
		d, err := redisstore.AllowNAt(ctx, s, now, "full", int64(total/2), l)
		require.NoError(t, err)
		assert.False(t, d.Allowed, "call %d: AllowNAt(T0, half) on a full log of uneven costs", i)
		assert.Equal(t, wait, d.RetryAfter, "call %d: AllowNAt(T0, half) on a full log of uneven costs: RetryAfter (member %d's expiry)", i, x)
	}
	t.Logf("denial on a log of %d members of costs 1 to 3: %.1f µs per call on the server (usec_per_call), %d ZRANGE calls in 100",
		members, serverUsec(t, r, "evalsha"), calls(t, r, "zrange"))
}
