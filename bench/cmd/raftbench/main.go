// Command raftbench compares tickraft with etcd raft on the benchmark
// workloads and prints a table of medians.
//
// Runs alternate between the implementations (tickraft, etcd, tickraft,
// etcd, ...) so that drift of the machine during the session hits both
// alike, and each figure is the median over -runs runs.
//
//	go run ./cmd/raftbench [-runs 3] [-duration 3s] [-workloads REGEXP] [-json FILE]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tickraft/raft/bench/driver"
	"github.com/tickraft/raft/bench/suite"
)

// Env describes where and how the benchmarks ran.
type Env struct {
	Date       string            `json:"date"`
	GOMAXPROCS int               `json:"gomaxprocs"`
	CPU        string            `json:"cpu"`
	GoVersion  string            `json:"go_version"`
	Command    string            `json:"command"`
	Modules    map[string]string `json:"modules"`
	Nodes      int               `json:"nodes"`
	Tick       string            `json:"tick"`
	Duration   string            `json:"duration"`
	Warmup     string            `json:"warmup"`
	Runs       int               `json:"runs"`
	// LoadAvg is /proc/loadavg at the start and at the end: other work on
	// the machine disturbs the figures.
	LoadAvg []string `json:"loadavg"`
}

func main() {
	var (
		runs      = flag.Int("runs", 3, "runs per implementation and workload; figures are medians")
		duration  = flag.Duration("duration", 3*time.Second, "measured time of each run")
		warmup    = flag.Duration("warmup", 500*time.Millisecond, "puts run before each measurement")
		workloads = flag.String("workloads", "", "run only the workloads whose names match this regular expression")
		jsonFile  = flag.String("json", "", "write every run's results to this file")
		nodes     = flag.Int("nodes", driver.DefaultNodes, "voters per cluster")
		implsRE   = flag.String("impls", "", "run only the implementations whose names match this regular expression")
		heapEvery = flag.Duration("heap-every", 0, "print the peak live heap of every window of this length (for long runs)")
	)
	flag.Parse()
	if err := run(*runs, *duration, *warmup, *workloads, *jsonFile, *nodes, *implsRE, *heapEvery); err != nil {
		fmt.Fprintln(os.Stderr, "raftbench:", err)
		os.Exit(1)
	}
}

func run(runs int, duration, warmup time.Duration, filter, jsonFile string, nodes int, implFilter string, heapEvery time.Duration) error {
	if runs < 1 {
		return fmt.Errorf("-runs must be at least 1")
	}
	ws, err := suite.Select(filter)
	if err != nil {
		return err
	}
	env := Env{
		Date:       time.Now().Format(time.RFC3339),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPU:        cpuModel(),
		GoVersion:  runtime.Version(),
		Command:    strings.Join(append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...), " "),
		Modules:    modules(),
		Nodes:      nodes,
		Tick:       driver.DefaultTickInterval.String(),
		Duration:   duration.String(),
		Warmup:     warmup.String(),
		Runs:       runs,
		LoadAvg:    []string{loadAvg()},
	}
	printHeader(os.Stdout, env)

	implRE, err := regexp.Compile(implFilter)
	if err != nil {
		return fmt.Errorf("-impls: %w", err)
	}
	var impls []driver.Impl
	for _, impl := range suite.Impls() {
		if implRE.MatchString(impl.Name()) {
			impls = append(impls, impl)
		}
	}
	if len(impls) == 0 {
		return fmt.Errorf("-impls %q matches no implementation", implFilter)
	}
	opts := suite.Options{
		Duration:   duration,
		Warmup:     warmup,
		Cluster:    driver.Options{Nodes: nodes},
		HeapWindow: heapEvery,
	}
	var all []suite.Result
	for _, w := range ws {
		for r := 1; r <= runs; r++ {
			for _, impl := range impls {
				runtime.GC()
				debug.FreeOSMemory()
				opts.OnHeapWindow = func(end time.Duration, peak uint64) {
					fmt.Fprintf(os.Stderr, "%-14s run %d/%d %-9s at %8s: peak live heap %s\n",
						w.Name, r, runs, impl.Name(), end, fmtBytes(float64(peak)))
				}
				res, err := suite.Run(impl, w, opts)
				if err != nil {
					return fmt.Errorf("%s %s run %d: %w", impl.Name(), w.Name, r, err)
				}
				res.Run = r
				all = append(all, res)
				fmt.Fprintf(os.Stderr, "%-14s run %d/%d %-9s %10.0f puts/s  p50 %s\n",
					w.Name, r, runs, impl.Name(), res.PutsPerSec, fmtNs(float64(res.P50Ns)))
			}
		}
	}
	env.LoadAvg = append(env.LoadAvg, loadAvg())
	fmt.Println()
	printTable(os.Stdout, ws, impls, all)
	fmt.Printf("load average (1, 5, 15 min) at start %s, at end %s\n", env.LoadAvg[0], env.LoadAvg[1])
	if jsonFile != "" {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Env     Env            `json:"env"`
			Results []suite.Result `json:"results"`
		}{env, all}); err != nil {
			return err
		}
		if err := os.WriteFile(jsonFile, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func printHeader(w io.Writer, env Env) {
	fmt.Fprintf(w, "raftbench  %s\n", env.Date)
	fmt.Fprintf(w, "command    %s\n", env.Command)
	fmt.Fprintf(w, "go         %s   GOMAXPROCS %d   cpu %s\n", env.GoVersion, env.GOMAXPROCS, env.CPU)
	var mods []string
	for _, m := range slices.Sorted(maps.Keys(env.Modules)) {
		mods = append(mods, m+" "+env.Modules[m])
	}
	fmt.Fprintf(w, "modules    %s\n", strings.Join(mods, ", "))
	fmt.Fprintf(w, "setup      %d nodes in one process, tick %s, %s warm-up + %s measured per run, median of %d runs, runs alternate tickraft/etcd\n",
		env.Nodes, env.Tick, env.Warmup, env.Duration, env.Runs)
	fmt.Fprintf(w, "load       %s (1, 5, 15 min)\n", env.LoadAvg[0])
}

// modules returns the versions of the raft libraries linked in.
func modules() map[string]string {
	mods := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return mods
	}
	for _, d := range bi.Deps {
		switch d.Path {
		case "github.com/tickraft/raft", "go.etcd.io/raft/v3", "google.golang.org/protobuf":
			v := d.Version
			if d.Replace != nil {
				v = "=> " + d.Replace.Path
				if d.Replace.Version != "" {
					v += " " + d.Replace.Version
				}
			}
			mods[d.Path] = v
		}
	}
	return mods
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// summary is the median of each metric over an implementation's runs of a
// workload.
type summary struct {
	n                                    int
	puts, ns, p50, p99, p999             float64
	allocs, bytes, msgs, heap            float64
	spread                               float64 // (max-min)/median of puts/s
	leaderChanges, retries, snaps, stepE uint64
}

func summarize(rs []suite.Result) summary {
	med := func(f func(suite.Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if n := len(v); n%2 == 1 {
			return v[n/2]
		} else {
			return (v[n/2-1] + v[n/2]) / 2
		}
	}
	s := summary{
		n:      len(rs),
		puts:   med(func(r suite.Result) float64 { return r.PutsPerSec }),
		ns:     med(func(r suite.Result) float64 { return r.NsPerOp }),
		p50:    med(func(r suite.Result) float64 { return float64(r.P50Ns) }),
		p99:    med(func(r suite.Result) float64 { return float64(r.P99Ns) }),
		p999:   med(func(r suite.Result) float64 { return float64(r.P999Ns) }),
		allocs: med(func(r suite.Result) float64 { return r.AllocsPerOp }),
		bytes:  med(func(r suite.Result) float64 { return r.BytesPerOp }),
		msgs:   med(func(r suite.Result) float64 { return r.MsgsPerOp }),
		heap:   med(func(r suite.Result) float64 { return float64(r.PeakHeapBytes) }),
	}
	lo, hi := rs[0].PutsPerSec, rs[0].PutsPerSec
	for _, r := range rs {
		lo, hi = min(lo, r.PutsPerSec), max(hi, r.PutsPerSec)
		s.leaderChanges += r.LeaderChanges
		s.retries += r.Retries
		s.snaps += r.Snapshots
		s.stepE += r.StepErrors
	}
	if s.puts > 0 {
		s.spread = (hi - lo) / s.puts
	}
	return s
}

func printTable(w io.Writer, ws []suite.Workload, impls []driver.Impl, all []suite.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\timpl\tputs/s\ttickraft/etcd\tspread\tns/op\tp50\tp99\tp99.9\tallocs/op\tB/op\tmsgs/op\tpeak heap\t")
	var notes []string
	for _, wl := range ws {
		sums := make([]summary, len(impls))
		for i, impl := range impls {
			var rs []suite.Result
			for _, r := range all {
				if r.Impl == impl.Name() && r.Workload == wl.Name {
					rs = append(rs, r)
				}
			}
			sums[i] = summarize(rs)
		}
		for i, impl := range impls {
			s := sums[i]
			name, ratio := "", ""
			if i == 0 {
				name = wl.Name
				if len(sums) > 1 && sums[1].puts > 0 {
					ratio = fmt.Sprintf("%.2fx", s.puts/sums[1].puts)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t±%.0f%%\t%.0f\t%s\t%s\t%s\t%.1f\t%.0f\t%.2f\t%s\t\n",
				name, impl.Name(), s.puts, ratio, 50*s.spread, s.ns,
				fmtNs(s.p50), fmtNs(s.p99), fmtNs(s.p999),
				s.allocs, s.bytes, s.msgs, fmtBytes(s.heap))
			if s.leaderChanges+s.retries+s.snaps+s.stepE > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d leader changes, %d retried puts, %d snapshots to followers, %d refused messages during measurement",
					wl.Name, impl.Name(), s.leaderChanges, s.retries, s.snaps, s.stepE))
			}
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "tickraft/etcd is the ratio of median throughputs (>1: tickraft faster); spread is ±half the range of puts/s over the runs.")
	fmt.Fprintln(w, "allocs/op and B/op count the whole process (harness included, the same for both) per put; msgs/op counts messages between nodes.")
	for _, n := range notes {
		fmt.Fprintln(w, "disturbed:", n)
	}
}

func fmtNs(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", ns/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", ns/1e6)
	}
	return fmt.Sprintf("%.2fs", ns/1e9)
}

func fmtBytes(b float64) string {
	return fmt.Sprintf("%.1fMiB", b/(1<<20))
}
