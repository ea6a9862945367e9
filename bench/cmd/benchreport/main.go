// Command benchreport turns the CSV that `benchstat -format csv` prints for
// one input file into the Markdown tables of bench/RESULTS.md, and checks
// Floodgate's targets against the medians. It reads the CSV on standard
// input and writes Markdown to standard output.
//
// Benchmarks of the bench package, named Workload/impl=NAME, become one
// table per metric with a row per column (impl) and a column per workload.
// Benchmarks of other packages (bench/redisbench, bench/httpbench, ...)
// are listed as they come, one row per benchmark.
package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const rootPkg = "github.com/floodgate-go/floodgate/bench"

// medians[pkg][name][unit] = median value, in the unit as benchstat
// prints it (sec/op, B/op, ...).
type medians map[string]map[string]map[string]float64

func main() {
	m, order, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if root, ok := m[rootPkg]; ok {
		writeRoot(w, root)
	}
	for _, pkg := range order[""] {
		if pkg == rootPkg {
			continue
		}
		writeGeneric(w, pkg, m[pkg], order[pkg])
	}
}

// parse reads benchstat CSV. order[""] lists packages in input order and
// order[pkg] the benchmark names of pkg.
func parse(r io.Reader) (medians, map[string][]string, error) {
	m := medians{}
	order := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	pkg, unit := "", ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg: "))
			if _, ok := m[pkg]; !ok {
				m[pkg] = map[string]map[string]float64{}
				order[""] = append(order[""], pkg)
			}
			continue
		case line == "" || !strings.Contains(line, ","):
			continue
		}
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil || len(rec) < 2 {
			continue
		}
		if rec[0] == "" {
			// A header: ",file," or ",unit,CI".
			if len(rec) >= 3 && rec[2] == "CI" {
				unit = rec[1]
			}
			continue
		}
		if rec[0] == "geomean" || pkg == "" {
			continue
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			continue
		}
		name := rec[0]
		if m[pkg][name] == nil {
			m[pkg][name] = map[string]float64{}
			order[pkg] = append(order[pkg], name)
		}
		m[pkg][name][unit] = v
	}
	return m, order, sc.Err()
}

var nameRE = regexp.MustCompile(`^([^/]+)/impl=(.+?)(-\d+)?$`)

// table is the bench package's results: cell[workload][impl][unit].
type table struct {
	cell      map[string]map[string]map[string]float64
	workloads []string
	impls     []string
}

func (t table) get(wl, impl, unit string) (float64, bool) {
	v, ok := t.cell[wl][impl][unit]
	return v, ok
}

func writeRoot(w io.Writer, root map[string]map[string]float64) {
	t := table{cell: map[string]map[string]map[string]float64{}}
	for name, units := range root {
		sm := nameRE.FindStringSubmatch(name)
		if sm == nil {
			continue
		}
		wl, impl := sm[1], sm[2]
		if t.cell[wl] == nil {
			t.cell[wl] = map[string]map[string]float64{}
		}
		t.cell[wl][impl] = units
		if !slices.Contains(t.impls, impl) {
			t.impls = append(t.impls, impl)
		}
	}
	known := []string{"HotKey", "HotKeyParallel", "ManyKeys", "ZipfParallel", "Deny", "Insert", "Churn"}
	for _, wl := range known {
		if t.cell[wl] != nil {
			t.workloads = append(t.workloads, wl)
		}
	}
	implOrder := []string{"floor-array", "floor-map", "floodgate-sliding", "floodgate-fixed", "floodgate-gcra", "floodgate-moving", "floodgate-sliding-large", "floodgate-fixed-large", "floodgate-gcra-large", "sethvargo", "ulule", "httprate", "throttled", "xrate-xsync"}
	slices.SortStableFunc(t.impls, func(a, b string) int {
		ia, ib := slices.Index(implOrder, a), slices.Index(implOrder, b)
		if ia < 0 {
			ia = len(implOrder)
		}
		if ib < 0 {
			ib = len(implOrder)
		}
		return ia - ib
	})

	callWL := []string{"HotKey", "HotKeyParallel", "ManyKeys", "ZipfParallel", "Deny"}
	fmt.Fprintln(w, "### Time per call (ns/op, median)")
	fmt.Fprintln(w)
	writeMatrix(w, t, callWL, "sec/op", 1e9, "%.1f")
	fmt.Fprintln(w, "### Allocations per call (allocs/op, median)")
	fmt.Fprintln(w)
	writeMatrix(w, t, callWL, "allocs/op", 1, "%.0f")

	fmt.Fprintln(w, "### Memory and inserts (median)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| impl | B/key at N keys | ns/insert | allocs/insert | churn MB-steady | churn MB-peak | churn ns/insert |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
	for _, im := range t.impls {
		if _, ok := t.cell["Insert"][im]; !ok {
			if _, ok := t.cell["Churn"][im]; !ok {
				continue
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", im,
			cellf(t, "Insert", im, "B/key", 1, "%.1f"),
			cellf(t, "Insert", im, "sec/insert", 1e9, "%.0f"),
			cellf(t, "Insert", im, "allocs/insert", 1, "%.4f"),
			cellf(t, "Churn", im, "B-steady", 1e-6, "%.1f"),
			cellf(t, "Churn", im, "B-peak", 1e-6, "%.1f"),
			cellf(t, "Churn", im, "sec/insert", 1e9, "%.0f"))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "### Wrong answers")
	fmt.Fprintln(w)
	flagged := false
	for _, wl := range t.workloads {
		for _, im := range t.impls {
			if v, ok := t.get(wl, im, "wrong/op"); ok && v > 0 {
				fmt.Fprintf(w, "- **%s** in %s: %.3g wrong answers per call (median)\n", im, wl, v)
				flagged = true
			}
		}
	}
	if !flagged {
		fmt.Fprintln(w, "None: every column answered every call correctly (median wrong/op = 0 everywhere).")
	}
	fmt.Fprintln(w)
	writeTargets(w, t)
}

func cellf(t table, wl, im, unit string, scale float64, format string) string {
	v, ok := t.get(wl, im, unit)
	if !ok {
		return "–"
	}
	s := fmt.Sprintf(format, v*scale)
	if wr, ok := t.get(wl, im, "wrong/op"); ok && wr > 0 {
		s += " ⚠"
	}
	return s
}

func writeMatrix(w io.Writer, t table, wls []string, unit string, scale float64, format string) {
	fmt.Fprint(w, "| impl |")
	for _, wl := range wls {
		fmt.Fprintf(w, " %s |", wl)
	}
	fmt.Fprint(w, "\n|---|")
	for range wls {
		fmt.Fprint(w, "--:|")
	}
	fmt.Fprintln(w)
	for _, im := range t.impls {
		fmt.Fprintf(w, "| %s |", im)
		for _, wl := range wls {
			fmt.Fprintf(w, " %s |", cellf(t, wl, im, unit, scale, format))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "⚠ marks a cell whose column gave wrong answers (see below); – means not run.")
	fmt.Fprintln(w)
}

// floodgateCols are the Floodgate columns the targets judge: each
// strategy at a small count (the one-word cell) and at a large one (the
// two-word cell), with the small column each large one is compared to.
var floodgateCols = []struct{ name, small string }{
	{"floodgate-sliding", ""},
	{"floodgate-fixed", ""},
	{"floodgate-gcra", ""},
	{"floodgate-sliding-large", "floodgate-sliding"},
	{"floodgate-fixed-large", "floodgate-fixed"},
	{"floodgate-gcra-large", "floodgate-gcra"},
}

// writeTargets checks the targets of issue 23 ("Engine at the floor")
// against the medians: each Floodgate column against floor-array, each
// large-count column against its small-count twin, memory and
// allocations. A target that does not apply to a column reads "–".
func writeTargets(w io.Writer, t table) {
	fmt.Fprintln(w, "### Targets")
	fmt.Fprintln(w)
	fmt.Fprint(w, "| target |")
	for _, c := range floodgateCols {
		fmt.Fprintf(w, " %s |", c.name)
	}
	fmt.Fprint(w, " verdict |\n|---|")
	for range floodgateCols {
		fmt.Fprint(w, "--:|")
	}
	fmt.Fprintln(w, "---|")
	ns := func(wl, im string) float64 {
		v, ok := t.get(wl, im, "sec/op")
		if !ok {
			return math.NaN()
		}
		return v * 1e9
	}
	get := func(wl, im, unit string) float64 {
		v, ok := t.get(wl, im, unit)
		if !ok {
			return math.NaN()
		}
		return v
	}
	type check struct {
		name string
		// val returns the column's value, and false when the target
		// does not apply to it.
		val  func(im, small string) (float64, bool)
		ok   func(v float64) bool
		unit string
	}
	vsFloor := func(wl string) func(im, small string) (float64, bool) {
		return func(im, small string) (float64, bool) {
			return ns(wl, im) / ns(wl, "floor-array"), small == ""
		}
	}
	vsSmall := func(wl string) func(im, small string) (float64, bool) {
		return func(im, small string) (float64, bool) {
			return ns(wl, im) / ns(wl, small), small != ""
		}
	}
	le := func(x float64) func(float64) bool { return func(v float64) bool { return v <= x } }
	callWLs := []string{"HotKey", "HotKeyParallel", "ManyKeys", "ZipfParallel", "Deny"}
	checks := []check{
		{"hot key sequential ≤ 1.5× floor-array", vsFloor("HotKey"), le(1.5), "×"},
		{"hot key parallel ≤ 2× floor-array", vsFloor("HotKeyParallel"), le(2), "×"},
		{"N keys sequential ≤ 1.3× floor-array", vsFloor("ManyKeys"), le(1.3), "×"},
		{"zipf parallel ≤ 1.2× floor-array", vsFloor("ZipfParallel"), le(1.2), "×"},
		{"≤ 24 B per live key (small count)", func(im, small string) (float64, bool) { return get("Insert", im, "B/key"), small == "" }, le(24), " B"},
		{"large count: hot key ≤ 1.3× small", vsSmall("HotKey"), le(1.3), "×"},
		{"large count: hot key parallel ≤ 1.3× small", vsSmall("HotKeyParallel"), le(1.3), "×"},
		{"large count: N keys ≤ 1.3× small", vsSmall("ManyKeys"), le(1.3), "×"},
		{"large count: zipf ≤ 1.3× small", vsSmall("ZipfParallel"), le(1.3), "×"},
		{"large count: ≤ 48 B per live key", func(im, small string) (float64, bool) { return get("Insert", im, "B/key"), small != "" }, le(48), " B"},
		{"no allocation per new key (< 1 per 1,000: the tables' growth)", func(im, _ string) (float64, bool) { return get("Insert", im, "allocs/insert"), true }, func(v float64) bool { return v < 0.001 }, ""},
		{"0 allocs per call, known keys (max over call workloads)", func(im, _ string) (float64, bool) {
			mx := math.NaN()
			for _, wl := range callWLs {
				if v, ok := t.get(wl, im, "allocs/op"); ok {
					if math.IsNaN(mx) {
						mx = v
					}
					mx = max(mx, v)
				}
			}
			return mx, true
		}, func(v float64) bool { return v == 0 }, ""},
		{"0 wrong answers (sum of medians)", func(im, _ string) (float64, bool) {
			s := 0.0
			for _, wl := range t.workloads {
				v, _ := t.get(wl, im, "wrong/op")
				s += v
			}
			return s, true
		}, func(v float64) bool { return v == 0 }, ""},
	}
	for _, c := range checks {
		fmt.Fprintf(w, "| %s |", c.name)
		var missed []string
		measured := 0
		for _, col := range floodgateCols {
			v, applies := c.val(col.name, col.small)
			switch {
			case !applies:
				fmt.Fprint(w, " – |")
				continue
			case math.IsNaN(v):
				fmt.Fprint(w, " n/m |")
				continue
			}
			measured++
			mark := ""
			if !c.ok(v) {
				mark = " ✗"
				missed = append(missed, strings.TrimPrefix(col.name, "floodgate-"))
			}
			fmt.Fprintf(w, " %.3g%s%s |", v, c.unit, mark)
		}
		verdict := "met"
		switch {
		case measured == 0:
			verdict = "not measured"
		case len(missed) > 0:
			verdict = "**missed** (" + strings.Join(missed, ", ") + ")"
		}
		fmt.Fprintf(w, " %s |\n", verdict)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "n/m: not measured in this run; ✗: the column misses the target.")
	fmt.Fprintln(w)
}

func writeGeneric(w io.Writer, pkg string, rows map[string]map[string]float64, names []string) {
	var units []string
	for _, n := range names {
		for u := range rows[n] {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	slices.Sort(units)
	fmt.Fprintf(w, "### %s (median)\n\n| benchmark |", pkg)
	for _, u := range units {
		fmt.Fprintf(w, " %s |", u)
	}
	fmt.Fprint(w, "\n|---|")
	for range units {
		fmt.Fprint(w, "--:|")
	}
	fmt.Fprintln(w)
	for _, n := range names {
		fmt.Fprintf(w, "| %s |", n)
		for _, u := range units {
			if v, ok := rows[n][u]; ok {
				fmt.Fprintf(w, " %.4g |", v)
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}
