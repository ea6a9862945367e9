// Command floodgate shows and clears the rate-limit state of a key in a
// Floodgate store: "a customer is locked out; unlock them".
//
//	floodgate inspect -storage URI -limit LIMITS [-json] KEY
//	floodgate reset   -storage URI -limit LIMITS [-json] KEY
//	floodgate top     -storage redis://host:port[/db] [-n 10] [-json]
//
// inspect prints the Decision a request of cost 1 would get now
// (Store.Peek: nothing is counted); reset forgets the key's counts
// (Store.Reset); top lists the keys nearest their limit in Redis, read
// with SCAN (never KEYS), for every strategy: window counters from their
// counts, GCRA buckets and moving-window logs from the store's own Peek
// under the limit their key names, and each listed key with its Peek's
// remaining units and retry time. The storage URI is a floodgate.Open URI, from
// -storage or FLOODGATE_STORAGE (the flag wins), as in floodgate-demo;
// LIMITS are the limits the service applies to the key, such as
// "5/minute" or "5/minute;1000/day", and the URI's strategy= and prefix=
// must be the service's too, since they name the Redis keys. A password
// in the URI is never printed.
//
// Output is a table, or JSON with -json. Usage errors exit with status
// 2, failures (an unreachable store, for one) with status 1; both are
// one line on stderr starting "floodgate: ".
//
// The command is a module of its own, built from the repository root
// with go build -C cmd/floodgate -o floodgate .
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	_ "github.com/floodgate-go/floodgate/redisstore" // registers redis:// and its kin with floodgate.Open
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is an error in the command line: exit status 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const usage = `usage:
  floodgate inspect -storage URI -limit LIMITS [-json] KEY
  floodgate reset   -storage URI -limit LIMITS [-json] KEY
  floodgate top     -storage redis://host:port[/db] [-n 10] [-json]

The storage URI defaults to FLOODGATE_STORAGE. Run floodgate COMMAND -h
for a command's flags.
`

// run runs the command with args (without the program name) and returns
// its exit status. Output goes to stdout, errors and usage to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch cmd := args[0]; cmd {
	case "inspect", "reset":
		err = runKey(ctx, cmd, args[1:], getenv, stdout, stderr)
	case "top":
		err = runTop(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = usagef("unknown command %q: want inspect, reset or top", cmd)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "floodgate:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "floodgate:", err)
		return exitFailure
	}
}

// common holds the flags every command takes.
type common struct {
	storage string
	json    bool
}

func newFlagSet(name string, c *common, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("floodgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The default is not FLOODGATE_STORAGE itself: flag usage prints
	// defaults, and the URI may hold a password.
	fs.StringVar(&c.storage, "storage", "", "storage URI, a floodgate.Open URI such as redis://host:port/0 (default FLOODGATE_STORAGE)")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	return fs
}

// parse parses args with fs, allowing flags before and after the
// positional arguments, and returns the positional ones. A flag error
// is a usage error (flag has printed it with the usage).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
		if len(args) > 0 && args[0] == "--" {
			// fs stopped at "--" the first time: the rest is positional.
			return append(pos, args[1:]...), nil
		}
	}
}

// storageURI returns the storage URI from the flag or the environment.
func storageURI(c common, getenv func(string) string) (string, error) {
	uri := strings.TrimSpace(c.storage)
	if uri == "" {
		uri = strings.TrimSpace(getenv("FLOODGATE_STORAGE"))
	}
	if uri == "" {
		return "", usagef("no storage: set -storage or FLOODGATE_STORAGE")
	}
	return uri, nil
}

// keyResult is the JSON form of inspect's and reset's output.
type keyResult struct {
	Key        string  `json:"key"`
	Limits     string  `json:"limits"`
	Reset      bool    `json:"reset,omitempty"`
	Allowed    bool    `json:"allowed"`
	Limit      string  `json:"limit"`
	Remaining  int64   `json:"remaining"`
	ResetAfter float64 `json:"reset_after_seconds"`
	RetryAfter float64 `json:"retry_after_seconds"`
	RetryNever bool    `json:"retry_never,omitempty"`
}

// runKey runs inspect and reset.
func runKey(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c common
	var limits string
	fs := newFlagSet(cmd, &c, stderr)
	fs.StringVar(&limits, "limit", "", `limits of the key, such as "5/minute" or "5/minute;1000/day" (required)`)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("%s: want one KEY, got %d arguments", cmd, len(pos))
	}
	key := pos[0]
	if limits == "" {
		return usagef("%s: -limit is required, such as -limit 5/minute", cmd)
	}
	ls, err := limit.ParseMany(limits)
	if err != nil {
		return usagef("-limit %q: %v", limits, err)
	}
	uri, err := storageURI(c, getenv)
	if err != nil {
		return err
	}
	store, err := openStorage(uri)
	if err != nil {
		return err
	}
	defer store.Close()
	res := keyResult{Key: key, Limits: formatLimits(ls)}
	if cmd == "reset" {
		if err := store.Reset(ctx, key, ls...); err != nil {
			return scrub(fmt.Errorf("reset %q on %s: %w", key, redactURI(uri), err), uri)
		}
		res.Reset = true
	}
	d, err := store.Peek(ctx, key, ls...)
	if err != nil {
		return scrub(fmt.Errorf("inspect %q on %s: %w", key, redactURI(uri), err), uri)
	}
	res.Allowed = d.Allowed
	res.Limit = d.Limit.String()
	res.Remaining = d.Remaining
	res.ResetAfter = d.ResetAfter.Seconds()
	if d.RetryAfter == limit.Never {
		res.RetryNever = true
	} else {
		res.RetryAfter = d.RetryAfter.Seconds()
	}
	if c.json {
		return writeJSON(stdout, res)
	}
	if res.Reset {
		fmt.Fprintf(stdout, "reset %s (%s); now:\n", quoteKey(key), res.Limits)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "KEY\tLIMIT\tALLOWED\tREMAINING\tRESET AFTER\tRETRY AFTER\n")
	retry := seconds(d.RetryAfter)
	if res.RetryNever {
		retry = "never"
	}
	fmt.Fprintf(tw, "%s\t%s\t%t\t%d\t%s\t%s\n", quoteKey(key), res.Limit, d.Allowed, d.Remaining, seconds(d.ResetAfter), retry)
	return tw.Flush()
}

// quoteKey returns key for a table: quoted when it is empty or holds
// spaces or control characters.
func quoteKey(key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) {
		return fmt.Sprintf("%q", key)
	}
	return key
}

// openStorage opens the storage URI. No error names the URI's password:
// an unparseable URI is refused here, before floodgate.Open (whose
// parse error would quote it), and every message is scrubbed of it.
// A Redis URI without a timeout gets timeout=1s: the library's 50 ms
// budget suits a service near its Redis, not a person's laptop.
func openStorage(uri string) (floodgate.Store, error) {
	u, err := url.Parse(uri)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // without the URL, which holds the password
		}
		return nil, usageError{fmt.Errorf("storage %s: %w: %v", redactURI(uri), floodgate.ErrURI, err)}
	}
	open := uri
	if strings.HasPrefix(u.Scheme, "redis") || u.Scheme == "rediss" {
		q := u.Query()
		if !q.Has("timeout") && !q.Has("socket_timeout") {
			u2 := *u
			if u2.RawQuery != "" {
				u2.RawQuery += "&"
			}
			u2.RawQuery += "timeout=1s"
			open = u2.String()
		}
	}
	store, err := floodgate.Open(open)
	if err != nil {
		err = fmt.Errorf("storage %s: %w", u.Redacted(), err)
		if errors.Is(err, floodgate.ErrURI) {
			err = usageError{err}
		}
		return nil, scrub(err, uri)
	}
	return store, nil
}

// redactURI returns uri for a message, its password replaced by xxxxx;
// an unparseable URI keeps only its scheme.
func redactURI(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return u.Redacted()
	}
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok || strings.ContainsAny(scheme, "@:/") {
		scheme = "?"
	}
	return scheme + "://… (unparseable, not shown)"
}

// scrub returns err with the password of uri, if any, replaced by xxxxx
// in its message, keeping its kind (usage or failure).
func scrub(err error, uri string) error {
	u, perr := url.Parse(uri)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return err
	}
	if ue := (usageError{}); errors.As(err, &ue) {
		return usageError{scrubbed{ue.error, pw}}
	}
	return scrubbed{err, pw}
}

// scrubbed is an error whose message never shows secret.
type scrubbed struct {
	err    error
	secret string
}

func (s scrubbed) Error() string { return strings.ReplaceAll(s.err.Error(), s.secret, "xxxxx") }
func (s scrubbed) Unwrap() error { return s.err }

// formatLimits returns ls in the limit string syntax, "5/minute;1000/day".
func formatLimits(ls []limit.Limit) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return strings.Join(s, ";")
}

// seconds formats d for a table, rounded to milliseconds.
func seconds(d time.Duration) string { return d.Round(time.Millisecond).String() }
