package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tickraft/raft/bench/suite"
)

// TestMeasureRedoesDisturbedRuns checks that a run above -max-other is
// redone up to -redo times, that the least disturbed attempt is kept, and
// that it is flagged only if still above the limit.
func TestMeasureRedoesDisturbedRuns(t *testing.T) {
	defer func(f func(runner, suite.Workload, suite.Options) (suite.Result, error)) { runChild = f }(runChild)
	for _, tc := range []struct {
		name      string
		others    []float64 // other CPU of successive attempts
		redo      int
		attempts  int
		kept      float64
		disturbed bool
	}{
		{"quiet", []float64{0.1}, 2, 1, 0.1, false},
		{"quiet on the second attempt", []float64{0.9, 0.05}, 2, 2, 0.05, false},
		{"never quiet", []float64{0.9, 0.5, 0.7}, 2, 3, 0.5, true},
		{"no redo", []float64{0.9}, 0, 1, 0.9, true},
		{"unreadable counts as quiet", []float64{-1}, 2, 1, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			runChild = func(runner, suite.Workload, suite.Options) (suite.Result, error) {
				o := tc.others[calls]
				calls++
				return suite.Result{OtherCPU: o, PutsPerSec: 1000 * o}, nil
			}
			r, err := measure(runner{}, suite.Workloads[0], suite.Options{}, config{maxOther: 0.2, redo: tc.redo})
			if err != nil {
				t.Fatal(err)
			}
			if calls != tc.attempts || r.Attempts != tc.attempts || r.OtherCPU != tc.kept || r.Disturbed != tc.disturbed {
				t.Errorf("%d calls, run %+v: want %d attempts, other CPU %v kept, disturbed %v", calls, r, tc.attempts, tc.kept, tc.disturbed)
			}
		})
	}
}

func TestTableComparesWithTheBestEtcd(t *testing.T) {
	w := suite.Workloads[0]
	mk := func(impl string, puts, lib float64) Run {
		return Run{Result: suite.Result{Impl: impl, Workload: w.Name, PutsPerSec: puts, CPU: &suite.CPU{NsPerOp: 2 * lib, LibraryNs: lib}}}
	}
	var all []Run
	for _, f := range []float64{0.9, 1, 1.1} { // medians are the middle runs
		all = append(all,
			mk("tickraft", 300*f, 1000*f),
			mk("etcd-v3.7", 100*f, 8000*f),
			mk("etcd-v3.6", 150*f, 4000*f))
	}
	rs := []runner{{Target: suite.Target{Name: "tickraft"}}, {Target: suite.Target{Name: "etcd-v3.7"}}, {Target: suite.Target{Name: "etcd-v3.6"}}}
	var b bytes.Buffer
	printTable(&b, []suite.Workload{w}, rs, all)
	var line string
	for l := range strings.Lines(b.String()) {
		if strings.Contains(l, " tickraft ") {
			line = l
		}
	}
	// puts/s over v3.6's (the higher), library over v3.6's (the lower).
	for _, want := range []string{" 300 ", "±10%", "2.00x", "1.00µs", "0.25"} {
		if !strings.Contains(line, want) {
			t.Errorf("tickraft's row %q lacks %q", line, want)
		}
	}
}
