// Command httpratio prints the middleware cost of each router path of
// bench/httpbench as a share of sethvargo's on the same router, the
// measure of issue #20's goal: a middleware's cost on a router is its
// column minus the bare router's column, and Floodgate's must be at most
// 0.6 of sethvargo's, with at most 2 allocations per allowed request.
//
// It reads `go test -bench` output (several runs of each benchmark, as
// -count or repeated passes write them) and the Markdown table of
// bench/httpcallgrind.sh (| column | instructions |), from the files
// named, or standard input, and prints for each benchmark and path:
//
//	path: ratio
//
// with the ratio of the medians, the median (and range) of the per-run
// ratios (run i of each column against run i of its peers, which cancels
// load that changes between passes), the medians it came from, and the
// Floodgate middleware's B/op and allocs/op beside the bare router's.
//
//	go run ./cmd/httpratio results/issue20-http-NAME.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A path is one way of mounting the middleware, and the columns that
// measure it: Floodgate's, sethvargo's, and the router alone ("": none,
// for the bare middleware).
type path struct{ name, fg, peer, bare string }

var paths = []path{
	{"Limit", "floodgate", "sethvargo", ""},
	{"ServeMux", "floodgate-mux", "sethvargo-mux", "mux"},
	{"chi", "floodgate-chi", "sethvargo-chi", "chi"},
	{"gin", "floodgate-gin", "sethvargo-gin", "gin"},
	{"echo", "floodgate-echo", "sethvargo-echo", "echo"},
}

// Goals of issue #20.
const (
	goalRatio  = 0.6
	goalAllocs = 2
)

// runs[bench][column][unit] lists the values in input order.
type runs map[string]map[string]map[string][]float64

var (
	// BenchmarkAllowed/lib=floodgate-2  2481313  476.9 ns/op  208 B/op  2 allocs/op
	benchLine = regexp.MustCompile(`^Benchmark([^/\s]+)/lib=(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)
	// | floodgate | 3919 |
	tableLine = regexp.MustCompile(`^\|\s*([a-z-]+)\s*\|\s*([0-9.]+)\s*\|\s*$`)
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: httpratio [file ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	rs := runs{}
	var order []string
	read := func(r io.Reader) error { return parse(r, rs, &order) }
	if flag.NArg() == 0 {
		if err := read(os.Stdin); err != nil {
			fail(err)
		}
	}
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fail(err)
		}
		err = read(f)
		f.Close()
		if err != nil {
			fail(err)
		}
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if len(order) == 0 {
		fail(fmt.Errorf("no lib= benchmarks and no callgrind table in the input"))
	}
	for _, b := range order {
		report(w, b, rs[b])
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "httpratio:", err)
	os.Exit(1)
}

// parse adds the runs in r to rs; order lists benchmarks as they come.
func parse(r io.Reader, rs runs, order *[]string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	add := func(bench, col, unit string, v float64) {
		if rs[bench] == nil {
			rs[bench] = map[string]map[string][]float64{}
			*order = append(*order, bench)
		}
		if rs[bench][col] == nil {
			rs[bench][col] = map[string][]float64{}
		}
		rs[bench][col][unit] = append(rs[bench][col][unit], v)
	}
	for sc.Scan() {
		line := sc.Text()
		if m := benchLine.FindStringSubmatch(line); m != nil {
			f := strings.Fields(m[3])
			for i := 0; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					return fmt.Errorf("%q: %w", line, err)
				}
				add(m[1], m[2], f[i+1], v)
			}
			continue
		}
		if m := tableLine.FindStringSubmatch(line); m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return fmt.Errorf("%q: %w", line, err)
			}
			add("callgrind", m[1], "instructions", v)
		}
	}
	return sc.Err()
}

// report writes one benchmark's paths.
func report(w io.Writer, bench string, cols map[string]map[string][]float64) {
	unit := "ns/op"
	if bench == "callgrind" {
		unit = "instructions"
	}
	fmt.Fprintf(w, "%s (%s; middleware = column - bare router; goal <= %.1f of sethvargo's, <= %d allocs)\n", bench, unit, goalRatio, goalAllocs)
	for _, p := range paths {
		fg, peer := cols[p.fg][unit], cols[p.peer][unit]
		if len(fg) == 0 || len(peer) == 0 {
			continue
		}
		var bare []float64
		if p.bare != "" {
			if bare = cols[p.bare][unit]; len(bare) == 0 {
				continue
			}
		}
		ratio := share(median(fg), median(peer), median(bare))
		fmt.Fprintf(w, "%s: %.2f", p.name, ratio)
		if n := min(len(fg), len(peer)); n > 1 && (p.bare == "" || len(bare) >= n) {
			per := make([]float64, n)
			for i := range n {
				b := 0.0
				if p.bare != "" {
					b = bare[i]
				}
				per[i] = share(fg[i], peer[i], b)
			}
			fmt.Fprintf(w, "  per-run median %.2f (%.2f..%.2f, n=%d)", median(per), slices.Min(per), slices.Max(per), n)
		}
		fmt.Fprintf(w, "  [medians: %s %.0f, %s %.0f", p.fg, median(fg), p.peer, median(peer))
		if p.bare != "" {
			fmt.Fprintf(w, ", %s %.0f", p.bare, median(bare))
		}
		fmt.Fprint(w, "]")
		if allocs := cols[p.fg]["allocs/op"]; len(allocs) > 0 {
			own := median(allocs) - median(cols[p.bare]["allocs/op"])
			ownB := median(cols[p.fg]["B/op"]) - median(cols[p.bare]["B/op"])
			peerA := median(cols[p.peer]["allocs/op"]) - median(cols[p.bare]["allocs/op"])
			peerB := median(cols[p.peer]["B/op"]) - median(cols[p.bare]["B/op"])
			fmt.Fprintf(w, "  middleware: %.0f B/op %.0f allocs/op (sethvargo %.0f B/op %.0f allocs/op)", ownB, own, peerB, peerA)
		}
		verdict := "meets"
		if ratio > goalRatio {
			verdict = "MISSES"
		}
		fmt.Fprintf(w, "  %s the %.1f goal", verdict, goalRatio)
		if allocs := cols[p.fg]["allocs/op"]; len(allocs) > 0 && median(allocs)-median(cols[p.bare]["allocs/op"]) > goalAllocs {
			fmt.Fprintf(w, "; over %d allocs", goalAllocs)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// share is the middleware's cost beside its peer's, each less the bare
// router's.
func share(fg, peer, bare float64) float64 { return (fg - bare) / (peer - bare) }

// median returns the median of vs, 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
