package raftnode_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tickraft/raft"
	"github.com/tickraft/raft/raftnode"
	pb "github.com/tickraft/raft/raftpb"
)

// check stops the example at the first unexpected error. A real
// application handles them.
func check(err error) {
	if err != nil {
		panic(err)
	}
}

// The classic etcd raft loop, on a single-node cluster: a ticker drives
// the clock (the node elects itself after an election timeout of ticks),
// and each Ready is persisted, sent, applied and advanced. A client
// proposes from its own goroutine; Propose waits until there is a leader.
func Example() {
	storage := raft.NewMemoryStorage()
	n, err := raftnode.StartNode(&raft.Config{ID: 1, Storage: storage, Seed: 1}, []raft.Peer{{ID: 1}})
	check(err)
	defer n.Stop()

	go func() {
		for _, cmd := range []string{"x=1", "y=2"} {
			check(n.Propose(context.Background(), []byte(cmd)))
		}
	}()

	// send hands messages to the transport; a single node has no peers. A
	// peer's messages arrive through n.Step(ctx, m).
	send := func(msgs []*pb.Message) {}

	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for applied := 0; applied < 2; {
		select {
		case <-ticker.C:
			n.Tick()
		case rd := <-n.Ready():
			// 1. Persist (a real storage fsyncs when rd.MustSync).
			if rd.Snapshot != nil {
				check(storage.ApplySnapshot(rd.Snapshot))
			}
			if rd.HardState != nil {
				check(storage.SetHardState(rd.HardState))
			}
			check(storage.Append(rd.Entries))
			// 2. Send.
			send(rd.Messages)
			// 3. Apply.
			for _, e := range rd.CommittedEntries {
				switch e.Type {
				case pb.EntryNormal:
					if len(e.Data) > 0 { // empty entries are the leader's
						fmt.Printf("applied %s at index %d\n", e.Data, e.Index)
						applied++
					}
				case pb.EntryConfChange, pb.EntryConfChangeV2:
					cc, err := pb.UnmarshalConfChange(e)
					check(err)
					_, err = n.ApplyConfChange(cc)
					check(err)
				}
			}
			// 4. Done: the node may hand out the next Ready.
			check(n.Advance())
		}
	}
	fmt.Println("leader:", n.Status().Lead)
	// Output:
	// applied x=1 at index 3
	// applied y=2 at index 4
	// leader: 1
}
