package grpclimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/internal/decide"
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
	_     noCopy
	store floodgate.Store
	// cur is the configuration in force. A call loads it once and decides
	// wholly under it; Reload swaps in a new one and never changes one in
	// place.
	cur atomic.Pointer[setup]

	mu     sync.Mutex  // serialises Check and Reload
	server serviceInfo // what Check passed on; nil until it has

	checked   atomic.Bool // Check passed
	warned    atomic.Bool // calls before Check were logged
	storeErr  atomic.Bool // the first store error was logged
	storeErrs atomic.Uint64
}

// setup is one configuration built by New or Reload. It is immutable
// once stored in Interceptor.cur.
type setup struct {
	methods  map[string]*check
	def      []limit.Limit
	proxyKey string
	trusted  []netip.Prefix
	v6bits   int
	mdKey    string
	keyFunc  func(ctx context.Context, fullMethod string) (string, bool)
	log      *slog.Logger
}

// check is one declared method's limits and the scope of its storage keys.
type check struct {
	limits []limit.Limit
	scope  string // "grpc|" + method + "|"
}

// serviceInfo is what Check reads from a server: *grpc.Server has it.
type serviceInfo interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
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
	s, err := build(opts)
	if err != nil {
		return nil, err
	}
	i := &Interceptor{store: store}
	i.cur.Store(s)
	return i, nil
}

// Reload takes a new set of limits atomically: it replaces the
// Interceptor's configuration with the one opts describe, as [New] would
// build it, while calls are served, so an operator can raise a method's
// limit during an incident, or lower it during an attack, without a
// deploy. opts replace every option given to New (pass the logger, the
// key and the proxies again, not only the limits).
//
// Reload checks opts as New does and, once [Interceptor.Check] has
// passed, the new methods against the server Check was given, as Check
// does. On any problem it returns an error wrapping [ErrConfig] that
// names it and keeps the configuration in force. Otherwise the new one
// applies to every call that starts after Reload returns; a call in
// flight is decided wholly under the old one or wholly under the new one,
// never a mix: each call reads the configuration once, through one atomic
// pointer, and a configuration is never changed once in force.
//
// Counts carry over for a limit that is unchanged: a budget's storage
// key is "grpc|", the method and the client, and the store counts each
// limit, count included, apart. So a method whose "5/minute" becomes
// "10/minute" starts a fresh count under the new limit (a client who had
// used 5 gets 10 more), and one whose limits stay the same keeps its
// count, whatever else changes. A lowered limit thus never counts what
// was spent under the old one: lower it further, rather than trust the
// carried-over count, when the point is to stop an attack in progress.
// Reload is safe for concurrent use; concurrent calls apply in turn.
func (i *Interceptor) Reload(opts ...Option) error {
	s, err := build(opts)
	if err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.server != nil {
		if err := s.unserved(i.server); err != nil {
			return err
		}
	}
	i.cur.Store(s)
	return nil
}

// build checks opts and returns the configuration they describe.
func build(opts []Option) (*setup, error) {
	c := config{v6bits: 64, log: slog.Default()}
	for _, o := range opts {
		o.apply(&c)
	}
	s := &setup{methods: make(map[string]*check, len(c.methods)),
		proxyKey: strings.ToLower(c.proxyKey), v6bits: c.v6bits, mdKey: strings.ToLower(c.mdKey),
		keyFunc: c.keyFunc, log: c.log}
	for _, m := range c.methods {
		if !validMethod(m.name) {
			return nil, configError("method %q is not a full method name such as \"/package.Service/Method\"", m.name)
		}
		if s.methods[m.name] != nil {
			return nil, configError("method %q declared twice", m.name)
		}
		ls, err := limit.ParseMany(m.limits)
		if err != nil {
			return nil, configError("method %q: %v", m.name, err)
		}
		s.methods[m.name] = &check{limits: ls, scope: "grpc|" + m.name + "|"}
	}
	if c.defSet {
		ls, err := limit.ParseMany(c.def)
		if err != nil {
			return nil, configError("default limits: %v", err)
		}
		s.def = ls
	}
	if c.v6bits < 1 || c.v6bits > 128 {
		return nil, configError("IPv6 prefix /%d is not in 1..128", c.v6bits)
	}
	if len(c.trusted) > 0 {
		if c.proxyKey == "" {
			return nil, configError("trusted proxies without a metadata key (such as \"x-forwarded-for\")")
		}
		var err error
		if s.trusted, err = parsePrefixes(c.trusted); err != nil {
			return nil, err
		}
	}
	return s, nil
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
// warning. Once it has, [Interceptor.Reload] checks each new
// configuration against s too.
func (i *Interceptor) Check(s interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.cur.Load().unserved(s); err != nil {
		return err
	}
	i.server = s
	i.checked.Store(true)
	return nil
}

// unserved reports the declared methods that no service of s serves.
func (c *setup) unserved(s serviceInfo) error {
	served := map[string]bool{}
	for svc, info := range s.GetServiceInfo() {
		for _, m := range info.Methods {
			served["/"+svc+"/"+m.Name] = true
		}
	}
	var missing []string
	for m := range c.methods {
		if !served[m] {
			missing = append(missing, strconv.Quote(m))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return configError("no registered service serves the declared method %s", strings.Join(missing, ", "))
	}
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
	// One load: the limits, the key and the logger below all come from
	// the same configuration, whatever Reload does meanwhile.
	cfg := i.cur.Load()
	if !i.checked.Load() && i.warned.CompareAndSwap(false, true) {
		cfg.log.Warn("grpclimit: a call was served before Interceptor.Check passed; "+
			"a declared method that no service serves would never be limited (logged once)", "method", method)
	}
	limits, scope := cfg.def, ""
	if c := cfg.methods[method]; c != nil {
		limits, scope = c.limits, c.scope
	} else if len(limits) > 0 {
		scope = "grpc|" + method + "|"
	}
	if len(limits) == 0 {
		return nil
	}
	d, err := i.store.AllowN(ctx, scope+cfg.clientKey(ctx, method), 1, limits...)
	if err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err() // the client is gone: not the store's failure
		}
		i.storeErrs.Add(1)
		if i.storeErr.CompareAndSwap(false, true) {
			cfg.log.Warn("grpclimit: the store failed; calls are decided by its failure policy "+
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
		mdReset:     {strconv.FormatInt(decide.CeilSeconds(d.ResetAfter), 10)},
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
	md[mdRetryAfter] = []string{strconv.FormatInt(max(decide.CeilSeconds(d.RetryAfter), 1), 10)}
	_ = setHeader(md)
	st := status.New(codes.ResourceExhausted, "grpclimit: rate limit exceeded: "+d.Limit.Human())
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d.RetryAfter)}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// noCopy makes go vet report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
