package storagetest

import (
	"fmt"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// rawNodeChecks run a raft node on the store: what the node writes through
// its Readys must bring it back, after a restart, to where it was.
var rawNodeChecks = []check{
	{"SingleNodeRestart", singleNodeRestart},
}

// liveStorage is the raft.Storage a node reads: the fixture's current
// store, which changes when a durable store is reopened.
type liveStorage struct{ f *fixture }

func (l liveStorage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	return l.f.s.InitialState()
}
func (l liveStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	return l.f.s.Entries(lo, hi, maxSize)
}
func (l liveStorage) Term(i uint64) (uint64, error) { return l.f.s.Term(i) }
func (l liveStorage) LastIndex() (uint64, error)    { return l.f.s.LastIndex() }
func (l liveStorage) FirstIndex() (uint64, error)   { return l.f.s.FirstIndex() }
func (l liveStorage) Snapshot() (*pb.Snapshot, error) {
	return l.f.s.Snapshot()
}

// node is a single-node cluster whose state machine is the list of
// commands it applied.
type node struct {
	f       *fixture
	rn      *raft.RawNode
	applied []string
	index   uint64 // the last applied index
	cs      *pb.ConfState
}

func (n *node) start(seed uint64) {
	n.f.t.Helper()
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, Storage: liveStorage{n.f}, Seed: seed, Applied: n.index})
	if err != nil {
		n.f.t.Fatalf("NewRawNode on the store: %v", err)
	}
	n.rn = rn
}

// drain handles Readys until there are none: persists through the
// fixture (so the store is compared with the model, and reopened, after
// every write) and applies.
func (n *node) drain() {
	n.f.t.Helper()
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		if rd.HardState != nil {
			n.f.mustSetHardState(rd.HardState)
		}
		if rd.Snapshot != nil {
			n.f.mustApplySnapshot(rd.Snapshot)
		}
		if len(rd.Entries) > 0 {
			n.f.mustAppend(rd.Entries...)
		}
		for _, e := range rd.CommittedEntries {
			n.apply(e)
		}
		if err := n.rn.Advance(rd); err != nil {
			n.f.t.Fatalf("Advance: %v", err)
		}
	}
}

func (n *node) apply(e *pb.Entry) {
	n.f.t.Helper()
	switch e.GetType() {
	case pb.EntryType_EntryConfChange, pb.EntryType_EntryConfChangeV2:
		cc, err := pb.UnmarshalConfChange(e)
		if err != nil {
			n.f.t.Fatalf("entry %d: %v", e.GetIndex(), err)
		}
		if n.cs, err = n.rn.ApplyConfChange(cc); err != nil {
			n.f.t.Fatalf("applying the configuration change of entry %d: %v", e.GetIndex(), err)
		}
	default:
		if len(e.GetData()) > 0 {
			n.applied = append(n.applied, string(e.GetData()))
		}
	}
	n.index = e.GetIndex()
}

// propose proposes commands from..to-1 and lets the node commit and apply
// them.
func (n *node) propose(from, to int) {
	n.f.t.Helper()
	for k := from; k < to; k++ {
		if err := n.rn.Propose(fmt.Appendf(nil, "command %d", k)); err != nil {
			n.f.t.Fatalf("Propose: %v", err)
		}
		n.drain()
	}
}

func (n *node) campaign() {
	n.f.t.Helper()
	if err := n.rn.Campaign(); err != nil {
		n.f.t.Fatalf("Campaign: %v", err)
	}
	n.drain()
	if st := n.rn.BasicStatus(); st.RaftState != raft.StateLeader {
		n.f.t.Fatalf("a single node did not become leader: %v", st.RaftState)
	}
}

// singleNodeRestart bootstraps a single-node cluster on the store,
// commits commands, snapshots and compacts, restarts the node from the
// store (reopened, if durable) and commits more: the restarted node must
// recover its hard state and log from the store and go on where it left
// off. (The state machine, the list of applied commands, survives the
// restart in memory, as a durable one would.)
func singleNodeRestart(f *fixture) {
	n := &node{f: f}
	n.start(1)
	if err := n.rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
		f.t.Fatalf("Bootstrap: %v", err)
	}
	n.drain()
	n.campaign()
	n.propose(0, 20)
	f.mustCreateSnapshotData(n.index, n.cs, fmt.Appendf(nil, "%d commands", len(n.applied)))
	f.mustCompact(n.index - 3)
	n.propose(20, 23)

	before := n.rn.BasicStatus()
	if f.durable() {
		f.reopen("the node's writes")
	}
	n.start(2)
	after := n.rn.BasicStatus()
	if hs := [3]uint64{after.Term, after.Vote, after.Commit}; hs != [3]uint64{before.Term, before.Vote, before.Commit} {
		f.t.Fatalf("the restarted node's term, vote and commit are %v, were %v before the restart",
			hs, [3]uint64{before.Term, before.Vote, before.Commit})
	}
	if after.Err != nil {
		f.t.Fatalf("the restarted node reports a storage failure: %v", after.Err)
	}
	n.campaign()
	n.propose(23, 28)
	if st := n.rn.BasicStatus(); st.Err != nil || st.Term <= before.Term {
		f.t.Fatalf("after the restart: term %d (was %d), storage failure %v", st.Term, before.Term, st.Err)
	}
	for k, cmd := range n.applied {
		if want := fmt.Sprintf("command %d", k); cmd != want {
			f.t.Fatalf("applied command %d is %q, want %q (applied: %q)", k, cmd, want, n.applied)
		}
	}
	if len(n.applied) != 28 {
		f.t.Fatalf("applied %d commands, want 28", len(n.applied))
	}
	f.verify()
}
