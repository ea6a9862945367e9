package grpclimit_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/grpclimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// limitOf returns a call's x-ratelimit-limit, "" when it has none.
func limitOf(hdr metadata.MD) string {
	if v := hdr.Get("x-ratelimit-limit"); len(v) == 1 {
		return v[0]
	}
	return ""
}

// TestReloadRefused: Reload refuses every configuration New refuses, and
// a declared method that the server Check was given does not serve, with
// an error naming the problem; the configuration in force stays, counts
// and all.
func TestReloadRefused(t *testing.T) {
	bad := append(badConfigs[:len(badConfigs):len(badConfigs)], struct {
		name string
		opts []grpclimit.Option
		want string
	}{"a method no service serves", []grpclimit.Option{grpclimit.WithMethod("/grpc.health.v1.Health/Chek", "5/minute")}, `"/grpc.health.v1.Health/Chek"`})
	e := serve(t, grpclimit.WithMethod(check, "3/minute"))
	hdr, err := e.call(t)
	require.NoError(t, err, "first call under 3/minute")
	require.Equal(t, "2", hdr.Get("x-ratelimit-remaining")[0], "remaining after the first call")
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := e.lim.Reload(append([]grpclimit.Option{quiet}, tt.opts...)...)
			require.ErrorIs(t, err, grpclimit.ErrConfig, "Reload of a configuration New refuses")
			assert.Contains(t, err.Error(), tt.want, "Reload's error names the problem")
		})
	}
	hdr, err = e.call(t)
	require.NoError(t, err, "second call, after the refused reloads")
	assert.Equal(t, "3", limitOf(hdr), "the limit in force after refused reloads")
	assert.Equal(t, []string{"1"}, hdr.Get("x-ratelimit-remaining"), "the count in force after refused reloads")
}

// TestReloadCounts: a reload keeps the count of a limit that is
// unchanged and starts a fresh one for a limit whose count changed (the
// store keys each limit, count included, apart), and its new limits apply
// to the next call.
func TestReloadCounts(t *testing.T) {
	e := serve(t, grpclimit.WithMethod(check, "5/minute"), grpclimit.WithMethod(list, "2/minute"))
	for n := 1; n <= 5; n++ {
		_, err := e.call(t)
		require.NoError(t, err, "call %d of 5/minute", n)
	}
	steps := []struct {
		name          string
		opts          []grpclimit.Option
		code          codes.Code
		limit, remain string
	}{
		// check's limit is unchanged (list's changed, and a default came):
		// its count of 5 carries over and the 6th call is denied.
		{"unchanged limit keeps its count",
			[]grpclimit.Option{grpclimit.WithMethod(check, "5/minute"), grpclimit.WithMethod(list, "9/minute"), grpclimit.WithDefaultLimits("1/second")},
			codes.ResourceExhausted, "5", "0"},
		// Raised to 6/minute: a fresh count under the new limit.
		{"raised limit starts afresh",
			[]grpclimit.Option{grpclimit.WithMethod(check, "6/minute")},
			codes.OK, "6", "5"},
		// Back to 5/minute: the old count, kept by the store, applies again.
		{"back to the old limit finds its count",
			[]grpclimit.Option{grpclimit.WithMethod(check, "5/minute")},
			codes.ResourceExhausted, "5", "0"},
		// Undeclared with no default: not limited, no metadata.
		{"no limit",
			[]grpclimit.Option{grpclimit.WithMethod(list, "9/minute")},
			codes.OK, "", ""},
	}
	for _, s := range steps {
		require.NoError(t, e.lim.Reload(append([]grpclimit.Option{quiet}, s.opts...)...), "Reload: %s", s.name)
		hdr, err := e.call(t)
		assert.Equal(t, s.code, status.Code(err), "%s: the call's code (%v)", s.name, err)
		assert.Equal(t, s.limit, limitOf(hdr), "%s: x-ratelimit-limit", s.name)
		if s.remain != "" {
			assert.Equal(t, []string{s.remain}, hdr.Get("x-ratelimit-remaining"), "%s: x-ratelimit-remaining", s.name)
		}
	}
}

// TestReloadDuringCall reloads from inside a call, in its key function,
// which runs after the call has read its configuration and before the
// store decides: the call is decided wholly under the configuration it
// started with (its limits with its key), and the next call wholly under
// the new one.
func TestReloadDuringCall(t *testing.T) {
	var (
		e      *env
		keyed  []string
		reload func() []grpclimit.Option
	)
	conf := func(name, limits string) []grpclimit.Option {
		return []grpclimit.Option{quiet, grpclimit.WithMethod(check, limits),
			grpclimit.WithKeyFunc(func(context.Context, string) (string, bool) {
				keyed = append(keyed, name) // calls are sequential here
				if reload != nil {
					opts := reload()
					reload = nil
					require.NoError(t, e.lim.Reload(opts...), "Reload from inside a call")
				}
				return "client", true
			})}
	}
	e = serve(t, conf("A", "5/minute")...)
	reload = func() []grpclimit.Option { return conf("B", "7/minute") }
	hdr, err := e.call(t)
	require.NoError(t, err)
	assert.Equal(t, "5", limitOf(hdr), "the call during which Reload ran: the limit it started with")
	hdr, err = e.call(t)
	require.NoError(t, err)
	assert.Equal(t, "7", limitOf(hdr), "the next call: the new limit")
	assert.Equal(t, []string{"A", "B"}, keyed, "the key functions that keyed the two calls")
}

// TestReloadUnderLoad changes the limits while clients call a real
// grpc-go server on loopback from several goroutines, and finds that no
// call saw a mix of two configurations. Each configuration has its own
// limits for a declared method and for the default, and its own key
// function, which records which configuration keyed the call (and, for
// one call in five, reloads the other configuration from inside the
// call); the x-ratelimit-limit the client receives must be the one of
// that same configuration. An Interceptor that read its limits and its
// key function apart would show a call keyed by one and limited by the
// other.
func TestReloadUnderLoad(t *testing.T) {
	// The counts are far above the calls made: every call is allowed, and
	// its metadata names the deciding limit's count.
	type conf struct {
		name       string
		check, def string // counts of the limits per minute
	}
	confs := [2]conf{{"A", "1000001", "3000001"}, {"B", "2000002", "4000002"}}
	var (
		keyedBy sync.Map // call id → configuration name
		e       *env
		opts    func(c int) []grpclimit.Option
	)
	opts = func(c int) []grpclimit.Option {
		return []grpclimit.Option{quiet,
			grpclimit.WithMethod(check, confs[c].check+"/minute"),
			grpclimit.WithDefaultLimits(confs[c].def + "/minute"),
			grpclimit.WithKeyFunc(func(ctx context.Context, _ string) (string, bool) {
				md, _ := metadata.FromIncomingContext(ctx)
				if id := md.Get("x-call"); len(id) == 1 {
					keyedBy.Store(id[0], confs[c].name)
					if len(md.Get("x-reload")) > 0 {
						// A reload inside the call, after it read its
						// configuration, before the store decides.
						_ = e.lim.Reload(opts(1 - c)...)
					}
				}
				return "client", true
			}),
		}
	}
	e = serve(t, opts(0)...)

	var (
		stop     atomic.Bool
		calls    atomic.Int64
		seen     [2]atomic.Int64 // calls decided under A and under B
		mu       sync.Mutex
		problems []string
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				id := strconv.Itoa(w) + "-" + strconv.Itoa(n)
				method, want := check, func(c conf) string { return c.check }
				var hdr metadata.MD
				var err error
				ctx := metadata.AppendToOutgoingContext(t.Context(), "x-call", id)
				if n%5 == 4 {
					ctx = metadata.AppendToOutgoingContext(ctx, "x-reload", "1")
				}
				if n%2 == 1 {
					method, want = list, func(c conf) string { return c.def }
					_, err = e.client.List(ctx, &healthpb.HealthListRequest{}, grpc.Header(&hdr))
				} else {
					_, err = e.client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr))
				}
				calls.Add(1)
				if err != nil {
					report("call %s to %s failed: %v", id, method, err)
					continue
				}
				by, ok := keyedBy.LoadAndDelete(id)
				if !ok {
					report("call %s to %s was never keyed", id, method)
					continue
				}
				c := 0
				if by == confs[1].name {
					c = 1
				}
				seen[c].Add(1)
				if got := limitOf(hdr); got != want(confs[c]) {
					report("call %s to %s keyed by configuration %s got x-ratelimit-limit %q, want %s's %q",
						id, method, by, got, by, want(confs[c]))
				}
			}
		})
	}
	// Reload back and forth, one reload each time the clients have made
	// a few more calls (others are in flight meanwhile), until both
	// configurations have decided many calls. The loop is bounded by a
	// count of reloads, not by time.
	reloads := 0
	for ; reloads < 5000 && (reloads < 100 || seen[0].Load() < 200 || seen[1].Load() < 200); reloads++ {
		for next := calls.Load() + 3; calls.Load() < next; {
			runtime.Gosched()
		}
		require.NoError(t, e.lim.Reload(opts((reloads+1)%2)...), "Reload %d", reloads)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d calls, %d under A and %d under B, across %d reloads", calls.Load(), seen[0].Load(), seen[1].Load(), reloads)
	assert.Empty(t, problems, "calls that saw a mix of configurations, or failed")
	assert.GreaterOrEqual(t, seen[0].Load(), int64(200), "calls decided under A")
	assert.GreaterOrEqual(t, seen[1].Load(), int64(200), "calls decided under B")
}

// BenchmarkReload measures a Reload of ten methods with two limits each,
// default limits and trusted proxies, beside New of the same options
// (the floor: Reload validates as New does, then checks the methods
// against the server Check was given), and one unary call to a declared method through the
// interceptor without the network, for scale: a call reads the
// configuration with one atomic load, whatever reloads happen.
func BenchmarkReload(b *testing.B) {
	opts := []grpclimit.Option{quiet, grpclimit.WithDefaultLimits("100/second"),
		grpclimit.WithTrustedProxies("x-forwarded-for", "10.0.0.0/8", "192.168.0.0/16")}
	// A server that serves the ten methods, for Check and Reload.
	desc := grpc.ServiceDesc{ServiceName: "shop.Cart", HandlerType: (*any)(nil)}
	noop := func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) { return nil, nil }
	for i := range 9 {
		name := "M" + strconv.Itoa(i)
		opts = append(opts, grpclimit.WithMethod("/shop.Cart/"+name, "5/minute;1000/day"))
		desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: name, Handler: noop})
	}
	opts = append(opts, grpclimit.WithMethod("/shop.Cart/Hot", "1000000000/second;1000000000000/day"))
	desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: "Hot", Handler: noop})
	srv := grpc.NewServer()
	srv.RegisterService(&desc, struct{}{})
	st := floodgate.NewMemory()
	b.Cleanup(func() { _ = st.Close() })
	b.Run("op=new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := grpclimit.New(st, opts...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=reload", func(b *testing.B) {
		lim, err := grpclimit.New(st, opts...)
		require.NoError(b, err)
		require.NoError(b, lim.Check(srv), "Check of the shop.Cart service")
		b.ReportAllocs()
		for b.Loop() {
			if err := lim.Reload(opts...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=call", func(b *testing.B) {
		lim, err := grpclimit.New(st, opts...)
		require.NoError(b, err)
		unary := lim.Unary()
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}})
		info := &grpc.UnaryServerInfo{FullMethod: "/shop.Cart/Hot"}
		handler := func(context.Context, any) (any, error) { return nil, nil }
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unary(ctx, nil, info, handler); err != nil {
				b.Fatal(err)
			}
		}
	})
}
