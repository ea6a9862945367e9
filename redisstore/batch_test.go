package redisstore_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCoalescedExact runs two stores (as two processes would, each with
// its own connections) × 64 goroutines over 16 keys of one limit L, for
// every strategy: each key allows exactly L, and Redis ran fewer script
// calls than decisions, so decisions were coalesced, on a single Redis
// and on a 3-master cluster.
func TestCoalescedExact(t *testing.T) {
	r := storetest.StartRedis(t)
	nodes := storetest.StartCluster(t, 3)
	cluster := "redis+cluster://" + nodes[0].Addr() + "," + nodes[1].Addr() + "," + nodes[2].Addr()
	for _, topo := range []struct {
		name, uri string
		servers   []*storetest.Redis
	}{
		{"redis", "redis://" + r.Addr(), []*storetest.Redis{r}},
		{"cluster", cluster, nodes},
	} {
		for _, strategy := range []string{"sliding-window", "fixed-window", "gcra", "moving-window"} {
			t.Run("topology="+topo.name+"/strategy="+strategy, func(t *testing.T) {
				const keys, perKey, goroutines, each = 16, 50, 64, 40
				l := limit.PerHour(perKey)
				if strategy == "gcra" {
					var err error
					l, err = limit.New(perKey, limit.MaxPeriod) // no unit drips back during the test
					require.NoError(t, err)
				}
				prefix := "ce" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":"
				var stores []*redisstore.Store
				for range 2 {
					stores = append(stores, openURI(t, topo.uri+"?timeout=5s&strategy="+strategy+"&prefix="+prefix))
				}
				before := 0
				for _, s := range topo.servers {
					before += calls(t, s, "evalsha") + calls(t, s, "eval")
				}
				var allowed [keys]atomic.Int64
				var wg sync.WaitGroup
				for g := range goroutines {
					s := stores[g%2]
					wg.Go(func() {
						for i := range each {
							k := (g + i) % keys
							d, err := s.AllowN(context.Background(), "k"+strconv.Itoa(k), 1, l)
							if !assert.NoError(t, err, "AllowN(k%d)", k) {
								return
							}
							if d.Allowed {
								allowed[k].Add(1)
							}
						}
					})
				}
				wg.Wait()
				for k := range allowed {
					assert.EqualValues(t, perKey, allowed[k].Load(), "allowed on key k%d under %v: 2 stores × %d goroutines × %d requests over %d keys", k, l, goroutines/2, each, keys)
				}
				after := 0
				for _, s := range topo.servers {
					after += calls(t, s, "evalsha") + calls(t, s, "eval")
				}
				assert.Less(t, after-before, goroutines*each, "script calls for %d decisions: want fewer, coalesced", goroutines*each)
				t.Logf("%d decisions in %d script calls", goroutines*each, after-before)
			})
		}
	}
}

// TestCoalescedErrorReply mixes, under load, decisions on a key holding
// a hash (WRONGTYPE) with decisions on good keys: the first get ErrReply
// and are denied, the others are decided as usual, though they share
// script calls.
func TestCoalescedErrorReply(t *testing.T) {
	r := storetest.StartRedis(t)
	for _, strategy := range []string{"sliding-window", "gcra", "moving-window"} {
		t.Run("strategy="+strategy, func(t *testing.T) {
			prefix := "cer" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":"
			s := open(t, r, "timeout=5s&strategy="+strategy, redisstore.WithPrefix(prefix))
			l := limit.PerHour(1_000_000)
			r.CLI(t, "HSET", prefix+"{victim}:"+strategy[:1]+":1000000/3600", "f", "v")
			var bad, good, wrong atomic.Int64
			var wg sync.WaitGroup
			for g := range 64 {
				wg.Go(func() {
					for i := range 50 {
						key := "good" + strconv.Itoa(g)
						if (g+i)%4 == 0 {
							key = "victim"
						}
						d, err := s.AllowN(context.Background(), key, 1, l)
						switch {
						case key == "victim" && assert.ErrorIs(t, err, redisstore.ErrReply) && assert.ErrorContains(t, err, "WRONGTYPE") && !d.Allowed:
							bad.Add(1)
						case key != "victim" && assert.NoError(t, err) && d.Allowed:
							good.Add(1)
						default:
							wrong.Add(1)
						}
					}
				})
			}
			wg.Wait()
			assert.Zero(t, wrong.Load(), "decisions with the wrong answer")
			assert.EqualValues(t, 64*50/4, bad.Load(), "decisions on the victim")
			assert.EqualValues(t, 64*50*3/4, good.Load(), "decisions on good keys")
		})
	}
}
