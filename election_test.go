package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Election tests, grouped by the section of the Raft paper (§5.x) or of
// Ongaro's thesis that states the rule under test. Pre-vote tests live in
// prevote_test.go and check-quorum tests in checkquorum_test.go.

// ---------------------------------------------------------------------------
// Helpers. Every helper of this file and its siblings starts with "el".

// elStorage returns a storage for a cluster of voters whose log holds one
// entry per element of terms (entry i+1 has term terms[i]) and whose hard
// state is hs (nil for none).
func elStorage(t testing.TB, voters []uint64, hs *pb.HardState, terms ...uint64) *MemoryStorage {
	t.Helper()
	st := storageWith(voters)
	ents := make([]*pb.Entry, len(terms))
	for i, term := range terms {
		ents[i] = &pb.Entry{Index: uint64(i + 1), Term: term}
	}
	require.NoError(t, st.Append(ents))
	if hs != nil {
		require.NoError(t, st.SetHardState(hs))
	}
	return st
}

// elNodes returns fresh voters 1..n of an n-node cluster, each adjusted by
// adjust (may be nil).
func elNodes(t testing.TB, n int, adjust func(*Config)) []*raft {
	t.Helper()
	out := make([]*raft, n)
	for i := range out {
		c := testConfig(uint64(i+1), 10, 1, storageWith(ids(n)))
		if adjust != nil {
			adjust(c)
		}
		out[i] = newTestRaftFrom(t, c)
	}
	return out
}

// elNetwork returns a network of n fresh voters adjusted by adjust.
func elNetwork(t testing.TB, n int, adjust func(*Config)) *network {
	t.Helper()
	return newNetworkWithConfig(t, adjust, make([]*raft, n)...)
}

// elOfType returns the messages of type typ, in order.
func elOfType(msgs []*pb.Message, typ pb.MessageType) []*pb.Message {
	var out []*pb.Message
	for _, m := range msgs {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// elTo returns the single message addressed to id, failing otherwise.
func elTo(t testing.TB, msgs []*pb.Message, id uint64) *pb.Message {
	t.Helper()
	var found *pb.Message
	for _, m := range msgs {
		if m.To == id {
			require.Nil(t, found, "more than one message to %d", id)
			found = m
		}
	}
	require.NotNil(t, found, "no message to %d", id)
	return found
}

// elTick ticks node id n times, delivering whatever it sends through the
// network's faults.
func elTick(nw *network, id uint64, n int) {
	p := nw.peers[id]
	for range n {
		p.tick()
		nw.send(nw.filter(readMessages(nw.t, p))...)
	}
}

// elVoteResp is a vote (or pre-vote) answer from `from` to `to`.
func elVoteResp(typ pb.MessageType, from, to, term uint64, reject bool) *pb.Message {
	return &pb.Message{Type: typ, From: from, To: to, Term: term, Reject: reject}
}

// elHardState reads the hard state r's application has persisted.
func elHardState(t testing.TB, r *raft) *pb.HardState {
	t.Helper()
	hs, _, err := r.raftLog.storage.InitialState()
	require.NoError(t, err)
	return hs
}

// elLeaders returns the IDs of the nodes that are leaders, by term.
func elLeaders(nw *network) map[uint64][]uint64 {
	out := map[uint64][]uint64{}
	for id := uint64(1); id <= uint64(len(nw.peers)); id++ {
		if p := nw.peers[id]; p != nil && p.state == StateLeader {
			out[p.Term] = append(out[p.Term], id)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// §5.2 Leader election.

// TestElection_5_2_FollowerCampaignsAfterRandomizedTimeout checks that a
// follower that hears from no leader campaigns after its randomized election
// timeout, drawn from [ElectionTick, 2*ElectionTick). Randomization is what
// makes split votes rare (§5.2); a timeout outside the range would either
// fire before a heartbeat could arrive or delay recovery, and a constant one
// would make every follower time out together.
func TestElection_5_2_FollowerCampaignsAfterRandomizedTimeout(t *testing.T) {
	const et = 10
	seen := map[int]int{}
	for seed := uint64(1); seed <= 300; seed++ {
		c := testConfig(1, et, 1, storageWith(ids(3)))
		c.Seed = seed
		r := newTestRaftFrom(t, c)
		ticks := 0
		for r.state == StateFollower {
			require.Less(t, ticks, 2*et, "seed %d: no campaign within 2*ElectionTick", seed)
			r.tick()
			ticks++
		}
		require.Equal(t, StateCandidate, r.state, "seed %d", seed)
		require.Equal(t, uint64(1), r.Term, "seed %d", seed)
		require.GreaterOrEqual(t, ticks, et, "seed %d: campaigned before ElectionTick", seed)
		require.Less(t, ticks, 2*et, "seed %d", seed)
		seen[ticks]++
	}
	require.Greater(t, len(seen), 1, "every seed drew the same timeout: %v", seen)
}

// TestElection_5_2_CandidateTimeoutIsRedrawn checks that a candidate that
// gets no answer starts a new election (next term) after a timeout that is
// drawn again for every election: if the draw were kept, two candidates that
// split the vote once would split it forever (§5.2).
func TestElection_5_2_CandidateTimeoutIsRedrawn(t *testing.T) {
	const et = 10
	r := newTestRaft(t, 1, et, 1, storageWith(ids(3)))
	seen := map[int]bool{}
	for round := range 50 {
		term := r.Term
		ticks := 0
		for r.Term == term {
			require.Less(t, ticks, 2*et, "round %d: no new election", round)
			r.tick()
			ticks++
		}
		require.Equal(t, StateCandidate, r.state)
		require.Equal(t, term+1, r.Term)
		require.GreaterOrEqual(t, ticks, et)
		seen[ticks] = true
		_ = readMessages(t, r)
	}
	require.Greater(t, len(seen), 1, "the election timeout was never redrawn")
}

// TestElection_5_2_HeartbeatsKeepFollowerQuiet checks that a follower that
// keeps hearing from its leader never campaigns, and that it does campaign
// once the heartbeats stop: the leader keeps its authority with heartbeats
// (§5.2).
func TestElection_5_2_HeartbeatsKeepFollowerQuiet(t *testing.T) {
	const et = 10
	r := newTestRaft(t, 2, et, 1, storageWith(ids(3)))
	beat := func() {
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHeartbeat, From: 1, To: 2, Term: 1}))
		_ = readMessages(t, r)
	}
	beat()
	for range 30 {
		for range et - 1 {
			r.tick()
		}
		require.Equal(t, StateFollower, r.state)
		beat()
	}
	require.Equal(t, uint64(1), r.Term)
	require.Equal(t, uint64(1), r.lead)
	for range 2 * et {
		r.tick()
	}
	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, uint64(2), r.Term)
}

// TestElection_5_2_CandidateVotesForItselfAfterPersistence checks that a
// candidate votes for itself (§5.2), and that the self vote is counted only
// once the vote is durable: a vote is a promise not to vote for anyone else
// in the term, and a node that crashed before persisting it could break that
// promise after restarting.
func TestElection_5_2_CandidateVotesForItselfAfterPersistence(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, storageWith(ids(3)))
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))

	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, uint64(1), r.Term)
	require.Equal(t, uint64(1), r.Vote)
	require.Empty(t, r.trk.Votes, "the self vote was counted before it was persisted")
	require.Equal(t, uint64(0), elHardState(t, r).Term)
	// The self vote waits with the other writes-dependent messages.
	self := elOfType(r.msgsAfterAppend, pb.MsgVoteResp)
	require.Len(t, self, 1)
	require.Equal(t, uint64(1), self[0].To)
	require.False(t, self[0].Reject)

	msgs := readMessages(t, r)
	require.Equal(t, map[uint64]bool{1: true}, r.trk.Votes)
	hs := elHardState(t, r)
	require.Equal(t, uint64(1), hs.Term)
	require.Equal(t, uint64(1), hs.Vote)
	require.Equal(t, []string{
		"1->2 MsgVote Term:1",
		"1->3 MsgVote Term:1",
	}, msgSummary(msgs))
}

// TestElection_5_2_SingleNodeLeadsOnlyAfterPersistingItsVote checks the same
// rule where it decides the outcome: the only voter of a one-node cluster
// wins on its own vote, but only once that vote is durable.
func TestElection_5_2_SingleNodeLeadsOnlyAfterPersistingItsVote(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, storageWith(ids(1)))
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	require.Equal(t, StateCandidate, r.state)
	require.Empty(t, readMessages(t, r))
	require.Equal(t, StateLeader, r.state)
	require.Equal(t, uint64(1), r.Term)
	// The leader's empty entry is committed by its own persisted ack.
	require.Equal(t, uint64(1), r.raftLog.committed)
}

// TestElection_5_2_CandidateWinsWithMajority checks that a candidate becomes
// leader exactly when a majority of the voters (itself included) granted the
// vote (§5.2), stays candidate while the outcome is open, and gives up when
// a majority rejected it. Rejecting or silent voters must not count.
func TestElection_5_2_CandidateWinsWithMajority(t *testing.T) {
	const (
		grant  = "grant"
		reject = "reject"
	)
	type answer struct {
		from uint64
		vote string
	}
	tests := []struct {
		size    int
		answers []answer
		want    StateType
	}{
		{1, nil, StateLeader},

		{3, nil, StateCandidate},
		{3, []answer{{2, grant}}, StateLeader},
		{3, []answer{{3, grant}}, StateLeader},
		{3, []answer{{2, reject}}, StateCandidate},
		{3, []answer{{2, reject}, {3, grant}}, StateLeader},
		{3, []answer{{2, reject}, {3, reject}}, StateFollower},

		{5, nil, StateCandidate},
		{5, []answer{{2, grant}}, StateCandidate},
		{5, []answer{{2, grant}, {3, grant}}, StateLeader},
		{5, []answer{{2, grant}, {3, reject}, {4, reject}}, StateCandidate},
		{5, []answer{{2, reject}, {3, reject}, {4, grant}, {5, grant}}, StateLeader},
		{5, []answer{{2, reject}, {3, reject}, {4, reject}}, StateFollower},
		{5, []answer{{2, grant}, {3, reject}, {4, reject}, {5, reject}}, StateFollower},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d/size=%d/%v", i, tt.size, tt.answers), func(t *testing.T) {
			r := newTestRaft(t, 1, 10, 1, storageWith(ids(tt.size)))
			require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
			_ = readMessages(t, r)
			for _, a := range tt.answers {
				require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, a.from, 1, 1, a.vote == reject)))
				_ = readMessages(t, r)
			}
			require.Equal(t, tt.want, r.state)
			require.Equal(t, uint64(1), r.Term, "an election's outcome does not change the term")
			require.Equal(t, uint64(1), r.Vote)
			if tt.want == StateLeader {
				require.Equal(t, uint64(1), r.lead)
			} else {
				require.Equal(t, None, r.lead)
			}
		})
	}
}

// TestElection_4_3_JointConfigNeedsBothMajorities checks that during a joint
// configuration (thesis §4.3) a candidate asks every voter of both halves
// and wins only with a majority of each: a majority of the union, or of one
// half, could elect a leader the other configuration never agreed to.
func TestElection_4_3_JointConfigNeedsBothMajorities(t *testing.T) {
	st := NewMemoryStorage()
	st.snapshot.Metadata.ConfState = &pb.ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 4, 5}}
	r := newTestRaft(t, 1, 10, 1, st)
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	msgs := readMessages(t, r)
	require.Equal(t, []string{
		"1->2 MsgVote Term:1", "1->3 MsgVote Term:1", "1->4 MsgVote Term:1", "1->5 MsgVote Term:1",
	}, msgSummary(msgs))

	// 1, 2 and 3 are a majority of the union and all of the incoming half.
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 2, 1, 1, false)))
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 3, 1, 1, false)))
	_ = readMessages(t, r)
	require.Equal(t, StateCandidate, r.state, "won without a majority of the outgoing half")
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 5, 1, 1, false)))
	_ = readMessages(t, r)
	require.Equal(t, StateLeader, r.state)
}

// TestElection_5_2_SplitVoteStartsNewTerm checks that when two candidates
// split the vote, neither wins, both stay candidates while the last answer is
// outstanding, and the first to time out starts a new election in the next
// term (§5.2).
func TestElection_5_2_SplitVoteStartsNewTerm(t *testing.T) {
	rs := elNodes(t, 5, nil)
	r1, r2 := rs[0], rs[1]
	require.NoError(t, r1.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	require.NoError(t, r2.Step(&pb.Message{Type: pb.MsgHup, From: 2, To: 2}))
	req1, req2 := readMessages(t, r1), readMessages(t, r2)

	// deliver steps a vote request and hands the answer to the candidate.
	deliver := func(req *pb.Message) {
		voter := rs[req.To-1]
		require.NoError(t, voter.Step(req))
		resps := readMessages(t, voter)
		require.Len(t, resps, 1)
		require.NoError(t, rs[req.From-1].Step(resps[0]))
		_ = readMessages(t, rs[req.From-1])
	}
	// Node 3 hears from 1 first, node 4 from 2 first; node 5 is unreachable.
	deliver(elTo(t, req1, 3))
	deliver(elTo(t, req2, 4))
	deliver(elTo(t, req1, 4))
	deliver(elTo(t, req2, 3))
	deliver(elTo(t, req1, 2))
	deliver(elTo(t, req2, 1))

	for _, r := range []*raft{r1, r2} {
		require.Equal(t, StateCandidate, r.state, "node %d", r.id)
		require.Equal(t, uint64(1), r.Term)
		granted, rejected, _ := r.trk.TallyVotes()
		require.Equal(t, 2, granted, "node %d", r.id)
		require.Equal(t, 2, rejected, "node %d", r.id)
	}
	require.Equal(t, uint64(1), rs[2].Vote)
	require.Equal(t, uint64(2), rs[3].Vote)

	for range r1.randomizedElectionTimeout - 1 {
		r1.tick()
	}
	require.Equal(t, uint64(1), r1.Term, "timed out early")
	r1.tick()
	require.Equal(t, StateCandidate, r1.state)
	require.Equal(t, uint64(2), r1.Term)
	require.Empty(t, r1.trk.Votes, "the votes of the previous election were kept")
	msgs := readMessages(t, r1)
	require.Equal(t, map[uint64]bool{1: true}, r1.trk.Votes)
	require.Len(t, elOfType(msgs, pb.MsgVote), 4)
	for _, m := range msgs {
		require.Equal(t, uint64(2), m.Term)
	}
}

// TestElection_5_2_CandidateStepsDownForLeader checks that a candidate (or a
// pre-candidate) that receives an append, a heartbeat or a snapshot from a
// leader of its own term or a later one recognizes that leader and returns
// to follower (§5.2): the leader's term is at least as large, so it is
// legitimate, and there can only be one leader per term.
func TestElection_5_2_CandidateStepsDownForLeader(t *testing.T) {
	msgOf := func(typ pb.MessageType, term uint64) *pb.Message {
		m := &pb.Message{Type: typ, From: 2, To: 1, Term: term}
		switch typ {
		case pb.MsgApp:
			m.Entries = []*pb.Entry{{Index: 1, Term: term}}
		case pb.MsgSnap:
			m.Snapshot = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
				Index: 5, Term: term, ConfState: &pb.ConfState{Voters: ids(3)},
			}}
		}
		return m
	}
	for _, preVote := range []bool{false, true} {
		for _, typ := range []pb.MessageType{pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap} {
			for _, delta := range []uint64{0, 1} {
				name := fmt.Sprintf("prevote=%v/%s/term+%d", preVote, typ, delta)
				t.Run(name, func(t *testing.T) {
					r := newTestRaftFrom(t, func() *Config {
						c := testConfig(1, 10, 1, elStorage(t, ids(3), &pb.HardState{Term: 1}))
						c.PreVote = preVote
						return c
					}())
					require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
					_ = readMessages(t, r)
					wantRole := StateCandidate
					if preVote {
						wantRole = StatePreCandidate
					}
					require.Equal(t, wantRole, r.state)
					term := r.Term // 2 for a candidate, 1 for a pre-candidate

					require.NoError(t, r.Step(msgOf(typ, term+delta)))
					require.Equal(t, StateFollower, r.state)
					require.Equal(t, term+delta, r.Term)
					require.Equal(t, uint64(2), r.lead)
					resps := readMessages(t, r)
					require.Len(t, resps, 1)
					require.Equal(t, uint64(2), resps[0].To)
					require.False(t, resps[0].Reject)
				})
			}
		}
	}
}

// TestElection_5_2_VoteOncePerTerm checks that a voter grants at most one
// vote per term, first come first served (§5.2), that a repeated request
// from the candidate it voted for is granted again (the first answer may
// have been lost), and that the vote survives a restart because it is
// persisted before the answer leaves. Two votes in a term would allow two
// leaders in it.
func TestElection_5_2_VoteOncePerTerm(t *testing.T) {
	st := storageWith(ids(3))
	r := newTestRaft(t, 3, 10, 1, st)
	ask := func(r *raft, from uint64) *pb.Message {
		t.Helper()
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgVote, From: from, To: 3, Term: 1}))
		// The answer must not leave before the vote is persisted.
		require.Empty(t, r.msgs)
		resps := readMessages(t, r)
		require.Len(t, resps, 1)
		require.Equal(t, pb.MsgVoteResp, resps[0].Type)
		require.Equal(t, from, resps[0].To)
		require.Equal(t, uint64(1), resps[0].Term)
		return resps[0]
	}
	require.False(t, ask(r, 1).Reject, "first request of the term")
	require.Equal(t, uint64(1), r.Vote)
	require.True(t, ask(r, 2).Reject, "second candidate of the same term")
	require.False(t, ask(r, 1).Reject, "repeated request from the candidate we voted for")
	require.Equal(t, uint64(1), r.Vote)
	require.Equal(t, uint64(1), elHardState(t, r).Vote)

	// After a restart the vote is still cast.
	restarted := newTestRaft(t, 3, 10, 1, st)
	require.Equal(t, uint64(1), restarted.Term)
	require.Equal(t, uint64(1), restarted.Vote)
	require.True(t, ask(restarted, 2).Reject, "restart forgot the vote")
	require.False(t, ask(restarted, 1).Reject)
}

// TestElection_5_2_GrantingVoteResetsTimer checks that granting a vote
// restarts the voter's election timer (§5.2, Figure 2: a follower times out
// only if it neither heard from a leader nor granted a vote): the candidate
// it voted for needs time to win and announce itself, and a voter that
// campaigned right away would split the vote. A refused request gives no
// such reason and leaves the timer alone.
func TestElection_5_2_GrantingVoteResetsTimer(t *testing.T) {
	// Already in term 1, so that no term change resets the timer for us.
	r := newTestRaft(t, 3, 10, 1, elStorage(t, ids(3), &pb.HardState{Term: 1}))
	r.electionElapsed = r.randomizedElectionTimeout - 1
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgVote, From: 1, To: 3, Term: 1}))
	require.False(t, readMessages(t, r)[0].Reject)
	require.Equal(t, 0, r.electionElapsed)

	r.electionElapsed = r.randomizedElectionTimeout - 1
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgVote, From: 2, To: 3, Term: 1}))
	require.True(t, readMessages(t, r)[0].Reject)
	require.Equal(t, r.randomizedElectionTimeout-1, r.electionElapsed)
	r.tick()
	require.Equal(t, StateCandidate, r.state)
}

// TestElection_5_2_CandidateRejectsRivalOfSameTerm checks that a candidate,
// which voted for itself, refuses another candidate of the same term, and a
// leader refuses a candidate of its own term.
func TestElection_5_2_CandidateRejectsRivalOfSameTerm(t *testing.T) {
	nw := elNetwork(t, 3, nil)
	nw.hup(1)
	require.Equal(t, StateLeader, nw.peers[1].state)

	r := nw.peers[1]
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgVote, From: 2, To: 1, Term: 1, LogTerm: 1, Index: 1}))
	resps := elOfType(readMessages(t, r), pb.MsgVoteResp)
	require.Len(t, resps, 1)
	require.True(t, resps[0].Reject, "a leader voted for another candidate of its term")
	require.Equal(t, StateLeader, r.state)

	c := newTestRaft(t, 2, 10, 1, storageWith(ids(3)))
	require.NoError(t, c.Step(&pb.Message{Type: pb.MsgHup, From: 2, To: 2}))
	_ = readMessages(t, c)
	require.NoError(t, c.Step(&pb.Message{Type: pb.MsgVote, From: 3, To: 2, Term: 1}))
	resps = readMessages(t, c)
	require.Len(t, resps, 1)
	require.True(t, resps[0].Reject, "a candidate voted for a rival of its term")
	require.Equal(t, uint64(2), c.Vote)
	require.Equal(t, StateCandidate, c.state)
}

// TestElection_5_4_1_VoteOnlyForUpToDateLog checks the election restriction
// (§5.4.1): a vote (or pre-vote) is granted only to a candidate whose log is
// at least as up to date as the voter's: a later last term wins whatever the
// lengths, and with the same last term the longer (or equally long) log
// wins. This is what guarantees that a new leader holds every committed
// entry (Leader Completeness).
func TestElection_5_4_1_VoteOnlyForUpToDateLog(t *testing.T) {
	// The voter's log is 1/1 2/2 3/2: last term 2, last index 3.
	tests := []struct {
		logTerm, index uint64
		grant          bool
	}{
		{3, 1, true},  // later last term, shorter log
		{3, 3, true},  // later last term, same length
		{3, 9, true},  // later last term, longer log
		{2, 3, true},  // same last term, same length
		{2, 4, true},  // same last term, longer
		{2, 2, false}, // same last term, shorter
		{1, 3, false}, // earlier last term, same length
		{1, 9, false}, // earlier last term, longer
		{0, 0, false}, // empty log
	}
	for _, typ := range []pb.MessageType{pb.MsgVote, pb.MsgPreVote} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d-%d", typ, tt.logTerm, tt.index), func(t *testing.T) {
				c := testConfig(1, 10, 1, elStorage(t, ids(3), &pb.HardState{Term: 2}, 1, 2, 2))
				c.PreVote = typ == pb.MsgPreVote
				r := newTestRaftFrom(t, c)
				require.NoError(t, r.Step(&pb.Message{
					Type: typ, From: 2, To: 1, Term: 3, LogTerm: tt.logTerm, Index: tt.index,
				}))
				resps := readMessages(t, r)
				require.Len(t, resps, 1)
				wantType, _ := pb.VoteRespMsgType(typ)
				require.Equal(t, wantType, resps[0].Type)
				require.Equal(t, !tt.grant, resps[0].Reject)
				if typ == pb.MsgVote {
					// A real vote request of a later term moves us to it
					// whatever we answer (§5.1).
					require.Equal(t, uint64(3), r.Term)
					require.Equal(t, uint64(3), resps[0].Term)
					if tt.grant {
						require.Equal(t, uint64(2), r.Vote)
					} else {
						require.Equal(t, None, r.Vote)
					}
				} else {
					require.Equal(t, uint64(2), r.Term, "a pre-vote changed the term")
					require.Equal(t, None, r.Vote, "a pre-vote was recorded as a vote")
				}
			})
		}
	}
}

// TestElection_5_2_NewTermResetsVotes checks that votes belong to a term: a
// voter that voted in term 1 may vote for another candidate in term 2, and a
// candidate starting a new election forgets the answers of the previous one.
func TestElection_5_2_NewTermResetsVotes(t *testing.T) {
	v := newTestRaft(t, 3, 10, 1, storageWith(ids(3)))
	require.NoError(t, v.Step(&pb.Message{Type: pb.MsgVote, From: 1, To: 3, Term: 1}))
	require.False(t, readMessages(t, v)[0].Reject)
	require.NoError(t, v.Step(&pb.Message{Type: pb.MsgVote, From: 2, To: 3, Term: 2}))
	resps := readMessages(t, v)
	require.Len(t, resps, 1)
	require.False(t, resps[0].Reject, "the term-1 vote blocked a term-2 vote")
	require.Equal(t, uint64(2), v.Term)
	require.Equal(t, uint64(2), v.Vote)

	c := newTestRaft(t, 1, 10, 1, storageWith(ids(3)))
	require.NoError(t, c.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	_ = readMessages(t, c)
	require.NoError(t, c.Step(elVoteResp(pb.MsgVoteResp, 2, 1, 1, true)))
	require.Equal(t, map[uint64]bool{1: true, 2: false}, c.trk.Votes)
	require.NoError(t, c.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	require.Equal(t, uint64(2), c.Term)
	_ = readMessages(t, c)
	require.Equal(t, map[uint64]bool{1: true}, c.trk.Votes)
	// 2's grant in term 2 now counts: the term-1 rejection was forgotten.
	require.NoError(t, c.Step(elVoteResp(pb.MsgVoteResp, 2, 1, 2, false)))
	_ = readMessages(t, c)
	require.Equal(t, StateLeader, c.state)
}

// TestElection_5_2_StaleVoteResponsesNotCounted checks that a candidate
// ignores grants from an earlier election: they were votes for a term it no
// longer campaigns in, and counting them could make it leader of a term in
// which those voters never voted for it.
func TestElection_5_2_StaleVoteResponsesNotCounted(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, storageWith(ids(3)))
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	_ = readMessages(t, r)
	require.Equal(t, uint64(2), r.Term)
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 2, 1, 1, false)))
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 3, 1, 1, false)))
	_ = readMessages(t, r)
	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, map[uint64]bool{1: true}, r.trk.Votes)
}

// TestElection_5_2_SafetyUnderRandomFaults runs many random elections in a
// 5-node network whose links drop messages at random and checks Election
// Safety (§5.2): at most one leader per term, ever, and that no node's vote
// changes within a term. The runs are seeded, so a failure replays.
func TestElection_5_2_SafetyUnderRandomFaults(t *testing.T) {
	for _, mode := range []struct {
		name             string
		preVote, checkQ  bool
		seeds, rounds, n int
	}{
		{"plain", false, false, 8, 250, 5},
		{"prevote", true, false, 8, 250, 5},
		{"checkquorum", false, true, 8, 250, 5},
		{"prevote+checkquorum", true, true, 8, 250, 5},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for seed := uint64(1); seed <= uint64(mode.seeds); seed++ {
				elRunSafety(t, seed, mode.n, mode.rounds, func(c *Config) {
					c.PreVote = mode.preVote
					c.CheckQuorum = mode.checkQ
					c.Seed = seed*100 + c.ID
				})
			}
		})
	}
}

func elRunSafety(t *testing.T, seed uint64, n, rounds int, adjust func(*Config)) {
	t.Helper()
	nw := elNetwork(t, n, adjust)
	rng := rand.New(rand.NewPCG(seed, 7))
	nw.rand = rand.New(rand.NewPCG(seed, 8))
	leaderOf := map[uint64]uint64{}
	voteOf := map[[2]uint64]uint64{} // {node, term} -> vote
	check := func(step int) {
		for id, p := range nw.peers {
			if p.state == StateLeader {
				if prev, ok := leaderOf[p.Term]; ok && prev != id {
					t.Fatalf("seed %d step %d: nodes %d and %d both led term %d", seed, step, prev, id, p.Term)
				}
				leaderOf[p.Term] = id
			}
			if p.Vote != None {
				k := [2]uint64{id, p.Term}
				if prev, ok := voteOf[k]; ok && prev != p.Vote {
					t.Fatalf("seed %d step %d: node %d voted for %d and %d in term %d", seed, step, id, prev, p.Vote, p.Term)
				}
				voteOf[k] = p.Vote
			}
		}
	}
	for step := range rounds {
		if step%25 == 0 {
			nw.recover()
			for from := uint64(1); from <= uint64(n); from++ {
				for to := uint64(1); to <= uint64(n); to++ {
					if from != to && rng.IntN(3) == 0 {
						nw.drop(from, to, rng.Float64())
					}
				}
			}
		}
		id := uint64(rng.IntN(n) + 1)
		switch rng.IntN(10) {
		case 0:
			nw.hup(id)
		case 1:
			nw.propose(id, fmt.Sprint(step))
		default:
			elTick(nw, id, 1)
		}
		check(step)
	}
	require.NotEmpty(t, leaderOf, "seed %d: no leader was ever elected; the test exercised nothing", seed)
}

// ---------------------------------------------------------------------------
// §5.1 Terms.

// TestElection_5_1_LeaderStepsDownOnHigherTerm checks that a leader that
// sees any message of a later term returns to follower in that term (§5.1):
// its term is over, and staying leader would mean two leaders acting at
// once. It follows the sender only when the sender is the new term's leader.
func TestElection_5_1_LeaderStepsDownOnHigherTerm(t *testing.T) {
	tests := []struct {
		typ      pb.MessageType
		wantLead uint64
	}{
		{pb.MsgApp, 2},
		{pb.MsgHeartbeat, 2},
		{pb.MsgVote, None},
		{pb.MsgVoteResp, None},
		{pb.MsgAppResp, None},
		{pb.MsgHeartbeatResp, None},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			nw := elNetwork(t, 3, nil)
			nw.hup(1)
			r := nw.peers[1]
			require.Equal(t, StateLeader, r.state)
			m := &pb.Message{Type: tt.typ, From: 2, To: 1, Term: 5}
			if tt.typ == pb.MsgVote {
				m.LogTerm, m.Index = 1, 1
			}
			require.NoError(t, r.Step(m))
			require.Equal(t, StateFollower, r.state)
			require.Equal(t, uint64(5), r.Term)
			require.Equal(t, tt.wantLead, r.lead)
		})
	}
}

// TestElection_5_1_StaleTermMessagesIgnored checks that messages of an older
// term change nothing and get no answer (§5.1) when neither CheckQuorum nor
// PreVote is on: they come from a deposed leader or a stale candidate.
func TestElection_5_1_StaleTermMessagesIgnored(t *testing.T) {
	for _, typ := range []pb.MessageType{
		pb.MsgApp, pb.MsgHeartbeat, pb.MsgVote, pb.MsgVoteResp, pb.MsgAppResp, pb.MsgSnap,
	} {
		t.Run(typ.String(), func(t *testing.T) {
			r := newTestRaft(t, 2, 10, 1, elStorage(t, ids(3), &pb.HardState{Term: 3, Vote: 3, Commit: 1}, 1))
			m := &pb.Message{Type: typ, From: 1, To: 2, Term: 2}
			switch typ {
			case pb.MsgApp:
				m.Index, m.LogTerm = 1, 1
				m.Entries = []*pb.Entry{{Index: 2, Term: 2}}
				m.Commit = 2
			case pb.MsgVote:
				m.Index, m.LogTerm = 5, 2
			case pb.MsgSnap:
				m.Snapshot = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
					Index: 5, Term: 2, ConfState: &pb.ConfState{Voters: ids(3)},
				}}
			}
			before := describeLog(logEntries(t, r))
			require.NoError(t, r.Step(m))
			require.Empty(t, readMessages(t, r), "a stale %s was answered", typ)
			require.Equal(t, uint64(3), r.Term)
			require.Equal(t, uint64(3), r.Vote)
			require.Equal(t, StateFollower, r.state)
			require.Equal(t, None, r.lead)
			require.Equal(t, before, describeLog(logEntries(t, r)))
			require.Equal(t, uint64(1), r.raftLog.committed)
		})
	}
}

// TestElection_5_1_StaleLeaderIsToldTheTerm checks the exceptions to the
// previous rule. With CheckQuorum or PreVote a node can hold a higher term
// that the rest of the cluster never adopts (its vote requests are ignored
// or its pre-votes fail), so a stale leader's appends and heartbeats are
// answered with a MsgAppResp carrying our term: the stale leader steps down
// instead of the two being stuck. A stale pre-vote is rejected with our term
// so the pre-candidate learns it is behind.
func TestElection_5_1_StaleLeaderIsToldTheTerm(t *testing.T) {
	for _, mode := range []struct {
		name            string
		checkQ, preVote bool
	}{{"none", false, false}, {"checkquorum", true, false}, {"prevote", false, true}} {
		for _, typ := range []pb.MessageType{pb.MsgApp, pb.MsgHeartbeat, pb.MsgPreVote} {
			t.Run(mode.name+"/"+typ.String(), func(t *testing.T) {
				c := testConfig(2, 10, 1, elStorage(t, ids(3), &pb.HardState{Term: 3}))
				c.CheckQuorum, c.PreVote = mode.checkQ, mode.preVote
				r := newTestRaftFrom(t, c)
				require.NoError(t, r.Step(&pb.Message{Type: typ, From: 1, To: 2, Term: 2}))
				resps := readMessages(t, r)
				require.Equal(t, uint64(3), r.Term)
				if typ != pb.MsgPreVote && !mode.checkQ && !mode.preVote {
					require.Empty(t, resps)
					return
				}
				require.Len(t, resps, 1)
				resp := resps[0]
				require.Equal(t, uint64(1), resp.To)
				require.Equal(t, uint64(3), resp.Term, "the answer must carry our term")
				if typ == pb.MsgPreVote {
					require.Equal(t, pb.MsgPreVoteResp, resp.Type)
					require.True(t, resp.Reject)
				} else {
					require.Equal(t, pb.MsgAppResp, resp.Type)
				}
			})
		}
	}
}

// TestElection_5_1_StaleLeaderStepsDownAfterRejoining plays the scenario
// behind the previous test: with CheckQuorum, a leader cut off from the
// cluster (which elected someone else in a later term) rejoins and
// heartbeats; the answers carry the later term, and it steps down. Without
// CheckQuorum or PreVote the stale heartbeats are simply dropped, so the
// stale leader keeps believing it leads until it hears from the new term.
func TestElection_5_1_StaleLeaderStepsDownAfterRejoining(t *testing.T) {
	for _, checkQ := range []bool{false, true} {
		t.Run(fmt.Sprintf("checkquorum=%v", checkQ), func(t *testing.T) {
			nw := elNetwork(t, 3, func(c *Config) { c.CheckQuorum = checkQ })
			nw.hup(1)
			require.Equal(t, StateLeader, nw.peers[1].state)
			nw.isolate(1)
			// 2 and 3 stop hearing from 1; one of them wins term 2.
			for range 2 * nw.peers[2].electionTimeout {
				elTick(nw, 2, 1)
				elTick(nw, 3, 1)
			}
			leaders := elLeaders(nw)
			require.Len(t, leaders[2], 1, "no new leader in term 2: %v", leaders)
			require.Equal(t, StateLeader, nw.peers[1].state)
			require.Equal(t, uint64(1), nw.peers[1].Term)

			nw.recover()
			nw.send(&pb.Message{Type: pb.MsgBeat, From: 1, To: 1})
			if checkQ {
				require.Equal(t, StateFollower, nw.peers[1].state)
				require.Equal(t, uint64(2), nw.peers[1].Term)
			} else {
				require.Equal(t, StateLeader, nw.peers[1].state)
				require.Equal(t, uint64(1), nw.peers[1].Term)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Campaign preconditions.

// TestElection_UnappliedConfChangeBlocksCampaign checks that a node with a
// committed configuration change it has not applied yet does not campaign.
// Here a configuration takes effect when its entry is applied (not when it
// is appended, as in thesis §4.1), so such a node would ask for and count
// votes under a configuration the cluster has already moved past. Once the
// change is applied, it campaigns normally. An uncommitted change does not
// block.
func TestElection_UnappliedConfChangeBlocksCampaign(t *testing.T) {
	typ, data, err := pb.MarshalConfChange(&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeId: 4})
	require.NoError(t, err)
	newNode := func(commit uint64) *raft {
		st := storageWith(ids(3))
		require.NoError(t, st.Append([]*pb.Entry{
			{Index: 1, Term: 1},
			{Index: 2, Term: 1, Type: typ, Data: data},
		}))
		require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: commit}))
		return newTestRaft(t, 1, 10, 1, st)
	}

	t.Run("committed", func(t *testing.T) {
		r := newNode(2)
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
		require.Equal(t, StateFollower, r.state)
		require.Equal(t, uint64(1), r.Term)
		require.Empty(t, readMessages(t, r))
		for range 3 * r.electionTimeout {
			r.tick()
		}
		require.Equal(t, StateFollower, r.state)
		require.Empty(t, readMessages(t, r))
		// Nor does a leader's MsgTimeoutNow override it.
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgTimeoutNow, From: 2, To: 1, Term: 1}))
		require.Equal(t, StateFollower, r.state)
		require.Empty(t, readMessages(t, r))

		applied := applyAll(t, r)
		require.Len(t, applied, 2)
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
		require.Equal(t, StateCandidate, r.state)
		require.Equal(t, uint64(2), r.Term)
	})
	t.Run("uncommitted", func(t *testing.T) {
		r := newNode(1)
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
		require.Equal(t, StateCandidate, r.state)
	})
}

// TestElection_LearnerNeverCampaigns checks that a learner does not start
// elections however long it hears nothing: it is not part of any quorum, and
// its vote requests would only disrupt the voters.
func TestElection_LearnerNeverCampaigns(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		t.Run(fmt.Sprintf("prevote=%v", preVote), func(t *testing.T) {
			c := testConfig(3, 10, 1, storageWith(ids(2), 3))
			c.PreVote = preVote
			r := newTestRaftFrom(t, c)
			require.True(t, r.isLearner)
			for range 10 * r.electionTimeout {
				r.tick()
				require.Empty(t, readMessages(t, r))
			}
			require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 3, To: 3}))
			require.Empty(t, readMessages(t, r))
			require.Equal(t, StateFollower, r.state)
			require.Equal(t, uint64(0), r.Term)
		})
	}
}

// TestElection_LearnerVotesWhenAsked checks that a learner answers vote
// requests like a voter: it may have been promoted by a configuration change
// it has not seen yet, and the candidate may need its vote. Its vote does not
// count where it is still a learner, though.
func TestElection_LearnerVotesWhenAsked(t *testing.T) {
	l := newTestRaft(t, 3, 10, 1, storageWith(ids(2), 3))
	require.NoError(t, l.Step(&pb.Message{Type: pb.MsgVote, From: 1, To: 3, Term: 1}))
	resps := readMessages(t, l)
	require.Len(t, resps, 1)
	require.Equal(t, pb.MsgVoteResp, resps[0].Type)
	require.False(t, resps[0].Reject)
	require.Equal(t, uint64(1), l.Vote)

	// A candidate that knows 3 as a learner does not count its vote: with
	// voter 2 silent it cannot win.
	c := newTestRaft(t, 1, 10, 1, storageWith(ids(2), 3))
	require.NoError(t, c.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	msgs := readMessages(t, c)
	require.Equal(t, []string{"1->2 MsgVote Term:1"}, msgSummary(msgs), "a learner was asked to vote")
	require.NoError(t, c.Step(elVoteResp(pb.MsgVoteResp, 3, 1, 1, false)))
	_ = readMessages(t, c)
	require.Equal(t, StateCandidate, c.state, "a learner's vote made a leader")
}

// ---------------------------------------------------------------------------
// Becoming leader.

// TestElection_NewLeaderAppendsEmptyEntry checks that a new leader appends an
// empty entry of its term and replicates it at once: entries of earlier
// terms can only be committed by committing an entry of the leader's own
// term after them (§5.4.2), and reads need such an entry too (thesis §6.4).
// It also checks that the leader counts its own copy toward the quorum only
// once its write is durable (thesis §10.2.1): a quorum that includes an
// unpersisted copy might not exist after a crash.
func TestElection_NewLeaderAppendsEmptyEntry(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, elStorage(t, ids(3), &pb.HardState{Term: 1}, 1, 1))
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	_ = readMessages(t, r)
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 2, 1, 2, false)))
	require.Equal(t, StateLeader, r.state)
	require.Equal(t, uint64(2), r.Term)

	require.Equal(t, "[1/1 2/1 3/2]", describeLog(logEntries(t, r)))
	last := logEntries(t, r)[2]
	require.Equal(t, pb.EntryNormal, last.Type)
	require.Empty(t, last.Data)
	require.Equal(t, []string{
		"1->2 MsgApp Term:2 Log:1/2 Entries:[2/3 EntryNormal \"\"]",
		"1->3 MsgApp Term:2 Log:1/2 Entries:[2/3 EntryNormal \"\"]",
	}, msgSummary(r.msgs))

	// Not persisted yet: our Match is the persisted tail only.
	require.Equal(t, uint64(2), r.trk.Progress[1].Match)
	// A follower acknowledges the new entry; with our copy unpersisted that
	// is one copy of 3, not a quorum.
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgAppResp, From: 2, To: 1, Term: 2, Index: 3}))
	require.Equal(t, uint64(0), r.raftLog.committed, "committed with an unpersisted leader copy")
	_ = readMessages(t, r)
	require.Equal(t, uint64(3), r.trk.Progress[1].Match)
	require.Equal(t, uint64(3), r.raftLog.committed)
}

// TestElection_NewLeaderCountsOnlyDurableEntries checks the same rule for
// entries the node received as a follower and had not persisted when it won
// (possible when the other voters elect it before its own write, and so its
// self vote, completes): its Match must stop at the durable tail, not at its
// last index, or it would count entries toward a commit that a crash could
// still erase from its log.
func TestElection_NewLeaderCountsOnlyDurableEntries(t *testing.T) {
	r := newTestRaft(t, 1, 10, 1, elStorage(t, ids(3), &pb.HardState{Term: 1}, 1))
	require.NoError(t, r.Step(&pb.Message{
		Type: pb.MsgApp, From: 2, To: 1, Term: 1, Index: 1, LogTerm: 1,
		Entries: []*pb.Entry{{Index: 2, Term: 1}},
	}))
	require.Equal(t, uint64(2), r.raftLog.lastIndex())
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgHup, From: 1, To: 1}))
	r.msgs = nil // the vote requests; their answers follow
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 2, 1, 2, false)))
	require.NoError(t, r.Step(elVoteResp(pb.MsgVoteResp, 3, 1, 2, false)))
	require.Equal(t, StateLeader, r.state, "two grants of three voters elect without the self vote")
	require.Equal(t, "[1/1 2/1 3/2]", describeLog(logEntries(t, r)))
	require.Equal(t, uint64(1), r.trk.Progress[1].Match, "the leader counted entries it has not persisted")

	_ = readMessages(t, r)
	require.Equal(t, uint64(3), r.trk.Progress[1].Match)
}

// ---------------------------------------------------------------------------
// Determinism.

// elTrace runs a seeded election scenario with random faults and returns
// every message the network carried, in order.
func elTrace(t *testing.T, seedBase uint64) []string {
	nw := elNetwork(t, 5, func(c *Config) {
		c.PreVote = true
		c.CheckQuorum = true
		c.Seed = seedBase + c.ID
	})
	nw.rand = rand.New(rand.NewPCG(3, 4))
	var trace []string
	nw.msgHook = func(m *pb.Message) bool {
		trace = append(trace, pb.DescribeMessage(m, nil))
		return true
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for step := range 400 {
		if step%50 == 0 {
			nw.recover()
			nw.drop(uint64(rng.IntN(5)+1), uint64(rng.IntN(5)+1), 0.5)
			nw.isolate(uint64(rng.IntN(5) + 1))
		}
		// Tick every node in turn, like a shared clock would.
		for id := uint64(1); id <= 5; id++ {
			elTick(nw, id, 1)
		}
		if step%40 == 39 {
			for id := uint64(1); id <= 5; id++ {
				if nw.peers[id].state == StateLeader {
					nw.propose(id, fmt.Sprint(step))
				}
			}
		}
	}
	return trace
}

// TestElection_DeterministicReplay checks that the core has no hidden source
// of nondeterminism: the same scenario with the same seeds produces exactly
// the same messages in the same order, which is what makes every failure of
// these tests replayable. Different seeds lead to different runs.
func TestElection_DeterministicReplay(t *testing.T) {
	a, b := elTrace(t, 10), elTrace(t, 10)
	require.NotEmpty(t, a)
	require.Contains(t, fmt.Sprint(a), "MsgVote", "the scenario held no election")
	require.Equal(t, a, b)
	require.NotEqual(t, a, elTrace(t, 20), "different seeds replayed the same run")
}

// TestElection_SeedsDrawDifferentTimeouts checks that the election timeout
// sequence is a function of the seed: equal for equal seeds, different for
// different seeds (so nodes of a cluster do not time out in lockstep).
func TestElection_SeedsDrawDifferentTimeouts(t *testing.T) {
	draws := func(seed, id uint64) []int {
		c := testConfig(id, 10, 1, storageWith(ids(3)))
		c.Seed = seed
		r := newTestRaftFrom(t, c)
		var out []int
		for range 20 {
			r.resetRandomizedElectionTimeout()
			out = append(out, r.randomizedElectionTimeout)
		}
		return out
	}
	require.Equal(t, draws(1, 1), draws(1, 1))
	require.NotEqual(t, draws(1, 1), draws(2, 1))
	require.NotEqual(t, draws(1, 1), draws(1, 2), "two nodes with the same seed drew the same timeouts")
}
