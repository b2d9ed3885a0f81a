package bench

import (
	"testing"

	"github.com/tickraft/raft/bench/suite"
)

// BenchmarkPut runs every workload on every implementation, as
// BenchmarkPut/impl=NAME/workload=NAME. The implementations alternate
// workload by workload. ns/op is the inverse of throughput (b.N puts over
// all clients); allocs and bytes count the whole process during the
// measured part.
func BenchmarkPut(b *testing.B) {
	for _, w := range suite.Workloads {
		for _, impl := range suite.Impls() {
			b.Run("impl="+impl.Name()+"/workload="+w.Name, func(b *testing.B) {
				b.ReportAllocs()
				res, err := suite.Run(impl, w, suite.Options{
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
			})
		}
	}
}
