// Package prometheus exports Floodgate's metrics to Prometheus through
// github.com/prometheus/client_golang. It is a module of its own, so the
// floodgate library never links a metrics client.
//
// One [Collector] gathers everything:
//
//	c := prometheus.New()
//	store, err := floodgate.Open(uri, floodgate.WithObserver(c)) // every store call
//	c.Watch(store)                                               // keys, evictions, health
//	m, err := httplimit.New(store, httplimit.WithDecisionHook(c.DecisionHook))
//	registry.MustRegister(c)
//
// # Metrics
//
// Per call, from the floodgate.Observer:
//
//	floodgate_decisions_total{store,strategy,limit,outcome}   counter
//	floodgate_fallback_decisions_total{store,reason,outcome}  counter
//	floodgate_store_call_duration_seconds{store,op}           histogram
//	floodgate_store_state_changes_total{store,state}          counter
//
// Per HTTP request, from the httplimit decision hook:
//
//	floodgate_http_decisions_total{route,scope,outcome}       counter
//
// Read at each scrape from the watched stores (Store.Info):
//
//	floodgate_store_up{store}                                 gauge
//	floodgate_tracked_keys                                    gauge
//	floodgate_key_table_full_denials_total                    counter
//	floodgate_evictions_total                                 counter
//
// Labels: store is the kind of store ("memory", "redis"); strategy
// its algorithm ("sliding-window", …); limit the deciding limit
// ("5/minute"); outcome "allowed" or "denied", and for HTTP the
// response: "denied" is a 429, "unavailable" a 503 (the store failed and
// its failure policy, failure=closed, denied without counting), and
// "shadow_denied" a denial in shadow mode, not enforced; op "allow",
// "peek", "reset" or "refund"; route the route pattern ("POST
// /api/v1/auth/login", "unknown" when the middleware could not tell it);
// scope the deciding budget ("app", a pattern, a shared scope); state
// "down" or "up"; reason why the failure policy answered ("budget": no
// reply within the time budget, "down": the store was marked down and
// not asked, "error": any other failure). A client key is never a label: the number of series is
// bounded by the configured routes, scopes and limits. docs/observability.md
// in the repository explains each metric and gives queries.
//
// # Cost
//
// A Collector observes a decision without allocating once its labels
// have been seen: series are looked up in a copy-on-write map, not
// through CounterVec.WithLabelValues. bench/observe_test.go measures the
// cost per decision.
package prometheus
