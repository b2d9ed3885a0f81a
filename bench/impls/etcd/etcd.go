// Package etcd adapts go.etcd.io/raft/v3 to the benchmark driver, through
// its documented public API (raft.NewRawNode, RawNode.Bootstrap,
// raft.NewMemoryStorage). It only translates types; the driver does the
// work.
package etcd

import (
	"fmt"
	"io"
	"log"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft/bench/driver"
	// Lets both raft libraries register their raft.proto in one binary.
)

// Impl makes etcd raft nodes.
type Impl struct{}

var _ driver.Impl = Impl{}

// Name returns "etcd-v3.7", the version this module links.
func (Impl) Name() string { return "etcd-v3.7" }

// discard is the nodes' logger. tickraft discards its logs by default; so
// must etcd raft, whose default logger writes to stderr.
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

func (n *node) Tick()                       { n.rn.Tick() }
func (n *node) Campaign() error             { return n.rn.Campaign() }
func (n *node) Propose(data []byte) error   { return n.rn.Propose(data) }
func (n *node) HasReady() bool              { return n.rn.HasReady() }
func (n *node) Step(m driver.Message) error { return n.rn.Step(m.Raw.(*pb.Message)) }

func (n *node) Ready(rd *driver.Ready) {
	n.rd = n.rn.Ready()
	rd.SoftState = n.rd.SoftState != nil
	if rd.SoftState {
		rd.Lead = n.rd.SoftState.Lead
		rd.Leader = n.rd.SoftState.RaftState == raft.StateLeader
	}
	clear(rd.Messages)
	rd.Messages = rd.Messages[:0]
	for _, m := range n.rd.Messages {
		rd.Messages = append(rd.Messages, driver.Message{To: m.GetTo(), Snap: m.GetType() == pb.MsgSnap, Raw: m})
	}
	clear(rd.Committed)
	rd.Committed = rd.Committed[:0]
	for _, e := range n.rd.CommittedEntries {
		rd.Committed = append(rd.Committed, driver.Entry{Index: e.GetIndex(), Kind: entryKind(e.GetType()), Data: e.GetData()})
	}
	rd.SnapshotIndex = 0
	if !raft.IsEmptySnap(n.rd.Snapshot) {
		rd.SnapshotIndex = n.rd.Snapshot.GetMetadata().GetIndex()
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
		if cs := s.GetMetadata().GetConfState(); cs != nil {
			n.cs = cs
		}
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
		cc = &pb.ConfChange{}
	case driver.EntryConfChangeV2:
		cc = &pb.ConfChangeV2{}
	default:
		return fmt.Errorf("entry %d is not a configuration change", e.Index)
	}
	if err := proto.Unmarshal(e.Data, cc.(proto.Message)); err != nil {
		return err
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
