package suite

import (
	"testing"
	"time"
)

func TestEveryWorkloadRuns(t *testing.T) {
	for _, w := range Workloads {
		for _, impl := range Impls() {
			t.Run(impl.Name()+"/"+w.Name, func(t *testing.T) {
				res, err := Run(impl, w, Options{Duration: 100 * time.Millisecond, Warmup: 20 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				if res.Ops == 0 || res.PutsPerSec <= 0 || res.NsPerOp <= 0 {
					t.Errorf("no throughput: %+v", res)
				}
				if res.P50Ns <= 0 || res.P50Ns > res.P99Ns || res.P99Ns > res.P999Ns {
					t.Errorf("latency quantiles out of order: %+v", res)
				}
				if res.AllocsPerOp <= 0 || res.BytesPerOp < float64(w.ValueSize) || res.PeakHeapBytes == 0 {
					t.Errorf("memory not measured: %+v", res)
				}
				if w.Single != (res.MsgsPerOp == 0) {
					t.Errorf("%v messages per put", res.MsgsPerOp)
				}
				if res.Snapshots != 0 || res.StepErrors != 0 {
					t.Errorf("disturbed run: %+v", res)
				}
			})
		}
	}
}

func TestRunFixedOps(t *testing.T) {
	var started, stopped bool
	w, err := Select("^put-c16$")
	if err != nil || len(w) != 1 {
		t.Fatalf("Select: %v, %v", w, err)
	}
	res, err := Run(Impls()[0], w[0], Options{Ops: 500, Start: func() { started = true }, Stop: func() { stopped = !stopped && started }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 500 || !started || !stopped {
		t.Errorf("ops %d, started %v, stopped %v: want 500 puts between Start and Stop", res.Ops, started, stopped)
	}
	if _, err := Select("nothing-matches"); err == nil {
		t.Error("Select matched a workload that does not exist")
	}
}
