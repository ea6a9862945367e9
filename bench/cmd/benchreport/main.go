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
			cellf(t, "Insert", im, "allocs/insert", 1, "%.3f"),
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

var peers = []string{"sethvargo", "ulule", "httprate", "throttled", "xrate-xsync"}

func writeTargets(w io.Writer, t table) {
	fmt.Fprintln(w, "### Targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | floodgate-sliding | floodgate-fixed | verdict |")
	fmt.Fprintln(w, "|---|--:|--:|---|")
	ns := func(wl, im string) float64 {
		v, ok := t.get(wl, im, "sec/op")
		if !ok {
			return math.NaN()
		}
		return v * 1e9
	}
	fastestPeer := func(wl string) (string, float64) {
		best, bn := math.Inf(1), ""
		for _, p := range peers {
			if v := ns(wl, p); v < best {
				best, bn = v, p
			}
		}
		return bn, best
	}
	type check struct {
		name string
		val  func(im string) float64
		ok   func(v float64) bool
		unit string
	}
	fp, fpv := fastestPeer("HotKey")
	checks := []check{
		{"hot key sequential ≤ 2.5× floor-array", func(im string) float64 { return ns("HotKey", im) / ns("HotKey", "floor-array") }, func(v float64) bool { return v <= 2.5 }, "×"},
		{fmt.Sprintf("hot key sequential ≥ 3× faster than fastest peer (%s, %.1f ns)", fp, fpv), func(im string) float64 { return fpv / ns("HotKey", im) }, func(v float64) bool { return v >= 3 }, "×"},
		{"N keys sequential ≤ 1.3× floor-map", func(im string) float64 { return ns("ManyKeys", im) / ns("ManyKeys", "floor-map") }, func(v float64) bool { return v <= 1.3 }, "×"},
		{"zipf parallel ≤ 1.3× floor-map", func(im string) float64 { return ns("ZipfParallel", im) / ns("ZipfParallel", "floor-map") }, func(v float64) bool { return v <= 1.3 }, "×"},
		{"deny path ≤ allow path (Deny / HotKey)", func(im string) float64 { return ns("Deny", im) / ns("HotKey", im) }, func(v float64) bool { return v <= 1 }, "×"},
		{"≤ 48 B per live key", func(im string) float64 { v, _ := t.get("Insert", im, "B/key"); return v }, func(v float64) bool { return v <= 48 }, " B"},
		{"0 allocs per call, known keys (max over call workloads)", func(im string) float64 {
			mx := 0.0
			for _, wl := range []string{"HotKey", "HotKeyParallel", "ManyKeys", "ZipfParallel", "Deny"} {
				if v, ok := t.get(wl, im, "allocs/op"); ok {
					mx = max(mx, v)
				}
			}
			return mx
		}, func(v float64) bool { return v == 0 }, ""},
		{"≤ 1 alloc per new key", func(im string) float64 { v, _ := t.get("Insert", im, "allocs/insert"); return v }, func(v float64) bool { return v <= 1 }, ""},
		{"0 wrong answers (sum of medians)", func(im string) float64 {
			s := 0.0
			for _, wl := range t.workloads {
				v, _ := t.get(wl, im, "wrong/op")
				s += v
			}
			return s
		}, func(v float64) bool { return v == 0 }, ""},
	}
	for _, c := range checks {
		a, b := c.val("floodgate-sliding"), c.val("floodgate-fixed")
		verdict := "met"
		switch {
		case math.IsNaN(a) || math.IsNaN(b):
			verdict = "not measured"
		case !c.ok(a) && !c.ok(b):
			verdict = "**missed**"
		case !c.ok(a):
			verdict = "**missed** (sliding)"
		case !c.ok(b):
			verdict = "**missed** (fixed)"
		}
		fmt.Fprintf(w, "| %s | %.3g%s | %.3g%s | %s |\n", c.name, a, c.unit, b, c.unit, verdict)
	}
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
