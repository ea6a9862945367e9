package grpclimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ErrConfig is wrapped by the errors of [New] and [Interceptor.Check]: a
// malformed method name or limit string, a method declared twice, a
// malformed proxy prefix, a declared method that no service serves. The
// message names the method or value.
var ErrConfig = errors.New("grpclimit: invalid configuration")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// Metadata keys of the responses, lowercase as gRPC sends them.
const (
	mdLimit      = "x-ratelimit-limit"
	mdRemaining  = "x-ratelimit-remaining"
	mdReset      = "x-ratelimit-reset"
	mdRetryAfter = "retry-after"
)

// Interceptor limits the calls of a gRPC server, per method and per
// client. Build one with [New]; the zero Interceptor is not usable. It is
// safe for concurrent use and must not be copied after first use.
type Interceptor struct {
	_        noCopy
	store    floodgate.Store
	methods  map[string]*check
	def      []limit.Limit
	proxyKey string
	trusted  []netip.Prefix
	v6bits   int
	mdKey    string
	keyFunc  func(ctx context.Context, fullMethod string) (string, bool)
	log      *slog.Logger

	checked   atomic.Bool // Check passed
	warned    atomic.Bool // calls before Check were logged
	storeErr  atomic.Bool // the first store error was logged
	storeErrs atomic.Uint64
}

// check is one declared method's limits and the scope of its storage keys.
type check struct {
	limits []limit.Limit
	scope  string // "grpc|" + method + "|"
}

// New returns an Interceptor that decides calls on store. It reports, in
// an error wrapping [ErrConfig] that names the method or value, a method
// name that is not "/package.Service/Method", a bad limit string, a method
// declared twice, a malformed proxy prefix and an IPv6 prefix outside 1 to
// 128. With no options, no call is limited.
func New(store floodgate.Store, opts ...Option) (*Interceptor, error) {
	if store == nil {
		return nil, configError("nil store")
	}
	c := config{v6bits: 64, log: slog.Default()}
	for _, o := range opts {
		o.apply(&c)
	}
	i := &Interceptor{store: store, methods: make(map[string]*check, len(c.methods)),
		proxyKey: strings.ToLower(c.proxyKey), v6bits: c.v6bits, mdKey: strings.ToLower(c.mdKey),
		keyFunc: c.keyFunc, log: c.log}
	for _, m := range c.methods {
		if !validMethod(m.name) {
			return nil, configError("method %q is not a full method name such as \"/package.Service/Method\"", m.name)
		}
		if i.methods[m.name] != nil {
			return nil, configError("method %q declared twice", m.name)
		}
		ls, err := limit.ParseMany(m.limits)
		if err != nil {
			return nil, configError("method %q: %v", m.name, err)
		}
		i.methods[m.name] = &check{limits: ls, scope: "grpc|" + m.name + "|"}
	}
	if c.defSet {
		ls, err := limit.ParseMany(c.def)
		if err != nil {
			return nil, configError("default limits: %v", err)
		}
		i.def = ls
	}
	if c.v6bits < 1 || c.v6bits > 128 {
		return nil, configError("IPv6 prefix /%d is not in 1..128", c.v6bits)
	}
	if len(c.trusted) > 0 {
		if c.proxyKey == "" {
			return nil, configError("trusted proxies without a metadata key (such as \"x-forwarded-for\")")
		}
		var err error
		if i.trusted, err = parsePrefixes(c.trusted); err != nil {
			return nil, err
		}
	}
	return i, nil
}

// validMethod reports whether s is "/service/method", both parts
// non-empty.
func validMethod(s string) bool {
	svc, m, ok := strings.Cut(strings.TrimPrefix(s, "/"), "/")
	return strings.HasPrefix(s, "/") && ok && svc != "" && m != "" && !strings.Contains(m, "/")
}

// Check reports, in an error wrapping [ErrConfig], every method declared
// with [WithMethod] that no service registered on s serves, naming each:
// a misspelled name would otherwise never be limited. Call it once, after
// every service is registered and before serving; *grpc.Server satisfies
// s. Until Check has passed, the first intercepted call is logged as a
// warning.
func (i *Interceptor) Check(s interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) error {
	served := map[string]bool{}
	for svc, info := range s.GetServiceInfo() {
		for _, m := range info.Methods {
			served["/"+svc+"/"+m.Name] = true
		}
	}
	var missing []string
	for m := range i.methods {
		if !served[m] {
			missing = append(missing, strconv.Quote(m))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return configError("no registered service serves the declared method %s", strings.Join(missing, ", "))
	}
	i.checked.Store(true)
	return nil
}

// StoreErrors returns how many calls the store answered with an error.
// Those calls were decided by the Decision the store returned beside the
// error (its failure policy's), or failed with codes.Unavailable when it
// returned none. A caller's own cancellation is not counted.
func (i *Interceptor) StoreErrors() uint64 { return i.storeErrs.Load() }

// Unary returns the unary server interceptor. Install it with
// grpc.ChainUnaryInterceptor (or grpc.UnaryInterceptor).
func (i *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := i.decide(ctx, info.FullMethod, func(md metadata.MD) error { return grpc.SetHeader(ctx, md) }); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the stream server interceptor. A stream counts once,
// when it opens. Install it with grpc.ChainStreamInterceptor (or
// grpc.StreamInterceptor).
func (i *Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := i.decide(ss.Context(), info.FullMethod, ss.SetHeader); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// decide counts one call to method, sets the rate-limit metadata with
// setHeader and returns the status error of a denial, or nil.
func (i *Interceptor) decide(ctx context.Context, method string, setHeader func(metadata.MD) error) error {
	if !i.checked.Load() && i.warned.CompareAndSwap(false, true) {
		i.log.Warn("grpclimit: a call was served before Interceptor.Check passed; "+
			"a declared method that no service serves would never be limited (logged once)", "method", method)
	}
	limits, scope := i.def, ""
	if c := i.methods[method]; c != nil {
		limits, scope = c.limits, c.scope
	} else if len(limits) > 0 {
		scope = "grpc|" + method + "|"
	}
	if len(limits) == 0 {
		return nil
	}
	d, err := i.store.AllowN(ctx, scope+i.clientKey(ctx, method), 1, limits...)
	if err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err() // the client is gone: not the store's failure
		}
		i.storeErrs.Add(1)
		if i.storeErr.CompareAndSwap(false, true) {
			i.log.Warn("grpclimit: the store failed; calls are decided by its failure policy "+
				"(this is logged once; floodgate's failure policy logs each outage)", "method", method, "error", err)
		}
	}
	if !d.Limit.Valid() {
		// No decision to describe: a store error that came without one.
		if d.Allowed {
			return nil // the store's own answer, such as an open failure policy's
		}
		return status.Error(codes.Unavailable, "grpclimit: the rate limiter could not decide")
	}
	md := metadata.MD{
		mdLimit:     {strconv.FormatInt(d.Limit.Count(), 10)},
		mdRemaining: {strconv.FormatInt(max(d.Remaining, 0), 10)},
		mdReset:     {strconv.FormatInt(ceilSeconds(d.ResetAfter), 10)},
	}
	if d.Allowed {
		_ = setHeader(md) // fails only once headers are sent, which no handler has done yet
		return nil
	}
	if d.RetryAfter == limit.Never {
		_ = setHeader(md)
		return status.Errorf(codes.ResourceExhausted,
			"grpclimit: the call's cost exceeds the limit and can never be allowed: %s", d.Limit.Human())
	}
	md[mdRetryAfter] = []string{strconv.FormatInt(max(ceilSeconds(d.RetryAfter), 1), 10)}
	_ = setHeader(md)
	st := status.New(codes.ResourceExhausted, "grpclimit: rate limit exceeded: "+d.Limit.Human())
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d.RetryAfter)}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	if d > math.MaxInt64-time.Second {
		return int64(d / time.Second)
	}
	return int64((d + time.Second - 1) / time.Second)
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
