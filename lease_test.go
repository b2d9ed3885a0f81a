package raft

import (
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/tickraft/raft/raftpb"
)

// Tests of the leader lease (ReadOnlyLeaseBased, thesis §6.4.1; lease.go).
// The lease is two promises: voters do not vote for an election timeout
// after hearing from the leader, and the leader counts its lease from when
// it sent the heartbeats a quorum answered.

func leaseConfig(cfg *Config) {
	cfg.CheckQuorum = true
	cfg.ReadOnlyOption = ReadOnlyLeaseBased
}

// leaseCluster elects node 1 of three and lets one heartbeat round be
// answered, so that node 1 holds a lease.
func leaseCluster(t *testing.T) *rnCluster {
	c := rnNewCluster(t, 3, leaseConfig)
	c.elect(1)
	c.tick(1, 1)
	c.stabilize()
	require.True(t, c.node(1).rn.raft.leaseValid())
	return c
}

// readAtOnce asks node 1 for a read and reports whether it was answered
// without any message: from the lease.
func readAtOnce(t *testing.T, c *rnCluster, ctx string) bool {
	before := len(c.node(1).readStates)
	require.NoError(t, c.node(1).rn.ReadIndex([]byte(ctx)))
	c.process()
	return len(c.node(1).readStates) > before
}

// A new leader has no lease until a quorum answers one of its heartbeat
// rounds: the votes it won are no promise. Its first read is confirmed by a
// round, which also starts the lease.
func TestLeaseStartsWithAnsweredRound(t *testing.T) {
	c := rnNewCluster(t, 3, leaseConfig)
	c.elect(1)
	require.False(t, readAtOnce(t, c, "first"), "no round answered yet")
	require.NotEmpty(t, c.queued(pb.MsgHeartbeat))
	c.stabilize()
	require.Len(t, c.node(1).readStates, 1)
	require.True(t, readAtOnce(t, c, "second"), "the read's round started the lease")
}

// The lease runs ElectionTick-1 of the leader's ticks from when the last
// answered round was sent, whatever happens after.
func TestLeaseExpiresElectionTickMinusOneAfterSending(t *testing.T) {
	c := leaseCluster(t)
	// Rounds from now on go unanswered.
	c.drop = rnIs(pb.MsgHeartbeat)
	c.tick(1, 8)
	require.True(t, readAtOnce(t, c, "in-lease"), "8 ticks after the answered round")
	c.tick(1, 1)
	require.Equal(t, StateLeader, c.node(1).rn.BasicStatus().RaftState)
	require.False(t, readAtOnce(t, c, "expired"), "9 ticks after the answered round")
}

// An answer that arrives late proves only that the follower heard the
// heartbeat some time after it was sent: the lease runs from the sending.
// (Counting from the arrival, as CheckQuorum's activity does, lets the
// lease outlive the followers' promise.)
func TestLeaseLateAnswersDoNotExtendIt(t *testing.T) {
	c := leaseCluster(t)
	c.tick(1, 1)
	// The followers hear this round at once, but their answers are slow.
	c.deliver(rnIs(pb.MsgHeartbeat))
	c.process()
	require.Len(t, c.queued(pb.MsgHeartbeatResp), 2)
	c.drop = rnIs(pb.MsgHeartbeat)
	c.tick(1, 9)
	c.deliver(rnIs(pb.MsgHeartbeatResp))
	c.process()
	require.Equal(t, StateLeader, c.node(1).rn.BasicStatus().RaftState)
	require.False(t, readAtOnce(t, c, "late"), "the answered round was sent 9 ticks ago")
}

// A follower that heard from the leader grants no vote for an election
// timeout, even after a message of a higher term made it forget the leader.
func TestLeasePromiseSurvivesTermChange(t *testing.T) {
	c := leaseCluster(t)
	n3 := c.node(3).rn
	term := n3.raft.Term
	// A rejected pre-vote answer of a later term: node 3 adopts the term and
	// no longer knows a leader.
	require.NoError(t, n3.Step(&pb.Message{From: 2, To: 3, Type: pb.MsgPreVoteResp, Term: term + 1, Reject: true}))
	require.Equal(t, uint64(None), n3.BasicStatus().Lead)
	last := n3.raft.raftLog.lastEntryID()
	vote := &pb.Message{From: 2, To: 3, Type: pb.MsgVote, Term: term + 1, Index: last.index, LogTerm: last.term}
	require.NoError(t, n3.Step(vote))
	require.Equal(t, uint64(None), n3.raft.Vote, "the promise to node 1 still runs")

	// Once the promise has run out, the vote is granted.
	for n3.raft.votePromised() {
		n3.Tick()
	}
	require.NoError(t, n3.Step(vote))
	require.Equal(t, uint64(2), n3.raft.Vote)
}

// Without the lease, CheckQuorum's stickiness ends with the known leader:
// the same sequence grants the vote at once.
func TestNoLeasePromiseWithoutLeaseReads(t *testing.T) {
	c := rnNewCluster(t, 3, func(cfg *Config) { cfg.CheckQuorum = true })
	c.elect(1)
	n3 := c.node(3).rn
	term := n3.raft.Term
	require.NoError(t, n3.Step(&pb.Message{From: 2, To: 3, Type: pb.MsgPreVoteResp, Term: term + 1, Reject: true}))
	last := n3.raft.raftLog.lastEntryID()
	require.NoError(t, n3.Step(&pb.Message{From: 2, To: 3, Type: pb.MsgVote, Term: term + 1, Index: last.index, LogTerm: last.term}))
	require.Equal(t, uint64(2), n3.raft.Vote)
}

// A voter that restarts cannot know when it last answered the leader, so it
// keeps the promise for an election timeout from its start.
func TestLeaseRestartedVoterWaitsBeforeVoting(t *testing.T) {
	c := leaseCluster(t)
	term := c.node(1).rn.raft.Term
	// Restarted as the contract says, with what it applied: this test's
	// Ready below is advanced without applying anything, so a restart from
	// Applied 0 would leave the node without a configuration.
	rn, err := NewRawNode(&Config{ID: 3, Storage: c.node(3).st, ElectionTick: 10, HeartbeatTick: 1, Seed: 1,
		CheckQuorum: true, ReadOnlyOption: ReadOnlyLeaseBased, Applied: c.node(3).rn.raft.raftLog.applied})
	require.NoError(t, err)
	last := rn.raft.raftLog.lastEntryID()
	for _, typ := range []pb.MessageType{pb.MsgPreVote, pb.MsgVote} {
		require.NoError(t, rn.Step(&pb.Message{From: 2, To: 3, Type: typ, Term: term + 1, Index: last.index, LogTerm: last.term}))
	}
	require.NotEqual(t, uint64(2), rn.raft.Vote)
	require.Equal(t, term, rn.raft.Term, "an ignored vote request does not move the term")
	rd := rn.Ready()
	for _, m := range rd.Messages {
		require.False(t, (m.Type == pb.MsgVoteResp || m.Type == pb.MsgPreVoteResp) && !m.Reject, "granted %s", pb.DescribeMessage(m, nil))
	}
	require.NoError(t, rn.Advance(rd))

	for range 10 {
		rn.Tick()
	}
	require.NoError(t, rn.Step(&pb.Message{From: 2, To: 3, Type: pb.MsgVote, Term: term + 1, Index: last.index, LogTerm: last.term}))
	require.Equal(t, uint64(2), rn.raft.Vote)
}

// Campaign on a follower that promised the leader is refused: its own vote
// would break the promise. A leader transfer is not refused.
func TestLeaseCampaignRefusedWhilePromised(t *testing.T) {
	c := leaseCluster(t)
	require.NoError(t, c.node(2).rn.Campaign())
	c.process()
	require.Equal(t, StateFollower, c.node(2).rn.BasicStatus().RaftState)
	require.Empty(t, c.queued(pb.MsgPreVote))

	require.NoError(t, c.node(1).rn.TransferLeader(2))
	c.stabilize()
	require.Equal(t, StateLeader, c.node(2).rn.BasicStatus().RaftState)
}

// In a joint configuration the lease needs a quorum of both halves.
func TestLeaseJointNeedsBothMajorities(t *testing.T) {
	c := rnNewClusterWith(t, 3, rnOptions{adjust: leaseConfig, learners: []uint64{4, 5}})
	c.elect(1)
	cc := &pb.ConfChangeV2{
		Transition: pb.ConfChangeTransitionJointExplicit,
		Changes: []*pb.ConfChangeSingle{
			{Type: pb.ConfChangeAddNode, NodeId: 4}, {Type: pb.ConfChangeAddNode, NodeId: 5},
			{Type: pb.ConfChangeRemoveNode, NodeId: 2}, {Type: pb.ConfChangeRemoveNode, NodeId: 3},
		},
	}
	require.NoError(t, c.node(1).rn.ProposeConfChange(cc))
	c.stabilize()
	require.NotEmpty(t, c.node(1).rn.raft.trk.Config.Voters[1], "%s", c.node(1).rn.raft.trk.Config)
	c.tick(1, 1)
	c.stabilize()
	require.True(t, readAtOnce(t, c, "both"))

	// Nodes 2 and 3 (a majority of the outgoing half) answer, nodes 4 and
	// 5 do not: no lease.
	c.drop = func(m *pb.Message) bool { return m.Type == pb.MsgHeartbeat && (m.To == 4 || m.To == 5) }
	c.tick(1, 9)
	c.stabilize()
	require.Equal(t, StateLeader, c.node(1).rn.BasicStatus().RaftState)
	require.False(t, readAtOnce(t, c, "outgoing-only"))
}
