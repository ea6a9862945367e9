package redisstore_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestContract runs the contract suite on a single Redis and on a Redis
// Cluster, each as it is and wrapped by floodgate.Observe. The store has
// no clock of its own: the suite's clock reaches the script through each
// call's ctx (internal/seam), except in its real-clock check, which runs
// on the server's TIME. The wrappers over Redis run it at the root.
func TestContract(t *testing.T) {
	r := storetest.StartRedis(t)
	nodes := storetest.StartCluster(t, 3)
	for _, tc := range []struct{ name, uri string }{
		{"redis", "redis://" + r.Addr()},
		{"redis-cluster", "redis+cluster://" + nodes[0].Addr() + "," + nodes[1].Addr() + "," + nodes[2].Addr()},
	} {
		name, uri := tc.name, tc.uri
		open := func(t *testing.T, s limit.Strategy) floodgate.Store {
			u := uri + "?timeout=2s&strategy=" + s.String() + "&prefix=c" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":"
			st, err := redisstore.Open(u)
			require.NoError(t, err, "redisstore.Open(%q)", u)
			t.Cleanup(func() { st.Close() })
			return st
		}
		t.Run("store="+name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, s limit.Strategy, _ *clock.Manual) floodgate.Store { return open(t, s) })
		})
		t.Run("store="+name+"/observed", func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, s limit.Strategy, _ *clock.Manual) floodgate.Store {
				o := &kindCheck{t: t, s: s}
				t.Cleanup(func() { assert.Positive(t, o.calls.Load(), "the Observer was told of no call") })
				return floodgate.Observe(open(t, s), o)
			})
		})
	}
}

// kindCheck is an Observer that checks that every Observation names a
// Redis store of strategy s.
type kindCheck struct {
	t     *testing.T
	s     limit.Strategy
	calls atomic.Int64
}

func (o *kindCheck) ObserveCall(ob floodgate.Observation) {
	o.calls.Add(1)
	if ob.Store != "redis" || ob.Strategy != o.s {
		o.t.Errorf("Observation of %v names store %q, strategy %v; want \"redis\", %v", ob.Op, ob.Store, ob.Strategy, o.s)
	}
}

func (o *kindCheck) ObserveHealth(floodgate.Health) {}
