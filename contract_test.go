package floodgate_test

import (
	"sort"
	"sync/atomic"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
)

// runStacks runs the contract suite on each named stack, as it is and
// wrapped by Observe with an Observer that checks every Observation
// names the store's kind and strategy.
func runStacks(t *testing.T, kind string, stacks map[string]storetest.Factory) {
	names := make([]string, 0, len(stacks))
	for name := range stacks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := stacks[name]
		t.Run("store="+name, func(t *testing.T) { storetest.Run(t, f) })
		t.Run("store="+name+"/observed", func(t *testing.T) { storetest.Run(t, observed(f, kind)) })
	}
}

// observed returns f's stores wrapped by Observe (inside policyAnswers,
// which must see the fallback's errors).
func observed(f storetest.Factory, kind string) storetest.Factory {
	return func(t *testing.T, s limit.Strategy, clk *clock.Manual) floodgate.Store {
		st := f(t, s, clk)
		o := newSameStore(t, kind, s)
		if p, ok := st.(policyAnswers); ok {
			p.Store = floodgate.Observe(p.Store, o)
			return p
		}
		return floodgate.Observe(st, o)
	}
}

// sameStore is an Observer that checks that every Observation names the
// store it was made for (Observation.Store and Strategy), and that it
// was told of at least one call by the end of the test.
type sameStore struct {
	t     *testing.T
	kind  string
	s     limit.Strategy
	calls atomic.Int64
}

func newSameStore(t *testing.T, kind string, s limit.Strategy) *sameStore {
	o := &sameStore{t: t, kind: kind, s: s}
	t.Cleanup(func() { assert.Positive(t, o.calls.Load(), "the Observer was told of no call") })
	return o
}

func (o *sameStore) ObserveCall(ob floodgate.Observation) {
	o.calls.Add(1)
	if ob.Store != o.kind || ob.Strategy != o.s {
		o.t.Errorf("Observation of %v names store %q, strategy %v; want %q, %v", ob.Op, ob.Store, ob.Strategy, o.kind, o.s)
	}
}

func (o *sameStore) ObserveHealth(floodgate.Health) {}
