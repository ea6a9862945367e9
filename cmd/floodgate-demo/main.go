// Command floodgate-demo serves the API shape of the app Floodgate grew
// from (sign-up, login, groups, members, exclusions and a gift draw), with
// every route rate-limited by package httplimit. Data lives in memory; the
// point is the limiter, not the app.
//
//	go run -C cmd/floodgate-demo . [-addr :8080] [-storage memory://] [-log-format text|json] [-route 'PATTERN=LIMITS' …] [-limits-file PATH]
//
// The demo is a module of its own (it links the Prometheus client, which
// the library does not), hence -C from the repository root; go build -C
// cmd/floodgate-demo -o floodgate-demo . builds the binary.
//
// Limits per client: POST /api/v1/auth/register and /login 5/minute
// (-auth-limit), every request counted, GET /api/v1/auth/me 100/minute,
// POST /api/v1/auth/logout 10/minute, other /api/v1/ reads 200/minute
// and writes 50/minute. Login is also limited per account name, across
// clients, to 20/hour (-account-limit). GET /health and GET /metrics are
// never limited. -route sets the limits of one route by its ServeMux
// pattern, replacing the default ones (repeatable: -route
// 'GET /api/v1/groups=100/minute'). Storage comes from -storage or
// FLOODGATE_STORAGE (a floodgate.Open URI; the flag wins); a password in
// it is never printed.
//
// -count-failed-logins-only makes login count only failed attempts (401
// and 400) against both of its limits: a user who logs in correctly is
// never limited, at the price that a client may log in successfully as
// often as it likes. The default counts every login request, as the
// service the demo mirrors was specified to do.
//
// The login handler and the per-account limit read the body with one
// parse (strict JSON, one object, no unknown fields, no trailing data, a
// username): a body the limiter cannot key by account is answered 400
// and no login is attempted.
//
// The server cuts off slow clients: -read-timeout bounds reading a whole
// request, body included (a slowloris connection is closed after it),
// -write-timeout writing the response, -idle-timeout an idle keep-alive
// connection, and -max-body the size of a request body (413 above it).
//
// -limits-file names a file of limits, NAME=LIMITS a line (a route
// pattern, or auth-limit, account-limit, me-limit, read-limit,
// write-limit), read at start-up and again on SIGHUP, which changes the
// limits without a restart; a file that cannot be applied is logged and
// the limits in force stay (reload.go).
//
// At start-up the demo proves with httplimit's Middleware.Verify that
// every declared route is limited: a -route pattern the demo does not
// serve stops start-up, naming it. Configuration errors stop start-up
// with a message and exit status 1; SIGINT and SIGTERM shut down
// gracefully.
//
// GET /metrics serves the Prometheus metrics of package prometheus
// (floodgate_http_decisions_total, floodgate_store_up, …) and the Go
// runtime's; it is never limited. Log lines (a store outage and its end,
// the middleware's once-only warnings) go to stderr through log/slog, as
// text or JSON (-log-format).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/httplimit"
	"github.com/floodgate-go/floodgate/limit"
	fgprom "github.com/floodgate-go/floodgate/prometheus"
	_ "github.com/floodgate-go/floodgate/redisstore" // registers redis:// and its kin with floodgate.Open
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "floodgate-demo:", err)
		os.Exit(1)
	}
}

// config is the demo's configuration, from flags and the environment.
type config struct {
	addr         string
	storage      string
	authLimit    string
	accountLimit string
	meLimit      string
	readLimit    string
	writeLimit   string
	trusted      string
	ietf         bool
	logFormat    string
	routes       routeFlags
	failedOnly   bool // -count-failed-logins-only
	readTimeout  time.Duration
	writeTimeout time.Duration
	idleTimeout  time.Duration
	maxBody      int64
	limitsFile   string            // -limits-file; see reload.go
	fileRoutes   map[string]string // its routes, which replace -route's
}

// routeFlags collects -route PATTERN=LIMITS flags.
type routeFlags map[string]string

func (f *routeFlags) String() string { return fmt.Sprint(map[string]string(*f)) }

func (f *routeFlags) Set(v string) error {
	i := strings.LastIndexByte(v, '=')
	if i < 0 {
		return fmt.Errorf("%q: want PATTERN=LIMITS, such as 'GET /api/v1/groups=100/minute'", v)
	}
	if *f == nil {
		*f = routeFlags{}
	}
	(*f)[strings.TrimSpace(v[:i])] = strings.TrimSpace(v[i+1:])
	return nil
}

// parseConfig reads flags, falling back to FLOODGATE_* variables.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("floodgate-demo", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", env("FLOODGATE_ADDR", ":8080"), "listen address")
	// The default is not FLOODGATE_STORAGE itself: flag usage prints
	// defaults, and the URI may hold a password.
	fs.StringVar(&c.storage, "storage", "", "storage URI, a floodgate.Open URI: memory://[?strategy=fixed-window] or redis://host:port (default FLOODGATE_STORAGE, else memory://)")
	fs.StringVar(&c.authLimit, "auth-limit", "5/minute", "limits of POST register and login, per client")
	fs.StringVar(&c.accountLimit, "account-limit", "20/hour", "limits of logins per account name, across clients")
	fs.BoolVar(&c.failedOnly, "count-failed-logins-only", false, "login counts only failed attempts (401, 400) against its limits, so a user who logs in correctly is never limited; default: every login counts")
	fs.DurationVar(&c.readTimeout, "read-timeout", 10*time.Second, "time to read a whole request, headers and body: a slower client is disconnected")
	fs.DurationVar(&c.writeTimeout, "write-timeout", 20*time.Second, "time to read a request and write its response")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 60*time.Second, "time a keep-alive connection may wait for its next request")
	fs.Int64Var(&c.maxBody, "max-body", 1<<16, "largest request body in bytes; a larger one is refused with 413")
	fs.StringVar(&c.meLimit, "me-limit", "100/minute", "limits of GET /api/v1/auth/me")
	fs.StringVar(&c.readLimit, "read-limit", "200/minute", "default limits of other GET requests")
	fs.StringVar(&c.writeLimit, "write-limit", "50/minute", "default limits of other POST, PUT, PATCH and DELETE requests")
	fs.StringVar(&c.trusted, "trusted-proxies", env("FLOODGATE_TRUSTED_PROXIES", ""), "comma-separated CIDRs of proxies whose X-Forwarded-For is trusted")
	fs.BoolVar(&c.ietf, "ietf-headers", false, "also send the IETF RateLimit and RateLimit-Policy fields")
	fs.Var(&c.routes, "route", "limits of one route by its pattern, PATTERN=LIMITS, such as 'GET /api/v1/groups=100/minute' (repeatable)")
	fs.StringVar(&c.limitsFile, "limits-file", "", "file of limits, one NAME=LIMITS a line (a route pattern or auth-limit, account-limit, me-limit, read-limit, write-limit), read at start-up and again on SIGHUP")
	fs.StringVar(&c.logFormat, "log-format", env("FLOODGATE_LOG_FORMAT", "text"), "log format on stderr: text or json")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.storage == "" {
		c.storage = env("FLOODGATE_STORAGE", "memory://")
	}
	if c.readTimeout <= 0 || c.writeTimeout <= 0 || c.idleTimeout <= 0 {
		return c, fmt.Errorf("-read-timeout, -write-timeout and -idle-timeout must be positive: a server without them is held open by slow clients")
	}
	if c.maxBody <= 0 {
		return c, fmt.Errorf("-max-body %d: want a positive number of bytes", c.maxBody)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return c, fmt.Errorf("-log-format %q: want text or json", c.logFormat)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}

// run starts the demo and serves until ctx is done, then shuts down
// gracefully. It prints the address it listens on to stdout, and logs to
// stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	log := newLogger(c.logFormat, stderr)
	metrics := fgprom.New()
	lim, err := openStorage(c.storage, log, metrics)
	if err != nil {
		return err
	}
	defer lim.Close()
	metrics.Watch(lim)
	fc, err := withLimitsFile(c)
	if err != nil {
		return err
	}
	h, m, err := newLimitedHandler(lim, fc, metrics, log)
	if err != nil {
		return err
	}
	defer reloadOnHangup(m, c, metrics, log)()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", c.addr, err)
	}
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(h, c.maxBody),
		ReadHeaderTimeout: c.readTimeout,
		ReadTimeout:       c.readTimeout,
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       c.idleTimeout,
		MaxHeaderBytes:    1 << 16,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
	}
	fmt.Fprintf(stdout, "floodgate-demo listening on %s (storage %s)\n", ln.Addr(), storageScheme(c.storage))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(stdout, "floodgate-demo stopped")
	return nil
}

// openStorage opens the storage URI. No error names the URI's password:
// an unparseable URI is refused here, before floodgate.Open (whose
// parse error would quote it), and every message is scrubbed of it.
func openStorage(uri string, log *slog.Logger, metrics *fgprom.Collector) (floodgate.Store, error) {
	u, err := url.Parse(strings.TrimSpace(uri))
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // without the URL, which holds the password
		}
		return nil, fmt.Errorf("storage %s: %w: %v", redactURI(uri), floodgate.ErrURI, err)
	}
	lim, err := floodgate.Open(uri, floodgate.WithLogger(log), floodgate.WithObserver(metrics))
	if err != nil {
		err = fmt.Errorf("storage %s: %w", u.Redacted(), err)
		if pw, ok := u.User.Password(); ok && pw != "" {
			err = scrubbed{err, pw}
		}
		return nil, err
	}
	return lim, nil
}

// redactURI returns uri for a message, its password replaced by xxxxx;
// an unparseable URI keeps only its scheme.
func redactURI(uri string) string {
	if u, err := url.Parse(strings.TrimSpace(uri)); err == nil {
		return u.Redacted()
	}
	return storageScheme(uri) + "://… (unparseable, not shown)"
}

// scrubbed is an error whose message never shows secret.
type scrubbed struct {
	err    error
	secret string
}

func (s scrubbed) Error() string { return strings.ReplaceAll(s.err.Error(), s.secret, "xxxxx") }
func (s scrubbed) Unwrap() error { return s.err }

// newLogger returns the demo's logger: text or JSON on w. Durations are
// written as Go duration strings ("7s", "1h0m0s") in both formats: the
// JSON handler would write a time.Duration as integer nanoseconds.
func newLogger(format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{ReplaceAttr: durationString}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationString writes a duration attribute as its String form.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// newHandler returns the demo's routes behind the rate limiter, with
// GET /metrics serving metrics (the Go runtime's and the process's
// beside Floodgate's).
func newHandler(lim floodgate.Store, c config, metrics *fgprom.Collector, log *slog.Logger) (http.Handler, error) {
	h, _, err := newLimitedHandler(lim, c, metrics, log)
	return h, err
}

// newLimitedHandler is newHandler that also returns the Middleware.
func newLimitedHandler(lim floodgate.Store, c config, metrics *fgprom.Collector, log *slog.Logger) (http.Handler, *httplimit.Middleware, error) {
	reg := prom.NewRegistry()
	if err := reg.Register(metrics); err != nil {
		return nil, nil, err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts, err := limiterOptions(c, metrics, log)
	if err != nil {
		return nil, nil, err
	}
	m, err := httplimit.New(lim, opts...)
	if err != nil {
		return nil, nil, err
	}
	mux := newApp().routes()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	h := m.Handler(mux)
	if err := m.Verify(h); err != nil {
		return nil, nil, err
	}
	return h, m, nil
}

// limiterOptions returns the Middleware's options for c: New takes them
// at start-up, Reload on SIGHUP.
func limiterOptions(c config, metrics *fgprom.Collector, log *slog.Logger) ([]httplimit.Option, error) {
	writes, err := limit.ParseMany(c.writeLimit)
	if err != nil {
		return nil, fmt.Errorf("write-limit %q: %w", c.writeLimit, err)
	}
	routes := map[string]string{
		"POST /api/v1/auth/register": c.authLimit,
		loginPattern:                 c.authLimit,
		"GET /api/v1/auth/me":        c.meLimit,
		"POST /api/v1/auth/logout":   "10/minute",
	}
	for p, l := range c.routes {
		routes[p] = l
	}
	for p, l := range c.fileRoutes {
		routes[p] = l
	}
	opts := []httplimit.Option{
		httplimit.WithLogger(log),
		httplimit.WithDecisionHook(metrics.DecisionHook),
		httplimit.WithExempt("GET /health", "GET /metrics"),
		httplimit.WithDefaultLimits(c.readLimit, httplimit.Dynamic(func(r *http.Request) []limit.Limit {
			switch r.Method {
			case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				return writes
			}
			return nil // reads: the static limits
		})),
	}
	for _, p := range slices.Sorted(maps.Keys(routes)) {
		var ro []httplimit.RouteOption
		if p == loginPattern {
			// Login: per client address, and per account name across all
			// addresses (credential stuffing from many addresses against
			// one account). Every request counts, unless
			// -count-failed-logins-only.
			ro = append(ro, httplimit.AlsoBy("account", accountName, c.accountLimit))
			if c.failedOnly {
				ro = append(ro, httplimit.CountWhen(failedLogin))
			}
		}
		opts = append(opts, httplimit.WithRoute(p, routes[p], ro...))
	}
	if c.trusted != "" {
		opts = append(opts, httplimit.WithTrustedProxies("X-Forwarded-For", 0, strings.Split(c.trusted, ",")...))
	}
	if c.ietf {
		opts = append(opts, httplimit.WithHeaders("X-RateLimit", "RateLimit"))
	}
	return opts, nil
}

// loginPattern is the login route, limited per address and per account.
const loginPattern = "POST /api/v1/auth/login"

// storageScheme returns the scheme of a storage URI for the start-up
// line, without credentials: "memory" for the empty URI.
func storageScheme(uri string) string {
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok || scheme == "" {
		return "memory"
	}
	return scheme
}

// accountName is the login route's second key: the account a request
// tries to log in to, read from the body with the login handler's own
// parse (parseCredentials) without consuming it: the body is put back
// for the handler, with the read error if reading failed, so that the
// handler answers 400 to every body this function cannot key. Such
// requests are keyed by client address alone.
func accountName(r *http.Request) (string, bool) {
	if r.Body == nil {
		return "", false
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		return "", false
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	c, err := parseCredentials(b)
	if err != nil {
		return "", false
	}
	return strings.ToLower(c.Username), true
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// failedLogin reports whether a login response counts: only failures do.
func failedLogin(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusBadRequest
}
