package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// CheckQuorum tests (thesis §6.2 and §4.2.3). With CheckQuorum a leader
// gives up when it stops hearing from a quorum, and followers that hear
// from a live leader refuse to take part in elections (leader stickiness).

// elCheckQuorumNetwork returns an n-node CheckQuorum network led by node 1.
func elCheckQuorumNetwork(t *testing.T, n int) *network {
	t.Helper()
	nw := elNetwork(t, n, func(c *Config) { c.CheckQuorum = true })
	nw.hup(1)
	require.Equal(t, StateLeader, nw.peers[1].state)
	return nw
}

// TestCheckQuorum_LeaderStepsDownWithoutQuorum checks that a leader that has
// not heard from a quorum for an election timeout steps down (thesis §6.2).
// A leader cut off from the majority cannot commit anything, but without
// this it would keep serving lease reads and accepting proposals forever; and
// a client talking to it would never be redirected.
func TestCheckQuorum_LeaderStepsDownWithoutQuorum(t *testing.T) {
	nw := elCheckQuorumNetwork(t, 3)
	r := nw.peers[1]
	nw.isolate(1)
	et := r.electionTimeout
	// Not before a full election timeout of silence...
	elTick(nw, 1, et)
	require.Equal(t, StateLeader, r.state, "stepped down before an election timeout passed")
	// ...but within two (the check runs once per election timeout).
	elTick(nw, 1, et)
	require.Equal(t, StateFollower, r.state)
	require.Equal(t, uint64(1), r.Term, "stepping down must not change the term")
	require.Equal(t, None, r.lead)
}

// TestCheckQuorum_LeaderStaysWithQuorum checks that a leader that hears from
// a quorum (itself included) stays leader however long it runs, even when a
// minority of followers is unreachable, and that a single-node leader, which
// is its own quorum, never steps down.
func TestCheckQuorum_LeaderStaysWithQuorum(t *testing.T) {
	for _, tc := range []struct {
		size int
		cut  []uint64
	}{
		{1, nil},
		{3, nil},
		{3, []uint64{3}},
		{5, []uint64{4, 5}},
	} {
		t.Run(fmt.Sprintf("size=%d/cut=%v", tc.size, tc.cut), func(t *testing.T) {
			nw := elCheckQuorumNetwork(t, tc.size)
			for _, id := range tc.cut {
				nw.cut(1, id)
			}
			r := nw.peers[1]
			elTick(nw, 1, 10*r.electionTimeout)
			require.Equal(t, StateLeader, r.state)
			require.Equal(t, uint64(1), r.Term)
		})
	}
}

// TestCheckQuorum_4_2_3_LeaderStickiness checks that with CheckQuorum a node
// that heard from the leader within the election timeout ignores vote
// requests, even of a later term: the leader is evidently alive, so the
// candidate must be partitioned or behind (thesis §4.2.3). Ignoring means no
// answer and, crucially, no move to the candidate's term, which would depose
// the leader. The leader itself behaves the same. Once the lease runs out
// the request is handled normally.
func TestCheckQuorum_4_2_3_LeaderStickiness(t *testing.T) {
	nw := elCheckQuorumNetwork(t, 3)
	r1, r2 := nw.peers[1], nw.peers[2]
	req := func(to uint64) *pb.Message {
		return &pb.Message{Type: pb.MsgVote, From: 3, To: to, Term: 2, LogTerm: 1, Index: 1}
	}
	for _, r := range []*raft{r1, r2} {
		require.NoError(t, r.Step(req(r.id)))
		require.Empty(t, readMessages(t, r), "node %d answered a vote request within the lease", r.id)
		require.Equal(t, uint64(1), r.Term, "node %d", r.id)
		require.Equal(t, uint64(1), r.Vote, "node %d", r.id)
	}
	require.Equal(t, StateLeader, r1.state)
	require.Equal(t, uint64(1), r2.lead)

	// A follower that has not heard from the leader for an election timeout
	// votes again.
	r2.electionElapsed = r2.electionTimeout
	require.NoError(t, r2.Step(req(2)))
	resps := readMessages(t, r2)
	require.Len(t, resps, 1)
	require.False(t, resps[0].Reject)
	require.Equal(t, uint64(2), r2.Term)
	require.Equal(t, uint64(3), r2.Vote)
}

// TestCheckQuorum_4_2_3_TransferOverridesStickiness checks that a vote
// request sent by a node told to campaign by the leader (MsgTimeoutNow,
// thesis §3.10) is honoured within the lease: the leader asked for the
// election, so stickiness must not block it. Without that, leadership
// transfer could never work under CheckQuorum.
func TestCheckQuorum_4_2_3_TransferOverridesStickiness(t *testing.T) {
	t.Run("vote request", func(t *testing.T) {
		nw := elCheckQuorumNetwork(t, 3)
		r2 := nw.peers[2]
		require.NoError(t, r2.Step(&pb.Message{
			Type: pb.MsgVote, From: 3, To: 2, Term: 2, LogTerm: 1, Index: 1,
			Context: []byte(campaignTransfer),
		}))
		resps := readMessages(t, r2)
		require.Len(t, resps, 1)
		require.False(t, resps[0].Reject)
		require.Equal(t, uint64(2), r2.Term)
		require.Equal(t, uint64(3), r2.Vote)
	})
	t.Run("plain campaign fails", func(t *testing.T) {
		nw := elCheckQuorumNetwork(t, 3)
		nw.hup(2)
		require.Equal(t, StateLeader, nw.peers[1].state)
		require.Equal(t, uint64(1), nw.peers[1].Term)
		require.Equal(t, uint64(1), nw.peers[3].Term)
		require.NotEqual(t, StateLeader, nw.peers[2].state)
	})
	t.Run("transfer succeeds", func(t *testing.T) {
		nw := elCheckQuorumNetwork(t, 3)
		var timeoutNow bool
		nw.msgHook = func(m *pb.Message) bool {
			if m.Type == pb.MsgTimeoutNow {
				timeoutNow = true
			}
			if m.Type == pb.MsgVote {
				require.Equal(t, []byte(campaignTransfer), m.Context)
			}
			return true
		}
		nw.send(&pb.Message{Type: pb.MsgTransferLeader, From: 2, To: 1})
		require.True(t, timeoutNow)
		require.Equal(t, StateLeader, nw.peers[2].state)
		require.Equal(t, uint64(2), nw.peers[2].Term)
		require.Equal(t, StateFollower, nw.peers[1].state)
		require.Equal(t, uint64(2), nw.peers[1].lead)
	})
}

// TestCheckQuorum_PartitionedFollowerCannotDepose checks the end-to-end effect
// of stickiness: a follower that is cut off and keeps campaigning reaches a
// high term, but when it returns, its vote requests are ignored by nodes in
// contact with the leader, so they do not depose a working leader. (What
// finally reconciles the terms is the stale-term MsgAppResp, tested in
// TestElection_5_1_StaleLeaderStepsDownAfterRejoining.)
func TestCheckQuorum_PartitionedFollowerCannotDepose(t *testing.T) {
	nw := elCheckQuorumNetwork(t, 3)
	nw.isolate(3)
	r3 := nw.peers[3]
	elTick(nw, 3, 5*r3.electionTimeout)
	require.Greater(t, r3.Term, uint64(2))

	nw.recover()
	// Only 3 ticks: its vote requests arrive while 1 and 2 are in the lease.
	var answered bool
	nw.msgHook = func(m *pb.Message) bool {
		if m.Type == pb.MsgVoteResp && m.To == 3 {
			answered = true
		}
		return true
	}
	elTick(nw, 3, 2*r3.electionTimeout)
	require.False(t, answered, "a vote request was answered within the leader's lease")
	require.Equal(t, StateLeader, nw.peers[1].state)
	require.Equal(t, uint64(1), nw.peers[1].Term)
	require.Equal(t, uint64(1), nw.peers[2].Term)
}
