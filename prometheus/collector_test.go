package prometheus_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
	fgprom "github.com/floodgate-go/floodgate/prometheus"
)

// server is a real HTTP server on loopback: routes behind the httplimit
// middleware, and /metrics served by promhttp from a registry holding
// the Collector.
type server struct {
	*httptest.Server
	c *fgprom.Collector
}

func newServer(t *testing.T, uri string, opts ...floodgate.Option) (*server, floodgate.Store) {
	t.Helper()
	c := fgprom.New()
	store, err := floodgate.Open(uri, append(opts, floodgate.WithObserver(c))...)
	require.NoError(t, err, "floodgate.Open(%q)", uri)
	t.Cleanup(func() { store.Close() })
	c.Watch(store)
	reg := prom.NewPedanticRegistry()
	require.NoError(t, reg.Register(c), "registering the Collector")

	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	mux.HandleFunc("POST /login", ok)
	mux.HandleFunc("GET /items/{id}", ok)
	mux.HandleFunc("GET /health", ok)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	m, err := httplimit.New(store,
		httplimit.WithRoute("POST /login", "3/minute"),
		httplimit.WithRoute("GET /items/{id}", "5/minute"),
		httplimit.WithExempt("GET /metrics", "GET /health"),
		httplimit.WithDecisionHook(c.DecisionHook))
	require.NoError(t, err)
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	return &server{Server: srv, c: c}, store
}

// do sends n requests and returns how many got each status.
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

// scrape fetches /metrics and parses it as Prometheus text.
func (s *server) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := s.Client().Get(s.URL + "/metrics")
	require.NoError(t, err, "GET /metrics")
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /metrics status")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "parsing /metrics")
	return fams
}

// value returns the value of the series of name whose labels include
// labels (name=value pairs), summed over the others; a histogram gives
// its sample count. Missing series are 0.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// TestHTTPDecisionsMatchRequests drives the middleware with a known mix
// of allowed and denied requests on two routes, scrapes /metrics, and
// finds every counter equal to the requests made.
func TestHTTPDecisionsMatchRequests(t *testing.T) {
	s, _ := newServer(t, "memory://")
	login := s.do(t, 10, "POST", "/login")
	items := s.do(t, 8, "GET", "/items/7")
	s.do(t, 4, "GET", "/health")
	require.Equal(t, map[int]int{204: 3, 429: 7}, login, "POST /login under 3/minute")
	require.Equal(t, map[int]int{204: 5, 429: 3}, items, "GET /items/7 under 5/minute")

	fams := s.scrape(t)
	for _, c := range []struct {
		route, outcome string
		want           int
	}{
		{"POST /login", "allowed", 3}, {"POST /login", "denied", 7},
		{"GET /items/{id}", "allowed", 5}, {"GET /items/{id}", "denied", 3},
	} {
		assert.Equal(t, float64(c.want), value(fams, "floodgate_http_decisions_total", "route", c.route, "outcome", c.outcome),
			"floodgate_http_decisions_total{route=%q,outcome=%q}", c.route, c.outcome)
	}
	assert.Equal(t, 18.0, value(fams, "floodgate_http_decisions_total"), "HTTP decisions in all: exempt routes are not decisions")
	assert.Equal(t, 3.0, value(fams, "floodgate_decisions_total", "limit", "3/minute", "outcome", "allowed"), "store decisions under 3/minute allowed")
	assert.Equal(t, 7.0, value(fams, "floodgate_decisions_total", "limit", "3/minute", "outcome", "denied"), "store decisions under 3/minute denied")
	assert.Equal(t, 5.0, value(fams, "floodgate_decisions_total", "limit", "5/minute", "outcome", "allowed"))
	assert.Equal(t, 3.0, value(fams, "floodgate_decisions_total", "limit", "5/minute", "outcome", "denied"))
	assert.Equal(t, 18.0, value(fams, "floodgate_decisions_total", "store", "memory", "strategy", "sliding-window"), "labels store and strategy")
	assert.Equal(t, 18.0, value(fams, "floodgate_store_call_duration_seconds", "store", "memory", "op", "allow"), "latency samples")
	assert.Zero(t, value(fams, "floodgate_fallback_decisions_total"), "fallback decisions on memory://")
	assert.Equal(t, 1.0, value(fams, "floodgate_store_up", "store", "memory"), "floodgate_store_up")
	assert.Equal(t, 2.0, value(fams, "floodgate_tracked_keys"), "one client on two routes: two (key, limit) pairs")
	for name := range fams {
		assert.True(t, strings.HasPrefix(name, "floodgate_"), "metric %q has no floodgate_ prefix", name)
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				assert.NotContains(t, l.GetValue(), "127.0.0.1", "%s has a client key in label %s", f.GetName(), l.GetName())
			}
		}
	}
}

// TestStatsMetrics: a full key table and the sweeper's evictions show in
// floodgate_key_table_full_denials_total and floodgate_evictions_total.
func TestStatsMetrics(t *testing.T) {
	c := fgprom.New()
	clk := clock.NewManual(time.Hour)
	m := floodgate.NewMemory(engine.WithMaxKeys(64), engine.WithClock(clk), engine.WithSweepInterval(5*time.Millisecond))
	t.Cleanup(func() { m.Close() })
	store := floodgate.Observe(m, c)
	c.Watch(store)
	reg := prom.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))

	l := limit.PerSecond(10)
	allowed := 0
	for i := range 1000 {
		if d, _ := store.AllowN(context.Background(), fmt.Sprint("k", i), 1, l); d.Allowed {
			allowed++
		}
	}
	require.Less(t, allowed, 1000, "1000 keys into a table capped near 64")
	clk.Advance(time.Hour)
	require.Eventually(t, func() bool { return m.Info().Keys == 0 }, 10*time.Second, 5*time.Millisecond,
		"the sweeper, an hour later on the store's clock, evicts every key")
	evicted := int(m.Info().Evicted)
	require.Equal(t, allowed, evicted, "evicted: every allowed key")

	fams, err := reg.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	assert.Equal(t, float64(1000-allowed), value(byName, "floodgate_key_table_full_denials_total"), "denials because the table was full")
	assert.Equal(t, float64(evicted), value(byName, "floodgate_evictions_total"), "evictions")
	assert.Zero(t, value(byName, "floodgate_tracked_keys"), "keys left after the sweep")
	assert.Equal(t, float64(allowed), value(byName, "floodgate_decisions_total", "outcome", "allowed"))
}

// TestCollectorZeroAlloc: a decision observed by the Collector allocates
// nothing once its labels are known.
func TestCollectorZeroAlloc(t *testing.T) {
	c := fgprom.New()
	s := floodgate.Observe(floodgate.NewMemory(), c)
	t.Cleanup(func() { s.Close() })
	ls := []limit.Limit{limit.PerSecond(1 << 20)}
	ctx := context.Background()
	_, _ = s.AllowN(ctx, "k", 1, ls...)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = s.AllowN(ctx, "k", 1, ls...) }), "allocations per observed AllowN")
	e := httplimit.Event{Pattern: "GET /x", Scope: "GET /x", Decision: limit.Decision{Allowed: true}}
	c.DecisionHook(nil, e)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { c.DecisionHook(nil, e) }), "allocations per DecisionHook")
}

// ExampleCollector wires a Collector to a store and the middleware and
// prints the series a denied request leaves.
func ExampleCollector() {
	c := fgprom.New()
	store, err := floodgate.Open("memory://", floodgate.WithObserver(c))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	c.Watch(store)
	reg := prom.NewRegistry()
	reg.MustRegister(c)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(http.ResponseWriter, *http.Request) {})
	m, err := httplimit.New(store, httplimit.WithRoute("POST /login", "1/minute"),
		httplimit.WithDecisionHook(c.DecisionHook))
	if err != nil {
		panic(err)
	}
	h := m.Handler(mux)
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/login", nil))
	}

	fams, _ := reg.Gather()
	var lines []string
	for _, f := range fams {
		if f.GetName() != "floodgate_http_decisions_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %v", f.GetName(), strings.Join(ls, ","), m.GetCounter().GetValue()))
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// floodgate_http_decisions_total{outcome=allowed,route=POST /login,scope=POST /login} 1
	// floodgate_http_decisions_total{outcome=denied,route=POST /login,scope=POST /login} 1
}
