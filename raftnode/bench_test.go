package raftnode

import (
	"context"
	"testing"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// BenchmarkPropose measures a proposal through a single-node Node, from
// Propose to applied, with a lean application loop (MemoryStorage, no
// fsync): the cost of the goroutine, channels and result plumbing on top of
// RawNode. Proposers run in parallel (b.RunParallel, GOMAXPROCS of them).
func BenchmarkPropose(b *testing.B) {
	storage := raft.NewMemoryStorage()
	n, err := StartNode(testConfig(1, storage), []raft.Peer{{ID: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop()
	quit := make(chan struct{})
	loopDone := make(chan struct{})
	applied := make(chan uint64, 1)
	go func() {
		defer close(loopDone)
		for {
			select {
			case <-quit:
				return
			case rd := <-n.Ready():
				if rd.HardState != nil {
					_ = storage.SetHardState(rd.HardState)
				}
				_ = storage.Append(rd.Entries)
				for _, e := range rd.CommittedEntries {
					if e.Type == pb.EntryConfChange {
						cc, _ := pb.UnmarshalConfChange(e)
						_, _ = n.ApplyConfChange(cc)
					}
				}
				if k := len(rd.CommittedEntries); k > 0 {
					select {
					case <-applied:
					default:
					}
					applied <- rd.CommittedEntries[k-1].Index
				}
				_ = n.Advance()
			}
		}
	}()
	ctx := context.Background()
	for <-applied < 1 {
	}
	if err := n.Campaign(ctx); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := n.Propose(ctx, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
	// Wait until everything proposed is applied: the bootstrap entry, the
	// leader's empty entry and b.N proposals. applied always holds the
	// latest index once there is one the loop did not yet report.
	for last, target := uint64(0), uint64(b.N)+2; last < target; {
		last = <-applied
	}
	b.StopTimer()
	close(quit)
	<-loopDone
}
