package raftnode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// TestCluster runs three nodes over the in-process network, in synchronous
// and AsyncStorageWrites mode: an election, proposals from every node,
// adding a fourth node, a leader transfer and a ReadIndex on a follower.
// Nobody ticks: elections and transfers are asked for, so the run does not
// depend on timing.
func TestCluster(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			testCluster(t, async)
		})
	}
}

func testCluster(t *testing.T, async bool) {
	ctx := context.Background()
	c := newCluster(t, async, nil, 1, 2, 3)
	c.elect(1)

	// Replication: proposals from every node (followers forward them), from
	// several goroutines each.
	var wg sync.WaitGroup
	var want []string
	for _, id := range []uint64{1, 2, 3} {
		for g := range 3 {
			var batch []string
			for i := range 10 {
				batch = append(batch, fmt.Sprintf("n%d-g%d-%d", id, g, i))
			}
			want = append(want, batch...)
			wg.Add(1)
			go func(n Node, batch []string) {
				defer wg.Done()
				for _, d := range batch {
					if err := n.Propose(ctx, []byte(d)); err != nil {
						t.Errorf("Propose(%s): %v", d, err)
					}
				}
			}(c.apps[id].n, batch)
		}
	}
	wg.Wait()
	// No leader change, no loss: every accepted proposal commits, in one
	// order on every node.
	c.each(func(a *app) {
		a.waitFor("all proposals", func(a *app) bool { return len(a.data) >= len(want) })
	})
	got := c.apps[1].appliedData()
	if !sameElements(got, want) {
		t.Fatalf("node 1 applied %d entries %v, want the %d proposed", len(got), got, len(want))
	}
	c.each(func(a *app) {
		if d := a.appliedData(); !slices.Equal(d, got) {
			t.Errorf("node %d applied %v, node 1 %v", a.id, d, got)
		}
	})

	// Membership: node 4 joins on empty storage, and is added as a voter.
	a4 := c.start(4, nil, nil)
	if err := c.apps[1].n.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 4}); err != nil {
		t.Fatalf("ProposeConfChange: %v", err)
	}
	for _, a := range c.apps {
		a.waitFor("node 4 in the configuration", func(a *app) bool { return slices.Contains(a.conf.GetVoters(), 4) })
	}
	a4.waitFor("node 4 to catch up", func(a *app) bool { return len(a.data) == len(want) })
	if d := a4.appliedData(); !slices.Equal(d, got) {
		t.Errorf("node 4 applied %v, want %v", d, got)
	}

	// Leader transfer, asked for on a follower (it forwards the request).
	// The transferee campaigns only once its node knows it applied the
	// configuration change.
	c.settle()
	if err := c.apps[3].n.TransferLeadership(ctx, 1, 2); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	c.each(func(a *app) { a.waitLeader(2) })
	if st := c.apps[2].n.Status(); st.RaftState != raft.StateLeader {
		t.Fatalf("node 2 is %s after the transfer, want leader", st.RaftState)
	}

	// A write the leader has applied, then a linearizable read on a
	// follower: the read index covers the write, and once the follower
	// applied up to it, the follower sees the write.
	if err := c.apps[2].n.Propose(ctx, []byte("before-read")); err != nil {
		t.Fatalf("Propose: %v", err)
	}
	c.apps[2].waitFor("the write before the read", func(a *app) bool { return slices.Contains(a.data, "before-read") })
	writeIndex := c.apps[2].appliedIndex()
	a3 := c.apps[3]
	if err := a3.n.ReadIndex(ctx, []byte("read-1")); err != nil {
		t.Fatalf("ReadIndex: %v", err)
	}
	var rs raft.ReadState
	a3.waitFor("the read state", func(a *app) bool {
		for _, r := range a.reads {
			if string(r.RequestCtx) == "read-1" {
				rs = r
				return true
			}
		}
		return false
	})
	if rs.Index < writeIndex {
		t.Fatalf("read index %d is below the write's %d applied before the read", rs.Index, writeIndex)
	}
	a3.waitApplied(rs.Index)
	if !slices.Contains(a3.appliedData(), "before-read") {
		t.Fatalf("node 3 applied up to the read index %d without the write before the read", rs.Index)
	}

	c.each(func(a *app) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if len(a.stepErrs) > 0 {
			t.Errorf("node %d: Step errors: %v", a.id, a.stepErrs)
		}
	})
}

func sameElements(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestDroppedProposalReachesCaller: a follower with proposal forwarding
// disabled drops proposals, and Propose returns the error instead of nil.
func TestDroppedProposalReachesCaller(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, false, func(cfg *raft.Config) { cfg.DisableProposalForwarding = true }, 1, 2, 3)
	c.elect(1)
	if err := c.apps[2].n.Propose(ctx, []byte("x")); !errors.Is(err, raft.ErrProposalDropped) {
		t.Fatalf("Propose on a follower without forwarding = %v, want ErrProposalDropped", err)
	}
	if err := c.apps[2].n.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeId: 3}); !errors.Is(err, raft.ErrProposalDropped) {
		t.Fatalf("ProposeConfChange on a follower without forwarding = %v, want ErrProposalDropped", err)
	}
	// The leader still takes proposals.
	if err := c.apps[1].n.Propose(ctx, []byte("y")); err != nil {
		t.Fatalf("Propose on the leader: %v", err)
	}
	c.apps[2].waitFor("the leader's proposal", func(a *app) bool { return slices.Equal(a.data, []string{"y"}) })
}

// TestReadIndexAndTransferWithoutLeader: with no leader known, ReadIndex
// and TransferLeadership say so instead of dropping the request silently.
func TestReadIndexAndTransferWithoutLeader(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, false, nil, 1, 2, 3)
	c.each(func(a *app) { a.waitApplied(3) })
	if err := c.apps[1].n.ReadIndex(ctx, []byte("r")); !errors.Is(err, raft.ErrNoLeader) {
		t.Fatalf("ReadIndex without a leader = %v, want ErrNoLeader", err)
	}
	if err := c.apps[1].n.TransferLeadership(ctx, 0, 2); !errors.Is(err, raft.ErrNoLeader) {
		t.Fatalf("TransferLeadership without a leader = %v, want ErrNoLeader", err)
	}
}

// TestTransferToLearnerRejected: the leader refuses to hand leadership to
// a learner, and the caller learns it.
func TestTransferToLearnerRejected(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, false, nil, 1, 2)
	c.elect(1)
	c.start(3, nil, nil)
	if err := c.apps[1].n.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeId: 3}); err != nil {
		t.Fatalf("ProposeConfChange: %v", err)
	}
	c.apps[1].waitFor("learner 3", func(a *app) bool { return slices.Contains(a.conf.GetLearners(), 3) })
	if err := c.apps[1].n.TransferLeadership(ctx, 1, 3); !errors.Is(err, raft.ErrTransferRejected) {
		t.Fatalf("TransferLeadership to a learner = %v, want ErrTransferRejected", err)
	}
}

// TestHeartbeatCarriesCommit: with lazy commit propagation a follower
// learns the new commit index from the leader's next heartbeat, which a
// Tick on the leader's Node sends.
func TestHeartbeatCarriesCommit(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, false, func(cfg *raft.Config) { cfg.EagerCommitPropagation = false }, 1, 2)
	c.elect(1)
	if err := c.apps[1].n.Propose(ctx, []byte("x")); err != nil {
		t.Fatalf("Propose: %v", err)
	}
	c.apps[1].waitFor("the leader to apply", func(a *app) bool { return slices.Contains(a.data, "x") })
	c.apps[1].n.Tick() // HeartbeatTick is 1: a heartbeat with the commit index
	c.apps[2].waitFor("the follower to apply", func(a *app) bool { return slices.Contains(a.data, "x") })
}

// TestSnapshotCatchUp: a node that joins after the leader compacted its log
// catches up from a snapshot sent through the Nodes (the sender reports it
// with ReportSnapshot), then from the log.
func TestSnapshotCatchUp(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, false, nil, 1, 2, 3)
	c.elect(1)
	l := c.apps[1]
	for i := range 5 {
		must(t, l.n.Propose(ctx, fmt.Appendf(nil, "v%d", i)))
	}
	l.waitFor("the proposals", func(a *app) bool { return len(a.data) == 5 })

	// Node 4 starts empty, but hears nothing from the leader until the
	// leader has compacted past everything 4 needs.
	a4 := c.start(4, nil, nil)
	c.net.setCut(1, 4, true)
	must(t, l.n.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 4}))
	l.waitFor("node 4 in the configuration", func(a *app) bool { return slices.Contains(a.conf.GetVoters(), 4) })
	snapIndex := l.snapshot()
	c.net.setCut(1, 4, false)

	tickUntil(l, a4, "the snapshot", func(a *app) bool { return a.snapshots == 1 && a.applied >= snapIndex })
	want := l.appliedData()
	if got := a4.appliedData(); !slices.Equal(got, want) {
		t.Fatalf("node 4 restored %v from the snapshot, want %v", got, want)
	}
	// And it follows the log from there.
	must(t, l.n.Propose(ctx, []byte("after")))
	a4.waitFor("the entry after the snapshot", func(a *app) bool { return slices.Contains(a.data, "after") })
	if st := l.n.Status(); st.Progress[4].Match < snapIndex {
		t.Fatalf("leader's progress for node 4 %+v, want match at least %d", st.Progress[4], snapIndex)
	}
}

// TestForgetLeader: a follower that forgets its leader has none until the
// leader's next heartbeat, and meanwhile its proposals wait.
func TestForgetLeader(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, false, nil, 1, 2, 3)
	c.elect(1)
	// Quiet: everyone applied the leader's empty entry, so no message of
	// the leader is still on its way to remind the follower.
	c.each(func(a *app) { a.waitApplied(4) })
	f := c.apps[2]
	must(t, f.n.ForgetLeader(ctx))
	if st := f.n.Status(); st.Lead != raft.None {
		t.Fatalf("follower's leader %d after ForgetLeader, want none", st.Lead)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := f.n.Propose(short, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Propose on a follower without a leader = %v, want context.DeadlineExceeded", err)
	}
	c.apps[1].n.Tick() // a heartbeat: the follower learns its leader again
	f.waitFor("the leader again", func(a *app) bool { return a.lead == 1 })
	must(t, f.n.Propose(ctx, []byte("y")))
	c.apps[1].waitFor("the forwarded proposal", func(a *app) bool { return slices.Equal(a.data, []string{"y"}) })
	if err := c.apps[1].n.ReportUnreachable(2); err != nil {
		t.Fatalf("ReportUnreachable on the leader: %v", err)
	}
}
