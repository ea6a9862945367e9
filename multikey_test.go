package floodgate_test

import (
	"context"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAllowAllConsumesNothingOnDenial: a request denied by its second
// charge (a route limit) consumes nothing of its first (an app-wide
// limit), on memory and on a real Redis, for every strategy.
func TestAllowAllConsumesNothingOnDenial(t *testing.T) {
	r := storetest.StartRedis(t)
	stores := map[string]func(t *testing.T, s limit.Strategy) floodgate.Store{
		"memory": func(t *testing.T, s limit.Strategy) floodgate.Store {
			m := floodgate.NewMemory(engine.WithStrategy(s))
			t.Cleanup(func() { m.Close() })
			return m
		},
		"redis": func(t *testing.T, s limit.Strategy) floodgate.Store {
			st, err := floodgate.Open(redisURI("redis", r.Addr(), s, ""))
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	for name, open := range stores {
		for _, s := range storetest.Strategies {
			t.Run("store="+name+"/strategy="+s.String(), func(t *testing.T) {
				st := open(t, s)
				ctx := context.Background()
				app := floodgate.Charge{Key: "app|client", N: 1, Limits: []limit.Limit{limit.PerHour(100)}}
				route := floodgate.Charge{Key: "route|client", N: 1, Limits: []limit.Limit{limit.PerHour(2)}}
				for i := range 2 {
					d, at, err := st.AllowAll(ctx, app, route)
					require.NoError(t, err)
					assert.True(t, d.Allowed, "request %d", i)
					assert.Equal(t, 1, at, "the route limit has the fewest units left")
				}
				for i := range 5 {
					d, at, err := st.AllowAll(ctx, app, route)
					require.NoError(t, err)
					assert.False(t, d.Allowed, "denied request %d", i)
					assert.Equal(t, 1, at, "the route limit denied")
				}
				d, err := st.Peek(ctx, app.Key, app.Limits...)
				require.NoError(t, err)
				assert.EqualValues(t, 97, d.Remaining, "the app-wide limit counts the 2 allowed requests (and the peek's 1), not the 5 denied")
			})
		}
	}
}
