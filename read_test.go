package raft

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of linearizable reads with ReadIndex (thesis §6.4). A ReadState
// {Index, RequestCtx} promises that once the application applied the log
// up to Index, its state reflects every write committed before the request
// was made. So Index must be at least the leader's commit index when the
// request arrived, and the leader must have been the leader at that moment:
// with ReadOnlySafe it proves so with a heartbeat round that a quorum
// answers after the request arrived.

// rnReadRound returns the heartbeats queued with the given read context
// (the leader's round number), and a filter accepting exactly them and the
// answers to them.
func rnReadRound(c *rnCluster, ctx []byte) ([]*pb.Message, func(*pb.Message) bool) {
	var hbs []*pb.Message
	for _, m := range c.queued(pb.MsgHeartbeat) {
		if bytes.Equal(m.Context, ctx) {
			hbs = append(hbs, m)
		}
	}
	return hbs, func(m *pb.Message) bool {
		return (m.Type == pb.MsgHeartbeat || m.Type == pb.MsgHeartbeatResp) && bytes.Equal(m.Context, ctx)
	}
}

// rnLastHeartbeatCtx returns the context of the last queued heartbeat.
func rnLastHeartbeatCtx(t *testing.T, c *rnCluster) []byte {
	t.Helper()
	hbs := c.queued(pb.MsgHeartbeat)
	require.NotEmpty(t, hbs, "no heartbeat round started")
	return hbs[len(hbs)-1].Context
}

// A leader in ReadOnlySafe mode answers a read only once a quorum answered
// a heartbeat round started after the request, and answers with its commit
// index at the time of the request, in a later Ready. A write committed
// while the round is under way does not change the answer: it is allowed
// but not required to be visible.
func TestReadIndexSafeNeedsQuorumHeartbeat(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	c.propose(1, "a")
	c.stabilize()
	commit := c.node(1).rn.BasicStatus().Commit

	require.NoError(t, c.node(1).rn.ReadIndex([]byte("r1")))
	c.process()
	require.Empty(t, c.node(1).readStates, "answered without confirming leadership")
	round, inRound := rnReadRound(c, rnLastHeartbeatCtx(t, c))
	require.Len(t, round, 2, "one heartbeat per follower")

	// Another write commits while the round's heartbeats are held.
	c.propose(1, "b")
	c.stabilizeIf(func(m *pb.Message) bool { return !inRound(m) })
	require.Equal(t, commit+1, c.node(1).rn.BasicStatus().Commit)
	require.Empty(t, c.node(1).readStates)

	// Node 2 answers the round: with the leader, a quorum.
	c.deliver(func(m *pb.Message) bool { return inRound(m) && m.To == 2 })
	c.process()
	c.deliver(func(m *pb.Message) bool { return inRound(m) && m.From == 2 })
	require.Empty(t, c.node(1).readStates, "answered before a Ready")
	c.process()
	require.Equal(t, []ReadState{{Index: commit, RequestCtx: []byte("r1")}}, c.node(1).readStates)

	// Node 3's late answer changes nothing.
	c.stabilize()
	require.Len(t, c.node(1).readStates, 1)
}

// Two requests with the same context are two requests: each is answered
// once, with the commit index of its own arrival, after its own round. The
// context belongs to the application and may repeat; the leader must not
// let the acknowledgements of one request's round confirm another that
// arrived later.
func TestReadIndexSameContextTwice(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	ctx := []byte("same")

	c1 := c.node(1).rn.BasicStatus().Commit
	require.NoError(t, c.node(1).rn.ReadIndex(ctx))
	c.process()
	_, inRound1 := rnReadRound(c, rnLastHeartbeatCtx(t, c))

	c.propose(1, "w")
	c.stabilizeIf(rnNot(pb.MsgHeartbeat))
	c2 := c.node(1).rn.BasicStatus().Commit
	require.Greater(t, c2, c1)
	require.NoError(t, c.node(1).rn.ReadIndex(ctx))
	c.process()
	_, inRound2 := rnReadRound(c, rnLastHeartbeatCtx(t, c))

	c.stabilizeIf(inRound1)
	require.Equal(t, []ReadState{{Index: c1, RequestCtx: ctx}}, c.node(1).readStates)
	c.stabilizeIf(inRound2)
	require.Equal(t, []ReadState{{Index: c1, RequestCtx: ctx}, {Index: c2, RequestCtx: ctx}}, c.node(1).readStates)
}

// Heartbeat answers that arrive after a newer request, but answer a round
// started before it, do not confirm it: the followers acknowledged a
// leader that existed before the newer request arrived, which says nothing
// about whether it still led when the request came.
func TestReadIndexStaleHeartbeatResponse(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)

	require.NoError(t, c.node(1).rn.ReadIndex([]byte("old")))
	c.process()
	_, inOld := rnReadRound(c, rnLastHeartbeatCtx(t, c))
	// The followers answer, but the answers are held in the network.
	c.deliver(func(m *pb.Message) bool { return inOld(m) && m.Type == pb.MsgHeartbeat })
	c.process()
	require.Len(t, c.queued(pb.MsgHeartbeatResp), 2)

	require.NoError(t, c.node(1).rn.ReadIndex([]byte("new")))
	c.process()
	_, inNew := rnReadRound(c, rnLastHeartbeatCtx(t, c))

	// Both stale answers arrive: only the old request is answered.
	c.deliver(rnIs(pb.MsgHeartbeatResp))
	c.process()
	require.Len(t, c.node(1).readStates, 1)
	require.Equal(t, "old", string(c.node(1).readStates[0].RequestCtx))

	c.stabilizeIf(inNew)
	require.Len(t, c.node(1).readStates, 2)
	require.Equal(t, "new", string(c.node(1).readStates[1].RequestCtx))
}

// With ReadOnlyLeaseBased the leader trusts its lease once a quorum
// answered one of its heartbeat rounds: it answers in the next Ready,
// without any message.
func TestReadIndexLeaseBased(t *testing.T) {
	c := rnNewCluster(t, 3, func(cfg *Config) {
		cfg.CheckQuorum = true
		cfg.ReadOnlyOption = ReadOnlyLeaseBased
	})
	c.elect(1)
	c.tick(1, 1)
	c.stabilize()
	commit := c.node(1).rn.BasicStatus().Commit
	require.NoError(t, c.node(1).rn.ReadIndex([]byte("lease")))
	c.process()
	require.Equal(t, []ReadState{{Index: commit, RequestCtx: []byte("lease")}}, c.node(1).readStates)
	require.Empty(t, c.queue, "a lease-based read needs no messages")
}

// A leader transfer breaks the lease: the transferee's election is forced
// past the followers' lease check, so a new leader can exist before the old
// one hears of it. Once it has sent MsgTimeoutNow, the old leader must not
// answer lease-based reads from its lease any more; it confirms them with a
// heartbeat round, which fails once a quorum has moved on.
func TestReadIndexLeaseBrokenByTransfer(t *testing.T) {
	c := rnNewCluster(t, 3, func(cfg *Config) {
		cfg.CheckQuorum = true
		cfg.ReadOnlyOption = ReadOnlyLeaseBased
	})
	c.elect(1)
	require.NoError(t, c.node(1).rn.TransferLeader(2))
	c.process()
	require.Len(t, c.queued(pb.MsgTimeoutNow), 1, "the transferee is caught up")
	// MsgTimeoutNow is not delivered yet: node 1 still leads, but its lease
	// no longer protects reads.
	require.NoError(t, c.node(1).rn.ReadIndex([]byte("after-transfer")))
	c.process()
	require.Empty(t, c.node(1).readStates, "a broken lease must not answer at once")
	require.NotEmpty(t, c.queued(pb.MsgHeartbeat), "the read is confirmed by a heartbeat round")
	// The transferee campaigns and wins; the old leader's round can no
	// longer be confirmed, and it steps down without answering.
	c.stabilize()
	require.Equal(t, StateLeader, c.node(2).rn.BasicStatus().RaftState)
	require.Equal(t, StateFollower, c.node(1).rn.BasicStatus().RaftState)
	require.Empty(t, c.node(1).readStates)
}

// A new leader does not know the commit index of earlier terms until it
// commits an entry of its own term (thesis §6.4): answering before, with
// the commit index it happens to know, could miss writes the previous
// leader committed and acknowledged. It holds the request, and answers
// once its empty entry commits, with an index that covers it.
func TestReadIndexNewLeaderWaitsForItsFirstCommit(t *testing.T) {
	for _, opt := range []ReadOnlyOption{ReadOnlySafe, ReadOnlyLeaseBased} {
		t.Run(opt.String(), func(t *testing.T) {
			c := rnNewCluster(t, 3, func(cfg *Config) {
				cfg.CheckQuorum = true
				cfg.ReadOnlyOption = opt
			})
			require.NoError(t, c.node(1).rn.Campaign())
			c.stabilizeIf(rnIs(pb.MsgVote, pb.MsgVoteResp))
			require.Equal(t, StateLeader, c.node(1).rn.BasicStatus().RaftState)
			termStart := c.node(1).rn.raft.raftLog.lastIndex()
			require.Less(t, c.node(1).rn.BasicStatus().Commit, termStart)

			require.NoError(t, c.node(1).rn.ReadIndex([]byte("early")))
			c.process()
			require.Empty(t, c.node(1).readStates)
			require.Empty(t, c.queued(pb.MsgHeartbeat), "a round started before the first commit")

			c.stabilize()
			require.Equal(t, []ReadState{{Index: termStart, RequestCtx: []byte("early")}}, c.node(1).readStates)
		})
	}
}

// The same rule holds for a single voter. After a restart its persisted
// commit index may lag its log: MustSync is false when only the commit
// index changes, so the last commit index may not have reached the disk,
// while the entry after it was committed, applied and acknowledged to a
// client. Until it commits an entry of its new term, the node cannot tell,
// and must not answer with the stale commit index.
func TestReadIndexSingleVoterAfterRestartWaitsForItsFirstCommit(t *testing.T) {
	st := storageWith([]uint64{1})
	require.NoError(t, st.Append([]*pb.Entry{
		{Index: 1, Term: 1}, {Index: 2, Term: 1, Data: []byte("x")}, {Index: 3, Term: 1, Data: []byte("y")},
	}))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Vote: 1, Commit: 2}))
	rn, err := NewRawNode(&Config{ID: 1, Storage: st, ElectionTick: 10, HeartbeatTick: 1})
	require.NoError(t, err)

	require.NoError(t, rn.Campaign())
	var reads []ReadState
	asked := false
	for i := 0; rn.HasReady(); i++ {
		require.Less(t, i, 10)
		rd := rn.Ready()
		reads = append(reads, rd.ReadStates...)
		rnHandle(t, rn, st, rd)
		if !asked && rn.BasicStatus().RaftState == StateLeader {
			require.Equal(t, uint64(2), rn.BasicStatus().Commit, "the test wants a read before the first commit")
			require.NoError(t, rn.ReadIndex([]byte("r")))
			asked = true
		}
	}
	require.True(t, asked)
	require.Equal(t, []ReadState{{Index: 4, RequestCtx: []byte("r")}}, reads)
}

// Once a single voter has committed in its term, it is the quorum by
// itself: it answers at once, with no message.
func TestReadIndexSingleVoter(t *testing.T) {
	rn, st := rnSingle(t, nil)
	rnHandle(t, rn, st, rn.Ready())
	require.NoError(t, rn.Campaign())
	for rn.HasReady() {
		rnHandle(t, rn, st, rn.Ready())
	}
	commit := rn.BasicStatus().Commit
	require.NoError(t, rn.ReadIndex([]byte("solo")))
	rd := rn.Ready()
	require.Equal(t, []ReadState{{Index: commit, RequestCtx: []byte("solo")}}, rd.ReadStates)
	require.Empty(t, rd.Messages)
}

// A follower forwards a read to its leader and gets the answer back in a
// MsgReadIndexResp: the ReadState shows up in the follower's Ready, with
// the leader's commit index, and not in the leader's.
func TestReadIndexFromFollower(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	c.propose(1, "a")
	c.stabilize()
	require.NoError(t, c.node(2).rn.ReadIndex([]byte("f")))
	c.process()
	require.Len(t, c.queued(pb.MsgReadIndex), 1)
	require.Equal(t, uint64(1), c.queued(pb.MsgReadIndex)[0].To)
	c.stabilize()
	require.Equal(t, []ReadState{{Index: c.node(1).rn.BasicStatus().Commit, RequestCtx: []byte("f")}},
		c.node(2).readStates)
	require.Empty(t, c.node(1).readStates)
	require.Empty(t, c.node(3).readStates)
}

// A request forwarded to a node that is no longer the leader is forwarded
// again, and the answer must go to the node that asked, not to the one
// that passed it on: the intermediate node's application never made the
// request, and the asker would wait forever.
func TestReadIndexForwardedTwice(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	// Node 2 takes over in term 3 while node 3 is cut off: node 3 still
	// believes node 1 leads.
	c.isolate(3)
	c.elect(2)
	c.heal()
	require.Equal(t, uint64(1), c.node(3).rn.BasicStatus().Lead)

	require.NoError(t, c.node(3).rn.ReadIndex([]byte("r3")))
	c.stabilize()
	require.Empty(t, c.node(1).readStates, "the answer went to the forwarding node")
	require.Len(t, c.node(3).readStates, 1)
	require.Equal(t, "r3", string(c.node(3).readStates[0].RequestCtx))
	require.Equal(t, c.node(2).rn.BasicStatus().Commit, c.node(3).readStates[0].Index)
}

// With no leader to serve or forward a read, ReadIndex says so with
// ErrNoLeader instead of silently dropping the request, so the application
// can retry after an election: on a follower that knows no leader, on a
// candidate and on a pre-candidate.
func TestReadIndexNoLeader(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	require.ErrorIs(t, c.node(2).rn.ReadIndex([]byte("x")), ErrNoLeader)

	require.NoError(t, c.node(1).rn.Campaign())
	c.process()
	require.Equal(t, StateCandidate, c.node(1).rn.BasicStatus().RaftState)
	require.ErrorIs(t, c.node(1).rn.ReadIndex([]byte("x")), ErrNoLeader)

	c = rnNewCluster(t, 3, func(cfg *Config) { cfg.PreVote = true })
	require.NoError(t, c.node(1).rn.Campaign())
	c.process()
	require.Equal(t, StatePreCandidate, c.node(1).rn.BasicStatus().RaftState)
	require.ErrorIs(t, c.node(1).rn.ReadIndex([]byte("x")), ErrNoLeader)
}
