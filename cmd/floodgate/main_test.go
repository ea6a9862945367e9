package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/internal/redistest"
	"github.com/floodgate-go/floodgate/internal/seam"
	"github.com/floodgate-go/floodgate/limit"
)

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command in-process with env as its environment.
func runCmd(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runCmdCtx(t, context.Background(), env, args...)
}

// runCmdCtx runs the command in-process with ctx and env.
func runCmdCtx(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// lockOut counts n requests of key against l in the store at uri.
func lockOut(t *testing.T, uri, key string, n int, l limit.Limit) {
	t.Helper()
	lockOutCtx(t, context.Background(), uri, key, n, l)
}

// lockOutCtx is lockOut with ctx, which may carry a test clock.
func lockOutCtx(t *testing.T, ctx context.Context, uri, key string, n int, l limit.Limit) {
	t.Helper()
	store, err := openStorage(uri) // with a timeout of 1 s, not the library's 50 ms: the test machine is shared
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i := range n {
		d, err := store.AllowN(ctx, key, 1, l)
		if err != nil || !d.Allowed {
			t.Fatalf("request %d of %q: %+v, %v", i+1, key, d, err)
		}
	}
}

func inspectJSON(t *testing.T, env map[string]string, args ...string) keyResult {
	t.Helper()
	r := runCmd(t, env, append([]string{"inspect", "-json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("inspect %q: exit %d, stderr %q", args, r.code, r.stderr)
	}
	var k keyResult
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil {
		t.Fatalf("inspect -json: %v in %q", err, r.stdout)
	}
	return k
}

// TestUnlock locks a key out on a real Redis, then sees it with inspect
// and top and clears it with reset.
func TestUnlock(t *testing.T) {
	srv := redistest.Start(t)
	uri := srv.URI() + "/0"
	l := limit.MustParse("5/minute")
	lockOut(t, uri, "ann", 5, l)
	lockOut(t, uri, "bob", 2, l)
	lockOut(t, uri, "cy", 1, limit.MustParse("10/hour"))
	lockOut(t, uri+"?strategy=gcra", "dee", 1, l)
	lockOut(t, uri+"?strategy=moving-window", "eve", 1, l)

	k := inspectJSON(t, nil, "-storage", uri, "-limit", "5/minute", "ann")
	if k.Allowed || k.Remaining != 0 || k.RetryAfter <= 0 || k.ResetAfter <= 0 || k.Limit != "5/minute" {
		t.Fatalf("inspect of a locked-out key: %+v", k)
	}

	// The table, with the storage from FLOODGATE_STORAGE and the flags
	// after the key.
	env := map[string]string{"FLOODGATE_STORAGE": uri}
	r := runCmd(t, env, "inspect", "ann", "-limit", "5/minute")
	if r.code != 0 || !strings.Contains(r.stdout, "ALLOWED") || !strings.Contains(r.stdout, "false") {
		t.Fatalf("inspect table: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// top: ann first (5 of 5), then bob (2 of 5), then the GCRA and
	// moving-window keys and cy, each 1 of 5 or 10 (the wall clock may
	// free a GCRA unit meanwhile: TestTopGCRAMovingWindow runs on a
	// test clock).
	r = runCmd(t, env, "top", "-json")
	if r.code != 0 {
		t.Fatalf("top: exit %d, stderr %q", r.code, r.stderr)
	}
	var top topResult
	if err := json.Unmarshal([]byte(r.stdout), &top); err != nil {
		t.Fatalf("top -json: %v in %q", err, r.stdout)
	}
	var keys []string
	for _, row := range top.Keys {
		keys = append(keys, row.Key)
	}
	if len(keys) != 5 || keys[0] != "ann" || keys[1] != "bob" || !slices.Contains(keys, "cy") ||
		!slices.Contains(keys, "dee") || !slices.Contains(keys, "eve") {
		t.Fatalf("top keys %q, want ann, bob, then cy, dee and eve: %+v", keys, top)
	}
	// A minute may turn between the requests and top: the counts then
	// move from current to previous, weighted by the window's overlap.
	if a := top.Keys[0]; a.Current+a.Previous != 5 || a.Count != 5 || a.Used <= 0 || a.Used > 5 ||
		a.Fraction != a.Used/5 || a.Strategy != "sliding-window" || a.Limit != "5/minute" {
		t.Fatalf("top's ann: %+v", a)
	}
	if a := top.Keys[0]; a.Allowed == nil || *a.Allowed || *a.Remaining != 0 || *a.RetryAfter <= 0 {
		t.Fatalf("top's ann has no denial's Decision: %+v", a)
	}
	if top.Skipped != nil {
		t.Fatalf("top skipped %v, want none", top.Skipped)
	}
	r = runCmd(t, env, "top", "-n", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "ann") || strings.Contains(r.stdout, "bob") || r.stderr != "" {
		t.Fatalf("top -n 1: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runCmd(t, nil, "reset", "-storage", uri, "-limit", "5/minute", "ann")
	if r.code != 0 || !strings.Contains(r.stdout, "reset") {
		t.Fatalf("reset: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	k = inspectJSON(t, nil, "-storage", uri, "-limit", "5/minute", "ann")
	if !k.Allowed || k.Remaining != 4 || k.RetryAfter != 0 {
		t.Fatalf("inspect after reset: %+v", k)
	}
}

// TestTopGCRAMovingWindow lists GCRA buckets and moving-window logs by
// how much of each limit is spent, on a test clock that drives the Redis
// store (internal/seam), and finds each row's Decision equal to the
// library's own Peek of the key; a hashed key is skipped with a note.
func TestTopGCRAMovingWindow(t *testing.T) {
	srv := redistest.Start(t)
	uri := srv.URI() + "/0"
	clk := clock.NewManual(1_780_000_000*time.Second + 123*time.Millisecond)
	ctx := seam.WithClock(context.Background(), clk)
	type key struct {
		name, strategy string
		l              limit.Limit
		n              int
	}
	keys := []key{
		{"dee", "gcra", limit.PerMinute(5), 5},                               // 5 of 5: denied
		{"eve", "moving-window", limit.MustParse("4/hour"), 3},               // 3 of 4
		{"fay", "gcra", limit.MustParse("10/hour"), 2},                       // 2 of 10
		{"gus", "gcra", mustLimit(t, 2, time.Minute, 6), 1},                  // 1 of a burst of 6
		{strings.Repeat("h", 200), "gcra", limit.MustParse("3/minute"), 3},   // hashed: skipped
		{"{i10.0.0.1}r:/x", "moving-window", limit.MustParse("100/hour"), 1}, // a hash tag of its own
	}
	for _, k := range keys {
		lockOutCtx(t, ctx, uri+"?strategy="+k.strategy, k.name, k.n, k.l)
	}
	// check runs top and compares its rows with want (key and used),
	// and each row's Decision with the library's Peek.
	check := func(want ...string) {
		t.Helper()
		r := runCmdCtx(t, ctx, nil, "top", "-json", "-storage", uri)
		var top topResult
		if err := json.Unmarshal([]byte(r.stdout), &top); r.code != 0 || err != nil {
			t.Fatalf("top: exit %d, %v, stdout %q, stderr %q", r.code, err, r.stdout, r.stderr)
		}
		var got []string
		for _, row := range top.Keys {
			got = append(got, fmt.Sprintf("%s %g", row.Key, row.Used))
			k := keys[slices.IndexFunc(keys, func(k key) bool { return k.name == row.Key })]
			store, err := openStorage(uri + "?strategy=" + k.strategy)
			if err != nil {
				t.Fatal(err)
			}
			d, err := store.Peek(ctx, k.name, k.l)
			store.Close()
			if err != nil {
				t.Fatal(err)
			}
			if row.Allowed == nil || row.Strategy != k.strategy || *row.Allowed != d.Allowed || *row.Remaining != d.Remaining ||
				*row.RetryAfter != d.RetryAfter.Seconds() || row.Fraction != row.Used/float64(max(k.l.Burst(), k.l.Count())) {
				t.Errorf("top's %s: %+v; Peek: %+v", k.name, row, d)
			}
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("top: %q, want %q", got, want)
		}
		if top.Skipped["gcra"] != 1 || len(top.Skipped) != 1 {
			t.Errorf("top skipped %v, want one hashed gcra key", top.Skipped)
		}
	}
	check("dee 5", "eve 3", "fay 2", "gus 1", "{i10.0.0.1}r:/x 1")
	// 30 s later dee's bucket (5/minute, a unit each 12 s) has two units
	// back, and gus's (2/minute) its one: eve's log, which keeps its
	// requests for the hour, is now nearest its limit.
	clk.Advance(30 * time.Second)
	check("eve 3", "dee 3", "fay 2", "{i10.0.0.1}r:/x 1", "gus 0")

	r := runCmdCtx(t, ctx, nil, "top", "-storage", uri, "-n", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "REMAINING") || !strings.Contains(r.stdout, "RETRY AFTER") ||
		!strings.Contains(r.stderr, "skipped 1 gcra keys stored under a hashed name") {
		t.Fatalf("top table: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		if f := strings.Fields(line); len(f) < 6 || f[4] != "-" || f[5] != "-" {
			t.Errorf("top table row %q: want - for CURRENT and PREVIOUS of a bucket or a log", line)
		}
	}
}

// TestTopFixedWindow reads fixed-window counters under a custom prefix.
func TestTopFixedWindow(t *testing.T) {
	srv := redistest.Start(t)
	uri := srv.URI() + "?strategy=fixed-window&prefix=fx:"
	// A fixed window of 3,000 days: no window ends during the test.
	l, err := limit.New(4, 3000*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lockOut(t, uri, "ann", 3, l)
	lockOut(t, uri, strings.Repeat("b", 200), 1, l) // stored hashed: listed without a Peek
	lockOut(t, srv.URI(), "other", 1, l)            // default prefix: not listed
	r := runCmd(t, nil, "top", "-json", "-storage", srv.URI()+"?prefix=fx:")
	var top topResult
	if err := json.Unmarshal([]byte(r.stdout), &top); r.code != 0 || err != nil {
		t.Fatalf("top: exit %d, %v, stdout %q, stderr %q", r.code, err, r.stdout, r.stderr)
	}
	if len(top.Keys) != 2 || top.Keys[0].Key != "ann" || top.Keys[0].Strategy != "fixed-window" ||
		top.Keys[0].Used != 3 || top.Keys[0].Fraction != 0.75 {
		t.Fatalf("top: %+v", top)
	}
	if a := top.Keys[0]; a.Allowed == nil || !*a.Allowed || *a.Remaining != 0 || *a.RetryAfter != 0 {
		t.Fatalf("top's ann: %+v, want the Peek of a key with one unit left (allowed, 0 remaining after it)", a)
	}
	if b := top.Keys[1]; !strings.HasPrefix(b.Key, "#") || b.Used != 1 || b.Allowed != nil || b.Remaining != nil {
		t.Fatalf("top's hashed key: %+v, want its count and no Decision", b)
	}
	r = runCmd(t, nil, "top", "-storage", srv.URI()+"?prefix=fx:")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 3 || !strings.HasSuffix(strings.Join(strings.Fields(lines[2]), " "), "? ?") {
		t.Fatalf("top table: exit %d, stdout %q, stderr %q; want ? for the hashed key's REMAINING and RETRY AFTER", r.code, r.stdout, r.stderr)
	}
}

// TestErrors: usage errors exit 2, failures 1, each one line starting
// "floodgate: ", and a password never shows.
func TestErrors(t *testing.T) {
	const secret = "s3cretpw"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string // in stderr
	}{
		{"no command", nil, nil, 2, "usage:"},
		{"unknown command", []string{"unlock", "ann"}, nil, 2, `floodgate: unknown command "unlock"`},
		{"no limit", []string{"inspect", "-storage", "memory://", "ann"}, nil, 2, "-limit is required"},
		{"bad limit", []string{"reset", "-storage", "memory://", "-limit", "5/week", "ann"}, nil, 2, `-limit "5/week"`},
		{"no key", []string{"inspect", "-storage", "memory://", "-limit", "5/minute"}, nil, 2, "want one KEY"},
		{"two keys", []string{"inspect", "-storage", "memory://", "-limit", "5/minute", "a", "b"}, nil, 2, "want one KEY"},
		{"no storage", []string{"inspect", "-limit", "5/minute", "ann"}, nil, 2, "set -storage or FLOODGATE_STORAGE"},
		{"unknown flag", []string{"top", "-x"}, nil, 2, "flag provided but not defined"},
		{"top memory", []string{"top", "-storage", "memory://"}, nil, 2, "memory:// storage is private to the process"},
		{"top memory env", []string{"top"}, map[string]string{"FLOODGATE_STORAGE": "memory://"}, 2, "cannot be read from outside"},
		{"top cluster", []string{"top", "-storage", "redis+cluster://127.0.0.1:1"}, nil, 2, "redis://host:port/db and rediss:// only"},
		{"top n", []string{"top", "-storage", "redis://127.0.0.1:1", "-n", "0"}, nil, 2, "-n 0"},
		{"unparseable URI", []string{"inspect", "-storage", "redis://u:" + secret + "@host:%zz/0", "-limit", "5/minute", "ann"}, nil, 2, "unparseable"},
		{"unparseable URI top", []string{"top", "-storage", "redis://u:" + secret + "@host:%zz/0"}, nil, 2, "unparseable"},
		{"bad parameter", []string{"inspect", "-storage", "redis://u:" + secret + "@127.0.0.1:1/0?bogus=" + secret, "-limit", "5/minute", "ann"}, nil, 2, "xxxxx"},
		{"unreachable", []string{"inspect", "-storage", "redis://u:" + secret + "@127.0.0.1:1/0?timeout=100ms&dial-timeout=100ms", "-limit", "5/minute", "ann"}, nil, 1, "floodgate: inspect"},
		{"unreachable top", []string{"top", "-storage", "redis://u:" + secret + "@127.0.0.1:1/0"}, nil, 1, "u:xxxxx@127.0.0.1:1"},
		{"unreachable reset env", []string{"reset", "-limit", "5/minute", "ann"}, map[string]string{"FLOODGATE_STORAGE": "redis://:" + secret + "@127.0.0.1:1?timeout=100ms&dial-timeout=100ms"}, 1, "floodgate: reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Fatalf("the password is printed: stdout %q, stderr %q", r.stdout, r.stderr)
			}
		})
	}
}

// TestMemory: inspect and reset work on memory:// (a fresh, empty
// store: the command's own process), and -h exits 0.
func TestMemory(t *testing.T) {
	k := inspectJSON(t, nil, "-storage", "memory://", "-limit", "5/minute;100/day", "ann")
	if !k.Allowed || k.Remaining != 4 || k.Limits != "5/minute;100/day" {
		t.Fatalf("inspect on memory: %+v", k)
	}
	for _, args := range [][]string{{"-h"}, {"inspect", "-h"}, {"top", "-h"}} {
		if r := runCmd(t, nil, args...); r.code != 0 {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		ok   bool
		want counterKey
	}{
		{"floodgate:{ann}:s:5/60", true, counterKey{"ann", "sliding-window", 5, 60e9, "5/minute", limit.PerMinute(5)}},
		{"floodgate:{a:b}:f:10/500ms/20", true, counterKey{"a:b", "fixed-window", 10, 500e6, "10/500ms burst 20", mustLimit(t, 10, 500*time.Millisecond, 20)}},
		{"floodgate:{#0123}:g:5/1", true, counterKey{"#0123", "gcra", 5, 1e9, "5/second", limit.PerSecond(5)}},
		{"floodgate:{ia}:={ia}r:GET /x/{id}:s:5/60", true, counterKey{"{ia}r:GET /x/{id}", "sliding-window", 5, 60e9, "5/minute", limit.PerMinute(5)}},
		{"floodgate:{ia}:=a:b}:c:f:5/60", true, counterKey{"a:b}:c", "fixed-window", 5, 60e9, "5/minute", limit.PerMinute(5)}},
		{"floodgate:{ia}:=#0123:g:5/1", true, counterKey{"#0123", "gcra", 5, 1e9, "5/second", limit.PerSecond(5)}},
		{"floodgate:{ia}:=s:5/60", false, counterKey{}},
		{"floodgate:{ann}:g:5/1/0", false, counterKey{}},
		{"floodgate:{ann}:g:5/1/x", false, counterKey{}},
		{"floodgate:{ann}:x:5/60", false, counterKey{}},
		{"floodgate:{ann}:s:0/60", false, counterKey{}},
		{"floodgate:{ann}:s:5", false, counterKey{}},
		{"other:{ann}:s:5/60", false, counterKey{}},
	} {
		got, ok := parseKey(tc.key, "floodgate:")
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseKey(%q) = %+v, %t; want %+v, %t", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

// mustLimit returns count per period with burst (0: the count).
func mustLimit(t *testing.T, count int64, period time.Duration, burst int64) limit.Limit {
	t.Helper()
	l, err := limit.New(count, period)
	if err == nil && burst != 0 {
		l, err = l.WithBurst(burst)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}
