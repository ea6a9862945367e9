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
	"sync"
	"text/tabwriter"
	"time"

	"github.com/redis/rueidis"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
)

// defaultPrefix is redisstore's key prefix when the URI names none.
const defaultPrefix = "floodgate:"

// scanCount is SCAN's COUNT hint: keys examined per call.
const scanCount = 1000

// peekConcurrency bounds the Peeks top has in flight at once.
const peekConcurrency = 16

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
	// The key's Decision (Store.Peek), absent for a hashed window key,
	// which cannot be named to the store.
	Allowed    *bool    `json:"allowed,omitempty"`
	Remaining  *int64   `json:"remaining,omitempty"`
	RetryAfter *float64 `json:"retry_after_seconds,omitempty"`
	RetryNever bool     `json:"retry_never,omitempty"`
	RedisKey   string   `json:"redis_key"`

	ck counterKey // to Peek the rows that have no Decision yet
}

// peekFunc returns the Decision the store of strategy would give a
// request of cost 1 to key under l now, counting nothing (Store.Peek).
type peekFunc func(ctx context.Context, strategy, key string, l limit.Limit) (limit.Decision, error)

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
	p := &peeker{uri: uri, stores: map[string]floodgate.Store{}}
	defer p.close()
	res, err := scanTop(ctx, client, prefix, n, p.peek)
	if err != nil {
		return scrub(fmt.Errorf("storage %s: %w", redactURI(uri), err), uri)
	}
	if c.json {
		return writeJSON(stdout, res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "KEY\tSTRATEGY\tLIMIT\tUSED\tCURRENT\tPREVIOUS\tUSED %%\tREMAINING\tRETRY AFTER\n")
	for _, r := range res.Keys {
		cur, prev := strconv.FormatInt(r.Current, 10), strconv.FormatInt(r.Previous, 10)
		if !isWindow(r.Strategy) {
			cur, prev = "-", "-" // a bucket or a log has no window counts
		}
		remaining, retry := "?", "?" // a hashed key: no Peek
		switch {
		case r.Remaining == nil:
		case r.RetryNever:
			remaining, retry = strconv.FormatInt(*r.Remaining, 10), "never"
		default:
			remaining, retry = strconv.FormatInt(*r.Remaining, 10), seconds(time.Duration(*r.RetryAfter*float64(time.Second)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\t%.0f%%\t%s\t%s\n", quoteKey(r.Key), r.Strategy, r.Limit, r.Used, cur, prev, 100*r.Fraction, remaining, retry)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.Keys) == 0 {
		fmt.Fprintf(stdout, "no counters under prefix %q (%d keys scanned)\n", prefix, res.Scanned)
	}
	for _, s := range slices.Sorted(maps.Keys(res.Skipped)) {
		fmt.Fprintf(stderr, "floodgate: note: skipped %d %s keys stored under a hashed name (keys over 128 bytes, or with a brace or a leading #): "+
			"top cannot name them to the store\n", res.Skipped[s], s)
	}
	return nil
}

// peeker opens one store per strategy, on the URI top was given, to Peek
// keys with the library's own arithmetic.
type peeker struct {
	uri    string
	mu     sync.Mutex
	stores map[string]floodgate.Store
}

// peek implements peekFunc.
func (p *peeker) peek(ctx context.Context, strategy, key string, l limit.Limit) (limit.Decision, error) {
	s, err := p.store(strategy)
	if err != nil {
		return limit.Decision{}, err
	}
	d, err := s.Peek(ctx, key, l)
	if err != nil {
		return d, fmt.Errorf("peek %q (%s, %s): %w", key, strategy, l, err)
	}
	return d, nil
}

// store returns the store of strategy, opening it on first use.
func (p *peeker) store(strategy string) (floodgate.Store, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stores[strategy]; s != nil {
		return s, nil
	}
	u, err := url.Parse(p.uri)
	if err != nil {
		return nil, usagef("storage %s: %v", redactURI(p.uri), err)
	}
	q := u.Query()
	q.Set("strategy", strategy)
	u.RawQuery = q.Encode()
	s, err := openStorage(u.String())
	if err != nil {
		return nil, err
	}
	p.stores[strategy] = s
	return s, nil
}

func (p *peeker) close() {
	for _, s := range p.stores {
		_ = s.Close()
	}
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

// counterKey is a parsed redisstore key: prefix{tag}:X:count/period[/burst],
// or prefix{tag}:=key:X:… for a user key with a hash tag of its own.
type counterKey struct {
	tag, strategy string // tag: the user key, or its digest ('#' and hex)
	count         int64
	period        time.Duration
	limit         string      // as -limit takes it, " burst N" appended
	lim           limit.Limit // the limit, burst included
}

// hashed reports whether the key's tag is redisstore's hashed form of a
// user key ("#" and hex digits), which no user key can name: redisstore
// hashes every key that starts with '#'.
func (ck counterKey) hashed() bool { return strings.HasPrefix(ck.tag, "#") }

func isWindow(strategy string) bool {
	return strategy == "sliding-window" || strategy == "fixed-window"
}

// parseKey parses a redisstore key under prefix; ok is false for a key
// of another layout. Its user key is the hash tag, prefix{key}:x:spec,
// or, for a user key with a hash tag of its own, follows '=' after the
// tag: prefix{tag}:=key:x:spec (the tag holds no '}', the spec no ':').
func parseKey(k, prefix string) (ck counterKey, ok bool) {
	rest, ok := strings.CutPrefix(k, prefix+"{")
	if !ok {
		return ck, false
	}
	if ck.tag, rest, ok = strings.Cut(rest, "}:"); !ok {
		return ck, false
	}
	var x, spec string
	if own, isOwn := strings.CutPrefix(rest, "="); isOwn {
		j := strings.LastIndexByte(own, ':')
		i := strings.LastIndexByte(own[:max(j, 0)], ':')
		if i < 0 {
			return ck, false
		}
		ck.tag, x, spec = own[:i], own[i+1:j], own[j+1:]
	} else if x, spec, ok = strings.Cut(rest, ":"); !ok {
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
		b, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return ck, false
		}
		if l, err = l.WithBurst(b); err != nil {
			return ck, false
		}
		ck.limit += " burst " + parts[2]
	}
	ck.lim = l
	return ck, true
}

// scanTop scans the keys under prefix with SCAN and returns the n
// counters nearest their limit, by the fraction of the limit used. For a
// window counter, used is the count the window script would weigh now:
// the current window's count, plus for the sliding window the previous
// window's count weighted by its overlap, both rolled forward to the
// server's clock. For a GCRA bucket or a moving-window log, used is what
// the store's own Peek says is spent: the limit's capacity (the burst, or
// the count) less the units it would allow now. Every row listed carries
// the Decision of a Peek: whether a request would be allowed now, how
// many units would remain, and when a denied one may retry.
func scanTop(ctx context.Context, client rueidis.Client, prefix string, n int, peek peekFunc) (topResult, error) {
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
		var peeked []topRow
		for _, k := range e.Elements {
			ck, ok := parseKey(k, prefix)
			switch {
			case !ok:
			case isWindow(ck.strategy):
				keys, cks = append(keys, k), append(cks, ck)
			case ck.hashed():
				res.Skipped[ck.strategy]++
			default:
				peeked = append(peeked, topRow{RedisKey: k, ck: ck})
			}
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
		if err := peekRows(ctx, peeked, peek); err != nil {
			return res, err
		}
		for _, r := range peeked {
			res.Keys = append(res.Keys, r.fromPeek())
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
	// The window rows listed get their Decision too; a hashed one cannot
	// be named to the store and keeps none.
	var rest []topRow
	var at []int
	for i, r := range res.Keys {
		if r.Allowed == nil && !r.ck.hashed() {
			rest, at = append(rest, r), append(at, i)
		}
	}
	if err := peekRows(ctx, rest, peek); err != nil {
		return res, err
	}
	for j, i := range at {
		res.Keys[i] = rest[j]
	}
	if len(res.Skipped) == 0 {
		res.Skipped = nil
	}
	return res, nil
}

// peekRows sets the Decision fields of each row from a Peek of its key,
// with up to peekConcurrency Peeks in flight, and returns the first
// error.
func peekRows(ctx context.Context, rows []topRow, peek peekFunc) error {
	sem := make(chan struct{}, peekConcurrency)
	errs := make([]error, len(rows))
	var wg sync.WaitGroup
	for i := range rows {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := &rows[i]
			d, err := peek(ctx, r.ck.strategy, r.ck.tag, r.ck.lim)
			if err != nil {
				errs[i] = err
				return
			}
			retry := d.RetryAfter.Seconds()
			if d.RetryAfter == limit.Never {
				r.RetryNever, retry = true, 0
			}
			r.Allowed, r.Remaining, r.RetryAfter = &d.Allowed, &d.Remaining, &retry
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err // the first: when Redis is gone, every Peek says so
		}
	}
	return nil
}

// fromPeek returns the row of a GCRA or moving-window key from its Peek:
// used is the capacity (the burst, or the count) less the units the
// store would allow now, Remaining plus the one the Peek described when
// it would be allowed.
func (r topRow) fromPeek() topRow {
	capacity := r.ck.lim.Count()
	if r.ck.strategy == "gcra" {
		capacity = r.ck.lim.Burst()
	}
	avail := *r.Remaining
	if *r.Allowed {
		avail++
	}
	used := capacity - min(avail, capacity)
	r.Key, r.Strategy, r.Limit, r.Count = r.ck.tag, r.ck.strategy, r.ck.limit, r.ck.count
	r.Used, r.Fraction = float64(used), float64(used)/float64(capacity)
	return r
}

// windowCounter reads a window counter's epoch, prev and cur as the
// window script stores them (redisstore/lua/window.lua): 21 bytes, each
// number 7 of them, unsigned, little endian; or the text "epoch prev
// cur" that the script wrote before and still reads. ok is false for
// anything else, and for numbers of 2^53 or more, which the script
// never writes.
func windowCounter(v string) (nums [3]int64, ok bool) {
	if len(v) == 21 {
		for i := range nums {
			for j := 7*i + 6; j >= 7*i; j-- {
				nums[i] = nums[i]<<8 | int64(v[j])
			}
		}
		if max(nums[0], nums[1], nums[2]) < 1<<53 {
			return nums, true
		}
	}
	f := strings.Fields(v)
	if len(f) != 3 {
		return nums, false
	}
	for i, s := range f {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil || x < 0 || x >= 1<<53 {
			return nums, false
		}
		nums[i] = x
	}
	return nums, true
}

// windowRow reads a window counter (see windowCounter) as the window
// script would at now (microseconds on the server's clock).
func windowRow(ck counterKey, key, v string, now int64) (topRow, bool) {
	nums, ok := windowCounter(v)
	if !ok {
		return topRow{}, false
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
		ck:       ck,
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
