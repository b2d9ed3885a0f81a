package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of joint consensus (Raft paper §6, thesis §4.3): a configuration
// change of several voters goes through a joint configuration in which
// every decision needs a majority of the old voters and a majority of the
// new ones, so neither can decide alone however little they overlap.

// mbJointStorage returns a MemoryStorage whose initial configuration (as if
// restored from a snapshot at index 0) is joint: incoming voters in,
// outgoing voters out.
func mbJointStorage(in, out []uint64, autoLeave bool) *MemoryStorage {
	st := NewMemoryStorage()
	st.snapshot.Metadata.ConfState = &pb.ConfState{Voters: in, VotersOutgoing: out, AutoLeave: autoLeave}
	return st
}

// mbJointNetwork connects nodes 1..5 that all start in the joint
// configuration (1 2 3)&&(1 4 5).
func mbJointNetwork(t *testing.T, autoLeave bool) *network {
	t.Helper()
	peers := make([]*raft, 5)
	for i := range peers {
		peers[i] = newTestRaft(t, uint64(i+1), 10, 1, mbJointStorage([]uint64{1, 2, 3}, []uint64{1, 4, 5}, autoLeave))
	}
	return newNetwork(t, peers...)
}

// mbIsLeave reports whether e is the entry that leaves a joint
// configuration.
func mbIsLeave(t testing.TB, e *pb.Entry) bool {
	t.Helper()
	if e.Type != pb.EntryConfChangeV2 {
		return false
	}
	cc, err := decodeConfChange(e)
	require.NoError(t, err)
	return cc.AsV2().LeaveJoint()
}

// mbCountLeaves counts the leave entries in r's log.
func mbCountLeaves(t testing.TB, r *raft) int {
	t.Helper()
	n := 0
	for _, e := range logEntries(t, r) {
		if mbIsLeave(t, e) {
			n++
		}
	}
	return n
}

// Several changes with transition Auto enter a joint configuration that
// the leader leaves by itself: once it applied the entering entry it
// proposes the empty change that leaves, and once that is applied every
// node is out of the joint configuration. Leaving promptly matters: while
// joint, every decision needs two majorities.
func TestJointAutoLeave(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	nw.peers[4] = newTestRaft(t, 4, 10, 1, storageWith(ids(3)))
	nw.peers[5] = newTestRaft(t, 5, 10, 1, storageWith(ids(3)))
	leader := nw.peers[1]

	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV2(t, pb.ConfChangeTransitionAuto, "v4 r3 l5"))))
	enter := leader.raftLog.lastIndex()
	require.Equal(t, enter, leader.raftLog.committed)
	require.Zero(t, mbCountLeaves(t, leader))

	mbApply(t, leader)
	require.Equal(t, "voters=(1 2 4)&&(1 2 3) learners=(5) autoleave", leader.trk.Config.String())
	last := mbLastEntry(t, leader)
	require.Equal(t, enter+1, last.Index)
	require.True(t, mbIsLeave(t, last), "the leader proposed the leave as soon as it applied the enter")
	require.Equal(t, last.Index, leader.pendingConfIndex)

	mbSettle(nw)
	mbBeat(nw, 1) // node 4 catches up
	mbSettle(nw)
	for _, id := range []uint64{1, 2, 4, 5} {
		require.Equal(t, "voters=(1 2 4) learners=(5)", nw.peers[id].trk.Config.String(), "node %d", id)
	}
	require.Equal(t, 1, mbCountLeaves(t, leader), "the leave is proposed once")
	require.Equal(t, leader.raftLog.lastIndex(), nw.peers[4].raftLog.lastIndex())
}

// JointImplicit enters a joint configuration even for a single change, and
// is left automatically like Auto.
func TestJointImplicitAutoLeaves(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	c.campaign(1)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV2(t, pb.ConfChangeTransitionJointImplicit, "l4")))
	c.stabilize()
	for id, nd := range c.nodes {
		// Bootstrap's three changes, then the enter and the leave.
		require.Len(t, nd.css, 5, "node %d", id)
		mbRequireConfState(t, &pb.ConfState{
			Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2, 3}, Learners: []uint64{4}, AutoLeave: true,
		}, nd.css[3])
		mbRequireConfState(t, &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, nd.css[4])
		require.Equal(t, "voters=(1 2 3) learners=(4)", c.config(id))
		require.True(t, mbIsLeave(t, mbLastEntry(t, nd.rn.raft)))
	}
}

// JointExplicit stays joint until the application proposes the empty
// change that leaves: the application may want to do something (say,
// wait for the new voters to catch up) before the old voters lose their
// say.
func TestJointExplicitStaysUntilLeft(t *testing.T) {
	c := mbNewCluster(t, 3, nil)
	c.campaign(1)
	c.addNode(4)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV2(t, pb.ConfChangeTransitionJointExplicit, "v4 r3")))
	c.stabilize()
	c.tick(1, 5)
	c.propose(1, "a")
	for _, id := range []uint64{1, 2, 3, 4} {
		require.Equal(t, "voters=(1 2 4)&&(1 2 3)", c.config(id), "node %d", id)
		require.Zero(t, mbCountLeaves(t, c.raft(id)), "node %d", id)
	}
	// The outgoing voter 3 still takes part while joint.
	require.Equal(t, []string{"a"}, c.nodes[3].data)

	require.NoError(t, c.nodes[1].rn.ProposeConfChange(&pb.ConfChangeV2{}))
	c.stabilize()
	for _, id := range []uint64{1, 2, 4} {
		require.Equal(t, "voters=(1 2 4)", c.config(id), "node %d", id)
	}
	mark := len(c.sent)
	c.propose(1, "b")
	require.Empty(t, c.sentTo(3, mark), "node 3 is gone")
	require.Equal(t, []string{"a", "b"}, c.nodes[4].data)
}

// A leader can be replaced in one change: adding 4 and removing 1 while 1
// leads goes through (2 3 4)&&(1 2 3). Node 1 is an outgoing voter, so it
// keeps leading while joint and proposes the leave itself; when it applies
// the leave it is out, and with StepDownOnRemoval steps down. The new
// voters then elect a leader among themselves.
func TestJointReplaceLeader(t *testing.T) {
	c := mbNewCluster(t, 3, func(cfg *Config) { cfg.StepDownOnRemoval = true })
	c.campaign(1)
	term := c.raft(1).Term
	c.addNode(4)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(mbV2(t, pb.ConfChangeTransitionAuto, "v4 r1")))
	c.stabilize()

	n1 := c.raft(1)
	require.Equal(t, "voters=(2 3 4)", c.config(1))
	require.Equal(t, StateFollower, n1.state, "stepped down on applying its removal")
	leave := mbLastEntry(t, n1)
	require.True(t, mbIsLeave(t, leave))
	require.Equal(t, term, leave.Term, "node 1 proposed the leave while it still led")
	require.Len(t, c.nodes[1].css, 5)
	mbRequireConfState(t, &pb.ConfState{
		Voters: []uint64{2, 3, 4}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true,
	}, c.nodes[1].css[3])

	c.campaign(2)
	require.Equal(t, StateLeader, c.raft(2).state)
	mark := len(c.sent)
	c.propose(2, "z")
	for _, id := range []uint64{2, 3, 4} {
		require.Equal(t, "voters=(2 3 4)", c.config(id), "node %d", id)
		require.Equal(t, []string{"z"}, c.nodes[id].data, "node %d", id)
	}
	require.Empty(t, c.sentTo(1, mark), "the new leader does not replicate to node 1")
	require.Empty(t, c.nodes[1].data)
	c.tick(1, 50)
	require.Equal(t, StateFollower, n1.state, "node 1 never campaigns again")
	require.Equal(t, StateLeader, c.raft(2).state)
}

// In a joint configuration an entry commits only when a majority of each
// half holds it. Were one half enough, the old and the new voters could
// each commit different entries at the same index.
func TestJointCommitNeedsBothMajorities(t *testing.T) {
	nw := mbJointNetwork(t, false)
	nw.hup(1)
	leader := nw.peers[1]
	require.Equal(t, StateLeader, leader.state)
	mbSettle(nw)
	require.Equal(t, "voters=(1 2 3)&&(1 4 5)", leader.trk.Config.String())

	// Incoming majority (1 2 3), outgoing only 1 of (1 4 5).
	nw.cut(1, 4)
	nw.cut(1, 5)
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("x")}))
	x := leader.raftLog.lastIndex()
	require.Equal(t, x, leader.trk.Progress[2].Match)
	require.Equal(t, x, leader.trk.Progress[3].Match)
	require.Less(t, leader.raftLog.committed, x)

	nw.recover()
	nw.cut(1, 5)
	mbBeat(nw, 1)
	require.Equal(t, x, leader.trk.Progress[4].Match)
	require.Equal(t, x, leader.raftLog.committed, "1 and 4 are a majority of the outgoing half")

	// Outgoing majority (1 4 5), incoming only 1 of (1 2 3).
	nw.recover()
	nw.cut(1, 2)
	nw.cut(1, 3)
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("y")}))
	y := leader.raftLog.lastIndex()
	require.Equal(t, y, leader.trk.Progress[4].Match)
	require.Equal(t, y, leader.trk.Progress[5].Match)
	require.Equal(t, x, leader.raftLog.committed)

	nw.recover()
	nw.cut(1, 3)
	mbBeat(nw, 1)
	require.Equal(t, y, leader.raftLog.committed, "1 and 2 are a majority of the incoming half")
}

// Elections in a joint configuration need a majority of each half too, so
// that a leader of the new voters and a leader of the old ones cannot both
// be elected in one term.
func TestJointElectionNeedsBothMajorities(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  []uint64
	}{
		{"only the incoming half", []uint64{4, 5}},
		{"only the outgoing half", []uint64{2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := mbJointNetwork(t, false)
			// Record the vote requests, then lose those to the cut nodes.
			var asked []uint64
			nw.msgHook = func(m *pb.Message) bool {
				if m.Type == pb.MsgVote {
					asked = append(asked, m.To)
				}
				return m.To != tc.cut[0] && m.To != tc.cut[1]
			}
			nw.hup(1)
			require.Equal(t, StateCandidate, nw.peers[1].state)
			require.ElementsMatch(t, []uint64{2, 3, 4, 5}, asked, "voters of both halves are asked")

			nw.msgHook = nil
			nw.recover()
			nw.cut(1, tc.cut[0]) // one node of that half is enough
			nw.hup(1)
			require.Equal(t, StateLeader, nw.peers[1].state)
		})
	}
}

// A leader elected in a configuration entered with auto-leave proposes the
// leave itself once it has applied its log: the leader that entered the
// joint configuration may have failed before leaving it, and nobody else
// would.
func TestJointNewLeaderLeavesAutoJoint(t *testing.T) {
	nw := mbJointNetwork(t, true)
	nw.hup(1)
	leader := nw.peers[1]
	require.Equal(t, StateLeader, leader.state)
	require.Equal(t, "voters=(1 2 3)&&(1 4 5) autoleave", leader.trk.Config.String())
	mbSettle(nw)
	require.Equal(t, 1, mbCountLeaves(t, leader))
	for id, p := range nw.peers {
		require.Equal(t, "voters=(1 2 3)", p.trk.Config.String(), "node %d", id)
	}
	require.False(t, nw.peers[4].promotable(), "node 4 left with the outgoing half")
}

// An explicit joint configuration is not left by a new leader: only the
// application decides when.
func TestJointNewLeaderKeepsExplicitJoint(t *testing.T) {
	nw := mbJointNetwork(t, false)
	nw.hup(1)
	mbSettle(nw)
	mbBeat(nw, 1)
	mbSettle(nw)
	require.Zero(t, mbCountLeaves(t, nw.peers[1]))
	require.Equal(t, "voters=(1 2 3)&&(1 4 5)", nw.peers[1].trk.Config.String())
}
