// Package observebench measures what observing a store costs per
// decision: a MemoryStore alone, wrapped by floodgate.Observe with an
// Observer that does nothing, with the Prometheus Collector, and with the
// OpenTelemetry Metrics (module otel, on the SDK with a ManualReader).
//
//	go test -run '^$' -bench Observe -count 10 ./observebench | tee obs.txt
//	go tool benchstat -col /observer obs.txt
package observebench
