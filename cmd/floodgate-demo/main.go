// Command floodgate-demo serves the API shape of the app Floodgate grew
// from (sign-up, login, groups, members, exclusions and a gift draw), with
// every route rate-limited by package httplimit. Data lives in memory; the
// point is the limiter, not the app.
//
//	go run -C cmd/floodgate-demo . [-addr :8080] [-storage memory://] [-log-format text|json] [-route 'PATTERN=LIMITS' …]
//
// The demo is a module of its own (it links the Prometheus client, which
// the library does not), hence -C from the repository root.
//
// Limits per client: POST /api/v1/auth/register and /login 5/minute,
// GET /api/v1/auth/me 100/minute, POST /api/v1/auth/logout 10/minute,
// other /api/v1/ reads 200/minute and writes 50/minute. GET /health is
// never limited. -route sets the limits of one route by its ServeMux
// pattern, replacing the default ones (repeatable: -route
// 'GET /api/v1/groups=100/minute'). Storage comes from -storage or
// FLOODGATE_STORAGE (a floodgate.Open URI; the flag wins).
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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
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
	fs.StringVar(&c.storage, "storage", env("FLOODGATE_STORAGE", "memory://"), "storage URI: memory://[?strategy=fixed-window] or redis://host:port")
	fs.StringVar(&c.authLimit, "auth-limit", "5/minute", "limits of POST register and login, per client")
	fs.StringVar(&c.accountLimit, "account-limit", "20/hour", "limits of failed logins per account name, across clients")
	fs.StringVar(&c.meLimit, "me-limit", "100/minute", "limits of GET /api/v1/auth/me")
	fs.StringVar(&c.readLimit, "read-limit", "200/minute", "default limits of other GET requests")
	fs.StringVar(&c.writeLimit, "write-limit", "50/minute", "default limits of other POST, PUT, PATCH and DELETE requests")
	fs.StringVar(&c.trusted, "trusted-proxies", env("FLOODGATE_TRUSTED_PROXIES", ""), "comma-separated CIDRs of proxies whose X-Forwarded-For is trusted")
	fs.BoolVar(&c.ietf, "ietf-headers", false, "also send the IETF RateLimit and RateLimit-Policy fields")
	fs.Var(&c.routes, "route", "limits of one route by its pattern, PATTERN=LIMITS, such as 'GET /api/v1/groups=100/minute' (repeatable)")
	fs.StringVar(&c.logFormat, "log-format", env("FLOODGATE_LOG_FORMAT", "text"), "log format on stderr: text or json")
	if err := fs.Parse(args); err != nil {
		return c, err
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
	lim, err := floodgate.Open(c.storage, floodgate.WithLogger(log), floodgate.WithObserver(metrics))
	if err != nil {
		return fmt.Errorf("storage %q: %w", c.storage, err)
	}
	defer lim.Close()
	metrics.Watch(lim)
	h, err := newHandler(lim, c, metrics, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", c.addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
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

// newLogger returns the demo's logger: text or JSON on w.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// newHandler returns the demo's routes behind the rate limiter, with
// GET /metrics serving metrics (the Go runtime's and the process's
// beside Floodgate's).
func newHandler(lim floodgate.Store, c config, metrics *fgprom.Collector, log *slog.Logger) (http.Handler, error) {
	reg := prom.NewRegistry()
	if err := reg.Register(metrics); err != nil {
		return nil, err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	writes, err := limit.ParseMany(c.writeLimit)
	if err != nil {
		return nil, fmt.Errorf("-write-limit %q: %w", c.writeLimit, err)
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
			// one account); only failed logins count.
			ro = append(ro, httplimit.AlsoBy("account", accountName, c.accountLimit), httplimit.CountWhen(failedLogin))
		}
		opts = append(opts, httplimit.WithRoute(p, routes[p], ro...))
	}
	if c.trusted != "" {
		opts = append(opts, httplimit.WithTrustedProxies("X-Forwarded-For", 0, strings.Split(c.trusted, ",")...))
	}
	if c.ietf {
		opts = append(opts, httplimit.WithHeaders("X-RateLimit", "RateLimit"))
	}
	m, err := httplimit.New(lim, opts...)
	if err != nil {
		return nil, err
	}
	mux := newApp().routes()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	h := m.Handler(mux)
	if err := m.Verify(h); err != nil {
		return nil, err
	}
	return h, nil
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
// tries to log in to, read from the JSON body without consuming it (the
// body is put back for the handler). Requests without one are keyed by
// client address alone.
func accountName(r *http.Request) (string, bool) {
	if r.Body == nil {
		return "", false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return "", false
	}
	var creds struct {
		Username string `json:"username"`
	}
	if json.Unmarshal(b, &creds) != nil || creds.Username == "" {
		return "", false
	}
	return strings.ToLower(creds.Username), true
}

// failedLogin reports whether a login response counts: only failures do.
func failedLogin(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusBadRequest
}
