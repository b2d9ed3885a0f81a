package suite_test

import (
	"testing"
	"time"

	"github.com/tickraft/raft/bench/suite"
	"github.com/tickraft/raft/bench/targets"
)

func TestEveryWorkloadRuns(t *testing.T) {
	for _, w := range suite.Workloads {
		for _, tg := range targets.All() {
			if w.Single && tg.Impl == nil {
				continue
			}
			t.Run(tg.Name+"/"+w.Name, func(t *testing.T) {
				res, err := suite.Run(tg, w, suite.Options{Duration: 100 * time.Millisecond, Warmup: 20 * time.Millisecond, Profile: true})
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
				// A short run on a loaded machine may get no profile
				// sample; the split is checked when there are some.
				if c := res.CPU; c == nil || c.NsPerOp <= 0 {
					t.Errorf("CPU not measured: %+v", res.CPU)
				} else if sum := c.LibraryNs + c.DriverNs + c.RuntimeNs; c.Samples > 0 && (sum < 0.999*c.NsPerOp || sum > 1.001*c.NsPerOp) {
					t.Errorf("CPU split %+v does not add up to the total", c)
				}
				// hashicorp's transport does not count messages.
				if tg.Impl != nil && w.Single != (res.MsgsPerOp == 0) {
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
	w, err := suite.Select("^put-c16$")
	if err != nil || len(w) != 1 {
		t.Fatalf("Select: %v, %v", w, err)
	}
	res, err := suite.Run(targets.All()[0], w[0], suite.Options{Ops: 500, Start: func() { started = true }, Stop: func() { stopped = !stopped && started }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 500 || !started || !stopped {
		t.Errorf("ops %d, started %v, stopped %v: want 500 puts between Start and Stop", res.Ops, started, stopped)
	}
	if res.CPU == nil || res.CPU.Samples != 0 || res.CPU.LibraryNs != 0 {
		t.Errorf("CPU %+v: want the total without a profile", res.CPU)
	}
	if _, err := suite.Select("nothing-matches"); err == nil {
		t.Error("Select matched a workload that does not exist")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		stack []string
		want  suite.Class
	}{
		{[]string{"runtime.mallocgc", "github.com/tickraft/raft.(*RawNode).Propose", "github.com/tickraft/raft/bench/driver.(*clusterNode).run"}, suite.ClassLibrary},
		{[]string{"runtime.mapassign_faststr", "github.com/tickraft/raft/bench/driver.(*replica).apply", "github.com/tickraft/raft.(*RawNode).Ready"}, suite.ClassDriver},
		{[]string{"google.golang.org/protobuf/proto.Size", "go.etcd.io/raft/v3.(*raft).send"}, suite.ClassLibrary},
		{[]string{"github.com/hashicorp/go-msgpack/v2/codec.(*Encoder).Encode", "github.com/hashicorp/raft.(*Raft).runLeader"}, suite.ClassLibrary},
		{[]string{"github.com/tickraft/raft/replica.(*Replica).loop"}, suite.ClassLibrary},
		{[]string{"sync.(*Mutex).Lock", "main.main"}, suite.ClassDriver},
		{[]string{"runtime.gcBgMarkWorker"}, suite.ClassRuntime},
		{[]string{"runtime.findRunnable", "runtime.schedule", "runtime.park_m"}, suite.ClassRuntime},
		{[]string{"github.com/tickraft/raftx.f"}, suite.ClassRuntime},
	} {
		if got := suite.Classify(tc.stack); got != tc.want {
			t.Errorf("Classify(%q) = %v, want %v", tc.stack, got, tc.want)
		}
	}
}
