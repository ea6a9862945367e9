package otel

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
)

// ScopeName is the instrumentation scope of the meter New creates.
const ScopeName = "github.com/floodgate-go/floodgate/otel"

// LatencyBuckets are the explicit bucket boundaries, in seconds, of
// floodgate.store.call.duration: 1 µs to about 1 s in steps of 4, as in
// package prometheus.
var LatencyBuckets = []float64{1e-6, 4e-6, 1.6e-5, 6.4e-5, 2.56e-4, 1.024e-3, 4.096e-3, 1.6384e-2, 6.5536e-2, 0.262144, 1.048576}

// Metrics records Floodgate's measurements on OpenTelemetry instruments.
// It is a floodgate.Observer (pass it to floodgate.WithObserver) and a
// source of httplimit decision events ([Metrics.DecisionHook]).
//
// The zero Metrics is not usable; call [New]. A Metrics is safe for
// concurrent use and must not be copied.
type Metrics struct {
	decisions, fallback, changes, http metric.Int64Counter
	latency                            metric.Float64Histogram

	calls  cache[callKey, callSeries]
	routes cache[routeKey, []metric.AddOption]

	mu      sync.Mutex
	watched []floodgate.Store
}

// New creates the instruments on a meter of mp named [ScopeName], and
// registers the callback that reads the watched stores at each
// collection. It fails only if mp refuses an instrument.
func New(mp metric.MeterProvider) (*Metrics, error) {
	meter := mp.Meter(ScopeName)
	m := &Metrics{}
	var err error
	if m.decisions, err = meter.Int64Counter("floodgate.decisions",
		metric.WithDescription("Decisions (AllowN calls) by store kind, strategy, deciding limit and outcome (allowed, denied)."),
		metric.WithUnit("{decision}")); err != nil {
		return nil, err
	}
	if m.fallback, err = meter.Int64Counter("floodgate.fallback.decisions",
		metric.WithDescription("Decisions answered by the failure policy because the primary store failed or was marked down."),
		metric.WithUnit("{decision}")); err != nil {
		return nil, err
	}
	if m.latency, err = meter.Float64Histogram("floodgate.store.call.duration",
		metric.WithDescription("Latency of store calls, the failure policy's part included, by store kind and operation."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(LatencyBuckets...)); err != nil {
		return nil, err
	}
	if m.changes, err = meter.Int64Counter("floodgate.store.state_changes",
		metric.WithDescription("Changes of a fallback's primary store to down or up."),
		metric.WithUnit("{change}")); err != nil {
		return nil, err
	}
	if m.http, err = meter.Int64Counter("floodgate.http.decisions",
		metric.WithDescription("HTTP requests decided by the httplimit middleware, by route pattern, deciding scope and outcome (allowed; denied: a 429; unavailable: a 503, the store's failure policy denied without counting; shadow_denied)."),
		metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	up, err := meter.Int64ObservableGauge("floodgate.store.up",
		metric.WithDescription("1 while the store answers, 0 while a fallback's primary is marked down."))
	if err != nil {
		return nil, err
	}
	keys, err := meter.Int64ObservableGauge("floodgate.tracked_keys",
		metric.WithDescription("Live (key, limit) pairs in the in-memory engines of the watched stores."),
		metric.WithUnit("{pair}"))
	if err != nil {
		return nil, err
	}
	full, err := meter.Int64ObservableCounter("floodgate.key_table_full.denials",
		metric.WithDescription("Requests denied because an in-memory key table had reached its cap."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	evicted, err := meter.Int64ObservableCounter("floodgate.evictions",
		metric.WithDescription("Idle (key, limit) pairs evicted by the in-memory engines' sweepers."),
		metric.WithUnit("{pair}"))
	if err != nil {
		return nil, err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m.mu.Lock()
		watched := append([]floodgate.Store(nil), m.watched...)
		m.mu.Unlock()
		if len(watched) == 0 {
			return nil
		}
		var total floodgate.Info
		isUp := map[string]bool{}
		var kinds []string
		for _, s := range watched {
			st := s.Info()
			total.Keys += st.Keys
			total.Full += st.Full
			total.Evicted += st.Evicted
			if _, seen := isUp[st.Kind]; !seen {
				kinds = append(kinds, st.Kind)
				isUp[st.Kind] = true
			}
			isUp[st.Kind] = isUp[st.Kind] && st.Up
		}
		for _, k := range kinds {
			v := int64(0)
			if isUp[k] {
				v = 1
			}
			o.ObserveInt64(up, v, metric.WithAttributes(attribute.String("store", k)))
		}
		o.ObserveInt64(keys, int64(total.Keys))
		o.ObserveInt64(full, int64(total.Full))
		o.ObserveInt64(evicted, int64(total.Evicted))
		return nil
	}, up, keys, full, evicted)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Watch adds s to the stores read at each collection for
// floodgate.store.up, floodgate.tracked_keys,
// floodgate.key_table_full.denials and floodgate.evictions (see
// Store.Info). Pass the Store that floodgate.Open returned.
func (m *Metrics) Watch(s floodgate.Store) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watched = append(m.watched, s)
}

// ObserveCall implements floodgate.Observer.
func (m *Metrics) ObserveCall(o floodgate.Observation) {
	k := callKey{store: o.Store, strategy: o.Strategy, op: o.Op, fallback: o.Fallback, reason: o.Reason, allowed: o.Decision.Allowed}
	if o.Op == "allow" {
		k.limit = o.Decision.Limit
	}
	s := m.calls.get(k, newCallSeries)
	ctx := context.Background()
	m.latency.Record(ctx, o.Latency.Seconds(), s.latency...)
	if s.decisions != nil {
		m.decisions.Add(ctx, 1, s.decisions...)
	}
	if s.fallback != nil {
		m.fallback.Add(ctx, 1, s.fallback...)
	}
}

// ObserveHealth implements floodgate.Observer: it counts changes of state
// in floodgate.store.state_changes.
func (m *Metrics) ObserveHealth(h floodgate.Health) {
	state := "down"
	if h.Up {
		state = "up"
	}
	m.changes.Add(context.Background(), 1, metric.WithAttributes(attribute.String("store", h.Store), attribute.String("state", state)))
}

// DecisionHook counts a request decided by the httplimit middleware in
// floodgate.http.decisions; pass it to httplimit.WithDecisionHook. The
// route attribute is "unknown" when the middleware could not tell it. The
// outcome is the response the middleware gave: "denied" for a 429,
// "unavailable" for a 503 (the store failed and its failure policy,
// failure=closed, denied without counting), and "shadow_denied" for a
// denial in shadow mode that was let through.
func (m *Metrics) DecisionHook(_ *http.Request, e httplimit.Event) {
	k := routeKey{route: e.Pattern, scope: e.Scope, outcome: "allowed"}
	switch {
	case e.Decision.Allowed:
	case e.Shadow:
		k.outcome = "shadow_denied"
	case e.Unavailable:
		k.outcome = "unavailable"
	default:
		k.outcome = "denied"
	}
	m.http.Add(context.Background(), 1, m.routes.get(k, newRouteOptions)...)
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

// callSeries holds the prebuilt options of one combination of
// attributes, so that recording allocates nothing.
type callSeries struct {
	latency   []metric.RecordOption
	decisions []metric.AddOption // nil unless op is "allow"
	fallback  []metric.AddOption // nil unless answered by the policy
}

func newCallSeries(k callKey) callSeries {
	out := "denied"
	if k.allowed {
		out = "allowed"
	}
	s := callSeries{latency: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("store", k.store), attribute.String("op", k.op)))}}
	if k.op == "allow" {
		s.decisions = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("store", k.store), attribute.String("strategy", k.strategy.String()),
			attribute.String("limit", k.limit.String()), attribute.String("outcome", out)))}
	}
	if k.fallback {
		s.fallback = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("store", k.store), attribute.String("reason", k.reason), attribute.String("outcome", out)))}
	}
	return s
}

type routeKey struct{ route, scope, outcome string }

func newRouteOptions(k routeKey) []metric.AddOption {
	route := k.route
	if route == "" {
		route = "unknown"
	}
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("route", route), attribute.String("scope", k.scope), attribute.String("outcome", k.outcome)))}
}

// cache maps attribute combinations to prebuilt options without
// allocating or locking once a combination is known: a copy-on-write
// map, rebuilt under a mutex for each new combination (their number is
// bounded by the configuration).
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
