package raft

import (
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/tickraft/raft/raftpb"
)

// Tests of the vote a removed node gets (election.go, knownRemoved): a node
// whose removal committed must never lead again, even when the leader's
// word of it is delayed; and a voter's refusal must never cost the cluster
// a leader it could otherwise elect.

// rvRemovedButUnaware builds four voters led by 1, commits and applies the
// removal of 4 on 1, 2 and 3, and keeps every commit index that covers the
// removal from 4: 4 holds the removal entry (its log is as long as anyone's)
// but does not know it committed, as when the leader's message is delayed.
func rvRemovedButUnaware(t *testing.T, eager, preVote bool) (*network, uint64) {
	t.Helper()
	nw := newNetworkWithConfig(t, func(c *Config) {
		c.EagerCommitPropagation = eager
		c.PreVote = preVote
	}, nil, nil, nil, nil)
	nw.hup(1)
	removal := nw.peers[1].raftLog.lastIndex() + 1
	nw.msgHook = func(m *pb.Message) bool { return m.To != 4 || m.Commit < removal }
	require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeRemoveNode, 4))))
	mbSettle(nw)
	for _, id := range []uint64{1, 2, 3} {
		require.Equal(t, "voters=(1 2 3)", nw.peers[id].trk.Config.String(), "node %d", id)
	}
	r4 := nw.peers[4]
	require.Equal(t, removal, r4.raftLog.lastIndex(), "4 holds the removal")
	require.Less(t, r4.raftLog.committed, removal, "4 does not know the removal committed")
	require.Equal(t, "voters=(1 2 3 4)", r4.trk.Config.String())
	nw.msgHook = nil
	return nw, removal
}

// A node whose removal committed and was applied by the voters gets no
// vote from them (nor a pre-vote), though its log is up to date and it
// still sees itself as a voter: elected, it would lead a cluster it is no
// longer part of. Without the refusal 4 wins here.
func TestRemovedNodeGetsNoVote(t *testing.T) {
	bothCommitModes(t, func(t *testing.T, eager bool) {
		for _, preVote := range []bool{false, true} {
			nw, _ := rvRemovedButUnaware(t, eager, preVote)
			var sent []*pb.Message
			mbRecord(nw, &sent)
			nw.hup(4)
			require.NotEqual(t, StateLeader, nw.peers[4].state, "preVote=%v", preVote)
			want := pb.MsgVoteResp
			if preVote {
				want = pb.MsgPreVoteResp
			}
			refused := map[uint64]bool{}
			for _, m := range sent {
				if m.To == 4 && m.Type == want {
					require.True(t, m.Reject, "node %d granted a vote to the removed node (preVote=%v)", m.From, preVote)
					refused[m.From] = true
				}
			}
			require.Equal(t, map[uint64]bool{1: true, 2: true, 3: true}, refused, "preVote=%v", preVote)
		}
	})
}

// rvVoter returns node 1 restored from a snapshot at index 5 (term 1) of
// the configuration cs, with nothing else in its log: applied is 5.
func rvVoter(t *testing.T, cs *pb.ConfState) *raft {
	t.Helper()
	st := NewMemoryStorage()
	require.NoError(t, st.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 5, Term: 1, ConfState: cs}}))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: 5}))
	r := newTestRaft(t, 1, 10, 1, st)
	require.Equal(t, uint64(5), r.raftLog.applied)
	return r
}

// rvAsk steps a vote request of type typ from candidate 4 whose log ends at
// index (term 1) into r and reports whether r granted it.
func rvAsk(t *testing.T, r *raft, typ pb.MessageType, index uint64) bool {
	t.Helper()
	require.NoError(t, r.Step(&pb.Message{From: 4, To: 1, Term: r.Term + 1, Type: typ, Index: index, LogTerm: 1}))
	msgs := readMessages(t, r)
	require.Len(t, msgs, 1)
	return !msgs[0].Reject
}

// A voter that knows a candidate's removal only from its configuration (it
// restarted, or learned its configuration from a snapshot, so it never
// applied the removal itself) refuses the candidate only when the
// candidate's log ends at or before its own applied index: a candidate it
// has never heard of whose log goes further may have been added by a change
// it has not applied yet, and its vote may be needed (a voter that has not
// applied the addition of 4 to (1 2 3), while 1 and 2 are gone, is the
// only vote 4 can get in (1 2 3 4) besides 3's). A voter that knows
// nothing (a new node, empty configuration) votes too.
func TestVoteForCandidateAbsentFromConfiguration(t *testing.T) {
	for _, typ := range []pb.MessageType{pb.MsgVote, pb.MsgPreVote} {
		cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
		require.False(t, rvAsk(t, rvVoter(t, cs), typ, 5), "%s: removed by index 5", typ)
		require.False(t, rvAsk(t, rvVoter(t, cs), typ, 3), "%s: removed by index 5", typ)
		require.True(t, rvAsk(t, rvVoter(t, cs), typ, 6), "%s: may have been added after index 5", typ)

		st := NewMemoryStorage()
		require.NoError(t, st.SetHardState(&pb.HardState{Term: 1}))
		empty := newTestRaft(t, 1, 10, 1, st)
		require.True(t, rvAsk(t, empty, typ, 1), "%s: a new node votes", typ)
	}
}

// A learner that asks for votes is present in the configuration: it may
// have been promoted by a change the voter has not applied (etcd's
// campaign_learner_must_vote), so it gets the vote whatever its log.
func TestVoteForLearnerCandidate(t *testing.T) {
	for _, typ := range []pb.MessageType{pb.MsgVote, pb.MsgPreVote} {
		cs := &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
		require.True(t, rvAsk(t, rvVoter(t, cs), typ, 5), "%s", typ)
	}
}

// A node removed and then added back gets votes again from a voter that
// applied both changes: the refusal lasts only while the removal is the
// latest word.
func TestVoteForReaddedNode(t *testing.T) {
	bothCommitModes(t, func(t *testing.T, eager bool) {
		nw, _ := rvRemovedButUnaware(t, eager, false)
		nw.isolate(4)
		require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeAddNode, 4))))
		mbSettle(nw)
		require.Equal(t, "voters=(1 2 3 4)", nw.peers[2].trk.Config.String())
		require.Empty(t, nw.peers[2].removedPeers)
		nw.recover()
		mbBeat(nw, 1)
		mbSettle(nw)
		require.Equal(t, nw.peers[1].raftLog.lastIndex(), nw.peers[4].raftLog.lastIndex(), "4 caught up")
		nw.hup(4)
		require.Equal(t, StateLeader, nw.peers[4].state)
	})
}

// Thesis §4.2.2 (figure 4.6): a node whose removal is in its log but not
// committed may still be needed to elect a leader, so it keeps
// campaigning. Here the leader 1 appended the removal of 3, reached only 3
// (whose acknowledgement was lost), and is gone: 2 cannot win (3's log is longer, 3 refuses it), so only 3
// can, and it does; it then commits its own removal with 2. A rule that
// kept a node from campaigning once its log removes it would leave the two
// live nodes of three without a leader for good. (This is why a removed
// node that does not know its removal committed, and asks voters who do not
// know it either, can still win: only the leader knew, and the simulator's
// residual seeds show exactly that.)
func TestUncommittedRemovalStillCampaigns(t *testing.T) {
	bothCommitModes(t, func(t *testing.T, eager bool) {
		nw := newNetworkWithConfig(t, func(c *Config) { c.EagerCommitPropagation = eager }, nil, nil, nil)
		nw.hup(1)
		nw.cut(1, 2)
		nw.drop(3, 1, 2) // 3's acknowledgement is lost
		require.NoError(t, mbPropose(nw, 1, mbConfEntry(t, mbV1(pb.ConfChangeRemoveNode, 3))))
		removal := nw.peers[1].raftLog.lastIndex()
		require.Equal(t, removal, nw.peers[3].raftLog.lastIndex())
		require.Less(t, nw.peers[1].raftLog.committed, removal)
		nw.isolate(1)

		nw.hup(2)
		require.NotEqual(t, StateLeader, nw.peers[2].state, "3's log is longer")
		nw.hup(3)
		require.Equal(t, StateLeader, nw.peers[3].state, "3 is the only node that can lead")
		mbSettle(nw)
		require.GreaterOrEqual(t, nw.peers[2].raftLog.committed, removal, "the removal committed")
		require.Equal(t, "voters=(1 2)", nw.peers[2].trk.Config.String())
	})
}
