package suite

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tickraft/raft/bench/driver"
)

// ChildFlag is the flag that makes a benchmark command run one measurement
// as a child process (see ChildMain) instead of its usual work.
const ChildFlag = "child"

// ChildArgs are the arguments that make a command calling ChildMain run
// workload w against target once, with opts' duration, warm-up and cluster
// size, and a CPU profile. (Run by hand, a child also takes -cpuprofile
// FILE, to keep that profile.)
func ChildArgs(target string, w Workload, opts Options) []string {
	return []string{
		"-" + ChildFlag,
		"-target", target,
		"-workload", w.Name,
		"-duration", opts.Duration.String(),
		"-warmup", opts.Warmup.String(),
		"-nodes", fmt.Sprint(opts.Cluster.Nodes),
		"-heap-every", opts.HeapWindow.String(),
	}
}

// IsChild says whether the command was started by ChildArgs.
func IsChild(args []string) bool {
	return len(args) > 0 && args[0] == "-"+ChildFlag
}

// ChildMain carries out a measurement requested with ChildArgs (args
// without the program name) against one of targets, writes its Result as
// JSON to stdout and exits. Every measurement runs in a process of its own,
// so no run inherits another's heap, goroutines or GC pacing, and a
// library version that cannot be linked beside another (etcd raft v3.6
// and v3.7 are one module) runs from a binary of its own.
func ChildMain(targets []Target, args []string) {
	if err := child(targets, args); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func child(targets []Target, args []string) error {
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	fs.Bool(ChildFlag, false, "run one measurement")
	var (
		target   = fs.String("target", "", "target name")
		workload = fs.String("workload", "", "workload name")
		duration = fs.Duration("duration", 3*time.Second, "measured time")
		warmup   = fs.Duration("warmup", 500*time.Millisecond, "warm-up time")
		nodes    = fs.Int("nodes", driver.DefaultNodes, "voters")
		cpuprof  = fs.String("cpuprofile", "", "write the run's CPU profile to this file")
		heap     = fs.Duration("heap-every", 0, "print the peak live heap of every window of this length to stderr")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var t *Target
	for i := range targets {
		if targets[i].Name == *target {
			t = &targets[i]
		}
	}
	if t == nil {
		return fmt.Errorf("no target %q", *target)
	}
	var w *Workload
	for i := range Workloads {
		if Workloads[i].Name == *workload {
			w = &Workloads[i]
		}
	}
	if w == nil {
		return fmt.Errorf("no workload %q", *workload)
	}
	res, err := Run(*t, *w, Options{
		Duration: *duration,
		Warmup:   *warmup,
		Cluster:  driver.Options{Nodes: *nodes},
		Profile:  true,

		ProfileFile: *cpuprof,
		HeapWindow:  *heap,
		OnHeapWindow: func(end time.Duration, peak uint64) {
			fmt.Fprintf(os.Stderr, "%-14s %-15s at %8s: peak live heap %.1f MiB\n", w.Name, t.Name, end, float64(peak)/(1<<20))
		},
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
