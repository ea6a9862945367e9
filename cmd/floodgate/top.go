package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/rueidis"

	"github.com/floodgate-go/floodgate/limit"
)

// defaultPrefix is redisstore's key prefix when the URI names none.
const defaultPrefix = "floodgate:"

// scanCount is SCAN's COUNT hint: keys examined per call.
const scanCount = 1000

// topRow is one key of top's output, one (key, limit) pair.
type topRow struct {
	Key      string  `json:"key"`
	Strategy string  `json:"strategy"`
	Limit    string  `json:"limit"`
	Count    int64   `json:"count"`
	Current  int64   `json:"current"`
	Previous int64   `json:"previous"`
	Used     float64 `json:"used"`
	Fraction float64 `json:"fraction"`
	RedisKey string  `json:"redis_key"`
}

// topResult is top's JSON output.
type topResult struct {
	Keys    []topRow       `json:"keys"`
	Scanned int            `json:"scanned"`
	Skipped map[string]int `json:"skipped,omitempty"`
}

// runTop runs top: the keys of a Redis store nearest their limit.
func runTop(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c common
	var n int
	fs := newFlagSet("top", &c, stderr)
	fs.IntVar(&n, "n", 10, "how many keys to list")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("top: unexpected arguments %q", pos)
	}
	if n <= 0 {
		return usagef("top: -n %d: want a positive number of keys", n)
	}
	uri, err := storageURI(c, getenv)
	if err != nil {
		return err
	}
	opt, prefix, err := redisOptions(uri)
	if err != nil {
		return scrub(err, uri)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return scrub(fmt.Errorf("storage %s: %w", redactURI(uri), err), uri)
	}
	defer client.Close()
	res, err := scanTop(ctx, client, prefix, n)
	if err != nil {
		return scrub(fmt.Errorf("storage %s: %w", redactURI(uri), err), uri)
	}
	if c.json {
		return writeJSON(stdout, res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "KEY\tSTRATEGY\tLIMIT\tUSED\tCURRENT\tPREVIOUS\tUSED %%\n")
	for _, r := range res.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%d\t%d\t%.0f%%\n", quoteKey(r.Key), r.Strategy, r.Limit, r.Used, r.Current, r.Previous, 100*r.Fraction)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.Keys) == 0 {
		fmt.Fprintf(stdout, "no counters under prefix %q (%d keys scanned)\n", prefix, res.Scanned)
	}
	for _, s := range slices.Sorted(maps.Keys(res.Skipped)) {
		fmt.Fprintf(stderr, "floodgate: note: skipped %d %s keys: top reads the window strategies only\n", res.Skipped[s], s)
	}
	return nil
}

// redisOptions returns the client options and key prefix of a storage
// URI for top, which reads one Redis server: redis://[user:pass@]host[:port][/db]
// or rediss://…, with prefix= when the service sets one. Other
// floodgate.Open parameters are ignored.
func redisOptions(uri string) (rueidis.ClientOption, string, error) {
	var opt rueidis.ClientOption
	u, err := url.Parse(uri)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return opt, "", usagef("storage %s: %v", redactURI(uri), err)
	}
	switch u.Scheme {
	case "redis", "rediss":
	case "memory", "":
		return opt, "", usagef("top: memory:// storage is private to the process that limits, so it cannot be read from outside; top reads Redis (redis://host:port/db)")
	default:
		return opt, "", usagef("top: storage %s: top supports redis://host:port/db and rediss:// only (one server, not %s://)", u.Redacted(), u.Scheme)
	}
	host := u.Host
	if host == "" {
		host = "127.0.0.1:6379"
	} else if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	opt.InitAddress = []string{host}
	opt.DisableCache = true
	opt.ForceSingleClient = true
	opt.ConnWriteTimeout = 5 * time.Second
	opt.Dialer = net.Dialer{Timeout: 5 * time.Second}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
		if _, ok := u.User.Password(); !ok {
			// redis://:pass@ and redis://pass@ alike: a lone name is
			// the password, as in redis-py.
			opt.Username, opt.Password = "", u.User.Username()
		}
	}
	if u.Scheme == "rediss" {
		opt.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	db := strings.Trim(u.Path, "/")
	if v := u.Query().Get("db"); v != "" {
		db = v
	}
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return opt, "", usagef("storage %s: database %q: want a number", u.Redacted(), db)
		}
		opt.SelectDB = n
	}
	prefix := defaultPrefix
	if q := u.Query(); q.Has("prefix") {
		prefix = q.Get("prefix")
	}
	return opt, prefix, nil
}

// strategies names the strategy letters of redisstore's keys.
var strategies = map[string]string{"s": "sliding-window", "f": "fixed-window", "g": "gcra", "m": "moving-window"}

// counterKey is a parsed redisstore key: prefix{tag}:X:count/period[/burst].
type counterKey struct {
	tag, strategy string
	count         int64
	period        time.Duration
	limit         string
}

// parseKey parses a redisstore key under prefix; ok is false for a key
// of another layout.
func parseKey(k, prefix string) (ck counterKey, ok bool) {
	rest, ok := strings.CutPrefix(k, prefix+"{")
	if !ok {
		return ck, false
	}
	i := strings.LastIndex(rest, "}:")
	if i < 0 {
		return ck, false
	}
	ck.tag, rest = rest[:i], rest[i+2:]
	x, spec, ok := strings.Cut(rest, ":")
	if !ok {
		return ck, false
	}
	if ck.strategy, ok = strategies[x]; !ok {
		return ck, false
	}
	parts := strings.Split(spec, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return ck, false
	}
	count, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || count <= 0 {
		return ck, false
	}
	ck.count = count
	if ms, isMS := strings.CutSuffix(parts[1], "ms"); isMS {
		v, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || v <= 0 {
			return ck, false
		}
		ck.period = time.Duration(v) * time.Millisecond
	} else {
		v, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || v <= 0 {
			return ck, false
		}
		ck.period = time.Duration(v) * time.Second
	}
	l, err := limit.New(count, ck.period)
	if err != nil {
		return ck, false
	}
	ck.limit = l.String() // "5/minute", as -limit takes it
	if len(parts) == 3 {
		ck.limit += " burst " + parts[2]
	}
	return ck, true
}

// scanTop scans the keys under prefix with SCAN and returns the n window
// counters with the highest used/count. used is the count the window
// script would weigh now: the current window's count, plus for the
// sliding window the previous window's count weighted by its overlap,
// both rolled forward to the server's clock.
func scanTop(ctx context.Context, client rueidis.Client, prefix string, n int) (topResult, error) {
	res := topResult{Keys: []topRow{}, Skipped: map[string]int{}}
	now, err := serverTime(ctx, client)
	if err != nil {
		return res, err
	}
	pattern := globEscape(prefix) + "{*}:*"
	var cursor uint64
	for {
		e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(pattern).Count(scanCount).Build()).AsScanEntry()
		if err != nil {
			return res, fmt.Errorf("SCAN: %w", err)
		}
		res.Scanned += len(e.Elements)
		var keys []string
		var cks []counterKey
		for _, k := range e.Elements {
			ck, ok := parseKey(k, prefix)
			if !ok {
				continue
			}
			if ck.strategy != "sliding-window" && ck.strategy != "fixed-window" {
				res.Skipped[ck.strategy]++
				continue
			}
			keys, cks = append(keys, k), append(cks, ck)
		}
		if len(keys) > 0 {
			vals, err := client.Do(ctx, client.B().Mget().Key(keys...).Build()).ToArray()
			if err != nil {
				return res, fmt.Errorf("MGET: %w", err)
			}
			for i, v := range vals {
				s, err := v.ToString()
				if err != nil {
					continue // expired since SCAN, or not a counter
				}
				row, ok := windowRow(cks[i], keys[i], s, now)
				if ok {
					res.Keys = append(res.Keys, row)
				}
			}
		}
		cursor = e.Cursor
		if cursor == 0 {
			break
		}
	}
	slices.SortFunc(res.Keys, func(a, b topRow) int {
		if c := cmp.Compare(b.Fraction, a.Fraction); c != 0 {
			return c
		}
		return strings.Compare(a.RedisKey, b.RedisKey)
	})
	if len(res.Keys) > n {
		res.Keys = res.Keys[:n]
	}
	if len(res.Skipped) == 0 {
		res.Skipped = nil
	}
	return res, nil
}

// windowRow reads a window counter "epoch prev cur" as the window
// script would at now (microseconds on the server's clock).
func windowRow(ck counterKey, key, v string, now int64) (topRow, bool) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return topRow{}, false
	}
	var nums [3]int64
	for i, s := range f {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil || x < 0 {
			return topRow{}, false
		}
		nums[i] = x
	}
	ce, cp, cc := nums[0], nums[1], nums[2]
	p := ck.period.Microseconds()
	e := now / p
	r := now - e*p
	var prev, cur int64
	switch {
	case ce == e:
		prev, cur = cp, cc
	case ce == e-1:
		prev = cc
	case ce > e: // stored ahead of the server's clock: judged at its start
		prev, cur, r = cp, cc, 0
	}
	if ck.strategy == "fixed-window" {
		prev = 0
	}
	used := float64(cur) + float64(prev)*float64(p-r)/float64(p)
	return topRow{
		Key:      ck.tag,
		Strategy: ck.strategy,
		Limit:    ck.limit,
		Count:    ck.count,
		Current:  cur,
		Previous: prev,
		Used:     used,
		Fraction: used / float64(ck.count),
		RedisKey: key,
	}, true
}

// serverTime returns the Redis server's clock in microseconds since the
// Unix epoch, the clock the scripts count windows by.
func serverTime(ctx context.Context, client rueidis.Client) (int64, error) {
	t, err := client.Do(ctx, client.B().Time().Build()).AsStrSlice()
	if err != nil {
		return 0, fmt.Errorf("TIME: %w", err)
	}
	if len(t) != 2 {
		return 0, fmt.Errorf("TIME: unexpected reply %q", t)
	}
	sec, err1 := strconv.ParseInt(t[0], 10, 64)
	us, err2 := strconv.ParseInt(t[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("TIME: unexpected reply %q", t)
	}
	return sec*1_000_000 + us, nil
}

// globEscape escapes the glob characters of SCAN's MATCH in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
