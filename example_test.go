package raft_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// rnMust stops an example at the first unexpected error. A real
// application handles them.
func rnMust(err error) {
	if err != nil {
		panic(err)
	}
}

// A single-node cluster and its Ready loop: bootstrap, campaign, propose,
// and apply what commits.
func ExampleRawNode_singleNode() {
	storage := raft.NewMemoryStorage()
	node, err := raft.NewRawNode(&raft.Config{ID: 1, Storage: storage, Seed: 1})
	rnMust(err)
	rnMust(node.Bootstrap([]raft.Peer{{ID: 1}}))

	// handle does the work of every pending Ready, in the documented order.
	handle := func() {
		for node.HasReady() {
			rd := node.Ready()
			// 1. Persist (a real storage fsyncs when rd.MustSync).
			if rd.HardState != nil {
				rnMust(storage.SetHardState(rd.HardState))
			}
			rnMust(storage.Append(rd.Entries))
			// 2. Send rd.Messages: a single node has nobody to send to.
			// 3. Apply the committed entries.
			for _, e := range rd.CommittedEntries {
				switch e.Type {
				case pb.EntryNormal:
					if len(e.Data) > 0 { // empty entries are the leader's
						fmt.Printf("applied %q at index %d\n", e.Data, e.Index)
					}
				case pb.EntryConfChange, pb.EntryConfChangeV2:
					cc, err := pb.UnmarshalConfChange(e)
					rnMust(err)
					_, err = node.ApplyConfChange(cc)
					rnMust(err)
				}
			}
			// 4. Tell the node the work is done.
			rnMust(node.Advance(rd))
		}
	}

	handle()
	rnMust(node.Campaign())
	handle()
	fmt.Println("node 1 is", node.BasicStatus().RaftState)

	rnMust(node.Propose([]byte("x=1")))
	rnMust(node.Propose([]byte("y=2")))
	handle()

	// Output:
	// node 1 is StateLeader
	// applied "x=1" at index 3
	// applied "y=2" at index 4
}

// exampleNode is one member of the three-node example: a RawNode, its
// storage and a key-value state machine.
type exampleNode struct {
	node    *raft.RawNode
	storage *raft.MemoryStorage
	kv      map[string]string
	applied uint64 // index of the last applied entry
	reads   []raft.ReadState
}

// Three nodes in one process, with a slice as the network: elect node 1,
// replicate two writes (one proposed through a follower), then read
// linearizably through a follower with ReadIndex.
func ExampleRawNode_threeNodes() {
	peers := []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	nodes := map[uint64]*exampleNode{}
	for _, p := range peers {
		storage := raft.NewMemoryStorage()
		node, err := raft.NewRawNode(&raft.Config{ID: p.ID, Storage: storage, Seed: 1})
		rnMust(err)
		rnMust(node.Bootstrap(peers))
		nodes[p.ID] = &exampleNode{node: node, storage: storage, kv: map[string]string{}}
	}

	var network []*pb.Message // sent, not yet delivered
	// handle does the work of one node's Readys, as in the single-node
	// example, and puts its messages on the network.
	handle := func(n *exampleNode) {
		for n.node.HasReady() {
			rd := n.node.Ready()
			if rd.HardState != nil {
				rnMust(n.storage.SetHardState(rd.HardState))
			}
			rnMust(n.storage.Append(rd.Entries))
			network = append(network, rd.Messages...)
			for _, e := range rd.CommittedEntries {
				switch e.Type {
				case pb.EntryNormal:
					if k, v, ok := strings.Cut(string(e.Data), "="); ok {
						n.kv[k] = v
					}
				case pb.EntryConfChange, pb.EntryConfChangeV2:
					cc, err := pb.UnmarshalConfChange(e)
					rnMust(err)
					_, err = n.node.ApplyConfChange(cc)
					rnMust(err)
				}
				n.applied = e.Index
			}
			n.reads = append(n.reads, rd.ReadStates...)
			rnMust(n.node.Advance(rd))
		}
	}
	// settle runs every node and delivers the messages until all is quiet.
	settle := func() {
		for {
			for id := uint64(1); id <= 3; id++ {
				handle(nodes[id])
			}
			if len(network) == 0 {
				return
			}
			msgs := network
			network = nil
			for _, m := range msgs {
				_ = nodes[m.To].node.Step(m)
			}
		}
	}

	settle()
	rnMust(nodes[1].node.Campaign())
	settle()
	fmt.Println("node 3 follows leader", nodes[3].node.BasicStatus().Lead)

	rnMust(nodes[1].node.Propose([]byte("x=1")))
	rnMust(nodes[3].node.Propose([]byte("y=2"))) // forwarded to the leader
	settle()
	// The followers learn that the writes committed with the next append
	// or, the cluster being idle, the next heartbeat: one tick of the
	// leader (HeartbeatTick is 1).
	nodes[1].node.Tick()
	settle()
	for id := uint64(1); id <= 3; id++ {
		fmt.Printf("node %d: x=%s y=%s\n", id, nodes[id].kv["x"], nodes[id].kv["y"])
	}

	// A linearizable read on node 3: the leader confirms it still leads
	// and returns its commit index; once node 3 has applied up to that
	// index, its state reflects every write that completed before the read.
	rnMust(nodes[3].node.ReadIndex([]byte("read-1")))
	settle()
	rs := nodes[3].reads[0]
	if nodes[3].applied >= rs.Index {
		fmt.Printf("%s at index %d: y=%s\n", rs.RequestCtx, rs.Index, nodes[3].kv["y"])
	}

	// Output:
	// node 3 follows leader 1
	// node 1: x=1 y=2
	// node 2: x=1 y=2
	// node 3: x=1 y=2
	// read-1 at index 6: y=2
}

// kvApp is a small state machine for the restart example: the data it
// applied, how far it got and the configuration it was given.
type kvApp struct {
	data    []string
	applied uint64
	conf    *pb.ConfState
}

// restore replaces the state machine with a snapshot's.
func (a *kvApp) restore(snap *pb.Snapshot) {
	a.data = nil
	if d := string(snap.Data); d != "" {
		a.data = strings.Split(d, ",")
	}
	a.applied = snap.Metadata.Index
	a.conf = snap.Metadata.ConfState
}

// A node crashes and restarts, twice. The first time its state machine is
// durable: it restarts with Config.Applied at the last entry it applied,
// and the node rebuilds the configuration from its storage (the snapshot's
// configuration plus the changes applied since) and hands out only the
// entries after Applied. The second time the state machine lived in
// memory: it is restored from Storage.Snapshot() and Applied is the
// snapshot's index. A restart whose Applied cannot be right is refused.
func ExampleRawNode_restart() {
	storage := raft.NewMemoryStorage() // the disk: survives crashes
	app := &kvApp{conf: &pb.ConfState{}}
	start := func(applied uint64) *raft.RawNode {
		node, err := raft.NewRawNode(&raft.Config{ID: 1, Storage: storage, Seed: 1, Applied: applied})
		rnMust(err)
		return node
	}
	handle := func(node *raft.RawNode) {
		for node.HasReady() {
			rd := node.Ready()
			if rd.HardState != nil {
				rnMust(storage.SetHardState(rd.HardState))
			}
			rnMust(storage.Append(rd.Entries))
			for _, e := range rd.CommittedEntries {
				switch e.Type {
				case pb.EntryNormal:
					if len(e.Data) > 0 {
						app.data = append(app.data, string(e.Data))
						fmt.Printf("applied %q at index %d\n", e.Data, e.Index)
					}
				default:
					cc, err := pb.UnmarshalConfChange(e)
					rnMust(err)
					app.conf, err = node.ApplyConfChange(cc)
					rnMust(err)
				}
				app.applied = e.Index
			}
			rnMust(node.Advance(rd))
		}
	}

	node := start(0)
	rnMust(node.Bootstrap([]raft.Peer{{ID: 1}}))
	handle(node)
	rnMust(node.Campaign())
	handle(node)
	rnMust(node.Propose([]byte("x")))
	rnMust(node.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeId: 2}))
	handle(node)

	// Crash. The state machine is durable: it applied up to app.applied.
	node = start(app.applied)
	fmt.Println("restarted at", app.applied, "with", node.Status().Config)
	rnMust(node.Campaign())
	handle(node)
	rnMust(node.Propose([]byte("y")))
	handle(node)

	// The application snapshots its state machine and compacts the log.
	_, err := storage.CreateSnapshot(app.applied, app.conf, []byte(strings.Join(app.data, ",")))
	rnMust(err)
	rnMust(storage.Compact(app.applied))

	// Crash. This time the state machine was in memory and is gone: a
	// node started with Applied 0 would never see the compacted entries.
	_, err = raft.NewRawNode(&raft.Config{ID: 1, Storage: storage, Seed: 1, Applied: 0})
	fmt.Println(err != nil, errors.Is(err, raft.ErrInvalidConfig))
	snap, err := storage.Snapshot()
	rnMust(err)
	app.restore(snap)
	node = start(app.applied)
	fmt.Println("restored", app.data, "at", app.applied, "with", node.Status().Config)

	// Output:
	// applied "x" at index 3
	// restarted at 4 with voters=(1) learners=(2)
	// applied "y" at index 6
	// true true
	// restored [x y] at 6 with voters=(1) learners=(2)
}
