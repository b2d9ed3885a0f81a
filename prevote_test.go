package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Pre-vote tests (thesis §9.6). A pre-candidate asks whether it could win an
// election before starting one, so that a node that cannot win (its log is
// behind, or the cluster has a live leader) never bumps its term and never
// forces the cluster into a new election.

// elPreVoteNode returns node id of a 3-voter cluster with PreVote on, whose
// storage holds hs and a log with the given terms.
func elPreVoteNode(t testing.TB, id uint64, hs *pb.HardState, terms ...uint64) *raft {
	t.Helper()
	c := testConfig(id, 10, 1, elStorage(t, ids(3), hs, terms...))
	c.PreVote = true
	return newTestRaftFrom(t, c)
}

// TestPreVote_9_6_PreCandidateKeepsTermAndVote checks that starting a
// pre-election changes nothing another node could observe or that must be
// persisted: the term and the vote stay, and the pre-votes ask about the next
// term. Only a won pre-election may touch the term; otherwise a partitioned
// node would still inflate its term.
func TestPreVote_9_6_PreCandidateKeepsTermAndVote(t *testing.T) {
	r := elPreVoteNode(t, 1, &pb.HardState{Term: 3, Vote: 2}, 1, 3)
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	require.Equal(t, StatePreCandidate, r.state)
	require.Equal(t, uint64(3), r.Term)
	require.Equal(t, uint64(2), r.Vote)
	require.Equal(t, None, r.lead)
	// As for a real election, our own pre-vote counts only once delivered.
	require.Empty(t, r.trk.Votes)

	msgs := readMessages(t, r)
	require.Equal(t, map[uint64]bool{1: true}, r.trk.Votes)
	require.Equal(t, []string{
		"1->2 MsgPreVote Term:4 Log:3/2",
		"1->3 MsgPreVote Term:4 Log:3/2",
	}, msgSummary(msgs))
	hs := elHardState(t, r)
	require.Equal(t, uint64(3), hs.Term)
	require.Equal(t, uint64(2), hs.Vote)

	// A pre-candidate that hears nothing keeps retrying without ever
	// moving its term.
	for range 10 * r.electionTimeout {
		r.tick()
		_ = readMessages(t, r)
	}
	require.Equal(t, StatePreCandidate, r.state)
	require.Equal(t, uint64(3), r.Term)
	require.Equal(t, uint64(2), r.Vote)
}

// TestPreVote_9_6_GrantRules checks when a pre-vote is granted: the
// candidate's log must be at least as up to date as ours (§5.4.1), and we
// must be free to vote: we know no leader and have not voted in the term,
// or the pre-vote is for a later term than ours (nothing is recorded, so a
// pre-vote for a later term does not conflict with a vote in ours). A
// granted pre-vote carries the term it was asked for (the pre-candidate
// counts only answers for that term); a rejection carries our term, which
// tells a pre-candidate that is behind which term it should move to.
// Answering never changes our term, vote, leader or election timer.
func TestPreVote_9_6_GrantRules(t *testing.T) {
	// The voter, node 2, is at term 2 with the log 1/1 2/2.
	tests := []struct {
		name           string
		vote           uint64
		knowsLeader    bool
		term           uint64
		logTerm, index uint64
		grant          bool
		respTerm       uint64
	}{
		{"free, later term", None, false, 3, 2, 2, true, 3},
		{"free, same term", None, false, 2, 2, 2, true, 2},
		{"leader known, later term", None, true, 3, 2, 2, true, 3},
		{"leader known, same term", None, true, 2, 2, 2, false, 2},
		{"voted for another, same term", 3, false, 2, 2, 2, false, 2},
		{"voted for another, later term", 3, false, 3, 2, 2, true, 3},
		{"voted for the requester, same term", 1, false, 2, 2, 2, true, 2},
		{"log behind, shorter", None, false, 3, 2, 1, false, 2},
		{"log behind, older last term", None, false, 3, 1, 7, false, 2},
		{"log ahead", None, false, 3, 3, 3, true, 3},
		{"stale term", None, false, 1, 2, 2, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := elPreVoteNode(t, 2, &pb.HardState{Term: 2, Vote: tt.vote}, 1, 2)
			if tt.knowsLeader {
				require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHeartbeat, From: 3, To: 2, Term: 2}))
				_ = readMessages(t, r)
				require.Equal(t, uint64(3), r.lead)
			}
			r.electionElapsed = 4
			lead := r.lead

			require.NoError(t, r.Step(&pb.Message{
				Type: pb.MsgPreVote, From: 1, To: 2, Term: tt.term, LogTerm: tt.logTerm, Index: tt.index,
			}))
			resps := readMessages(t, r)
			require.Len(t, resps, 1)
			resp := resps[0]
			require.Equal(t, pb.MsgPreVoteResp, resp.Type)
			require.Equal(t, uint64(1), resp.To)
			require.Equal(t, !tt.grant, resp.Reject)
			require.Equal(t, tt.respTerm, resp.Term)

			require.Equal(t, uint64(2), r.Term)
			require.Equal(t, tt.vote, r.Vote)
			require.Equal(t, lead, r.lead)
			require.Equal(t, 4, r.electionElapsed, "a pre-vote reset the election timer")
			require.Equal(t, StateFollower, r.state)
		})
	}
}

// TestPreVote_9_6_WonPreElectionStartsElection checks that a pre-candidate
// that collects a quorum of pre-votes starts a real election: only now does
// it move to the next term and vote for itself.
func TestPreVote_9_6_WonPreElectionStartsElection(t *testing.T) {
	r := elPreVoteNode(t, 1, &pb.HardState{Term: 1}, 1)
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	_ = readMessages(t, r)
	require.NoError(t, r.Step(elVoteResp(pb.MsgPreVoteResp, 2, 1, 2, false)))
	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, uint64(2), r.Term)
	require.Equal(t, uint64(1), r.Vote)
	require.Empty(t, r.trk.Votes, "pre-votes were carried into the election")
	msgs := readMessages(t, r)
	require.Equal(t, []string{
		"1->2 MsgVote Term:2 Log:1/1",
		"1->3 MsgVote Term:2 Log:1/1",
	}, msgSummary(msgs))

	// The same through a network: the whole exchange, pre-election first.
	nw := elNetwork(t, 3, func(c *Config) { c.PreVote = true })
	var types []pb.MessageType
	nw.msgHook = func(m *pb.Message) bool {
		if len(types) == 0 || types[len(types)-1] != m.Type {
			types = append(types, m.Type)
		}
		return true
	}
	nw.hup(1)
	require.Equal(t, []pb.MessageType{pb.MsgPreVote, pb.MsgPreVoteResp, pb.MsgVote, pb.MsgVoteResp}, types[:4])
	require.Equal(t, StateLeader, nw.peers[1].state)
	for id, p := range nw.peers {
		require.Equal(t, uint64(1), p.Term, "node %d", id)
	}
}

// TestPreVote_9_6_LostPreElectionKeepsTerm checks that a pre-candidate that
// a quorum refused goes back to follower in its own term, with its vote
// untouched: the failed attempt leaves no trace. A rejection that carries a
// later term still moves it to that term (§5.1).
func TestPreVote_9_6_LostPreElectionKeepsTerm(t *testing.T) {
	t.Run("same term", func(t *testing.T) {
		r := elPreVoteNode(t, 1, &pb.HardState{Term: 2, Vote: 3}, 1, 2)
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
		_ = readMessages(t, r)
		require.NoError(t, r.Step(elVoteResp(pb.MsgPreVoteResp, 2, 1, 2, true)))
		require.Equal(t, StatePreCandidate, r.state, "one rejection of three decided nothing")
		require.NoError(t, r.Step(elVoteResp(pb.MsgPreVoteResp, 3, 1, 2, true)))
		require.Equal(t, StateFollower, r.state)
		require.Equal(t, uint64(2), r.Term)
		require.Equal(t, uint64(3), r.Vote)
		require.Empty(t, elOfType(readMessages(t, r), pb.MsgVote))
		hs := elHardState(t, r)
		require.Equal(t, uint64(2), hs.Term)
		require.Equal(t, uint64(3), hs.Vote)
	})
	t.Run("later term", func(t *testing.T) {
		r := elPreVoteNode(t, 1, &pb.HardState{Term: 2, Vote: 3}, 1, 2)
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
		_ = readMessages(t, r)
		require.NoError(t, r.Step(elVoteResp(pb.MsgPreVoteResp, 2, 1, 5, true)))
		require.Equal(t, StateFollower, r.state)
		require.Equal(t, uint64(5), r.Term)
		require.Equal(t, None, r.Vote)
	})
}

// TestPreVote_9_6_VoteKindsDoNotMix checks that a pre-candidate counts only
// pre-votes and a candidate only votes. A late pre-vote grant arriving after
// the pre-election was won is not a vote: counting it would elect a leader
// that the voter never promised not to oppose.
func TestPreVote_9_6_VoteKindsDoNotMix(t *testing.T) {
	r := elPreVoteNode(t, 1, &pb.HardState{Term: 1}, 1)
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	_ = readMessages(t, r)
	// A vote answer of our current term does not count in a pre-election.
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 2, 1, 1, false)))
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 3, 1, 1, false)))
	require.Equal(t, StatePreCandidate, r.state)

	require.NoError(t, r.Step(elVoteResp(pb.MsgPreVoteResp, 2, 1, 2, false)))
	require.Equal(t, StateCandidate, r.state)
	_ = readMessages(t, r)
	require.NoError(t, r.Step(elVoteResp(pb.MsgPreVoteResp, 3, 1, 2, false)))
	require.Equal(t, StateCandidate, r.state, "a late pre-vote was counted as a vote")
	require.Equal(t, map[uint64]bool{1: true}, r.trk.Votes)
}

// TestPreVote_9_6_RejoiningNodeDoesNotDisrupt plays the scenario pre-vote
// exists for: a node cut off from the cluster keeps timing out. Without
// PreVote each timeout bumps its term, and when it rejoins its vote requests
// depose the healthy leader although it cannot win (its log is behind). With
// PreVote its pre-elections fail, its term never moves, and the leader stays.
func TestPreVote_9_6_RejoiningNodeDoesNotDisrupt(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		t.Run(fmt.Sprintf("prevote=%v", preVote), func(t *testing.T) {
			nw := elNetwork(t, 3, func(c *Config) { c.PreVote = preVote })
			nw.hup(1)
			require.Equal(t, StateLeader, nw.peers[1].state)
			nw.isolate(3)
			nw.propose(1, "while 3 is away")
			require.Equal(t, uint64(2), nw.peers[1].raftLog.committed)

			r3 := nw.peers[3]
			elTick(nw, 3, 5*r3.electionTimeout)
			if preVote {
				require.Equal(t, StatePreCandidate, r3.state)
				require.Equal(t, uint64(1), r3.Term, "an isolated pre-candidate moved its term")
			} else {
				require.Equal(t, StateCandidate, r3.state)
				require.Greater(t, r3.Term, uint64(1))
			}

			nw.recover()
			// Let 3 time out once more, now connected; nobody else ticks.
			elTick(nw, 3, 2*r3.electionTimeout)
			if !preVote {
				require.NotEqual(t, StateLeader, nw.peers[1].state, "contrast: expected the rejoining node to disrupt")
				require.Greater(t, nw.peers[1].Term, uint64(1))
				return
			}
			require.Equal(t, StateLeader, nw.peers[1].state)
			for id, p := range nw.peers {
				require.Equal(t, uint64(1), p.Term, "node %d", id)
			}
			require.Equal(t, StateFollower, r3.state, "the lost pre-election should end in follower")

			// The leader's next heartbeat brings 3 back in.
			nw.send(&pb.Message{Type: pb.MsgBeat, From: 1, To: 1})
			require.Equal(t, uint64(1), r3.lead)
			require.Equal(t, describeLog(logEntries(t, nw.peers[1])), describeLog(logEntries(t, r3)))
		})
	}
}

// TestPreVote_9_6_CheckQuorumLeaseIgnoresPreVotes checks the combination of
// PreVote and CheckQuorum: a node that heard from a leader within the
// election timeout ignores pre-votes (even for a later term and from an up
// to date log), because the leader is evidently alive. Pre-vote alone only
// looks at logs; with it, an up-to-date node that lost contact with the
// leader could still win a pre-election and depose a healthy leader. Once
// the lease runs out, the pre-vote is granted.
func TestPreVote_9_6_CheckQuorumLeaseIgnoresPreVotes(t *testing.T) {
	for _, checkQ := range []bool{false, true} {
		t.Run(fmt.Sprintf("checkquorum=%v", checkQ), func(t *testing.T) {
			nw := elNetwork(t, 3, func(c *Config) {
				c.PreVote = true
				c.CheckQuorum = checkQ
			})
			nw.hup(1)
			r1, r2 := nw.peers[1], nw.peers[2]
			require.Equal(t, StateLeader, r1.state)
			req := func(to uint64) *pb.Message {
				return &pb.Message{Type: pb.MsgPreVote, From: 3, To: to, Term: 2, LogTerm: 1, Index: 1}
			}

			for _, r := range []*raft{r1, r2} {
				require.NoError(t, r.Step(req(r.id)))
				resps := readMessages(t, r)
				if checkQ {
					require.Empty(t, resps, "node %d answered a pre-vote within the leader's lease", r.id)
				} else {
					require.Len(t, resps, 1)
					require.False(t, resps[0].Reject, "node %d", r.id)
				}
				require.Equal(t, uint64(1), r.Term)
			}
			require.Equal(t, StateLeader, r1.state)
			require.Equal(t, uint64(1), r2.lead)
			if !checkQ {
				return
			}

			// 2 has not heard from the leader for an election timeout.
			r2.electionElapsed = r2.electionTimeout
			require.NoError(t, r2.Step(req(2)))
			resps := readMessages(t, r2)
			require.Len(t, resps, 1)
			require.False(t, resps[0].Reject)
			require.Equal(t, uint64(2), resps[0].Term)
			require.Equal(t, uint64(1), r2.Term)
		})
	}
}
