package quorum

import (
	"fmt"
	"testing"
)

// benchConfig returns voters 1..n and an indexer in which voter i has
// acknowledged an index that shuffles the natural order, so the sort has
// work to do.
func benchConfig(n int) (MajorityConfig, MapAckIndexer) {
	c := MajorityConfig{}
	acks := MapAckIndexer{}
	for i := 1; i <= n; i++ {
		c[uint64(i)] = struct{}{}
		acks[uint64(i)] = Index(1000 + (i*7919)%101)
	}
	return c, acks
}

// sink keeps the compiler from discarding benchmarked results.
var sink Index

func BenchmarkMajorityConfigCommittedIndex(b *testing.B) {
	for _, n := range []int{1, 3, 5, 7, 9, 11} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			c, acks := benchConfig(n)
			b.ReportAllocs()
			for b.Loop() {
				sink = c.CommittedIndex(acks)
			}
		})
	}
}

func BenchmarkJointConfigCommittedIndex(b *testing.B) {
	for _, n := range []int{3, 5, 7} {
		b.Run(fmt.Sprintf("voters=%d&&%d", n, n), func(b *testing.B) {
			in, acks := benchConfig(n)
			// The outgoing half shares all but one voter with the incoming
			// half, as after replacing a single member.
			out := MajorityConfig{}
			for id := range in {
				out[id+1] = struct{}{}
			}
			acks[uint64(n+1)] = 1042
			c := JointConfig{in, out}
			b.ReportAllocs()
			for b.Loop() {
				sink = c.CommittedIndex(acks)
			}
		})
	}
}

// TestCommittedIndexAllocsNothing asserts the promise that computing the
// committed index for up to seven voters allocates nothing, for a plain and
// a joint configuration, with known and unknown voters.
func TestCommittedIndexAllocsNothing(t *testing.T) {
	for n := 1; n <= smallConfig; n++ {
		c, acks := benchConfig(n)
		delete(acks, 1) // one voter unknown to the indexer
		var l AckedIndexer = acks
		if allocs := testing.AllocsPerRun(100, func() { sink = c.CommittedIndex(l) }); allocs != 0 {
			t.Errorf("%d voters: %v allocations per CommittedIndex, want 0", n, allocs)
		}
		j := JointConfig{c, MajorityConfig{1: {}, 2: {}, 99: {}}}
		if allocs := testing.AllocsPerRun(100, func() { sink = j.CommittedIndex(l) }); allocs != 0 {
			t.Errorf("%s: %v allocations per CommittedIndex, want 0", j, allocs)
		}
	}
}
