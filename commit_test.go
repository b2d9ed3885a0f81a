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
