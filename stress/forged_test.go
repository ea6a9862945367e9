package stress_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMovingForgedLog writes moving-window logs that the script never
// wrote, each breaking one invariant it relies on, and asks for requests
// on them: every call is an error reply (ErrReply), nothing is allowed,
// and the log is left as it was. The first row made the script admit
// 5,000 requests of 5/minute before the checks (issue 19).
func TestMovingForgedLog(t *testing.T) {
	r := storetest.StartRedis(t)
	l := limit.PerMinute(5)
	for _, tc := range []struct {
		name    string
		members []string // oldest first, one microsecond apart
	}{
		{"totals decrease", []string{"0:1000000:1", "0:0:1"}},
		{"totals grow by less than the costs", []string{"0:3:2", "0:4:1"}},
		{"more counted than the count", []string{"0:0:1", "0:100:1"}},
		{"a high part that decreases", []string{"1:0:1", "0:0:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.Open("redis://" + r.Addr() + "?timeout=2s&strategy=moving-window&prefix=forged:")
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			key := "forged:{" + strings.ReplaceAll(tc.name, " ", "-") + "}:m:5/60"
			now := r.Time(t).Microseconds()
			for i, m := range tc.members {
				r.CLI(t, "ZADD", key, strconv.FormatInt(now-int64(len(tc.members)-i)*1000, 10), m)
			}
			r.CLI(t, "PEXPIRE", key, "60000")
			before := r.CLI(t, "ZRANGE", key, "0", "-1", "WITHSCORES")
			allowed := 0
			for i := range 50 {
				d, err := s.AllowN(context.Background(), strings.ReplaceAll(tc.name, " ", "-"), 1, l)
				require.ErrorIs(t, err, redisstore.ErrReply, "AllowN %d on the forged log %q: got %+v", i, tc.members, d)
				assert.Contains(t, err.Error(), "did not write", "AllowN %d: the error says what is wrong", i)
				if d.Allowed {
					allowed++
				}
			}
			assert.Zero(t, allowed, "requests allowed on a forged log")
			assert.Equal(t, before, r.CLI(t, "ZRANGE", key, "0", "-1", "WITHSCORES"), "the forged log was changed")
		})
	}
}
