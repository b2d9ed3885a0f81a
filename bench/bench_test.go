package bench

import (
	"testing"

	"github.com/tickraft/raft/bench/suite"
	"github.com/tickraft/raft/bench/targets"
)

// BenchmarkPut runs every workload on every target of this module (not
// etcd raft v3.6, which raftbench measures from its own module), as
// BenchmarkPut/impl=NAME/workload=NAME. The targets alternate workload by
// workload. ns/op is the inverse of throughput (b.N puts over all clients);
// allocs and bytes count the whole process during the measured part.
// raftbench's CPU split needs a profile per run, so it is not here (use
// -cpuprofile).
func BenchmarkPut(b *testing.B) {
	for _, w := range suite.Workloads {
		for _, t := range targets.All() {
			if w.Single && t.Impl == nil {
				continue
			}
			b.Run("impl="+t.Name+"/workload="+w.Name, func(b *testing.B) {
				b.ReportAllocs()
				res, err := suite.Run(t, w, suite.Options{
					Ops:   b.N,
					Start: b.ResetTimer,
					Stop:  b.StopTimer,
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.PutsPerSec, "puts/s")
				b.ReportMetric(float64(res.P50Ns), "p50-ns")
				b.ReportMetric(float64(res.P99Ns), "p99-ns")
				b.ReportMetric(float64(res.P999Ns), "p99.9-ns")
				b.ReportMetric(res.MsgsPerOp, "msgs/op")
				b.ReportMetric(float64(res.PeakHeapBytes), "peak-heap-B")
				if res.CPU != nil {
					b.ReportMetric(res.CPU.NsPerOp, "cpu-ns/op")
				}
			})
		}
	}
}
