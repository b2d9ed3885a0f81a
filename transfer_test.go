package raft

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of leadership transfer (thesis §3.10) and ForgetLeader. A transfer
// brings the transferee's log up to date, then tells it to campaign at once
// with MsgTimeoutNow; meanwhile the leader refuses proposals, so the
// transferee's log stays complete, and it gives up after an election
// timeout, so a dead transferee cannot block the cluster.

// rnRequireLeader checks that id leads and every other node follows it.
func rnRequireLeader(t *testing.T, c *rnCluster, id uint64) {
	t.Helper()
	for _, other := range c.ids {
		st := c.node(other).rn.BasicStatus()
		require.Equal(t, id, st.Lead, "node %d's leader", other)
		if other == id {
			require.Equal(t, StateLeader, st.RaftState)
		} else {
			require.Equal(t, StateFollower, st.RaftState, "node %d", other)
		}
	}
}

// To an up-to-date follower, the leader sends MsgTimeoutNow right away, and
// the transferee wins the election it starts. With CheckQuorum the other
// followers still hear from the leader and would ignore an ordinary
// candidate (leader stickiness); the transferee's vote requests say the
// leader asked for the election, and are granted. PreVote is skipped for
// the same reason.
func TestTransferLeaderToUpToDateFollower(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(*Config)
	}{
		{"plain", nil},
		{"checkquorum", func(c *Config) { c.CheckQuorum = true }},
		{"checkquorum+prevote", func(c *Config) { c.CheckQuorum, c.PreVote = true, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rnNewCluster(t, 3, tc.adjust)
			c.elect(1)
			term := c.node(1).rn.BasicStatus().Term

			require.NoError(t, c.node(1).rn.TransferLeader(2))
			require.Equal(t, uint64(2), c.node(1).rn.BasicStatus().LeadTransferee)
			c.process()
			// The transferee is told the commit index first (lazy
			// propagation has not sent it yet), so that it can apply
			// what it needs to campaign.
			require.Equal(t, []string{"1->2 MsgApp Term:2 Log:2/4 Commit:4", "1->2 MsgTimeoutNow Term:2"}, msgSummary(c.queue))

			c.stabilize()
			rnRequireLeader(t, c, 2)
			require.Equal(t, term+1, c.node(2).rn.BasicStatus().Term)
			require.Equal(t, uint64(0), c.node(1).rn.BasicStatus().LeadTransferee)
			c.propose(2, "after")
			c.stabilize()
			c.beat(2)
			require.Equal(t, []string{"after"}, c.node(3).applied)
		})
	}
}

// rnLaggingTransfer elects 1, commits entries that node 3 misses, and
// leaves node 3 cut off.
func rnLaggingTransfer(t *testing.T) *rnCluster {
	t.Helper()
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	c.isolate(3)
	c.propose(1, "a")
	c.propose(1, "b")
	c.stabilize()
	require.Less(t, c.node(3).rn.raft.raftLog.lastIndex(), c.node(1).rn.raft.raftLog.lastIndex())
	return c
}

// To a follower that lacks entries, the leader first sends the entries;
// MsgTimeoutNow follows only once the follower acknowledged the whole log,
// since a candidate with an incomplete log would lose the election (or,
// worse, be unable to win any).
func TestTransferLeaderToLaggingFollower(t *testing.T) {
	c := rnLaggingTransfer(t)
	c.heal()
	require.NoError(t, c.node(1).rn.TransferLeader(3))
	c.process()
	require.Empty(t, c.queued(pb.MsgTimeoutNow), "timeout sent to a follower that lacks entries")
	require.NotEmpty(t, c.queued(pb.MsgApp))

	var timeoutNow []*pb.Message
	c.drop = func(m *pb.Message) bool {
		if m.Type == pb.MsgTimeoutNow {
			require.Equal(t, c.node(1).rn.raft.raftLog.lastIndex(), c.node(3).rn.raft.raftLog.lastIndex(),
				"MsgTimeoutNow before the transferee caught up")
			timeoutNow = append(timeoutNow, m)
		}
		return false
	}
	c.stabilize()
	require.Len(t, timeoutNow, 1)
	rnRequireLeader(t, c, 3)
	require.Equal(t, []string{"a", "b"}, c.node(3).applied)
}

// While a transfer is under way the leader drops proposals: every entry it
// appended would have to reach the transferee before it could campaign,
// and a steady stream of proposals could delay the transfer forever.
// After an election timeout without success the transfer is abandoned and
// the leader, still leading, accepts proposals again.
func TestTransferLeaderDropsProposalsThenTimesOut(t *testing.T) {
	c := rnLaggingTransfer(t)
	require.NoError(t, c.node(1).rn.TransferLeader(3))
	c.process()
	require.ErrorIs(t, c.node(1).rn.Propose([]byte("x")), ErrProposalDropped)
	require.ErrorIs(t, c.node(1).rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 4}),
		ErrProposalDropped)
	// A proposal forwarded by a follower is dropped too.
	require.NoError(t, c.node(2).rn.Propose([]byte("fwd")))
	c.stabilize()
	require.Empty(t, c.node(1).applied[2:], "a proposal got in during the transfer")

	c.tick(1, 9)
	require.Equal(t, uint64(3), c.node(1).rn.BasicStatus().LeadTransferee, "abandoned too early")
	c.tick(1, 1)
	require.Equal(t, uint64(0), c.node(1).rn.BasicStatus().LeadTransferee, "not abandoned after an election timeout")
	require.Equal(t, StateLeader, c.node(1).rn.BasicStatus().RaftState)
	c.propose(1, "y")
	c.stabilize()
	c.beat(1)
	require.Equal(t, []string{"a", "b", "y"}, c.node(2).applied)
}

// Transferring to the leader itself changes nothing (it already leads), but
// it does call off a transfer to someone else, which gives the
// application a way to cancel.
func TestTransferLeaderToSelf(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	require.NoError(t, c.node(1).rn.TransferLeader(1))
	require.False(t, c.node(1).rn.HasReady(), "a transfer to self did something")
	require.Equal(t, uint64(0), c.node(1).rn.BasicStatus().LeadTransferee)

	c = rnLaggingTransfer(t)
	require.NoError(t, c.node(1).rn.TransferLeader(3))
	require.NoError(t, c.node(1).rn.TransferLeader(1))
	require.Equal(t, uint64(0), c.node(1).rn.BasicStatus().LeadTransferee)
	require.NoError(t, c.node(1).rn.Propose([]byte("c")))
	rnRequireLeaderOf(t, c, 1)
}

// rnRequireLeaderOf checks that id is a leader (without checking the
// followers).
func rnRequireLeaderOf(t *testing.T, c *rnCluster, id uint64) {
	t.Helper()
	require.Equal(t, StateLeader, c.node(id).rn.BasicStatus().RaftState)
}

// A learner cannot lead (it does not vote, and the voters did not choose
// it), and an unknown node cannot either: both are refused with an error,
// and no transfer starts, so proposals keep flowing.
func TestTransferLeaderToNonVoter(t *testing.T) {
	c := rnNewClusterWith(t, 3, rnOptions{learners: []uint64{4}})
	c.elect(1)

	err := c.node(1).rn.TransferLeader(4)
	require.ErrorIs(t, err, ErrTransferRejected)
	require.False(t, errors.Is(err, ErrStepPeerNotFound), "a learner is a known peer")
	require.Equal(t, uint64(0), c.node(1).rn.BasicStatus().LeadTransferee)

	require.ErrorIs(t, c.node(1).rn.TransferLeader(9), ErrStepPeerNotFound)
	require.Equal(t, uint64(0), c.node(1).rn.BasicStatus().LeadTransferee)

	c.process()
	require.Empty(t, c.queued(pb.MsgTimeoutNow))
	c.propose(1, "ok")
	c.stabilize()
	c.beat(1)
	require.Equal(t, []string{"ok"}, c.node(4).applied)
}

// A second transfer to another node replaces the first: the application
// changed its mind, and the latest request is the one to carry out.
func TestTransferLeaderSecondTransferReplacesFirst(t *testing.T) {
	c := rnLaggingTransfer(t)
	require.NoError(t, c.node(1).rn.TransferLeader(3))
	require.Equal(t, uint64(3), c.node(1).rn.BasicStatus().LeadTransferee)
	require.NoError(t, c.node(1).rn.TransferLeader(2))
	require.Equal(t, uint64(2), c.node(1).rn.BasicStatus().LeadTransferee)
	c.stabilize()
	require.Equal(t, StateLeader, c.node(2).rn.BasicStatus().RaftState)
	require.Equal(t, uint64(2), c.node(1).rn.BasicStatus().Lead)
}

// A follower passes a transfer request on to the leader, naming the same
// transferee; with no leader to pass it to, the request fails with
// ErrNoLeader.
func TestTransferLeaderFromFollower(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	require.ErrorIs(t, c.node(3).rn.TransferLeader(3), ErrNoLeader)

	c.elect(1)
	require.NoError(t, c.node(3).rn.TransferLeader(3))
	c.process()
	require.Equal(t, []string{"3->1 MsgTransferLeader Term:2"}, msgSummary(c.queue))
	c.stabilize()
	rnRequireLeader(t, c, 3)
}

// ForgetLeader lets a follower vote for another candidate without first
// waiting out an election timeout, when the application knows the leader is
// gone. With CheckQuorum a follower ignores candidates while it remembers
// a live leader; after ForgetLeader it grants its (pre-)vote at once.
func TestForgetLeaderAllowsVotingAtOnce(t *testing.T) {
	cfg := func(c *Config) { c.CheckQuorum, c.PreVote = true, true }

	// Without ForgetLeader, node 2's campaign fails: both others are in the
	// leader's lease.
	c := rnNewCluster(t, 3, cfg)
	c.elect(1)
	require.NoError(t, c.node(2).rn.Campaign())
	c.stabilize()
	rnRequireLeaderOf(t, c, 1)
	require.Equal(t, uint64(1), c.node(3).rn.BasicStatus().Lead)

	c = rnNewCluster(t, 3, cfg)
	c.elect(1)
	require.NoError(t, c.node(3).rn.ForgetLeader())
	require.Equal(t, None, c.node(3).rn.BasicStatus().Lead)
	require.NoError(t, c.node(2).rn.Campaign())
	c.stabilize()
	rnRequireLeader(t, c, 2)
}

// ForgetLeader does nothing on a leader (it would forget itself), nor in
// ReadOnlyLeaseBased mode, where the leader serves reads on the promise
// that its followers will not vote for anyone else while they remember it.
func TestForgetLeaderIgnored(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	require.NoError(t, c.node(1).rn.ForgetLeader())
	require.False(t, c.node(1).rn.HasReady())
	rnRequireLeader(t, c, 1)

	// The same scenario as in TestForgetLeaderAllowsVotingAtOnce, but
	// lease-based: node 3 still refuses node 2.
	c = rnNewCluster(t, 3, func(cfg *Config) {
		cfg.CheckQuorum, cfg.PreVote = true, true
		cfg.ReadOnlyOption = ReadOnlyLeaseBased
	})
	c.elect(1)
	require.NoError(t, c.node(3).rn.ForgetLeader())
	require.Equal(t, uint64(1), c.node(3).rn.BasicStatus().Lead)
	require.NoError(t, c.node(2).rn.Campaign())
	c.stabilize()
	rnRequireLeaderOf(t, c, 1)
	require.Equal(t, uint64(1), c.node(3).rn.BasicStatus().Lead)
}
