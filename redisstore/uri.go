package redisstore

import (
	"crypto/tls"
	"fmt"
	"math/bits"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/redis/rueidis"
)

// parseURI turns a storage URI into client options and applies its query
// parameters to c. See the package documentation for the forms.
func parseURI(uri string, c *config) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	u, err := url.Parse(strings.TrimSpace(uri))
	if err != nil {
		return opt, fmt.Errorf("%w: %v", floodgate.ErrURI, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{floodgate.ErrURI, u.Redacted()}, args...)...)
	}
	if u.Opaque != "" {
		return opt, bad("want %s://host:port", u.Scheme)
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	path := strings.TrimPrefix(u.Path, "/")
	db := ""
	switch u.Scheme {
	case "redis", "rediss":
		host := u.Host
		if host != "" && u.Port() == "" && !strings.HasSuffix(host, ":") {
			host = net.JoinHostPort(u.Hostname(), "6379") // redis-py's default
		}
		addr, err := hostPort(host)
		if err != nil {
			return opt, bad("%v", err)
		}
		opt.InitAddress = []string{addr}
		opt.ForceSingleClient = true
		db = path
		if u.Scheme == "rediss" {
			host, _, _ := net.SplitHostPort(addr)
			opt.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
	case "redis+unix":
		if u.Host != "" || u.Path == "" || strings.HasSuffix(u.Path, "/") {
			return opt, bad("want redis+unix:///path/to/redis.sock")
		}
		sock := u.Path
		opt.InitAddress = []string{sock}
		opt.ForceSingleClient = true
		opt.DialCtxFn = dialUnix
	case "redis+sentinel":
		addrs, err := hostPorts(u.Host)
		if err != nil {
			return opt, bad("%v", err)
		}
		if path == "" || strings.Contains(path, "/") {
			return opt, bad("want redis+sentinel://host:port[,host:port]/service-name")
		}
		opt.InitAddress = addrs
		opt.Sentinel = rueidis.SentinelOption{MasterSet: path}
	case "redis+cluster":
		addrs, err := hostPorts(u.Host)
		if err != nil {
			return opt, bad("%v", err)
		}
		if path != "" {
			return opt, bad("a cluster has no database number")
		}
		opt.InitAddress = addrs
		opt.ShuffleInit = true
	default:
		return opt, bad("unknown scheme %q", u.Scheme)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return opt, bad("query: %v", err)
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return opt, bad("parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "db":
			if u.Scheme == "redis+cluster" {
				return opt, bad("a cluster has no database number")
			}
			if db != "" {
				return opt, bad("database given twice")
			}
			db = v
		case "strategy":
			s, ok := limit.ParseStrategy(v)
			if !ok {
				return opt, bad("unknown strategy %q (want sliding-window, fixed-window, gcra or moving-window)", v)
			}
			c.strategy = s
		case "prefix":
			c.prefix = v
		case "failure", "backoff", "max-keys", "lease":
			return opt, bad("%s= is read by floodgate.Open, which wraps the store in a floodgate.Fallback (and a floodgate.Lease); redisstore.Open has neither", k)
		case "timeout", "dial-timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return opt, bad("%s=%q is not a positive duration such as 50ms", k, v)
			}
			if k == "timeout" {
				c.timeout = d
			} else {
				c.dialTimeout = d
			}
		case "socket_timeout", "socket_connect_timeout":
			// redis-py's names, in seconds: the URIs of the Python limits
			// library work unchanged.
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f > 0) || f > 3600 {
				return opt, bad("%s=%q is not a positive number of seconds such as 0.05", k, v)
			}
			d := time.Duration(f * float64(time.Second))
			if k == "socket_timeout" {
				c.timeout = d
			} else {
				c.dialTimeout = d
			}
		case "pool-size":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return opt, bad("pool-size=%q is not an integer in 1..256", v)
			}
			c.poolSize = n
		case "client-name":
			// Redis refuses CLIENT SETNAME with a space, a newline or
			// anything outside printable ASCII, and every connection
			// would then fail: refuse it here instead.
			for i := 0; i < len(v); i++ {
				if v[i] < '!' || v[i] > '~' {
					return opt, bad("client-name=%q: Redis takes only printable ASCII without spaces", v)
				}
			}
			opt.ClientName = v
		case "ssl_cert_reqs": // as in redis-py; optional verifies, as Python's client side does
			if opt.TLSConfig == nil {
				return opt, bad("ssl_cert_reqs needs rediss://")
			}
			switch v {
			case "none":
				opt.TLSConfig.InsecureSkipVerify = true
			case "optional", "required":
			default:
				return opt, bad("ssl_cert_reqs=%q (want none, optional or required)", v)
			}
		default:
			return opt, bad("unknown option %q", k)
		}
	}
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return opt, bad("database %q is not a non-negative integer", db)
		}
		opt.SelectDB = n
	}
	return opt, nil
}

// hostPort checks one host:port address.
func hostPort(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("missing host:port")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", s)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q has no valid port", s)
	}
	return s, nil
}

// hostPorts checks a comma-separated list of host:port addresses.
func hostPorts(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("missing host:port")
	}
	var out []string
	for _, a := range strings.Split(s, ",") {
		a, err := hostPort(a)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// multiplex returns the client's PipelineMultiplex for n connections:
// log2 of n rounded up to a power of two.
func multiplex(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}
