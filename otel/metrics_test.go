package otel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
	fgotel "github.com/floodgate-go/floodgate/otel"
)

// server is a real HTTP server on loopback with two limited routes,
// recording through a Metrics on an SDK MeterProvider with a
// ManualReader.
type server struct {
	*httptest.Server
	reader *sdkmetric.ManualReader
}

func newServer(t *testing.T, uri string, opts ...floodgate.Option) *server {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := fgotel.New(mp)
	require.NoError(t, err, "otel.New")
	store, err := floodgate.Open(uri, append(opts, floodgate.WithObserver(m))...)
	require.NoError(t, err, "floodgate.Open(%q)", uri)
	t.Cleanup(func() { store.Close() })
	m.Watch(store)

	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	mux.HandleFunc("POST /login", ok)
	mux.HandleFunc("GET /items/{id}", ok)
	mw, err := httplimit.New(store,
		httplimit.WithRoute("POST /login", "3/minute"),
		httplimit.WithRoute("GET /items/{id}", "5/minute"),
		httplimit.WithDecisionHook(m.DecisionHook))
	require.NoError(t, err)
	srv := httptest.NewServer(mw.Handler(mux))
	t.Cleanup(srv.Close)
	return &server{Server: srv, reader: reader}
}

func (s *server) do(t *testing.T, n int, method, path string) map[int]int {
	t.Helper()
	got := map[int]int{}
	for range n {
		req, err := http.NewRequest(method, s.URL+path, nil)
		require.NoError(t, err)
		resp, err := s.Client().Do(req)
		require.NoError(t, err, "%s %s", method, path)
		resp.Body.Close()
		got[resp.StatusCode]++
	}
	return got
}

// collect reads every instrument through the ManualReader.
func (s *server) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, s.reader.Collect(context.Background(), &rm), "ManualReader.Collect")
	return rm
}

// value sums the data points of the instrument name whose attributes
// include attrs (key, value pairs); a histogram gives its count.
func value(rm metricdata.ResourceMetrics, name string, attrs ...string) float64 {
	match := func(set attribute.Set) bool {
		for i := 0; i+1 < len(attrs); i += 2 {
			if v, ok := set.Value(attribute.Key(attrs[i])); !ok || v.AsString() != attrs[i+1] {
				return false
			}
		}
		return true
	}
	sum := 0.0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						sum += float64(p.Value)
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						sum += float64(p.Value)
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						sum += float64(p.Count)
					}
				}
			}
		}
	}
	return sum
}

// TestHTTPDecisionsMatchRequests: the same mix of requests as package
// prometheus's test, read through the ManualReader: the same numbers.
func TestHTTPDecisionsMatchRequests(t *testing.T) {
	s := newServer(t, "memory://")
	require.Equal(t, map[int]int{204: 3, 429: 7}, s.do(t, 10, "POST", "/login"), "POST /login under 3/minute")
	require.Equal(t, map[int]int{204: 5, 429: 3}, s.do(t, 8, "GET", "/items/7"), "GET /items/7 under 5/minute")

	rm := s.collect(t)
	for _, c := range []struct {
		route, outcome string
		want           int
	}{
		{"POST /login", "allowed", 3}, {"POST /login", "denied", 7},
		{"GET /items/{id}", "allowed", 5}, {"GET /items/{id}", "denied", 3},
	} {
		assert.Equal(t, float64(c.want), value(rm, "floodgate.http.decisions", "route", c.route, "outcome", c.outcome),
			"floodgate.http.decisions{route=%q,outcome=%q}", c.route, c.outcome)
	}
	assert.Equal(t, 3.0, value(rm, "floodgate.decisions", "limit", "3/minute", "outcome", "allowed"))
	assert.Equal(t, 7.0, value(rm, "floodgate.decisions", "limit", "3/minute", "outcome", "denied"))
	assert.Equal(t, 18.0, value(rm, "floodgate.decisions", "store", "memory", "strategy", "sliding-window"))
	assert.Equal(t, 18.0, value(rm, "floodgate.store.call.duration", "store", "memory", "op", "allow"), "latency samples")
	assert.Zero(t, value(rm, "floodgate.fallback.decisions"), "fallback decisions on memory://")
	assert.Equal(t, 1.0, value(rm, "floodgate.store.up", "store", "memory"))
	assert.Equal(t, 2.0, value(rm, "floodgate.tracked_keys"), "one client on two routes")
	assert.Zero(t, value(rm, "floodgate.evictions"))
	assert.Zero(t, value(rm, "floodgate.key_table_full.denials"))
}

// TestRedisOutage: floodgate.store.up goes 1 → 0 → 1 across a real
// Redis outage, and floodgate.fallback.decisions counts the policy's
// answers. The fallback's trip rule and backoff run on a manual clock.
func TestRedisOutage(t *testing.T) {
	r := startRedis(t)
	clk := clock.NewManual(time.Hour)
	s := newServer(t, "redis://"+r.addr()+"?timeout=2s&backoff=50ms",
		floodgate.WithLogger(discardLogger()), floodgate.WithClock(clk))
	require.Eventually(t, func() bool { return s.do(t, 1, "GET", "/items/warm")[204] == 1 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, 1.0, value(s.collect(t), "floodgate.store.up", "store", "redis"), "store.up with Redis answering")

	r.kill()
	assert.Equal(t, map[int]int{204: 3, 429: 3}, s.do(t, 6, "POST", "/login"), "POST /login with Redis down")
	rm := s.collect(t)
	// The 3 allowed logins tried the dead Redis; the 3 denied ones were
	// denied by the local count without asking it.
	assert.Equal(t, 3.0, value(rm, "floodgate.fallback.decisions", "store", "redis", "reason", "error"), "one fallback decision per request that tried Redis")
	require.Eventually(t, func() bool {
		s.do(t, 1, "GET", "/items/outage")
		return value(s.collect(t), "floodgate.store.up", "store", "redis") == 0
	}, 10*time.Second, 10*time.Millisecond, "failed calls never marked the store down")
	assert.Equal(t, 1.0, value(s.collect(t), "floodgate.store.state_changes", "state", "down"))

	r.start(t)
	require.Eventually(t, func() bool {
		clk.Advance(50 * time.Millisecond) // a backoff: the next request tries Redis
		s.do(t, 1, "GET", "/items/back")
		return value(s.collect(t), "floodgate.store.up", "store", "redis") == 1
	}, 10*time.Second, 50*time.Millisecond, "floodgate.store.up never returned to 1")
	assert.Equal(t, 1.0, value(s.collect(t), "floodgate.store.state_changes", "state", "up"))
}

// TestMetricsZeroAlloc: recording a known combination allocates nothing.
func TestMetricsZeroAlloc(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := fgotel.New(mp)
	require.NoError(t, err)
	s := floodgate.Observe(floodgate.NewMemory(), m)
	t.Cleanup(func() { s.Close() })
	ls := []limit.Limit{limit.PerSecond(1 << 20)}
	ctx := context.Background()
	_, _ = s.AllowN(ctx, "k", 1, ls...)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = s.AllowN(ctx, "k", 1, ls...) }), "allocations per observed AllowN")
}
