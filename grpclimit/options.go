package grpclimit

import (
	"context"
	"log/slog"
)

// Option configures an [Interceptor]. Options are built by the With
// functions and passed to [New]; with none, New applies the defaults each
// With function documents.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config collects options; New validates it.
type config struct {
	methods  []methodSpec
	def      string
	defSet   bool
	proxyKey string
	trusted  []string
	v6bits   int
	mdKey    string
	keyFunc  func(ctx context.Context, fullMethod string) (string, bool)
	log      *slog.Logger
}

type methodSpec struct{ name, limits string }

// WithMethod sets the limits of the method with the full name
// fullMethod, as gRPC spells it ("/package.Service/Method"), to limits
// such as "5/minute;1000/day" (limit.ParseMany syntax). Each method
// counts against its own budget per client. New reports a malformed
// name, a bad limit string and a method declared twice, naming the
// method; [Interceptor.Check] reports a method that no registered service
// serves. Default: no method limits.
func WithMethod(fullMethod, limits string) Option {
	return optionFunc(func(c *config) { c.methods = append(c.methods, methodSpec{fullMethod, limits}) })
}

// WithDefaultLimits sets the limits of every method not declared with
// [WithMethod]. Each such method keeps its own budget per client, as if
// it had been declared with these limits. New reports a bad limit string.
// Default: none; undeclared methods are not limited.
func WithDefaultLimits(limits string) Option {
	return optionFunc(func(c *config) { c.def, c.defSet = limits, true })
}

// WithTrustedProxies makes the client address come from the request
// metadata key (such as "x-forwarded-for", which Envoy and most gRPC
// proxies set) when the peer is one of the proxies in cidrs (CIDR
// prefixes such as "10.0.0.0/8", or bare addresses). The key's values
// are read as comma-separated address lists, right to left, skipping
// addresses in cidrs; the first other address is the client, and when
// every address is trusted the leftmost is.
//
// The key is ignored when the peer is not trusted, so clients cannot
// spoof it. A missing value, a garbled hop or more than 64 hops fall back
// to the peer's address: a bad value never means "unlimited". New
// reports a malformed prefix or an empty key. Default: no trusted
// proxies; the client address is the peer's.
func WithTrustedProxies(key string, cidrs ...string) Option {
	return optionFunc(func(c *config) { c.proxyKey, c.trusted = key, cidrs })
}

// WithIPv6Prefix sets how many leading bits of an IPv6 client address
// form its key, 1 to 128. Default 64: one budget per /64, the block a
// single host or customer usually holds, so one machine cannot multiply
// its budget by rotating addresses. 128 keys each address apart, which is
// fairer behind carrier-grade NAT and easier to evade. IPv4 addresses are
// always keyed whole.
func WithIPv6Prefix(bits int) Option { return optionFunc(func(c *config) { c.v6bits = bits }) }

// WithKeyMetadata keys calls by the first value of the request metadata
// key, such as "x-api-key", instead of the client address. A call
// without it is keyed by its client address, so leaving the key out
// never escapes the limit. It replaces [WithKeyFunc]. Default: the client
// address.
func WithKeyMetadata(key string) Option {
	return optionFunc(func(c *config) { c.mdKey, c.keyFunc = key, nil })
}

// WithKeyFunc keys calls by fn's result, typically the authenticated
// user that an earlier interceptor stored in ctx. fn receives the call's
// context and full method name, and reports false, or returns "", when it
// has no key: the client address stands in. fn runs on every call, so it
// must be fast and safe for concurrent use. It replaces
// [WithKeyMetadata]. Default: the client address.
func WithKeyFunc(fn func(ctx context.Context, fullMethod string) (string, bool)) Option {
	return optionFunc(func(c *config) { c.keyFunc, c.mdKey = fn, "" })
}

// WithLogger sets the logger of the Interceptor's few log lines, each
// written once per Interceptor, never per call: the first store failure,
// and calls served before [Interceptor.Check] passed. Store outages
// themselves are logged by the store's failure policy
// (floodgate.WithLogger). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.log = l
		}
	})
}
