package redisstore

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pendingsOf returns the queued decisions of key i of users, each of cost
// n under limits, at the server's time, as coalesce makes them.
func pendingsOf(s *Store, n int64, limits []limit.Limit, users ...string) []*pending {
	b := make([]*pending, 0, len(users))
	for _, u := range users {
		p := &pending{n: n, commit: true, limits: limits}
		for _, l := range limits {
			p.keys = append(p.keys, s.key(u, l))
		}
		b = append(b, p)
	}
	return b
}

// TestBatchArgsRuns checks that a batch sends decisions alike but for
// their keys as one run of arguments, and that the script decides each:
// 18 one-limit decisions are 7 arguments and 18 keys.
func TestBatchArgsRuns(t *testing.T) {
	r := storetest.StartRedis(t)
	s, err := Open("redis://" + r.Addr() + "?timeout=2s&prefix=runs:")
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.Addr()}, DisableCache: true})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	hour, minute := limit.PerHour(100), limit.PerMinute(10)
	users := func(from, to int) []string {
		var us []string
		for i := from; i < to; i++ {
			us = append(us, "u"+strconv.Itoa(i))
		}
		return us
	}
	for _, tc := range []struct {
		name       string
		b          []*pending
		args, keys int
	}{
		{"18 alike", pendingsOf(s, 1, []limit.Limit{hour}, users(0, 18)...), 1 + 1 + 4 + 1, 18},
		{"two limits", pendingsOf(s, 1, []limit.Limit{hour, minute}, users(20, 24)...), 1 + 2 + 4 + 2, 8},
		{"three runs", append(append(pendingsOf(s, 1, []limit.Limit{hour}, users(30, 32)...),
			pendingsOf(s, 2, []limit.Limit{hour}, "u32")...), pendingsOf(s, 1, []limit.Limit{hour}, "u33")...),
			1 + 1 + 3*(4+1), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, args := s.batchArgs(tc.b)
			assert.Len(t, args, tc.args, "ARGV %q", args)
			assert.Len(t, keys, tc.keys, "KEYS %q", keys)
			arr, err := s.script.Exec(context.Background(), c, keys, args).ToArray()
			require.NoError(t, err)
			buf := make([]int64, 0, 16)
			for _, p := range tc.b {
				d, used, err := s.section(arr, buf[:0], p.n, p.commit, p.limits, true)
				require.NoError(t, err)
				assert.True(t, d.Allowed, "%+v", d)
				want := p.limits[0].Count() - p.n
				for _, l := range p.limits {
					want = min(want, l.Count()-p.n)
				}
				assert.Equal(t, want, d.Remaining, "a fresh key's first decision")
				arr = arr[used:]
			}
			assert.Empty(t, arr, "reply elements left over")
		})
	}
}

// TestBatchRunArgsShort checks what the batch script relies on to find
// the end of the limits (lua/batch.lua): every argument of a run is
// shorter than a limit's, even at the largest cost, time, number of
// decisions and index.
func TestBatchRunArgsShort(t *testing.T) {
	l := limit.PerHour(limit.MaxCount)
	assert.Len(t, packLimit(limit.MaxCount, uint64(limit.MaxPeriod/time.Microsecond), limit.MaxCount), 21)
	ls := make([]limit.Limit, 999)
	ls[998] = l
	const maxMicros = "9007199254740991" // 2^53 − 1 µs since the epoch, the year 2255
	for _, now := range []string{"", maxMicros} {
		args := appendRun(nil, ls, 1_000_000, now, limit.MaxCount, true, []limit.Limit{l})
		require.Len(t, args, 5)
		for _, a := range args {
			assert.Less(t, len(a), 21, "run argument %q", a)
		}
	}
}

// TestCallgrindWorkload builds the fixed workload of bench/rediscallgrind.sh,
// which counts Redis's instructions per decision under callgrind: 2 000
// keys warmed with one decision each, then 300 calls of the batch script
// with 18 sliding-window decisions each (the batch size BenchmarkAllowN
// measures under load), its arguments as Store.batch builds them, and
// the same 5 400 decisions as calls of the INCR+PEXPIRE reference script,
// and as lone calls of the single script, arguments as Store.alone
// builds them. It checks the calls' shape and, when
// FLOODGATE_CALLGRIND_DIR names a directory, writes them there as RESP
// for redis-cli --pipe. FLOODGATE_CALLGRIND_STRATEGY names another
// strategy than the sliding window for the batch's and lone decisions.
func TestCallgrindWorkload(t *testing.T) {
	const nkeys, calls, per = 2000, 300, 18
	strategy := cmp.Or(os.Getenv("FLOODGATE_CALLGRIND_STRATEGY"), "sliding-window")
	script := map[string]string{"sliding-window": windowBatch, "fixed-window": windowBatch, "gcra": gcraBatch, "moving-window": movingBatch}[strategy]
	require.NotEmpty(t, script, "FLOODGATE_CALLGRIND_STRATEGY=%s", strategy)
	s, err := Open("redis://127.0.0.1:1?strategy=" + strategy)
	require.NoError(t, err)
	defer s.Close()
	ls := []limit.Limit{limit.PerHour(limit.MaxCount)} // as bench/redisbench
	user := func(i int) string { return "user:" + strconv.Itoa(i) }
	// The reference's keys are the store's with another prefix of the
	// same length: a key's length is part of its cost.
	refKey := func(u string) string { return "reference" + s.key(u, ls[0])[len("floodgate"):] }
	const ref = "local v = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], 60000) return v"
	sha := func(src string) string { h := sha1.Sum([]byte(src)); return hex.EncodeToString(h[:]) }
	evalsha := func(src string, keys, args []string) []string {
		c := append([]string{"EVALSHA", sha(src), strconv.Itoa(len(keys))}, keys...)
		return append(c, args...)
	}
	files := map[string][][]string{"load.resp": {{"SCRIPT", "LOAD", script}, {"SCRIPT", "LOAD", ref}, {"SCRIPT", "LOAD", s.src}}}
	lone := func(u string) []string {
		return evalsha(s.src, []string{s.key(u, ls[0])}, s.singleArgs(nil, "", 1, true, ls))
	}
	for i := 0; i < nkeys; i += per {
		var us []string
		for j := i; j < min(i+per, nkeys); j++ {
			us = append(us, user(j))
			files["refwarm.resp"] = append(files["refwarm.resp"], evalsha(ref, []string{refKey(user(j))}, nil))
			files["lonewarm.resp"] = append(files["lonewarm.resp"], lone(user(j)))
		}
		keys, args := s.batchArgs(pendingsOf(s, 1, ls, us...))
		files["warm.resp"] = append(files["warm.resp"], evalsha(script, keys, args))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range calls {
		var us []string
		for range per {
			u := user(rng.IntN(nkeys))
			us = append(us, u)
			files["ref.resp"] = append(files["ref.resp"], evalsha(ref, []string{refKey(u)}, nil))
			files["lone.resp"] = append(files["lone.resp"], lone(u))
		}
		keys, args := s.batchArgs(pendingsOf(s, 1, ls, us...))
		require.Len(t, args, 1+1+4+1, "one run of %d decisions", per)
		require.Len(t, keys, per)
		files["work.resp"] = append(files["work.resp"], evalsha(script, keys, args))
	}
	require.Len(t, files["ref.resp"], calls*per)
	require.Len(t, files["lone.resp"], calls*per)
	dir := os.Getenv("FLOODGATE_CALLGRIND_DIR")
	if dir == "" {
		return
	}
	for name, cmds := range files {
		f, err := os.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		w := bufio.NewWriter(f)
		for _, c := range cmds {
			w.WriteString("*" + strconv.Itoa(len(c)) + "\r\n")
			for _, a := range c {
				w.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
			}
		}
		require.NoError(t, w.Flush())
		require.NoError(t, f.Close())
	}
}
