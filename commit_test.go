package raft

import (
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/tickraft/raft/raftpb"
)

// Tests of how a new commit index reaches followers. By default it rides
// on the next append with entries or the next heartbeat; with
// EagerCommitPropagation the leader sends it at once. The test harnesses
// (testConfig, rnNewCluster, mbCluster) default to lazy propagation, like
// Config; eagerCommit marks the tests that need eager propagation.

// commitOnlyApps returns the queued appends that carry no entries.
func commitOnlyApps(c *rnCluster) []*pb.Message {
	var out []*pb.Message
	for _, m := range c.queued(pb.MsgApp) {
		if len(m.Entries) == 0 {
			out = append(out, m)
		}
	}
	return out
}

// settleAcks delivers everything but the appends that carry no entries,
// until nothing else moves, and returns those appends.
func settleAcks(c *rnCluster) []*pb.Message {
	var commitOnly []*pb.Message
	for range 100 {
		c.process()
		commitOnly = append(commitOnly, commitOnlyApps(c)...)
		if c.deliver(func(m *pb.Message) bool { return m.Type != pb.MsgApp || len(m.Entries) > 0 }) == 0 {
			return commitOnly
		}
	}
	c.t.Fatal("the cluster does not settle")
	return nil
}

func TestCommitLazyByDefault(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	c.queue = nil
	c.propose(1, "a")
	require.Empty(t, settleAcks(c), "no append of its own for a commit index")
	commit := c.node(1).rn.BasicStatus().Commit
	require.Less(t, c.node(2).rn.BasicStatus().Commit, commit, "the follower does not know yet")

	// The next append carries it.
	c.propose(1, "b")
	c.process()
	apps := c.queued(pb.MsgApp)
	require.Len(t, apps, 2)
	for _, m := range apps {
		require.Equal(t, commit, m.Commit)
	}
	c.stabilize()
	require.Equal(t, commit, c.node(2).rn.BasicStatus().Commit)

	// When idle, the next heartbeat carries it.
	commit = c.node(1).rn.BasicStatus().Commit
	require.Less(t, c.node(3).rn.BasicStatus().Commit, commit)
	c.tick(1, 1)
	c.stabilize()
	require.Equal(t, commit, c.node(3).rn.BasicStatus().Commit)
	require.Equal(t, commit, c.node(3).rn.BasicStatus().Applied)
}

func TestCommitEagerSendsAtOnce(t *testing.T) {
	c := rnNewCluster(t, 3, eagerCommit)
	c.elect(1)
	c.queue = nil
	c.propose(1, "a")
	commitOnly := settleAcks(c)
	require.Len(t, commitOnly, 2, "one commit-only append per follower")
	commit := c.node(1).rn.BasicStatus().Commit
	for _, m := range commitOnly {
		require.Equal(t, commit, m.Commit)
	}
}

// A read answered from the leader's lease needs no heartbeat round, so the
// answer goes out with the commit index in an append of its own: the
// follower can apply up to the read's index at once.
func TestCommitSentWithLeaseReadAnswer(t *testing.T) {
	c := rnNewCluster(t, 3, func(cfg *Config) {
		leaseConfig(cfg)
	})
	c.elect(1)
	c.tick(1, 1)
	c.stabilize()
	c.propose(1, "a")
	require.Empty(t, settleAcks(c))
	commit := c.node(1).rn.BasicStatus().Commit
	c.queue = nil

	require.NoError(t, c.node(2).rn.ReadIndex([]byte("r")))
	c.process()
	c.deliver(rnIs(pb.MsgReadIndex))
	c.process()
	require.Empty(t, c.queued(pb.MsgHeartbeat), "served from the lease")
	require.Len(t, c.queue, 2)
	require.Equal(t, pb.MsgApp, c.queue[0].Type, "the commit index goes first")
	require.Equal(t, commit, c.queue[0].Commit)
	require.Equal(t, pb.MsgReadIndexResp, c.queue[1].Type)
	c.stabilize()
	require.Equal(t, []ReadState{{Index: commit, RequestCtx: []byte("r")}}, c.node(2).readStates)
	require.Equal(t, commit, c.node(2).rn.BasicStatus().Applied)
}

// The transferee of a leader transfer learns the commit index before it
// campaigns, so that it starts its term knowing what is committed.
func TestCommitSentBeforeTimeoutNow(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	c.propose(1, "a")
	require.Empty(t, settleAcks(c))
	commit := c.node(1).rn.BasicStatus().Commit
	c.queue = nil

	require.NoError(t, c.node(1).rn.TransferLeader(2))
	c.process()
	require.Len(t, c.queue, 2)
	require.Equal(t, pb.MsgApp, c.queue[0].Type)
	require.Equal(t, uint64(2), c.queue[0].To)
	require.Equal(t, commit, c.queue[0].Commit)
	require.Equal(t, pb.MsgTimeoutNow, c.queue[1].Type)
}

// A commit index that covers a configuration change reaches every peer at
// once, also without EagerCommitPropagation: here a follower learns that a
// learner's promotion committed while the learner is cut off. When the
// leader is then lost, the follower asks the promoted node for its vote
// and wins. Had it not learned of the promotion, it would ask only the old
// voters and stay a candidate (etcd's campaign_learner_must_vote).
func TestCommitOfPromotionReachesFollowers(t *testing.T) {
	bothCommitModes(t, func(t *testing.T, eager bool) {
		c := rnNewClusterWith(t, 2, rnOptions{
			learners: []uint64{3},
			adjust:   func(cfg *Config) { cfg.EagerCommitPropagation = eager },
		})
		c.elect(1)
		c.isolate(3)
		require.NoError(t, c.node(1).rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 3}))
		c.stabilize()
		require.Equal(t, "voters=(1 2 3)", c.node(2).rn.Status().Config.String(), "node 2 applied the promotion")

		c.isolate(1)
		require.NoError(t, c.node(2).rn.Campaign())
		c.stabilize()
		require.Equal(t, StateLeader, c.node(2).rn.BasicStatus().RaftState)
	})
}

// HasReady is never true for an empty Ready. An acknowledgement that
// commits nothing new makes the leader owe the follower the commit index;
// without eager propagation nothing is sent for it, so there is no Ready.
// (rnCluster and mbCluster check every Ready they handle too.)
func TestCommitNoEmptyReady(t *testing.T) {
	bothCommitModes(t, func(t *testing.T, eager bool) {
		c := rnNewCluster(t, 3, func(cfg *Config) { cfg.EagerCommitPropagation = eager })
		c.elect(1)
		c.beat(1)
		c.propose(1, "a")
		c.process()
		c.deliver(func(m *pb.Message) bool { return m.To != 1 })
		c.process()
		// Node 2's acknowledgement commits "a"; node 3's comes after.
		c.deliver(func(m *pb.Message) bool { return m.From == 2 })
		c.process()
		require.Equal(t, 1, c.deliver(func(m *pb.Message) bool { return m.From == 3 }))
		// Lazy: nothing is sent for a commit index alone. Eager: it went to
		// node 3 when node 2's acknowledgement committed "a".
		require.False(t, c.node(1).rn.HasReady(), "eager=%v", eager)
	})
}

// A peer added by a configuration change is probed with the leader's next
// Ready, not at the next heartbeat.
func TestCommitNewPeerProbedWithNextReady(t *testing.T) {
	bothCommitModes(t, func(t *testing.T, eager bool) {
		r := rpStableLeader(t, 3, func(cfg *Config) { cfg.EagerCommitPropagation = eager })
		_, err := r.applyConfChange(mbV1(pb.ConfChangeAddNode, 4).AsV2())
		require.NoError(t, err)
		apps := rpTo(readMessages(t, r), 4, pb.MsgApp)
		require.Len(t, apps, 1, "one probe to the new peer")
		require.Equal(t, r.raftLog.lastIndex(), apps[0].Index)
		require.Empty(t, rpTo(readMessages(t, r), 4, pb.MsgApp), "one probe only")
	})
}
