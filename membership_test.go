package raft

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/confchange"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of cluster membership changes (Raft paper §6, thesis chapter 4)
// with one change at a time, and of Bootstrap. Joint consensus is in
// joint_test.go, learners in learner_test.go, snapshots in snapshot_test.go.
//
// Two harnesses are used. mbCluster runs RawNodes with a complete
// application loop (persist, send, apply, ApplyConfChange, Advance), for
// behaviour seen through the public API. The shared *raft network of
// helpers_test.go, with mbApply and mbSettle to apply configuration
// changes, is used where a test needs to stop between commit and apply or
// to shape message flow precisely.

// ---------------------------------------------------------------------------
// RawNode cluster harness.

// mbNode is one member of an mbCluster: a RawNode, its storage, and what
// its application has applied so far.
type mbNode struct {
	rn *RawNode
	st *MemoryStorage
	// cs is the configuration the application last got back from
	// ApplyConfChange, or the one of the last snapshot it applied.
	cs *pb.ConfState
	// css are the configurations ApplyConfChange returned, in order.
	css []*pb.ConfState
	// data are the non-empty normal entries applied, in order.
	data []string
	// applyErrs are the errors ApplyConfChange returned.
	applyErrs []error
}

// mbCluster runs RawNodes with an application loop that persists every
// Ready, delivers its messages, applies its committed entries (configuration
// changes through ApplyConfChange) and calls Advance. Delivered MsgSnap
// messages are reported to their sender with ReportSnapshot, as a transport
// would.
type mbCluster struct {
	t      *testing.T
	nodes  map[uint64]*mbNode
	adjust func(*Config)
	// down holds nodes that neither send nor receive.
	down map[uint64]bool
	// drop, when set, loses the messages for which it returns true.
	drop func(m *pb.Message) bool
	// sent records every message handed to the network, delivered or not.
	sent []*pb.Message
}

// mbNewCluster bootstraps voters 1..n (each node's config passes through
// adjust when it is not nil) and applies the bootstrap entries.
func mbNewCluster(t *testing.T, n int, adjust func(*Config)) *mbCluster {
	t.Helper()
	c := &mbCluster{t: t, nodes: map[uint64]*mbNode{}, adjust: adjust, down: map[uint64]bool{}}
	var peers []Peer
	for _, id := range ids(n) {
		peers = append(peers, Peer{ID: id})
	}
	for _, id := range ids(n) {
		nd := c.addNode(id)
		require.NoError(t, nd.rn.Bootstrap(peers))
	}
	c.stabilize()
	return c
}

// mbConfig is the configuration of node id of an mbCluster.
func (c *mbCluster) mbConfig(id uint64, st Storage) *Config {
	cfg := &Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         st,
		MaxInflightMsgs: 256,
		Seed:            id,
	}
	if c.adjust != nil {
		c.adjust(cfg)
	}
	return cfg
}

// addNode creates node id with empty storage and no configuration: a node
// about to join, which learns everything from the leader.
func (c *mbCluster) addNode(id uint64) *mbNode {
	c.t.Helper()
	st := NewMemoryStorage()
	rn, err := NewRawNode(c.mbConfig(id, st))
	require.NoError(c.t, err)
	nd := &mbNode{rn: rn, st: st}
	c.nodes[id] = nd
	return nd
}

func (c *mbCluster) raft(id uint64) *raft { return c.nodes[id].rn.raft }

// config describes node id's configuration in force.
func (c *mbCluster) config(id uint64) string { return c.raft(id).trk.Config.String() }

// lost reports whether the network loses m.
func (c *mbCluster) lost(m *pb.Message) bool {
	if c.down[m.From] || c.down[m.To] {
		return true
	}
	return c.drop != nil && c.drop(m)
}

// handleReady runs one iteration of node id's application loop, if it has
// work. Snapshot reports are returned so the caller makes them after the
// sender's Advance.
func (c *mbCluster) handleReady(id uint64) (handled bool, reports [][2]uint64) {
	c.t.Helper()
	nd := c.nodes[id]
	if !nd.rn.HasReady() {
		return false, nil
	}
	rd := nd.rn.Ready()
	require.False(c.t, readyIsEmpty(rd), "node %d: HasReady was true for an empty Ready", id)
	if rd.Snapshot != nil {
		require.NoError(c.t, nd.st.ApplySnapshot(rd.Snapshot))
		nd.cs = rd.Snapshot.Metadata.ConfState
	}
	if rd.HardState != nil {
		require.NoError(c.t, nd.st.SetHardState(rd.HardState))
	}
	require.NoError(c.t, nd.st.Append(rd.Entries))
	for _, m := range rd.Messages {
		c.sent = append(c.sent, m)
		to, ok := c.nodes[m.To]
		if !ok || c.lost(m) {
			continue
		}
		if err := to.rn.Step(m); err != nil {
			c.t.Logf("node %d refused %s: %v", m.To, pb.DescribeMessage(m, nil), err)
		}
		if m.Type == pb.MsgSnap {
			reports = append(reports, [2]uint64{m.From, m.To})
		}
	}
	for _, e := range rd.CommittedEntries {
		c.apply(nd, e)
	}
	require.NoError(c.t, nd.rn.Advance(rd))
	return true, reports
}

// apply applies one committed entry on nd's state machine.
func (c *mbCluster) apply(nd *mbNode, e *pb.Entry) {
	c.t.Helper()
	switch e.Type {
	case pb.EntryNormal:
		if len(e.Data) > 0 {
			nd.data = append(nd.data, string(e.Data))
		}
	case pb.EntryConfChange, pb.EntryConfChangeV2:
		cc, err := decodeConfChange(e)
		require.NoError(c.t, err)
		cs, err := nd.rn.ApplyConfChange(cc)
		if err != nil {
			nd.applyErrs = append(nd.applyErrs, err)
			return
		}
		nd.cs = cs
		nd.css = append(nd.css, cs)
	}
}

// stabilize runs every node's loop until no node has work left.
func (c *mbCluster) stabilize() {
	c.t.Helper()
	for range 10000 {
		busy := false
		for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
			handled, reports := c.handleReady(id)
			busy = busy || handled
			for _, r := range reports {
				_ = c.nodes[r[0]].rn.ReportSnapshot(r[1], SnapshotFinish)
			}
		}
		if !busy {
			return
		}
	}
	c.t.Fatal("mbCluster: the nodes never ran out of work")
}

// tick ticks node id n times, stabilizing after each tick.
func (c *mbCluster) tick(id uint64, n int) {
	c.t.Helper()
	for range n {
		c.nodes[id].rn.Tick()
		c.stabilize()
	}
}

// campaign makes node id campaign and runs the election to its end.
func (c *mbCluster) campaign(id uint64) {
	c.t.Helper()
	require.NoError(c.t, c.nodes[id].rn.Campaign())
	c.stabilize()
}

// propose proposes data on node id and runs the cluster until it is quiet.
func (c *mbCluster) propose(id uint64, data string) {
	c.t.Helper()
	require.NoError(c.t, c.nodes[id].rn.Propose([]byte(data)))
	c.stabilize()
	c.beat()
}

// beat makes every leader send a heartbeat round now and runs the cluster
// until it is quiet: with lazy commit propagation (the default) followers
// learn the latest commit index from it.
func (c *mbCluster) beat() {
	c.t.Helper()
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		if r := c.raft(id); r.state == StateLeader && !c.down[id] {
			require.NoError(c.t, r.Step(&pb.Message{Type: pb.MsgBeat}))
		}
	}
	c.stabilize()
}

// sentTo returns the messages sent to id from the n-th recorded message on.
func (c *mbCluster) sentTo(id uint64, from int) []*pb.Message {
	var out []*pb.Message
	for _, m := range c.sent[from:] {
		if m.To == id {
			out = append(out, m)
		}
	}
	return out
}

// compact makes node id's application snapshot its state at the applied
// index and compact its log there.
func (c *mbCluster) compact(id uint64) *pb.Snapshot {
	c.t.Helper()
	nd := c.nodes[id]
	applied := nd.rn.BasicStatus().Applied
	snap, err := nd.st.CreateSnapshot(applied, nd.cs, []byte(fmt.Sprint(nd.data)))
	require.NoError(c.t, err)
	require.NoError(c.t, nd.st.Compact(applied))
	return snap
}

// ---------------------------------------------------------------------------
// *raft network helpers.

// mbConfEntry encodes a configuration change as a log entry to propose.
func mbConfEntry(t testing.TB, cc pb.ConfChangeI) *pb.Entry {
	t.Helper()
	typ, data, err := pb.MarshalConfChange(cc)
	require.NoError(t, err)
	return &pb.Entry{Type: typ, Data: data}
}

// mbV1 is a legacy single change.
func mbV1(typ pb.ConfChangeType, id uint64) *pb.ConfChange {
	return &pb.ConfChange{Type: typ, NodeId: id}
}

// mbV2 is a ConfChangeV2 with the changes of the compact text form ("v4 r1").
func mbV2(t testing.TB, tr pb.ConfChangeTransition, changes string) *pb.ConfChangeV2 {
	t.Helper()
	ccs, err := pb.ConfChangesFromString(changes)
	require.NoError(t, err)
	return &pb.ConfChangeV2{Transition: tr, Changes: ccs}
}

// mbStep steps m on node id of nw, returning Step's error, and delivers
// the messages that causes.
func mbStep(nw *network, id uint64, m *pb.Message) error {
	p := nw.peers[id]
	err := p.Step(m)
	nw.send(nw.filter(readMessages(nw.t, p))...)
	return err
}

// mbPropose proposes the entries on node id of nw.
func mbPropose(nw *network, id uint64, ents ...*pb.Entry) error {
	return mbStep(nw, id, &pb.Message{From: id, To: id, Type: pb.MsgProp, Entries: ents})
}

// mbBeat makes leader id send a round of heartbeats.
func mbBeat(nw *network, id uint64) {
	nw.send(&pb.Message{From: id, To: id, Type: pb.MsgBeat})
}

// mbApply applies r's committed entries as an application does: every
// configuration change through applyConfChange, then the batch is reported
// applied, which may make a leader propose leaving a joint configuration.
// It returns the entries applied.
func mbApply(t testing.TB, r *raft) []*pb.Entry {
	t.Helper()
	var out []*pb.Entry
	for r.raftLog.hasNextCommittedEnts(true) {
		ents, err := r.raftLog.nextCommittedEnts(true)
		require.NoError(t, err)
		last := ents[len(ents)-1].Index
		r.raftLog.acceptApplying(last, applyingSize(ents), true)
		for _, e := range ents {
			if e.Type != pb.EntryConfChange && e.Type != pb.EntryConfChangeV2 {
				continue
			}
			cc, err := decodeConfChange(e)
			require.NoError(t, err)
			_, err = r.applyConfChange(cc.AsV2())
			require.NoError(t, err, "node %d applying %s", r.id, pb.ConfChangesToString(cc.AsV2().Changes))
		}
		r.appliedTo(last, applyingSize(ents))
		out = append(out, ents...)
	}
	return out
}

// mbSettle applies committed entries on every node of nw and delivers the
// resulting messages until nothing happens any more.
func mbSettle(nw *network) {
	nw.t.Helper()
	for range 1000 {
		busy := false
		for _, id := range slices.Sorted(maps.Keys(nw.peers)) {
			p := nw.peers[id]
			if len(mbApply(nw.t, p)) > 0 {
				busy = true
			}
			if msgs := nw.filter(readMessages(nw.t, p)); len(msgs) > 0 {
				busy = true
				nw.send(msgs...)
			}
		}
		if !busy {
			return
		}
	}
	nw.t.Fatal("mbSettle: the network never became quiet")
}

// mbRecord makes nw record every message it lets through into *into.
func mbRecord(nw *network, into *[]*pb.Message) {
	nw.msgHook = func(m *pb.Message) bool {
		*into = append(*into, m)
		return true
	}
}

// mbRequireConfState fails unless got describes the same configuration as
// want.
func mbRequireConfState(t testing.TB, want, got *pb.ConfState) {
	t.Helper()
	require.NoError(t, pb.ConfStateEquivalent(want, got))
}

// mbLastEntry returns r's last log entry.
func mbLastEntry(t testing.TB, r *raft) *pb.Entry {
	t.Helper()
	ents := logEntries(t, r)
	require.NotEmpty(t, ents)
	return ents[len(ents)-1]
}

// ---------------------------------------------------------------------------
// Bootstrap.

// Bootstrap on empty storage writes one committed AddNode entry per founding
// member, at term 1, and puts the configuration in force at once: every
// founding member must start from the same log and configuration, or they
// could not agree on who may vote in the first election.
func TestBootstrapWritesCommittedConfEntries(t *testing.T) {
	st := NewMemoryStorage()
	rn, err := NewRawNode(&Config{ID: 1, Storage: st, Seed: 1})
	require.NoError(t, err)
	require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}, {ID: 2, Context: []byte("ctx2")}, {ID: 3}}))

	r := rn.raft
	require.Equal(t, "voters=(1 2 3)", r.trk.Config.String(), "the configuration is in force before anything is applied")
	require.Equal(t, uint64(3), r.raftLog.lastIndex())
	require.Equal(t, uint64(3), r.raftLog.committed)
	require.Equal(t, uint64(1), r.Term)

	rd := rn.Ready()
	require.Len(t, rd.Entries, 3)
	require.Len(t, rd.CommittedEntries, 3, "the bootstrap entries are handed out for applying")
	require.NotNil(t, rd.HardState)
	require.Equal(t, uint64(3), rd.HardState.Commit)
	for i, e := range rd.Entries {
		require.Equal(t, pb.EntryConfChange, e.Type)
		require.Equal(t, uint64(1), e.Term)
		require.Equal(t, uint64(i+1), e.Index)
		var cc pb.ConfChange
		require.NoError(t, unmarshal(e.Data, &cc))
		require.Equal(t, pb.ConfChangeAddNode, cc.Type)
		require.Equal(t, uint64(i+1), cc.NodeId)
		if cc.NodeId == 2 {
			require.Equal(t, []byte("ctx2"), cc.Context, "the peer's context travels in its entry")
		}
	}
	// Applying the bootstrap entries again, as the application does when it
	// sees them in CommittedEntries, changes nothing.
	require.NoError(t, st.SetHardState(rd.HardState))
	require.NoError(t, st.Append(rd.Entries))
	var cs *pb.ConfState
	for _, e := range rd.CommittedEntries {
		cc, err := decodeConfChange(e)
		require.NoError(t, err)
		cs, err = rn.ApplyConfChange(cc)
		require.NoError(t, err)
	}
	require.NoError(t, rn.Advance(rd))
	mbRequireConfState(t, &pb.ConfState{Voters: []uint64{1, 2, 3}}, cs)
	require.Equal(t, uint64(3), rn.BasicStatus().Applied)
}

// Bootstrap refuses a node whose storage already holds state: bootstrapping
// it would overwrite a log and a term other nodes may rely on.
func TestBootstrapNonEmptyStorage(t *testing.T) {
	withEntries := NewMemoryStorage()
	require.NoError(t, withEntries.Append([]*pb.Entry{{Index: 1, Term: 1}}))
	withTerm := NewMemoryStorage()
	require.NoError(t, withTerm.SetHardState(&pb.HardState{Term: 2}))
	withSnap := NewMemoryStorage()
	require.NoError(t, withSnap.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index: 5, Term: 1, ConfState: &pb.ConfState{Voters: []uint64{1}},
	}}))
	for name, st := range map[string]*MemoryStorage{"entries": withEntries, "term": withTerm, "snapshot": withSnap} {
		t.Run(name, func(t *testing.T) {
			snap, err := st.Snapshot()
			require.NoError(t, err)
			rn, err := NewRawNode(&Config{ID: 1, Storage: st, Seed: 1, Applied: snap.Metadata.Index})
			require.NoError(t, err)
			before := rn.raft.raftLog.lastIndex()
			require.ErrorIs(t, rn.Bootstrap([]Peer{{ID: 1}}), ErrBootstrapNotEmpty)
			require.Equal(t, before, rn.raft.raftLog.lastIndex(), "nothing appended")
		})
	}
	t.Run("twice", func(t *testing.T) {
		rn, err := NewRawNode(&Config{ID: 1, Storage: NewMemoryStorage(), Seed: 1})
		require.NoError(t, err)
		require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}}))
		require.ErrorIs(t, rn.Bootstrap([]Peer{{ID: 1}, {ID: 2}}), ErrBootstrapNotEmpty)
		require.Equal(t, "voters=(1)", rn.raft.trk.Config.String())
	})
}

// Bootstrap validates its peers before changing anything: node 0 never
// names a node, a duplicate would yield a configuration different from the
// one its entries describe, and an empty list would make a cluster that can
// never elect a leader.
func TestBootstrapInvalidPeers(t *testing.T) {
	for name, peers := range map[string][]Peer{
		"none":      nil,
		"zero":      {{ID: 1}, {ID: 0}},
		"duplicate": {{ID: 1}, {ID: 2}, {ID: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			rn, err := NewRawNode(&Config{ID: 1, Storage: NewMemoryStorage(), Seed: 1})
			require.NoError(t, err)
			require.ErrorIs(t, rn.Bootstrap(peers), ErrInvalidConfig)
			r := rn.raft
			require.Zero(t, r.raftLog.lastIndex(), "nothing appended")
			require.Zero(t, r.Term)
			require.Empty(t, r.trk.Progress, "no configuration installed")
			// The node is still bootstrappable.
			require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}}))
		})
	}
}

// A bootstrapped cluster needs nothing else: it elects a leader and commits.
func TestBootstrapClusterElectsAndCommits(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	for id := range c.nodes {
		require.Equal(t, "voters=(1 2 3)", c.config(id))
		require.Equal(t, uint64(3), c.nodes[id].rn.BasicStatus().Applied)
	}
	c.campaign(2)
	require.Equal(t, StateLeader, c.raft(2).state)
	c.propose(2, "a")
	c.propose(3, "b") // forwarded to the leader
	for id, nd := range c.nodes {
		require.Equal(t, []string{"a", "b"}, nd.data, "node %d", id)
		require.Equal(t, uint64(2), nd.rn.BasicStatus().Lead)
	}
}

// ---------------------------------------------------------------------------
// Single-server changes (§6, thesis §4.1).

// A node added by a configuration change starts empty; the leader probes
// it on its next heartbeat and backs up to the start of the log, so the
// new node ends with the leader's whole log and the configuration that
// includes it. Until then it must not count toward commits with a log it
// does not have, which is why it starts with Match 0.
func TestMembershipAddNodeCatchesUpByAppends(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	c.campaign(1)
	c.propose(1, "a")
	c.propose(1, "b")
	c.addNode(4)

	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeAddNode, 4)))
	c.stabilize()
	require.Equal(t, "voters=(1 2 3 4)", c.config(1))
	pr := c.raft(1).trk.Progress[4]
	require.NotNil(t, pr)
	// The leader probes the new node as soon as it applies the change: the
	// node catches up without waiting for a heartbeat.
	leader, n4 := c.raft(1), c.raft(4)
	require.Equal(t, describeLog(logEntries(t, leader)), describeLog(logEntries(t, n4)))
	require.Equal(t, leader.raftLog.committed, n4.raftLog.committed)
	require.Equal(t, []string{"a", "b"}, c.nodes[4].data)
	require.Equal(t, "voters=(1 2 3 4)", c.config(4), "node 4 applied the change that added it")
	require.Equal(t, leader.raftLog.lastIndex(), leader.trk.Progress[4].Match)

	// Node 4 now counts: with 2 and 3 down, 1 and 4 are not a majority of
	// four, and with 3 down, 1, 2 and 4 are.
	c.down[2], c.down[3] = true, true
	commit := leader.raftLog.committed
	c.propose(1, "c")
	require.Equal(t, commit, leader.raftLog.committed)
	delete(c.down, 2)
	c.tick(1, 1)
	require.Greater(t, leader.raftLog.committed, commit)
	c.beat()
	require.Equal(t, []string{"a", "b", "c"}, c.nodes[4].data)
}

// When the entries a new node needs were compacted, the leader sends it its
// snapshot instead (§7); the node then continues with appends. The snapshot
// must include the new node, so it is taken after the change that adds it
// was applied.
func TestMembershipAddNodeCatchesUpBySnapshot(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	c.campaign(1)
	c.propose(1, "a")
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeAddNode, 4)))
	c.stabilize() // node 4 does not exist yet: its messages are lost
	require.Equal(t, "voters=(1 2 3 4)", c.config(1))
	snap := c.compact(1)
	require.Contains(t, snap.Metadata.ConfState.Voters, uint64(4))
	c.propose(1, "b") // an entry after the snapshot

	c.addNode(4)
	mark := len(c.sent)
	c.tick(1, 1)
	var gotSnap bool
	for _, m := range c.sentTo(4, mark) {
		gotSnap = gotSnap || m.Type == pb.MsgSnap
	}
	require.True(t, gotSnap, "node 4 needed compacted entries and got a snapshot")

	leader, n4 := c.raft(1), c.raft(4)
	require.Equal(t, snap.Metadata.Index, c.nodes[4].st.snapshot.Metadata.Index, "node 4 stored the snapshot")
	require.Equal(t, leader.raftLog.lastEntryID(), n4.raftLog.lastEntryID())
	require.Equal(t, leader.raftLog.committed, n4.raftLog.committed)
	require.Equal(t, []string{"b"}, c.nodes[4].data, "entries after the snapshot came by appends")
	require.Equal(t, "voters=(1 2 3 4)", c.config(4))
	require.Equal(t, "StateReplicate", leader.trk.Progress[4].State.String())
}

// Removing a follower shrinks the quorum once the change is applied: the
// leader stops replicating to the removed node, and commits need a
// majority of the remaining voters only. With four voters, two of them
// cannot commit; after one is removed, two of the three remaining can.
func TestMembershipRemoveFollower(t *testing.T) {
	c := mbNewCluster(t, 4, nil)
	c.campaign(1)
	leader := c.raft(1)

	c.down[3], c.down[4] = true, true
	commit := leader.raftLog.committed
	c.propose(1, "a")
	require.Equal(t, commit, leader.raftLog.committed, "1 and 2 are not a majority of four")
	delete(c.down, 3)
	delete(c.down, 4)
	c.tick(1, 1)
	require.Greater(t, leader.raftLog.committed, commit)

	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeRemoveNode, 4)))
	c.stabilize()
	for _, id := range []uint64{1, 2, 3} {
		require.Equal(t, "voters=(1 2 3)", c.config(id), "node %d", id)
	}
	require.Nil(t, leader.trk.Progress[4])

	mark := len(c.sent)
	c.propose(1, "b")
	c.tick(1, 3)
	require.Empty(t, c.sentTo(4, mark), "the leader no longer sends anything to the removed node")

	c.down[3], c.down[4] = true, true
	commit = leader.raftLog.committed
	c.propose(1, "c")
	require.Greater(t, leader.raftLog.committed, commit, "1 and 2 are a majority of three")
	require.Equal(t, []string{"a", "b", "c"}, c.nodes[2].data)
}

// A leader that applies its own removal, without StepDownOnRemoval, keeps
// leading so that the entries after the change can still commit on the
// remaining voters, but it no longer counts itself toward the quorum: an
// entry it and one other old voter hold is not committed until a majority
// of the new configuration has it. It refuses new proposals: it is not a
// member any more.
func TestMembershipRemoveLeaderWithoutStepDown(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	leader := nw.peers[1]
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeRemoveNode, 1))))
	removal := leader.raftLog.lastIndex()
	require.Equal(t, removal, leader.raftLog.committed)

	// An entry appended before the removal is applied, held by the leader
	// alone.
	nw.isolate(1)
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("x")}))
	x := leader.raftLog.lastIndex()
	mbApply(t, leader)
	require.Equal(t, "voters=(2 3)", leader.trk.Config.String())
	require.Equal(t, StateLeader, leader.state, "no StepDownOnRemoval: the leader keeps leading")
	require.ErrorIs(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("y")}), ErrProposalDropped)
	require.Equal(t, x, leader.raftLog.lastIndex())

	// 1 and 2 hold x: a majority of {1,2,3}, not of {2,3}.
	nw.recover()
	nw.cut(1, 3)
	mbBeat(nw, 1)
	require.Equal(t, x, leader.trk.Progress[2].Match)
	require.Less(t, leader.raftLog.committed, x, "the removed leader does not count itself")

	nw.recover()
	mbBeat(nw, 1)
	require.Equal(t, x, leader.raftLog.committed)
	mbBeat(nw, 1) // the next heartbeat carries the new commit index
	require.Equal(t, x, nw.peers[2].raftLog.committed)
	require.Equal(t, x, nw.peers[3].raftLog.committed)
}

// A smaller quorum can make entries committed at once: when the leader
// applies a removal, entries that a majority of the remaining voters
// already hold are committed right away, without waiting for another
// acknowledgement that might never come. The followers are told at once
// with eager propagation, with the next heartbeat by default.
func TestMembershipRemovalCommitsAtOnce(t *testing.T) {
	for _, eager := range []bool{false, true} {
		t.Run(fmt.Sprintf("eager=%v", eager), func(t *testing.T) { testMembershipRemovalCommitsAtOnce(t, eager) })
	}
}

func testMembershipRemovalCommitsAtOnce(t *testing.T, eager bool) {
	nw := newNetworkWithConfig(t, func(c *Config) { c.EagerCommitPropagation = eager }, nil, nil, nil, nil)
	nw.hup(1)
	leader := nw.peers[1]
	nw.isolate(4)
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeRemoveNode, 4))))
	removal := leader.raftLog.lastIndex()
	require.Equal(t, removal, leader.raftLog.committed, "1, 2 and 3 are a majority of four")

	nw.isolate(3)
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("x")}))
	x := leader.raftLog.lastIndex()
	require.Equal(t, x, leader.trk.Progress[2].Match)
	require.Equal(t, removal, leader.raftLog.committed, "1 and 2 are not a majority of four")

	mbApply(t, leader)
	require.Equal(t, "voters=(1 2 3)", leader.trk.Config.String())
	require.Equal(t, x, leader.raftLog.committed, "1 and 2 are a majority of three")
	nw.send(nw.filter(readMessages(t, leader))...)
	if !eager {
		require.Less(t, nw.peers[2].raftLog.committed, x, "lazy: nothing sent for a commit index alone")
		mbBeat(nw, 1)
	}
	require.Equal(t, x, nw.peers[2].raftLog.committed, "the new commit index went out")
}

// The application may apply the leader's removal in the same Ready that
// carries entries the leader appended just before: its own acknowledgement
// of those entries then arrives after it left the configuration. That is
// the normal course of events, not an error, so Advance (or, in
// asynchronous mode, Step) succeeds.
func TestMembershipRemovedLeaderAdvance(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	c.campaign(1)
	rn := c.nodes[1].rn
	require.NoError(t, rn.ProposeConfChange(mbV1(pb.ConfChangeRemoveNode, 1)))
	c.handleReady(1) // the removal goes out
	c.handleReady(2) // node 2's acknowledgement commits it
	require.NoError(t, rn.Propose([]byte("x")))

	rd := rn.Ready()
	require.Len(t, rd.Entries, 1, "x, to persist")
	require.Len(t, rd.CommittedEntries, 1, "the removal, to apply")
	nd := c.nodes[1]
	require.NoError(t, nd.st.Append(rd.Entries))
	if rd.HardState != nil {
		require.NoError(t, nd.st.SetHardState(rd.HardState))
	}
	for _, m := range rd.Messages {
		require.NoError(t, c.nodes[m.To].rn.Step(m))
	}
	c.apply(nd, rd.CommittedEntries[0])
	require.Equal(t, "voters=(2 3)", c.config(1))
	require.NoError(t, rn.Advance(rd))
	// With AsyncStorageWrites the same acknowledgement comes back through
	// Step.
	x := rd.Entries[0]
	require.NoError(t, rn.Step(&pb.Message{From: 1, To: 1, Term: x.Term, Type: pb.MsgAppResp, Index: x.Index}))

	c.stabilize()
	c.beat()
	require.Equal(t, []string{"x"}, c.nodes[2].data, "x commits on 2 and 3")
}

// With StepDownOnRemoval, a leader steps down as soon as it applies the
// change that removes it. It cannot campaign any more, and the remaining
// voters elect a leader among themselves once they applied the change
// (a node does not campaign with a committed change still unapplied).
func TestMembershipRemoveLeaderStepDownOnRemoval(t *testing.T) {
	nw := newNetworkWithConfig(t, func(c *Config) { c.StepDownOnRemoval = true }, nil, nil, nil)
	nw.hup(1)
	leader := nw.peers[1]
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeRemoveNode, 1))))
	term := leader.Term

	mbApply(t, leader)
	require.Equal(t, StateFollower, leader.state)
	require.Equal(t, None, leader.lead)
	require.Equal(t, term, leader.Term, "stepping down does not start a term")
	require.False(t, leader.promotable())

	// Node 2 cannot campaign before it applied the change.
	nw.hup(2)
	require.Equal(t, StateFollower, nw.peers[2].state)
	mbApply(t, nw.peers[2])
	mbApply(t, nw.peers[3])
	var msgs []*pb.Message
	mbRecord(nw, &msgs)
	nw.hup(2)
	require.Equal(t, StateLeader, nw.peers[2].state)
	for _, m := range msgs {
		require.NotEqual(t, uint64(1), m.To, "the removed node is not asked for its vote: %s", pb.DescribeMessage(m, nil))
	}
	nw.hup(1)
	require.Equal(t, StateFollower, leader.state, "a removed node never campaigns")
}

// A removed node that applied its removal is not a member of its own
// configuration, so it never campaigns: its election timeouts cannot
// disturb the cluster with higher terms. It learns of its removal within
// the round that commits it, in either commit propagation mode: the leader
// sends every peer a commit index that covers a configuration change at
// once, before it applies the change and forgets the removed peer.
func TestMembershipRemovedNodeDoesNotDisrupt(t *testing.T) {
	bothCommitModes(t, testMembershipRemovedNodeDoesNotDisrupt)
}

func testMembershipRemovedNodeDoesNotDisrupt(t *testing.T, eager bool) {
	c := mbNewCluster(t, 3, func(cfg *Config) { cfg.EagerCommitPropagation = eager })
	c.campaign(1)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeRemoveNode, 3)))
	c.stabilize()
	require.Equal(t, "voters=(1 2)", c.config(3), "node 3 applied its own removal")
	term := c.raft(1).Term

	mark := len(c.sent)
	c.tick(3, 100)
	require.NoError(t, c.nodes[3].rn.Campaign())
	c.stabilize()
	require.Equal(t, StateFollower, c.raft(3).state)
	require.Equal(t, term, c.raft(3).Term)
	for _, m := range c.sent[mark:] {
		require.NotEqual(t, uint64(3), m.From, "node 3 sent %s", pb.DescribeMessage(m, nil))
	}
	c.propose(1, "a")
	require.Equal(t, StateLeader, c.raft(1).state)
	require.Equal(t, term, c.raft(1).Term)
	require.Equal(t, []string{"a"}, c.nodes[2].data)
}

// A removed node that never learned of its removal still thinks it is a
// voter and campaigns when it stops hearing from the leader. With
// CheckQuorum the members ignore its vote requests while their leader is
// alive (leader stickiness, thesis §4.2.3), so the leader stays in place.
func TestMembershipRemovedUnawareNodeIgnoredWithCheckQuorum(t *testing.T) {
	c := mbNewCluster(t, 3, func(cfg *Config) { cfg.CheckQuorum = true })
	c.campaign(1)
	c.down[3] = true
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeRemoveNode, 3)))
	c.stabilize()
	require.Equal(t, "voters=(1 2)", c.config(1))
	require.Equal(t, "voters=(1 2 3)", c.config(3), "node 3 missed its removal")
	term := c.raft(1).Term

	delete(c.down, 3)
	// Node 3 times out and campaigns; the leader keeps node 2 in its lease.
	for range 30 {
		c.nodes[3].rn.Tick()
		c.tick(1, 1)
	}
	require.Greater(t, c.raft(3).Term, term, "node 3 did campaign")
	require.Equal(t, StateLeader, c.raft(1).state)
	require.Equal(t, term, c.raft(1).Term)
	require.Equal(t, term, c.raft(2).Term)
	c.propose(1, "a")
	require.Equal(t, []string{"a"}, c.nodes[2].data)
}

// ---------------------------------------------------------------------------
// One change at a time (thesis §4.1): a change is accepted only once the
// previous one is applied, so that every two consecutive configurations
// have overlapping majorities.

// mbSingleLeader returns a one-voter cluster whose node 1 leads: it commits
// its own entries, so tests can add learners without losing the quorum.
func mbSingleLeader(t *testing.T, adjust func(*Config)) *mbCluster {
	t.Helper()
	c := mbNewCluster(t, 1, adjust)
	c.campaign(1)
	require.Equal(t, StateLeader, c.raft(1).state)
	return c
}

func TestMembershipOnePendingConfChange(t *testing.T) {
	c := mbSingleLeader(t, nil)
	rn, r := c.nodes[1].rn, c.raft(1)

	require.NoError(t, rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 2)))
	last := r.raftLog.lastIndex()
	require.Equal(t, last, r.pendingConfIndex)

	err := rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 3))
	require.ErrorIs(t, err, ErrConfChangeRejected)
	require.Equal(t, last, r.raftLog.lastIndex(), "nothing appended")
	// V2 changes are gated alike.
	require.ErrorIs(t, rn.ProposeConfChange(mbV2(t, pb.ConfChangeTransitionAuto, "l3")), ErrConfChangeRejected)
	require.Equal(t, last, r.raftLog.lastIndex())
	// Ordinary proposals are not.
	require.NoError(t, rn.Propose([]byte("a")))
	require.Equal(t, last+1, r.raftLog.lastIndex())

	// Once the first change is committed but not applied, still refused.
	rd := rn.Ready()
	require.Empty(t, rd.CommittedEntries)
	require.NoError(t, c.nodes[1].st.Append(rd.Entries))
	if rd.HardState != nil {
		require.NoError(t, c.nodes[1].st.SetHardState(rd.HardState))
	}
	require.NoError(t, rn.Advance(rd))
	require.GreaterOrEqual(t, r.raftLog.committed, last)
	require.Less(t, r.raftLog.applied, last)
	require.ErrorIs(t, rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 3)), ErrConfChangeRejected)

	c.stabilize()
	require.Equal(t, "voters=(1) learners=(2)", c.config(1))
	require.NoError(t, rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 3)))
	c.stabilize()
	require.Equal(t, "voters=(1) learners=(2 3)", c.config(1))
	require.Equal(t, []string{"a"}, c.nodes[1].data)
}

// A change that cannot be applied to the configuration is refused when it
// is proposed, where the caller sees the error, rather than committed and
// then failing on every node.
func TestMembershipInvalidConfChangeRejectedAtProposal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
		cc    pb.ConfChangeI
		cause error
	}{
		{"remove the only voter", 1, mbV1(pb.ConfChangeRemoveNode, 1), confchange.ErrNoVoters},
		{"remove all voters through joint", 3, mbV2(t, pb.ConfChangeTransitionJointExplicit, "r1 r2 r3"), confchange.ErrNoVoters},
		{"node 0", 3, mbV1(pb.ConfChangeAddNode, 0), confchange.ErrInvalidChange},
		{"unknown type", 3, &pb.ConfChange{Type: pb.ConfChangeType(42), NodeId: 4}, confchange.ErrInvalidChange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mbNewCluster(t, tc.nodes, nil)
			c.campaign(1)
			c.stabilize()
			r := c.raft(1)
			last := r.raftLog.lastIndex()
			err := c.nodes[1].rn.ProposeConfChange(tc.cc)
			require.ErrorIs(t, err, ErrConfChangeRejected)
			require.ErrorIs(t, err, tc.cause)
			require.Equal(t, last, r.raftLog.lastIndex(), "nothing appended")
			// A valid change is still accepted: nothing became pending.
			require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 9)))
		})
	}
}

// With transition Auto, two voter changes do not go through the
// one-at-a-time path (which would refuse them: the majorities of the two
// configurations need not overlap); they enter a joint configuration
// instead, left automatically.
func TestMembershipTwoVoterChangesEnterJoint(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	// The network's founding configuration is not in the log, so new nodes
	// start from it, as if from a snapshot.
	nw.peers[4] = newTestRaft(t, 4, 10, 1, storageWith(ids(3)))
	nw.peers[5] = newTestRaft(t, 5, 10, 1, storageWith(ids(3)))
	leader := nw.peers[1]
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV2(t, pb.ConfChangeTransitionAuto, "v4 v5"))))
	mbApply(t, leader)
	require.Equal(t, "voters=(1 2 3 4 5)&&(1 2 3) autoleave", leader.trk.Config.String())
	mbSettle(nw)
	mbBeat(nw, 1)
	mbSettle(nw)
	for id, p := range nw.peers {
		require.Equal(t, "voters=(1 2 3 4 5)", p.trk.Config.String(), "node %d", id)
	}
}

// The joint state decides which changes make sense: leaving is only
// possible while joint, and while joint nothing but leaving is.
func TestMembershipJointStateChecksAtProposal(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	c.campaign(1)
	rn, r := c.nodes[1].rn, c.raft(1)
	last := r.raftLog.lastIndex()
	err := rn.ProposeConfChange(&pb.ConfChangeV2{})
	require.ErrorIs(t, err, ErrConfChangeRejected, "leaving when not joint")
	require.Equal(t, last, r.raftLog.lastIndex())

	require.NoError(t, rn.ProposeConfChange(mbV2(t, pb.ConfChangeTransitionJointExplicit, "l4")))
	c.stabilize()
	require.Equal(t, "voters=(1 2 3)&&(1 2 3) learners=(4)", c.config(1))
	last = r.raftLog.lastIndex()
	for _, cc := range []pb.ConfChangeI{
		mbV1(pb.ConfChangeAddLearnerNode, 5),
		mbV2(t, pb.ConfChangeTransitionAuto, "l5"),
		mbV2(t, pb.ConfChangeTransitionJointExplicit, "l5"),
	} {
		require.ErrorIs(t, rn.ProposeConfChange(cc), ErrConfChangeRejected, "a change while joint")
		require.Equal(t, last, r.raftLog.lastIndex())
	}
	require.NoError(t, rn.ProposeConfChange(&pb.ConfChangeV2{}))
	c.stabilize()
	require.Equal(t, "voters=(1 2 3) learners=(4)", c.config(1))
}

// DisableConfChangeValidation hands the checks to the application: a second
// change is accepted while the first is pending.
func TestMembershipDisableConfChangeValidation(t *testing.T) {
	c := mbSingleLeader(t, func(cfg *Config) { cfg.DisableConfChangeValidation = true })
	rn, r := c.nodes[1].rn, c.raft(1)
	last := r.raftLog.lastIndex()
	require.NoError(t, rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 2)))
	require.NoError(t, rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 3)))
	require.Equal(t, last+2, r.raftLog.lastIndex())
	c.stabilize()
	require.Equal(t, "voters=(1) learners=(2 3)", c.config(1))
}

// A new leader cannot tell whether its uncommitted tail holds a
// configuration change (an entry's type is known, but whether it will
// commit is not), so it treats the whole tail as pending: no change is
// accepted before everything up to its last index at election is applied.
func TestMembershipNewLeaderPendingConfIndex(t *testing.T) {
	// Every node holds an uncommitted change at index 2, followed by an
	// ordinary entry.
	cc := mbConfEntry(t, mbV1(pb.ConfChangeAddLearnerNode, 4))
	mk := func(id uint64) *raft {
		st := storageWith(ids(3))
		e := &pb.Entry{Index: 2, Term: 1, Type: cc.Type, Data: cc.Data}
		require.NoError(t, st.Append([]*pb.Entry{{Index: 1, Term: 1}, e, {Index: 3, Term: 1}}))
		require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: 1}))
		return newTestRaft(t, id, 10, 1, st)
	}
	nw := newNetwork(t, mk(1), mk(2), mk(3))
	nw.hup(1)
	leader := nw.peers[1]
	require.Equal(t, StateLeader, leader.state)
	require.Equal(t, uint64(3), leader.pendingConfIndex, "the last index at election, not that of the last change")
	require.Less(t, leader.raftLog.applied, uint64(2))

	last := leader.raftLog.lastIndex()
	err := mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeAddLearnerNode, 5)))
	require.ErrorIs(t, err, ErrConfChangeRejected)
	require.Equal(t, last, leader.raftLog.lastIndex())

	mbSettle(nw)
	require.Equal(t, "voters=(1 2 3) learners=(4)", leader.trk.Config.String(), "the tail did hold a change")
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeAddLearnerNode, 5))))
}

// ---------------------------------------------------------------------------
// ApplyConfChange.

// ApplyConfChange returns the configuration now in force, which the
// application stores with its state (in its snapshots in particular).
func TestMembershipApplyConfChangeReturnsConfState(t *testing.T) {
	c := mbSingleLeader(t, nil)
	rn := c.nodes[1].rn
	require.NoError(t, rn.ProposeConfChange(mbV1(pb.ConfChangeAddLearnerNode, 2)))
	c.stabilize()
	mbRequireConfState(t, &pb.ConfState{Voters: []uint64{1}, Learners: []uint64{2}}, c.nodes[1].cs)

	require.NoError(t, rn.ProposeConfChange(mbV2(t, pb.ConfChangeTransitionJointExplicit, "l3")))
	c.stabilize()
	mbRequireConfState(t, &pb.ConfState{
		Voters: []uint64{1}, VotersOutgoing: []uint64{1}, Learners: []uint64{2, 3},
	}, c.nodes[1].cs)

	require.NoError(t, rn.ProposeConfChange(&pb.ConfChangeV2{}))
	c.stabilize()
	mbRequireConfState(t, &pb.ConfState{Voters: []uint64{1}, Learners: []uint64{2, 3}}, c.nodes[1].cs)
	mbRequireConfState(t, c.nodes[1].cs, c.raft(1).trk.ConfState())

	_, err := rn.ApplyConfChange(nil)
	require.ErrorIs(t, err, ErrConfChangeRejected)
}

// With validation disabled, an invalid change can commit. Applying it
// fails the same way on every node, which keeps its configuration: the
// nodes stay in agreement, and the cluster keeps working.
func TestMembershipInvalidChangeAtApplyTime(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cc    pb.ConfChangeI
		cause error
	}{
		{"leave when not joint", &pb.ConfChangeV2{}, confchange.ErrNotJoint},
		{"remove every voter", mbV2(t, pb.ConfChangeTransitionJointExplicit, "r1 r2 r3"), confchange.ErrNoVoters},
		{"node 0", mbV1(pb.ConfChangeAddNode, 0), confchange.ErrInvalidChange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mbNewCluster(t, 3, func(cfg *Config) { cfg.DisableConfChangeValidation = true })
			c.campaign(1)
			require.NoError(t, c.nodes[1].rn.ProposeConfChange(tc.cc))
			c.stabilize()
			for id, nd := range c.nodes {
				require.Len(t, nd.applyErrs, 1, "node %d", id)
				require.ErrorIs(t, nd.applyErrs[0], ErrConfChangeRejected)
				require.True(t, errors.Is(nd.applyErrs[0], tc.cause), "node %d: %v", id, nd.applyErrs[0])
				require.Equal(t, "voters=(1 2 3)", c.config(id), "node %d", id)
			}
			c.propose(1, "a")
			for id, nd := range c.nodes {
				require.Equal(t, []string{"a"}, nd.data, "node %d", id)
			}
		})
	}
}

// A removed peer whose flow was paused when its removal committed (its
// window full, so the commit index could not go to it) is told when the
// leader applies the removal and forgets it: an empty append after the
// ones in flight carries the commit index. Otherwise it would take itself
// for a voter and campaign.
func TestMembershipRemovedPausedPeerIsTold(t *testing.T) {
	bothCommitModes(t, func(t *testing.T, eager bool) {
		r := rpStableLeader(t, 3, func(cfg *Config) {
			cfg.EagerCommitPropagation = eager
			cfg.MaxInflightMsgs = 1
		})
		require.NoError(t, r.Step(rpProp("x")))
		x := r.raftLog.lastIndex()
		readMessages(t, r)
		require.NoError(t, r.Step(&pb.Message{From: 1, To: 1, Type: pb.MsgProp,
			Entries: []*pb.Entry{mbConfEntry(t, mbV1(pb.ConfChangeRemoveNode, 3))}}))
		removal := r.raftLog.lastIndex()
		require.Empty(t, readMessages(t, r), "both windows are full")
		// Both acknowledge x; the removal goes out to both, filling the
		// windows again.
		require.NoError(t, r.Step(rpAppResp(r, 2, x)))
		require.NoError(t, r.Step(rpAppResp(r, 3, x)))
		readMessages(t, r)
		require.True(t, r.trk.Progress[3].IsPaused())
		// Node 2's acknowledgement commits the removal; node 3 is paused and
		// is not told.
		require.NoError(t, r.Step(rpAppResp(r, 2, removal)))
		require.Equal(t, removal, r.raftLog.committed)
		require.Empty(t, rpTo(readMessages(t, r), 3, pb.MsgApp))

		mbApply(t, r)
		require.Nil(t, r.trk.Progress[3])
		apps := rpTo(readMessages(t, r), 3, pb.MsgApp)
		require.Len(t, apps, 1, "the removed node is told")
		require.Equal(t, removal, apps[0].Index, "after the append in flight")
		require.Equal(t, removal, apps[0].Commit)
		require.Empty(t, apps[0].Entries)
	})
}
