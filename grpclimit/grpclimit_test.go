package grpclimit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/grpclimit"
	"github.com/floodgate-go/floodgate/internal/logtest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	check = healthpb.Health_Check_FullMethodName // unary
	watch = healthpb.Health_Watch_FullMethodName // server-streaming
	list  = healthpb.Health_List_FullMethodName  // unary
)

// start is the manual clock's first reading: an arbitrary instant, not
// aligned to any window.
const start = 1_700_000_017*time.Second + 250*time.Millisecond

// env is one real grpc-go server with the interceptors, on a TCP
// loopback listener, and a client connected to it.
type env struct {
	client healthpb.HealthClient
	store  floodgate.Store
	clk    *clock.Manual
	lim    *grpclimit.Interceptor
}

// quiet is prepended to every test's options: log lines go nowhere.
var quiet = grpclimit.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// serve starts a health server limited by opts on a memory store driven
// by a manual clock.
func serve(t *testing.T, opts ...grpclimit.Option) *env {
	t.Helper()
	clk := clock.NewManual(start)
	st, err := floodgate.Open("memory://", floodgate.WithClock(clk))
	require.NoError(t, err, "floodgate.Open(memory://)")
	t.Cleanup(func() { _ = st.Close() })
	e := serveStore(t, st, opts...)
	e.clk = clk
	return e
}

// serveStore starts a health server limited by opts on st.
func serveStore(t *testing.T, st floodgate.Store, opts ...grpclimit.Option) *env {
	t.Helper()
	lim, err := grpclimit.New(st, append([]grpclimit.Option{quiet}, opts...)...)
	require.NoError(t, err, "grpclimit.New")
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(lim.Unary()), grpc.ChainStreamInterceptor(lim.Stream()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	require.NoError(t, lim.Check(srv), "Check of the health service")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "listen on loopback")
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err, "grpc.NewClient")
	t.Cleanup(func() { _ = conn.Close() })
	return &env{client: healthpb.NewHealthClient(conn), store: st, lim: lim}
}

// call makes one Check call with the metadata pairs kv and returns its
// response header metadata and error.
func (e *env) call(t *testing.T, kv ...string) (metadata.MD, error) {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(t.Context(), kv...)
	var hdr metadata.MD
	_, err := e.client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr))
	return hdr, err
}

// retryInfo returns the RetryInfo detail of err's status, or nil.
func retryInfo(err error) *errdetails.RetryInfo {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	return nil
}

func ceilSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// TestUnaryDenial checks the done-when scenario: the 6th call of a
// 5/minute method is denied with ResourceExhausted and a RetryInfo equal
// to the store's RetryAfter, on every strategy, and every call carries
// the rate-limit metadata.
func TestUnaryDenial(t *testing.T) {
	for _, strategy := range []string{"sliding-window", "fixed-window", "gcra", "moving-window"} {
		t.Run("strategy="+strategy, func(t *testing.T) {
			clk := clock.NewManual(start)
			st, err := floodgate.Open("memory://?strategy="+strategy, floodgate.WithClock(clk))
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			e := serveStore(t, st, grpclimit.WithMethod(check, "5/minute"))
			key := "grpc|" + check + "|ip:127.0.0.1"
			five := limit.MustParse("5/minute")
			for n := 1; n <= 5; n++ {
				want, err := st.Peek(t.Context(), key, five)
				require.NoError(t, err)
				hdr, err := e.call(t)
				require.NoError(t, err, "call %d of a 5/minute method", n)
				assert.Equal(t, []string{"5"}, hdr.Get("x-ratelimit-limit"), "call %d: x-ratelimit-limit", n)
				assert.Equal(t, []string{strconv.Itoa(5 - n)}, hdr.Get("x-ratelimit-remaining"), "call %d: x-ratelimit-remaining", n)
				assert.NotEmpty(t, hdr.Get("x-ratelimit-reset"), "call %d: x-ratelimit-reset", n)
				assert.Empty(t, hdr.Get("retry-after"), "call %d: retry-after on an allowed call", n)
				assert.True(t, want.Allowed, "Peek before call %d", n)
			}
			clk.Advance(1500 * time.Millisecond) // the wait is not a whole number of seconds
			want, err := st.Peek(t.Context(), key, five)
			require.NoError(t, err)
			require.False(t, want.Allowed, "Peek after 5 calls of a 5/minute method")
			require.Positive(t, want.RetryAfter, "Peek's RetryAfter after 5 calls")

			hdr, err := e.call(t)
			require.Error(t, err, "6th call of a 5/minute method")
			assert.Equal(t, codes.ResourceExhausted, status.Code(err), "6th call: code, error %v", err)
			assert.Equal(t, "grpclimit: rate limit exceeded: 5 per 1 minute", status.Convert(err).Message())
			ri := retryInfo(err)
			require.NotNil(t, ri, "6th call: RetryInfo detail in %v", status.Convert(err).Details())
			assert.Equal(t, want.RetryAfter, ri.GetRetryDelay().AsDuration(), "RetryInfo.retry_delay, want Peek's RetryAfter")
			assert.Equal(t, []string{ceilSeconds(want.RetryAfter)}, hdr.Get("retry-after"), "retry-after metadata")
			assert.Equal(t, []string{"5"}, hdr.Get("x-ratelimit-limit"))
			assert.Equal(t, []string{"0"}, hdr.Get("x-ratelimit-remaining"))
			assert.Equal(t, []string{ceilSeconds(want.ResetAfter)}, hdr.Get("x-ratelimit-reset"))

			clk.Advance(want.RetryAfter)
			_, err = e.call(t)
			assert.NoError(t, err, "a call after waiting RetryInfo's delay")
		})
	}
}

// TestStream checks that streams count once each, when they open, and
// that a denied stream carries the same status and metadata.
func TestStream(t *testing.T) {
	e := serve(t, grpclimit.WithMethod(watch, "2/minute"))
	for n := 1; n <= 3; n++ {
		ctx, cancel := context.WithCancel(t.Context())
		s, err := e.client.Watch(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err, "Watch %d: open", n)
		_, err = s.Recv()
		hdr, _ := s.Header()
		if n <= 2 {
			assert.NoError(t, err, "Watch %d of a 2/minute method: first message", n)
			assert.Equal(t, []string{strconv.Itoa(2 - n)}, hdr.Get("x-ratelimit-remaining"), "Watch %d: x-ratelimit-remaining", n)
		} else {
			assert.Equal(t, codes.ResourceExhausted, status.Code(err), "Watch %d of a 2/minute method: %v", n, err)
			assert.NotNil(t, retryInfo(err), "Watch %d: RetryInfo", n)
			assert.NotEmpty(t, hdr.Get("retry-after"), "Watch %d: retry-after", n)
		}
		cancel()
	}
	_, err := e.call(t)
	assert.NoError(t, err, "Check is not limited: only Watch was declared")
}

// TestMethods checks which limits each method gets: its own, the
// defaults (each method in a budget of its own), or none.
func TestMethods(t *testing.T) {
	tests := []struct {
		name    string
		opts    []grpclimit.Option
		method  string
		allowed int // calls allowed before the first denial; -1: never denied
	}{
		{"declared", []grpclimit.Option{grpclimit.WithMethod(check, "2/minute")}, check, 2},
		{"declared beats default", []grpclimit.Option{grpclimit.WithMethod(check, "2/minute"), grpclimit.WithDefaultLimits("3/minute")}, check, 2},
		{"default", []grpclimit.Option{grpclimit.WithMethod(check, "2/minute"), grpclimit.WithDefaultLimits("3/minute")}, list, 3},
		{"undeclared without default", []grpclimit.Option{grpclimit.WithMethod(check, "2/minute")}, list, -1},
		{"several limits, the tightest decides", []grpclimit.Option{grpclimit.WithMethod(list, "10/minute;1/hour")}, list, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := serve(t, tt.opts...)
			for n := 1; n <= 5; n++ {
				var err error
				if tt.method == list {
					_, err = e.client.List(t.Context(), &healthpb.HealthListRequest{})
				} else {
					_, err = e.client.Check(t.Context(), &healthpb.HealthCheckRequest{})
				}
				if tt.allowed < 0 || n <= tt.allowed {
					assert.NoError(t, err, "call %d to %s", n, tt.method)
				} else {
					assert.Equal(t, codes.ResourceExhausted, status.Code(err), "call %d to %s: %v", n, tt.method, err)
				}
			}
		})
	}
	t.Run("default budgets are per method", func(t *testing.T) {
		e := serve(t, grpclimit.WithDefaultLimits("1/minute"))
		_, err := e.client.Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.NoError(t, err, "first Check under a 1/minute default")
		_, err = e.client.List(t.Context(), &healthpb.HealthListRequest{})
		assert.NoError(t, err, "first List under a 1/minute default, after a Check")
	})
}

// TestCheck checks the self-test: a declared method that no registered
// service serves is an error naming it.
func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		methods []string
		missing []string // quoted in the error; none: Check passes
	}{
		{"served unary and stream", []string{check, watch}, nil},
		{"no method declared", nil, nil},
		{"misspelled method", []string{check, "/grpc.health.v1.Health/Chek"}, []string{"/grpc.health.v1.Health/Chek"}},
		{"unregistered service", []string{"/shop.Cart/Checkout", "/shop.Cart/Add"}, []string{"/shop.Cart/Add", "/shop.Cart/Checkout"}},
		{"wrong package", []string{"/grpc.health.v2.Health/Check"}, []string{"/grpc.health.v2.Health/Check"}},
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []grpclimit.Option
			for _, m := range tt.methods {
				opts = append(opts, grpclimit.WithMethod(m, "5/minute"))
			}
			lim, err := grpclimit.New(floodgate.NewMemory(), append(opts, quiet)...)
			require.NoError(t, err)
			err = lim.Check(srv)
			if len(tt.missing) == 0 {
				assert.NoError(t, err, "Check with methods %q", tt.methods)
				return
			}
			require.ErrorIs(t, err, grpclimit.ErrConfig, "Check with methods %q", tt.methods)
			for _, m := range tt.missing {
				assert.Contains(t, err.Error(), strconv.Quote(m), "Check's error names the unserved method")
			}
		})
	}
}

// TestCheckWarning checks that calls served before Check passed are
// logged, once.
func TestCheckWarning(t *testing.T) {
	var buf logtest.Buffer
	st := floodgate.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	lim, err := grpclimit.New(st, grpclimit.WithMethod(check, "5/minute"),
		grpclimit.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(lim.Unary()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	for range 2 {
		_, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
	}
	assert.Equal(t, 1, strings.Count(buf.String(), "before Interceptor.Check passed"), "log after 2 calls without Check:\n%s", buf.String())
}

// TestNew checks that bad configurations fail at construction, naming
// what is wrong.
func TestNew(t *testing.T) {
	for _, tt := range badConfigs {
		t.Run(tt.name, func(t *testing.T) {
			lim, err := grpclimit.New(floodgate.NewMemory(), tt.opts...)
			require.ErrorIs(t, err, grpclimit.ErrConfig, "New returned %v", lim)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("nil store", func(t *testing.T) {
		_, err := grpclimit.New(nil)
		assert.ErrorIs(t, err, grpclimit.ErrConfig)
	})
}

// badConfigs are configurations that New and Reload refuse, each with
// what the error must name.
var badConfigs = []struct {
	name string
	opts []grpclimit.Option
	want string // in the error
}{
	{"bad limit names the method", []grpclimit.Option{grpclimit.WithMethod(check, "5/fortnight")}, check},
	{"empty limit", []grpclimit.Option{grpclimit.WithMethod(check, "")}, check},
	{"trailing separator", []grpclimit.Option{grpclimit.WithMethod(check, "5/minute;")}, check},
	{"no leading slash", []grpclimit.Option{grpclimit.WithMethod("grpc.health.v1.Health/Check", "5/minute")}, "grpc.health.v1.Health/Check"},
	{"no method", []grpclimit.Option{grpclimit.WithMethod("/grpc.health.v1.Health", "5/minute")}, "/grpc.health.v1.Health"},
	{"empty service", []grpclimit.Option{grpclimit.WithMethod("//Check", "5/minute")}, "//Check"},
	{"extra slash", []grpclimit.Option{grpclimit.WithMethod("/a/b/c", "5/minute")}, "/a/b/c"},
	{"declared twice", []grpclimit.Option{grpclimit.WithMethod(check, "5/minute"), grpclimit.WithMethod(check, "6/minute")}, "declared twice"},
	{"bad default", []grpclimit.Option{grpclimit.WithDefaultLimits("lots")}, "default limits"},
	{"bad proxy prefix", []grpclimit.Option{grpclimit.WithTrustedProxies("x-forwarded-for", "10.0.0.0/33")}, "10.0.0.0/33"},
	{"proxies without a key", []grpclimit.Option{grpclimit.WithTrustedProxies("", "10.0.0.0/8")}, "metadata key"},
	{"IPv6 prefix 0", []grpclimit.Option{grpclimit.WithIPv6Prefix(0)}, "/0"},
	{"IPv6 prefix 129", []grpclimit.Option{grpclimit.WithIPv6Prefix(129)}, "/129"},
}

// TestKeys checks whose budget a call counts against: the peer's
// address, a trusted proxy's x-forwarded-for (only from trusted peers),
// a metadata key or a function, with the address standing in.
func TestKeys(t *testing.T) {
	byUser := grpclimit.WithKeyFunc(func(ctx context.Context, method string) (string, bool) {
		md, _ := metadata.FromIncomingContext(ctx)
		if u := md.Get("x-user"); len(u) == 1 && method == check {
			return "user-" + u[0], true
		}
		return "", false
	})
	long := strings.Repeat("a", 65)
	longSum := sha256.Sum256([]byte(long))
	trustLoopback := grpclimit.WithTrustedProxies("X-Forwarded-For", "127.0.0.0/8", "10.0.0.0/8")
	tests := []struct {
		name string
		opts []grpclimit.Option
		md   []string // request metadata pairs
		want string   // client part of the storage key
	}{
		{"peer address", nil, nil, "ip:127.0.0.1"},
		{"untrusted peer: x-forwarded-for ignored", []grpclimit.Option{grpclimit.WithTrustedProxies("x-forwarded-for", "10.0.0.0/8")},
			[]string{"x-forwarded-for", "203.0.113.7"}, "ip:127.0.0.1"},
		{"trusted peer", []grpclimit.Option{trustLoopback}, []string{"x-forwarded-for", "203.0.113.7"}, "ip:203.0.113.7"},
		{"trusted peer: rightmost untrusted hop", []grpclimit.Option{trustLoopback},
			[]string{"x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3"}, "ip:203.0.113.7"},
		{"trusted peer: several values", []grpclimit.Option{trustLoopback},
			[]string{"x-forwarded-for", "6.6.6.6", "x-forwarded-for", "203.0.113.8"}, "ip:203.0.113.8"},
		{"trusted peer: every hop trusted", []grpclimit.Option{trustLoopback}, []string{"x-forwarded-for", "10.0.0.9, 10.0.0.1"}, "ip:10.0.0.9"},
		{"trusted peer: garbled hop", []grpclimit.Option{trustLoopback}, []string{"x-forwarded-for", "203.0.113.7, bogus"}, "ip:127.0.0.1"},
		{"trusted peer: no header", []grpclimit.Option{trustLoopback}, nil, "ip:127.0.0.1"},
		{"trusted peer: with port", []grpclimit.Option{trustLoopback}, []string{"x-forwarded-for", "203.0.113.7:4711"}, "ip:203.0.113.7"},
		{"trusted peer: IPv6 grouped by /64", []grpclimit.Option{trustLoopback}, []string{"x-forwarded-for", "2001:db8::1"}, "ip:2001:db8::/64"},
		{"trusted peer: IPv6 bracketed", []grpclimit.Option{trustLoopback}, []string{"x-forwarded-for", "[2001:db8:0:0:ffff::1]:443"}, "ip:2001:db8::/64"},
		{"IPv6 prefix 48", []grpclimit.Option{trustLoopback, grpclimit.WithIPv6Prefix(48)},
			[]string{"x-forwarded-for", "2001:db8:1:2::1"}, "ip:2001:db8:1::/48"},
		{"IPv6 prefix 128", []grpclimit.Option{trustLoopback, grpclimit.WithIPv6Prefix(128)},
			[]string{"x-forwarded-for", "2001:db8::1"}, "ip:2001:db8::1"},
		{"IPv4-mapped IPv6", []grpclimit.Option{trustLoopback}, []string{"x-forwarded-for", "::ffff:203.0.113.7"}, "ip:203.0.113.7"},
		{"metadata key", []grpclimit.Option{grpclimit.WithKeyMetadata("X-API-Key")}, []string{"x-api-key", "abc"}, "k:abc"},
		{"metadata key missing", []grpclimit.Option{grpclimit.WithKeyMetadata("x-api-key")}, nil, "ip:127.0.0.1"},
		{"metadata key too long", []grpclimit.Option{grpclimit.WithKeyMetadata("x-api-key")},
			[]string{"x-api-key", long}, "k:sha256:" + hex.EncodeToString(longSum[:])},
		{"key function", []grpclimit.Option{byUser}, []string{"x-user", "ann"}, "k:user-ann"},
		{"key function without a key", []grpclimit.Option{byUser}, nil, "ip:127.0.0.1"},
	}
	one := limit.MustParse("1/minute")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := serve(t, append(tt.opts, grpclimit.WithMethod(check, "1/minute"))...)
			_, err := e.call(t, tt.md...)
			require.NoError(t, err, "first call under 1/minute")
			key := "grpc|" + check + "|" + tt.want
			d, err := e.store.Peek(t.Context(), key, one)
			require.NoError(t, err)
			assert.False(t, d.Allowed, "Peek(%q) after one call: the call counted elsewhere", key)
			_, err = e.call(t, tt.md...)
			assert.Equal(t, codes.ResourceExhausted, status.Code(err), "second call from the same client under 1/minute: %v", err)
		})
	}
	t.Run("trusted proxy forwards different clients", func(t *testing.T) {
		e := serve(t, trustLoopback, grpclimit.WithMethod(check, "1/minute"))
		for _, ip := range []string{"203.0.113.1", "203.0.113.2", "198.51.100.3"} {
			_, err := e.call(t, "x-forwarded-for", ip)
			assert.NoError(t, err, "first call forwarded for %s", ip)
		}
	})
	t.Run("untrusted peer cannot spoof its way past the limit", func(t *testing.T) {
		e := serve(t, grpclimit.WithTrustedProxies("x-forwarded-for", "10.0.0.0/8"), grpclimit.WithMethod(check, "1/minute"))
		_, err := e.call(t, "x-forwarded-for", "203.0.113.1")
		require.NoError(t, err)
		_, err = e.call(t, "x-forwarded-for", "203.0.113.2")
		assert.Equal(t, codes.ResourceExhausted, status.Code(err), "second call with another spoofed x-forwarded-for: %v", err)
	})
}

// failing is a store that answers every AllowN with d and err.
type failing struct {
	floodgate.Store
	d   limit.Decision
	err error
}

func (f failing) AllowN(context.Context, string, int64, ...limit.Limit) (limit.Decision, error) {
	return f.d, f.err
}

// TestStoreErrors checks that a failing store's answer stands, that a
// store error without a decision never allows, and that errors are
// counted and logged once.
func TestStoreErrors(t *testing.T) {
	five := limit.MustParse("5/minute")
	fail := floodgate.ErrUnavailable
	tests := []struct {
		name  string
		d     limit.Decision
		err   error
		code  codes.Code
		retry time.Duration // RetryInfo; 0: none
		count uint64        // StoreErrors after 3 calls
	}{
		{"no decision", limit.Decision{}, fail, codes.Unavailable, 0, 3},
		{"closed policy", limit.Decision{Limit: five, RetryAfter: time.Second}, fail, codes.ResourceExhausted, time.Second, 3},
		{"open policy", limit.Decision{Limit: five, Allowed: true}, fail, codes.OK, 0, 3},
		{"open policy without a limit", limit.Decision{Allowed: true}, fail, codes.OK, 0, 3},
		{"memory policy denies", limit.Decision{Limit: five, RetryAfter: 12 * time.Second}, fail, codes.ResourceExhausted, 12 * time.Second, 3},
		{"denial without a limit, no error", limit.Decision{}, nil, codes.Unavailable, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf logtest.Buffer
			e := serveStore(t, failing{Store: floodgate.NewMemory(), d: tt.d, err: tt.err},
				grpclimit.WithMethod(check, "5/minute"), grpclimit.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
			for n := 1; n <= 3; n++ {
				_, err := e.call(t)
				assert.Equal(t, tt.code, status.Code(err), "call %d: %v", n, err)
				assert.NotContains(t, status.Convert(err).Message(), fail.Error(), "call %d: the store's error reached the client", n)
				if ri := retryInfo(err); tt.retry > 0 {
					require.NotNil(t, ri, "call %d: RetryInfo", n)
					assert.Equal(t, tt.retry, ri.GetRetryDelay().AsDuration(), "call %d: RetryInfo delay", n)
				} else {
					assert.Nil(t, ri, "call %d: RetryInfo", n)
				}
			}
			assert.Equal(t, tt.count, e.lim.StoreErrors(), "StoreErrors after 3 calls")
			want := 0
			if tt.count > 0 {
				want = 1
			}
			assert.Equal(t, want, strings.Count(buf.String(), "the store failed"), "log lines about the store after 3 calls:\n%s", buf.String())
		})
	}
	t.Run("client gone is not a store error", func(t *testing.T) {
		// Called directly, so that the count is read after the call
		// returned.
		lim, err := grpclimit.New(ctxErr{floodgate.NewMemory()}, quiet, grpclimit.WithMethod(check, "5/minute"))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		called := false
		_, err = lim.Unary()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: check},
			func(context.Context, any) (any, error) { called = true; return nil, nil })
		assert.Equal(t, codes.Canceled, status.Code(err), "a call whose client is gone: %v", err)
		assert.False(t, called, "the handler ran for a call the store did not decide")
		assert.Zero(t, lim.StoreErrors(), "StoreErrors after a cancelled call")
	})
}

// ctxErr answers every AllowN, as a store does for a caller who left,
// with no decision and the context's error.
type ctxErr struct{ floodgate.Store }

func (ctxErr) AllowN(ctx context.Context, _ string, _ int64, _ ...limit.Limit) (limit.Decision, error) {
	return limit.Decision{}, ctx.Err()
}
