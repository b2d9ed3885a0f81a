package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of learners (non-voting members, thesis §4.2.1): a new server
// catches up as a learner before it votes, so that adding it does not
// leave the cluster unable to commit while it is behind.

// mbLearnerNetwork connects voters 1 and 2 and learner 3.
func mbLearnerNetwork(t *testing.T) *network {
	t.Helper()
	var peers []*raft
	for _, id := range ids(3) {
		peers = append(peers, newTestRaft(t, id, 10, 1, storageWith([]uint64{1, 2}, 3)))
	}
	return newNetwork(t, peers...)
}

// A learner receives and acknowledges the log, but its acknowledgements do
// not count toward commits: with voter 2 unreachable, voter 1 and learner 3
// hold an entry that stays uncommitted.
func TestLearnerReceivesLogButDoesNotCount(t *testing.T) {
	nw := mbLearnerNetwork(t)
	nw.hup(1)
	leader, learner := nw.peers[1], nw.peers[3]
	require.Equal(t, StateLeader, leader.state)
	require.True(t, learner.isLearner)
	require.True(t, leader.trk.Progress[3].IsLearner)

	nw.cut(1, 2)
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("x")}))
	x := leader.raftLog.lastIndex()
	require.Equal(t, x, learner.raftLog.lastIndex(), "the learner has the entry")
	require.Equal(t, x, leader.trk.Progress[3].Match, "and acknowledged it")
	require.Less(t, leader.raftLog.committed, x, "the learner does not count")

	nw.recover()
	mbBeat(nw, 1)
	require.Equal(t, x, leader.raftLog.committed)
	mbBeat(nw, 1) // the next heartbeat carries the new commit index
	require.Equal(t, x, learner.raftLog.committed, "the learner learns the commit index")
}

// Adding a learner as a voter promotes it. It keeps its progress (the
// leader knows how far its log is, and need not probe again) and counts
// toward commits from then on.
func TestLearnerPromotedToVoter(t *testing.T) {
	nw := mbLearnerNetwork(t)
	nw.hup(1)
	leader := nw.peers[1]
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("a")}))
	mbSettle(nw)
	match := leader.trk.Progress[3].Match
	require.NotZero(t, match)

	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeAddNode, 3))))
	mbSettle(nw)
	for id, p := range nw.peers {
		require.Equal(t, "voters=(1 2 3)", p.trk.Config.String(), "node %d", id)
	}
	require.False(t, nw.peers[3].isLearner)
	pr := leader.trk.Progress[3]
	require.False(t, pr.IsLearner)
	require.GreaterOrEqual(t, pr.Match, match, "the progress was kept")
	require.Equal(t, "StateReplicate", pr.State.String())

	// Now 1 and 3 commit without 2.
	nw.cut(1, 2)
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("b")}))
	require.Equal(t, leader.raftLog.lastIndex(), leader.raftLog.committed)
	require.True(t, nw.peers[3].promotable(), "the promoted node may campaign")
}

// A voter demoted outside a joint configuration becomes a learner at once;
// it stops counting toward commits and may no longer campaign.
func TestLearnerDemoteVoterSimple(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeAddLearnerNode, 3))))
	mbSettle(nw)
	for id, p := range nw.peers {
		require.Equal(t, "voters=(1 2) learners=(3)", p.trk.Config.String(), "node %d", id)
	}
	require.True(t, nw.peers[3].isLearner)
	require.False(t, nw.peers[3].promotable())
	leader := nw.peers[1]
	nw.cut(1, 2)
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("x")}))
	require.Less(t, leader.raftLog.committed, leader.raftLog.lastIndex(), "1 and learner 3 do not commit")
}

// A voter demoted as part of a joint change still votes in the outgoing
// half: it cannot be a learner there yet. It waits in LearnersNext, voting
// in the outgoing half only, and becomes a learner when the joint
// configuration is left.
func TestLearnerDemoteVoterViaJoint(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	leader := nw.peers[1]
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV2(t, pb.ConfChangeTransitionJointExplicit, "l3"))))
	mbSettle(nw)
	for id, p := range nw.peers {
		require.Equal(t, "voters=(1 2)&&(1 2 3) learners_next=(3)", p.trk.Config.String(), "node %d", id)
	}
	require.False(t, leader.trk.Progress[3].IsLearner, "still a voter of the outgoing half")
	require.False(t, nw.peers[3].isLearner)

	// While joint, 3 still counts in the outgoing half: with 2 cut, 1 and 3
	// are a majority of (1 2 3) but not of (1 2), so nothing commits...
	nw.cut(1, 2)
	require.NoError(t, mbPropose(nw, 1, &pb.Entry{Data: []byte("x")}))
	x := leader.raftLog.lastIndex()
	require.Less(t, leader.raftLog.committed, x)
	// ...and with 3 cut, 1 and 2 are a majority of both.
	nw.recover()
	nw.cut(1, 3)
	mbBeat(nw, 1)
	require.Equal(t, x, leader.raftLog.committed)

	nw.recover()
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, &pb.ConfChangeV2{})))
	mbSettle(nw)
	for id, p := range nw.peers {
		require.Equal(t, "voters=(1 2) learners=(3)", p.trk.Config.String(), "node %d", id)
	}
	require.True(t, leader.trk.Progress[3].IsLearner)
	require.True(t, nw.peers[3].isLearner)
}

// A learner never campaigns, whatever its election timer says: it has no
// vote to give itself and could only disturb the voters with a higher term.
func TestLearnerNeverCampaigns(t *testing.T) {
	learner := newTestRaft(t, 3, 10, 1, storageWith([]uint64{1, 2}, 3))
	for range 100 {
		learner.tick()
	}
	require.NoError(t, learner.Step(&pb.Message{From: 3, To: 3, Type: pb.MsgHup}))
	require.Equal(t, StateFollower, learner.state)
	require.Zero(t, learner.Term)
	require.Empty(t, readMessages(t, learner))
}

// Learners answer vote requests. A learner may have been promoted in a
// configuration it has not applied yet, while the candidate has: the
// candidate needs its vote, and refusing it could leave the cluster without
// a leader.
func TestLearnerAnswersVoteRequests(t *testing.T) {
	// Node 1 applied the promotion of 3; node 3 has not; node 2 is down.
	n1 := newTestRaft(t, 1, 10, 1, storageWith(ids(3)))
	n2 := newTestRaft(t, 2, 10, 1, storageWith(ids(3)))
	n3 := newTestRaft(t, 3, 10, 1, storageWith([]uint64{1, 2}, 3))
	require.True(t, n3.isLearner)
	nw := newNetwork(t, n1, n2, n3)
	var resps []*pb.Message
	mbRecord(nw, &resps)
	nw.isolate(2)
	nw.hup(1)
	require.Equal(t, StateLeader, n1.state, "the learner's vote made the majority")
	var granted bool
	for _, m := range resps {
		if m.From == 3 && m.Type == pb.MsgVoteResp {
			granted = !m.Reject
		}
	}
	require.True(t, granted)
	require.Equal(t, uint64(1), n3.Vote, "the learner recorded its vote")
	require.Equal(t, StateFollower, n3.state)
}
