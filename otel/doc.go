// Package otel records Floodgate's metrics with OpenTelemetry
// (go.opentelemetry.io/otel/metric): the same measurements as package
// prometheus, for services that export through an OpenTelemetry SDK. It
// is a module of its own, so the floodgate library never links a metrics
// API.
//
//	m, err := otel.New(meterProvider)
//	store, err := floodgate.Open(uri, floodgate.WithObserver(m))
//	m.Watch(store)
//	mw, err := httplimit.New(store, httplimit.WithDecisionHook(m.DecisionHook))
//
// # Instruments
//
// Names follow OpenTelemetry's conventions (dots, units apart); an
// OpenTelemetry Prometheus exporter turns them into the names of package
// prometheus (floodgate.decisions becomes floodgate_decisions_total).
//
//	floodgate.decisions                  counter      store, strategy, limit, outcome
//	floodgate.fallback.decisions         counter      store, reason, outcome
//	floodgate.store.call.duration        histogram s  store, op
//	floodgate.store.state_changes        counter      store, state
//	floodgate.http.decisions             counter      route, scope, outcome
//	floodgate.store.up                   gauge        store          (observed, watched stores)
//	floodgate.tracked_keys               gauge                       (observed)
//	floodgate.key_table_full.denials     counter                     (observed)
//	floodgate.evictions                  counter                     (observed)
//
// The attributes mean what the labels of package prometheus mean; a
// client key is never an attribute. Recording a call allocates nothing
// once its attributes have been seen.
package otel
