// Package impl adapts go.etcd.io/raft/v3 at v3.6.0 to the benchmark driver.
// v3.6 uses gogo-protobuf value types (messages, entries, hard states and
// snapshots by value), v3.7 protobuf-go pointers, so this adapter is the
// v3.7 one (../../impls/etcd) with values where that one has pointers. It
// only translates types; the driver does the work.
package impl

import (
	"fmt"
	"io"
	"log"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/tickraft/raft/bench/driver"
)

// Impl makes etcd raft v3.6 nodes.
type Impl struct{}

var _ driver.Impl = Impl{}

// Name returns "etcd-v3.6".
func (Impl) Name() string { return "etcd-v3.6" }

// discard is the nodes' logger: etcd raft's default writes to stderr.
var discard = &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}

// NewNode creates a RawNode over a new MemoryStorage and bootstraps it with
// cfg.Peers.
func (Impl) NewNode(cfg driver.Config) (driver.Node, error) {
	st := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              cfg.ID,
		ElectionTick:    cfg.ElectionTick,
		HeartbeatTick:   cfg.HeartbeatTick,
		Storage:         st,
		MaxSizePerMsg:   cfg.MaxSizePerMsg,
		MaxInflightMsgs: cfg.MaxInflightMsgs,
		Logger:          discard,
	})
	if err != nil {
		return nil, err
	}
	peers := make([]raft.Peer, len(cfg.Peers))
	for i, id := range cfg.Peers {
		peers[i] = raft.Peer{ID: id}
	}
	if err := rn.Bootstrap(peers); err != nil {
		return nil, err
	}
	return &node{rn: rn, st: st, cs: &pb.ConfState{}}, nil
}

type node struct {
	rn *raft.RawNode
	st *raft.MemoryStorage
	// rd is the Ready being handled, between Ready and Advance.
	rd raft.Ready
	// cs is the configuration as of the last applied change, for
	// snapshots.
	cs *pb.ConfState
}

func (n *node) Tick()                     { n.rn.Tick() }
func (n *node) Campaign() error           { return n.rn.Campaign() }
func (n *node) Propose(data []byte) error { return n.rn.Propose(data) }
func (n *node) HasReady() bool            { return n.rn.HasReady() }

func (n *node) Step(m driver.Message) error { return n.rn.Step(*m.Raw.(*pb.Message)) }

func (n *node) Ready(rd *driver.Ready) {
	n.rd = n.rn.Ready()
	rd.SoftState = n.rd.SoftState != nil
	if rd.SoftState {
		rd.Lead = n.rd.SoftState.Lead
		rd.Leader = n.rd.SoftState.RaftState == raft.StateLeader
	}
	clear(rd.Messages)
	rd.Messages = rd.Messages[:0]
	// Each Ready's message slice is new (the library drops its own after
	// handing it out), so the driver may route pointers into it: boxing
	// the values would allocate per message.
	for i := range n.rd.Messages {
		m := &n.rd.Messages[i]
		rd.Messages = append(rd.Messages, driver.Message{To: m.To, Snap: m.Type == pb.MsgSnap, Raw: m})
	}
	clear(rd.Committed)
	rd.Committed = rd.Committed[:0]
	for _, e := range n.rd.CommittedEntries {
		rd.Committed = append(rd.Committed, driver.Entry{Index: e.Index, Kind: entryKind(e.Type), Data: e.Data})
	}
	rd.SnapshotIndex = 0
	if !raft.IsEmptySnap(n.rd.Snapshot) {
		rd.SnapshotIndex = n.rd.Snapshot.Metadata.Index
	}
}

func entryKind(t pb.EntryType) driver.EntryKind {
	switch t {
	case pb.EntryConfChange:
		return driver.EntryConfChange
	case pb.EntryConfChangeV2:
		return driver.EntryConfChangeV2
	}
	return driver.EntryNormal
}

func (n *node) Persist() error {
	if s := n.rd.Snapshot; !raft.IsEmptySnap(s) {
		if err := n.st.ApplySnapshot(s); err != nil {
			return err
		}
		cs := s.Metadata.ConfState
		n.cs = &cs
	}
	if err := n.st.Append(n.rd.Entries); err != nil {
		return err
	}
	if !raft.IsEmptyHardState(n.rd.HardState) {
		return n.st.SetHardState(n.rd.HardState)
	}
	return nil
}

func (n *node) ApplyConfChange(e driver.Entry) error {
	var cc pb.ConfChangeI
	switch e.Kind {
	case driver.EntryConfChange:
		var c pb.ConfChange
		if err := c.Unmarshal(e.Data); err != nil {
			return err
		}
		cc = c
	case driver.EntryConfChangeV2:
		var c pb.ConfChangeV2
		if err := c.Unmarshal(e.Data); err != nil {
			return err
		}
		cc = c
	default:
		return fmt.Errorf("entry %d is not a configuration change", e.Index)
	}
	n.cs = n.rn.ApplyConfChange(cc)
	return nil
}

func (n *node) ReportSnapshot(to uint64, ok bool) {
	status := raft.SnapshotFinish
	if !ok {
		status = raft.SnapshotFailure
	}
	n.rn.ReportSnapshot(to, status)
}

func (n *node) Advance() error {
	n.rn.Advance(n.rd)
	n.rd = raft.Ready{}
	return nil
}

func (n *node) Snapshot(index, compactIndex uint64, data []byte) error {
	if _, err := n.st.CreateSnapshot(index, n.cs, data); err != nil {
		return err
	}
	if compactIndex != 0 {
		return n.st.Compact(compactIndex)
	}
	return nil
}

func (n *node) FirstIndex() uint64 {
	i, _ := n.st.FirstIndex()
	return i
}
