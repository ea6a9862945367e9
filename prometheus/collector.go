package prometheus

import (
	"net/http"
	"sync"
	"sync/atomic"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
)

// LatencyBuckets are the upper bounds, in seconds, of the store call
// latency histogram: 1 µs to about 1 s in steps of 4, covering an
// in-memory decision (about 100 ns lands in the first bucket), a Redis
// round trip (100 µs to a few ms) and a call that ran into its timeout.
var LatencyBuckets = prom.ExponentialBuckets(1e-6, 4, 11)

// Collector turns what Floodgate does into Prometheus metrics. It is a
// floodgate.Observer (pass it to floodgate.WithObserver), a source of
// httplimit decision events ([Collector.DecisionHook]) and a
// prometheus.Collector (register it). The metrics are listed in the
// package documentation.
//
// The zero Collector is not usable; call [New]. A Collector is safe for
// concurrent use and must not be copied.
type Collector struct {
	decisions *prom.CounterVec
	fallback  *prom.CounterVec
	latency   *prom.HistogramVec
	changes   *prom.CounterVec
	http      *prom.CounterVec

	up, keys, full, evicted *prom.Desc

	calls  cache[callKey, callSeries]
	routes cache[routeKey, prom.Counter]

	mu      sync.Mutex
	watched []floodgate.Store
}

// New returns a Collector with every metric at zero.
func New() *Collector {
	return &Collector{
		decisions: prom.NewCounterVec(prom.CounterOpts{
			Name: "floodgate_decisions_total",
			Help: "Decisions (AllowN calls) by store kind, strategy, deciding limit and outcome (allowed, denied).",
		}, []string{"store", "strategy", "limit", "outcome"}),
		fallback: prom.NewCounterVec(prom.CounterOpts{
			Name: "floodgate_fallback_decisions_total",
			Help: "Decisions answered by the failure policy because the primary store failed or was marked down, by store kind, reason (budget: no reply within the time budget; down: marked down, not asked; error: any other failure) and outcome.",
		}, []string{"store", "reason", "outcome"}),
		latency: prom.NewHistogramVec(prom.HistogramOpts{
			Name:    "floodgate_store_call_duration_seconds",
			Help:    "Latency of store calls, the failure policy's part included, by store kind and operation (allow, peek, reset, refund).",
			Buckets: LatencyBuckets,
		}, []string{"store", "op"}),
		changes: prom.NewCounterVec(prom.CounterOpts{
			Name: "floodgate_store_state_changes_total",
			Help: "Changes of a fallback's primary store to down or up, by store kind and new state.",
		}, []string{"store", "state"}),
		http: prom.NewCounterVec(prom.CounterOpts{
			Name: "floodgate_http_decisions_total",
			Help: "HTTP requests decided by the httplimit middleware, by route pattern, deciding scope and outcome (allowed; denied: a 429; unavailable: a 503, the store's failure policy denied without counting; shadow_denied).",
		}, []string{"route", "scope", "outcome"}),
		up: prom.NewDesc("floodgate_store_up",
			"1 while the store answers, 0 while a fallback's primary is marked down and its failure policy decides.",
			[]string{"store"}, nil),
		keys: prom.NewDesc("floodgate_tracked_keys",
			"Live (key, limit) pairs in the in-memory engines of the watched stores (for a network store: its fallback engine).",
			nil, nil),
		full: prom.NewDesc("floodgate_key_table_full_denials_total",
			"Requests denied because an in-memory key table had reached its cap (max-keys).",
			nil, nil),
		evicted: prom.NewDesc("floodgate_evictions_total",
			"Idle (key, limit) pairs evicted by the in-memory engines' sweepers.",
			nil, nil),
	}
}

// Watch adds s to the stores whose state is read at each scrape:
// floodgate_store_up, floodgate_tracked_keys,
// floodgate_key_table_full_denials_total and floodgate_evictions_total
// (see floodgate.Info). Pass the Store that floodgate.Open returned.
// Stores of one kind are summed, and their store_up is 0 if any is down.
func (c *Collector) Watch(s floodgate.Store) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watched = append(c.watched, s)
}

// ObserveCall implements floodgate.Observer: it counts decisions and
// policy decisions and records the call's latency. It does not allocate
// once each combination of labels has been seen.
func (c *Collector) ObserveCall(o floodgate.Observation) {
	k := callKey{store: o.Store, strategy: o.Strategy, op: o.Op, fallback: o.Fallback, reason: o.Reason, allowed: o.Decision.Allowed}
	if o.Op == "allow" {
		k.limit = o.Decision.Limit
	}
	s := c.calls.get(k, c.newCallSeries)
	s.latency.Observe(o.Latency.Seconds())
	if s.decisions != nil {
		s.decisions.Inc()
	}
	if s.fallback != nil {
		s.fallback.Inc()
	}
}

// ObserveHealth implements floodgate.Observer: it counts changes of state
// in floodgate_store_state_changes_total.
func (c *Collector) ObserveHealth(h floodgate.Health) {
	state := "down"
	if h.Up {
		state = "up"
	}
	c.changes.WithLabelValues(h.Store, state).Inc()
}

// DecisionHook counts a request decided by the httplimit middleware in
// floodgate_http_decisions_total. Pass it to httplimit.WithDecisionHook:
//
//	httplimit.WithDecisionHook(collector.DecisionHook)
//
// The route label is the route's pattern ("unknown" when the middleware
// could not tell it), the scope label the deciding scope; the client key
// is never a label. The outcome is the response the middleware gave:
// "denied" for a 429, "unavailable" for a 503 (the store failed and its
// failure policy, failure=closed, denied without counting), and
// "shadow_denied" for a denial in shadow mode that was let through.
func (c *Collector) DecisionHook(_ *http.Request, e httplimit.Event) {
	k := routeKey{route: e.Pattern, scope: e.Scope, outcome: outcomeAllowed}
	switch {
	case e.Decision.Allowed:
	case e.Shadow:
		k.outcome = outcomeShadowDenied
	case e.Unavailable:
		k.outcome = outcomeUnavailable
	default:
		k.outcome = outcomeDenied
	}
	c.routes.get(k, c.newRouteCounter).Inc()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prom.Desc) {
	c.decisions.Describe(ch)
	c.fallback.Describe(ch)
	c.latency.Describe(ch)
	c.changes.Describe(ch)
	c.http.Describe(ch)
	ch <- c.up
	ch <- c.keys
	ch <- c.full
	ch <- c.evicted
}

// Collect implements prometheus.Collector. It reads the watched stores'
// Store.Info, which counts keys shard by shard.
func (c *Collector) Collect(ch chan<- prom.Metric) {
	c.decisions.Collect(ch)
	c.fallback.Collect(ch)
	c.latency.Collect(ch)
	c.changes.Collect(ch)
	c.http.Collect(ch)
	c.mu.Lock()
	watched := append([]floodgate.Store(nil), c.watched...)
	c.mu.Unlock()
	var total floodgate.Info
	up := map[string]bool{}
	var kinds []string
	for _, s := range watched {
		st := s.Info()
		total.Keys += st.Keys
		total.Full += st.Full
		total.Evicted += st.Evicted
		kind := st.Kind
		if _, seen := up[kind]; !seen {
			kinds = append(kinds, kind)
			up[kind] = true
		}
		up[kind] = up[kind] && st.Up
	}
	for _, kind := range kinds {
		v := 0.0
		if up[kind] {
			v = 1
		}
		ch <- prom.MustNewConstMetric(c.up, prom.GaugeValue, v, kind)
	}
	if len(watched) > 0 {
		ch <- prom.MustNewConstMetric(c.keys, prom.GaugeValue, float64(total.Keys))
		ch <- prom.MustNewConstMetric(c.full, prom.CounterValue, float64(total.Full))
		ch <- prom.MustNewConstMetric(c.evicted, prom.CounterValue, float64(total.Evicted))
	}
}

type callKey struct {
	store    string
	strategy limit.Strategy
	limit    limit.Limit
	op       string
	fallback bool
	reason   string // why the policy answered: budget, down or error
	allowed  bool
}

type callSeries struct {
	latency   prom.Observer
	decisions prom.Counter // nil unless op is "allow"
	fallback  prom.Counter // nil unless answered by the policy
}

func (c *Collector) newCallSeries(k callKey) callSeries {
	out := outcome(k.allowed)
	s := callSeries{latency: c.latency.WithLabelValues(k.store, k.op)}
	if k.op == "allow" {
		s.decisions = c.decisions.WithLabelValues(k.store, k.strategy.String(), k.limit.String(), out)
	}
	if k.fallback {
		s.fallback = c.fallback.WithLabelValues(k.store, k.reason, out)
	}
	return s
}

const (
	outcomeAllowed uint8 = iota
	outcomeDenied
	outcomeShadowDenied
	outcomeUnavailable
)

var outcomes = [...]string{"allowed", "denied", "shadow_denied", "unavailable"}

func outcome(allowed bool) string {
	if allowed {
		return outcomes[outcomeAllowed]
	}
	return outcomes[outcomeDenied]
}

type routeKey struct {
	route, scope string
	outcome      uint8
}

func (c *Collector) newRouteCounter(k routeKey) prom.Counter {
	route := k.route
	if route == "" {
		route = "unknown"
	}
	return c.http.WithLabelValues(route, k.scope, outcomes[k.outcome])
}

// cache maps label combinations to their series without allocating or
// locking once a combination is known: a copy-on-write map, rebuilt
// under a mutex for each new combination (their number is bounded by the
// configuration).
type cache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

func (c *cache[K, V]) get(k K, build func(K) V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if v, ok := old[k]; ok {
		return v
	}
	next := make(map[K]V, len(old)+1)
	for ok, ov := range old {
		next[ok] = ov
	}
	v := build(k)
	next[k] = v
	c.m.Store(&next)
	return v
}
