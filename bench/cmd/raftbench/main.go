// Command raftbench measures tickraft beside etcd raft (v3.7.0 and v3.6.0)
// and hashicorp/raft on the benchmark workloads and prints a table of
// medians.
//
// Every run is a process of its own (this command started again as a
// child, or the etcd36 module's command for etcd raft v3.6.0), so no run
// inherits another's heap or goroutines. Runs alternate between the
// targets, workload by workload, so that drift of the machine hits all
// alike. Each run measures the CPU other processes used meanwhile; a run
// where they used more than -max-other cores is redone up to -redo times
// (the least disturbed attempt is kept) and flagged if still disturbed.
//
//	go run ./cmd/raftbench [-runs 3] [-duration 3s] [-warmup 500ms] [-workloads REGEXP] [-impls REGEXP]
//	    [-json FILE] [-nodes 3] [-max-other 0.2] [-redo 1] [-etcd36 DIR] [-heap-every D]
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
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/tickraft/raft/bench/driver"
	"github.com/tickraft/raft/bench/suite"
	"github.com/tickraft/raft/bench/targets"
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
	MaxOther   float64           `json:"max_other_cores"`
	// LoadAvg is /proc/loadavg at the start and at the end.
	LoadAvg []string `json:"loadavg"`
}

// Run is one measurement as the table uses it.
type Run struct {
	suite.Result
	// Attempts is how many times the run was made (more than 1: redone
	// because other processes used the CPU).
	Attempts int `json:"attempts"`
	// Disturbed says that even the kept attempt had other processes on
	// the CPU (more than -max-other cores).
	Disturbed bool `json:"disturbed"`
}

// etcd36 names the target measured by the etcd36 module's binary.
const etcd36 = "etcd-v3.6"

type config struct {
	runs, nodes, redo             int
	duration, warmup              time.Duration
	workloads, impls, json, dir36 string
	maxOther                      float64
	heapEvery                     time.Duration
}

func main() {
	if suite.IsChild(os.Args[1:]) {
		suite.ChildMain(targets.All(), os.Args[1:])
	}
	var c config
	flag.IntVar(&c.runs, "runs", 3, "runs per target and workload; figures are medians")
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "measured time of each run")
	flag.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "puts run before each measurement")
	flag.StringVar(&c.workloads, "workloads", "", "run only the workloads whose names match this regular expression")
	flag.StringVar(&c.impls, "impls", "", "run only the targets whose names match this regular expression")
	flag.StringVar(&c.json, "json", "", "write every run's results to this file")
	flag.IntVar(&c.nodes, "nodes", driver.DefaultNodes, "voters per cluster")
	flag.StringVar(&c.dir36, "etcd36", "etcd36", "directory of the module that measures etcd raft v3.6.0 (empty: skip it)")
	flag.Float64Var(&c.maxOther, "max-other", 0.2, "cores other processes may use during a run before it counts as disturbed")
	flag.IntVar(&c.redo, "redo", 1, "times a disturbed run is redone")
	flag.DurationVar(&c.heapEvery, "heap-every", 0, "print the peak live heap of every window of this length (for long runs)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "raftbench:", err)
		os.Exit(1)
	}
}

// runner is a target and the binary that measures it.
type runner struct {
	suite.Target
	bin string
}

func run(c config) error {
	if c.runs < 1 {
		return fmt.Errorf("-runs must be at least 1")
	}
	ws, err := suite.Select(c.workloads)
	if err != nil {
		return err
	}
	re, err := regexp.Compile(c.impls)
	if err != nil {
		return fmt.Errorf("-impls: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rs []runner
	for _, t := range targets.All() {
		if re.MatchString(t.Name) {
			rs = append(rs, runner{t, self})
		}
	}
	mods := modules()
	if c.dir36 != "" && re.MatchString(etcd36) {
		bin, err := build36(c.dir36)
		if err != nil {
			return err
		}
		defer os.RemoveAll(filepath.Dir(bin))
		t := suite.Target{Name: etcd36, Settings: "gogo-protobuf (value) messages and entries; measured by the etcd36 module's binary"}
		// After etcd-v3.7, so the etcd rows sit together.
		i := len(rs)
		for j, r := range rs {
			if r.Name == "etcd-v3.7" {
				i = j + 1
			}
		}
		rs = slices.Insert(rs, i, runner{t, bin})
		mods["go.etcd.io/raft/v3 (etcd36)"] = "v3.6.0"
	}
	if len(rs) == 0 {
		return fmt.Errorf("-impls %q matches no target", c.impls)
	}
	env := Env{
		Date:       time.Now().UTC().Format(time.RFC3339),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPU:        cpuModel(),
		GoVersion:  runtime.Version(),
		Command:    strings.Join(append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...), " "),
		Modules:    mods,
		Nodes:      c.nodes,
		Tick:       driver.DefaultTickInterval.String(),
		Duration:   c.duration.String(),
		Warmup:     c.warmup.String(),
		Runs:       c.runs,
		MaxOther:   c.maxOther,
		LoadAvg:    []string{loadAvg()},
	}
	printHeader(os.Stdout, env, rs)

	opts := suite.Options{Duration: c.duration, Warmup: c.warmup, Cluster: driver.Options{Nodes: c.nodes}, HeapWindow: c.heapEvery}
	var all []Run
	for _, w := range ws {
		for r := 1; r <= c.runs; r++ {
			for _, rn := range rs {
				if w.Single && rn.Impl == nil && rn.Name != etcd36 {
					continue // no single-node form
				}
				res, err := measure(rn, w, opts, c)
				if err != nil {
					return fmt.Errorf("%s %s run %d: %w", rn.Name, w.Name, r, err)
				}
				res.Run = r
				all = append(all, res)
				fmt.Fprintf(os.Stderr, "%-14s run %d/%d %-15s %10.0f puts/s  p50 %-8s cpu %s/put  other %.2f cores  attempts %d\n",
					w.Name, r, c.runs, rn.Name, res.PutsPerSec, fmtNs(float64(res.P50Ns)), fmtNs(cpuNs(res.Result)), res.OtherCPU, res.Attempts)
			}
		}
	}
	env.LoadAvg = append(env.LoadAvg, loadAvg())
	fmt.Println()
	printTable(os.Stdout, ws, rs, all)
	fmt.Printf("load average (1, 5, 15 min) at start %s, at end %s\n", env.LoadAvg[0], env.LoadAvg[1])
	if c.json == "" {
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Env  Env   `json:"env"`
		Runs []Run `json:"runs"`
	}{env, all}); err != nil {
		return err
	}
	return os.WriteFile(c.json, b.Bytes(), 0o644)
}

// measure runs w on rn in a child process, again while other processes
// used more than c.maxOther cores (up to c.redo times), and keeps the
// least disturbed attempt.
func measure(rn runner, w suite.Workload, opts suite.Options, c config) (Run, error) {
	var best Run
	for a := 1; a <= 1+c.redo; a++ {
		res, err := runChild(rn, w, opts)
		if err != nil {
			return best, err
		}
		if a == 1 || res.OtherCPU < best.OtherCPU {
			best = Run{Result: res}
		}
		best.Attempts = a
		if res.OtherCPU <= c.maxOther { // or unknown (-1): redoing would not tell
			break
		}
	}
	best.Disturbed = best.OtherCPU > c.maxOther
	return best, nil
}

// runChild is child, replaced in tests.
var runChild = child

func child(rn runner, w suite.Workload, opts suite.Options) (suite.Result, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(rn.bin, suite.ChildArgs(rn.Name, w, opts)...)
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err := cmd.Run()
	for line := range strings.Lines(errOut.String()) {
		if strings.TrimSpace(line) != suite.ProfileRateWarning {
			fmt.Fprint(os.Stderr, line)
		}
	}
	if err != nil {
		return suite.Result{}, err
	}
	var res suite.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("reading the child's result: %w", err)
	}
	return res, nil
}

// build36 builds the etcd36 module's command into a temporary directory.
func build36(dir string) (string, error) {
	tmp, err := os.MkdirTemp("", "raftbench")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(tmp, "etcd36")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("building %s (etcd raft v3.6.0; -etcd36 '' skips it): %w", dir, err)
	}
	return bin, nil
}

func printHeader(w io.Writer, env Env, rs []runner) {
	fmt.Fprintf(w, "raftbench  %s\n", env.Date)
	fmt.Fprintf(w, "command    %s\n", env.Command)
	fmt.Fprintf(w, "go         %s   GOMAXPROCS %d   cpu %s\n", env.GoVersion, env.GOMAXPROCS, env.CPU)
	var mods []string
	for _, m := range slices.Sorted(maps.Keys(env.Modules)) {
		mods = append(mods, m+" "+env.Modules[m])
	}
	fmt.Fprintf(w, "modules    %s\n", strings.Join(mods, ", "))
	fmt.Fprintf(w, "setup      %d nodes in one process, tick %s (ElectionTick %d, HeartbeatTick %d), %s warm-up + %s measured per run, one process per run,\n",
		env.Nodes, env.Tick, driver.ElectionTick, driver.HeartbeatTick, env.Warmup, env.Duration)
	fmt.Fprintf(w, "           median of %d runs alternating between targets; runs with other processes above %.2f cores redone, then flagged\n", env.Runs, env.MaxOther)
	fmt.Fprintf(w, "           %d keys split between the clients (16 B keys); MemoryStorage, no fsync; compaction every %d entries keeping %d\n",
		suite.KeySpace, driver.DefaultCompactEvery, driver.DefaultCompactEvery/2)
	for _, r := range rs {
		fmt.Fprintf(w, "target     %-15s %s\n", r.Name, r.Settings)
	}
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
		case "github.com/tickraft/raft", "go.etcd.io/raft/v3", "google.golang.org/protobuf", "github.com/hashicorp/raft":
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

func cpuNs(r suite.Result) float64 {
	if r.CPU == nil {
		return 0
	}
	return r.CPU.NsPerOp
}

func fmtNs(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fµs", ns/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", ns/1e6)
	}
	return fmt.Sprintf("%.2fs", ns/1e9)
}

func fmtBytes(b float64) string {
	return fmt.Sprintf("%.0fMiB", b/(1<<20))
}
