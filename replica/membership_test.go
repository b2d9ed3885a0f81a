package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
)

func voterIDs(m Membership) []uint64 {
	var ids []uint64
	for _, v := range m.Voters {
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	return ids
}

func writeKeys(t *testing.T, c *cluster, ctx context.Context, prefix string, n int) uint64 {
	t.Helper()
	var last uint64
	for i := range n {
		last = indexOf(c.propose(ctx, fmt.Sprintf("%s%d", prefix, i)))
	}
	return last
}

// A node that joins learns the cluster from the log: added as a learner at
// its address, caught up, promoted to voter, then the cluster removes a
// voter and replaces its leader.
func TestMembershipAddPromoteRemoveReplaceLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxT(t)
	writeKeys(t, c, ctx, "a", 20)
	n4 := c.start(4, nil, nil) // joins: empty store, no bootstrap
	l := c.leader(1, 2, 3)
	if err := l.r.AddLearner(ctx, 4, addr(4), true); err != nil {
		t.Fatal(err)
	}
	if err := n4.r.WaitFor(ctx, func(m Metrics) bool { return m.Applied > 20 }); err != nil {
		t.Fatal(err)
	}
	if !n4.sm.has("a19") {
		t.Fatal("the learner did not catch up")
	}
	m, err := l.r.Membership(ctx)
	if err != nil || len(m.Learners) != 1 || m.Learners[0] != (Member{ID: 4, Addr: addr(4)}) {
		t.Fatalf("membership %+v, %v; want learner 4 at its address", m, err)
	}
	// The joiner learned every member's address from the log.
	for id := uint64(1); id <= 4; id++ {
		if got := n4.r.members.addr(id); got != addr(id) {
			t.Fatalf("node 4 knows node %d at %q, want %q", id, got, addr(id))
		}
	}
	if err := l.r.ChangeMembership(ctx, members(1, 2, 3, 4)...); err != nil {
		t.Fatal(err)
	}
	m, _ = l.r.Membership(ctx)
	if got := voterIDs(m); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("voters %v after promoting 4", got)
	}
	// Remove a follower.
	var victim uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != l.id {
			victim = id
			break
		}
	}
	for id, n := range c.nodes {
		if isClosed(n.r.Removed()) {
			t.Fatalf("node %d reports its removal while a member", id)
		}
	}
	if err := l.r.RemoveNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	// The removed node learns it once it applies the change.
	select {
	case <-c.nodes[victim].r.Removed():
	case <-ctx.Done():
		t.Fatalf("node %d never reported its removal", victim)
	}
	if isClosed(l.r.Removed()) {
		t.Fatal("the leader reports a removal that was not its own")
	}
	_ = c.nodes[victim].r.Stop(ctx)
	c.nodes[victim].r = nil
	// Replace the leader by a new node 5: two voters change, so the
	// change goes through a joint configuration, left automatically.
	c.start(5, nil, nil)
	if isClosed(c.nodes[5].r.Removed()) {
		t.Fatal("a new, empty node waiting to be added reports a removal")
	}
	var keep []uint64
	for _, id := range []uint64{1, 2, 3, 4} {
		if id != l.id && id != victim {
			keep = append(keep, id)
		}
	}
	if err := l.r.ChangeMembership(ctx, members(append(keep, 5)...)...); err != nil && !errors.Is(err, ErrStopped) {
		// The leader may lose leadership as the change applies.
		var nl *NotLeaderError
		if !errors.As(err, &nl) {
			t.Fatal(err)
		}
	}
	_ = l.r.Stop(ctx)
	l.r = nil
	nl := c.leader(append(keep, 5)...)
	m, _ = nl.r.Membership(ctx)
	if got, want := voterIDs(m), append(slices.Clone(keep), 5); !slices.Equal(got, want) || m.Joint {
		t.Fatalf("voters %v (joint %v), want %v", got, m.Joint, want)
	}
	last := writeKeys(t, c, ctx, "b", 10)
	c.waitApplied(ctx, last)
	if !c.nodes[5].sm.has("a0") || !c.nodes[5].sm.has("b9") {
		t.Fatal("node 5 misses writes")
	}
}

// A node added after the log was compacted catches up from a snapshot
// streamed through the transport and installed by its state machine.
func TestSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.CompactionTail = 20, 5 })
	ctx := ctxT(t)
	last := writeKeys(t, c, ctx, "s", 100)
	c.waitApplied(ctx, last)
	l := c.leader()
	if err := l.r.WaitFor(ctx, func(m Metrics) bool { return m.Snapshot > 50 }); err != nil {
		t.Fatal(err)
	}
	n4 := c.start(4, nil, nil)
	if err := l.r.AddLearner(ctx, 4, addr(4), true); err != nil {
		t.Fatal(err)
	}
	if err := n4.r.WaitFor(ctx, func(m Metrics) bool { return m.Applied >= last }); err != nil {
		t.Fatal(err)
	}
	m := n4.r.Metrics()
	if m.SnapshotsInstalled == 0 || m.SnapshotsReceived == 0 {
		t.Fatalf("node 4 caught up without a snapshot: %+v", m)
	}
	for i := range 100 {
		if !n4.sm.has(fmt.Sprintf("s%d", i)) {
			t.Fatalf("node 4 misses s%d", i)
		}
	}
	if l.r.Metrics().SnapshotsSent == 0 {
		t.Fatal("the leader sent no snapshot")
	}
	// The new node knows the members' addresses from the snapshot.
	if got := n4.r.members.addr(1); got != addr(1) {
		t.Fatalf("node 4 knows node 1 at %q", got)
	}
}

// Config.SnapshotBytes takes snapshots by applied bytes.
func TestSnapshotByBytes(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.SnapshotBytes = 1_000_000, 2000 })
	ctx := ctxT(t)
	big := strings.Repeat("x", 200)
	for i := range 30 {
		c.propose(ctx, fmt.Sprintf("%s%d", big, i))
	}
	l := c.leader()
	// 30 entries of over 200 bytes: at least two snapshots beyond the one
	// taken after the bootstrap configuration.
	if err := l.r.WaitFor(ctx, func(m Metrics) bool { return m.SnapshotsTaken >= 3 }); err != nil {
		t.Fatalf("snapshots taken: %d", l.r.Metrics().SnapshotsTaken)
	}
}

func TestTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxT(t)
	l := c.leader()
	to := c.follower(l.id)
	if err := l.r.TransferLeadership(ctx, to.id); err != nil {
		t.Fatal(err)
	}
	if got := c.leader(); got.id != to.id {
		t.Fatalf("leader %d after transfer to %d", got.id, to.id)
	}
	// A transfer raft refuses (no such member) fails at once.
	if err := to.r.TransferLeadership(ctx, 9); !errors.Is(err, ErrTransferFailed) {
		t.Fatalf("transfer to a non-member: %v", err)
	}
	var nl *NotLeaderError
	if err := l.r.TransferLeadership(ctx, l.id); !errors.As(err, &nl) {
		t.Fatalf("transfer on a follower: %v", err)
	}
}

// A replica with a durable state machine restarts past configuration
// changes it applied before the crash (they are in its log, not in a
// snapshot, and are not handed out again): it still knows the members and
// their addresses.
func TestRestartPastConfChangesWithDurableStateMachine(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries = -1 })
	for _, n := range c.nodes {
		n.sm.durable = true
	}
	ctx := ctxT(t)
	writeKeys(t, c, ctx, "a", 5)
	c.start(4, nil, nil).sm.durable = true
	l := c.leader(1, 2, 3)
	if err := l.r.ChangeMembership(ctx, members(1, 2, 3, 4)...); err != nil {
		t.Fatal(err)
	}
	last := writeKeys(t, c, ctx, "b", 5)
	c.waitApplied(ctx, last)
	f := c.follower(l.id)
	if f.id == 4 {
		f = c.follower(4)
	}
	c.crash(f)
	c.start(f.id, nil, f)
	m, err := f.r.Membership(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := voterIDs(m); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("after restart node %d has voters %v", f.id, got)
	}
	if got := f.r.members.addr(4); got != addr(4) {
		t.Fatalf("after restart node %d knows node 4 at %q", f.id, got)
	}
	last = writeKeys(t, c, ctx, "c", 5)
	c.waitApplied(ctx, last)
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// A configuration removes a node when it names members, none of them it,
// in either half of a joint configuration.
func TestRemovedFrom(t *testing.T) {
	for _, tc := range []struct {
		cs   *pb.ConfState
		want bool
	}{
		{&pb.ConfState{}, false},
		{&pb.ConfState{Voters: []uint64{1, 2}}, false},
		{&pb.ConfState{Voters: []uint64{2, 3}}, true},
		{&pb.ConfState{Voters: []uint64{2}, Learners: []uint64{1}}, false},
		{&pb.ConfState{Voters: []uint64{2, 3}, VotersOutgoing: []uint64{1, 2}}, false},
		{&pb.ConfState{Voters: []uint64{2}, LearnersNext: []uint64{1}}, false},
	} {
		if got := removedFrom(tc.cs, 1); got != tc.want {
			t.Errorf("%v: removedFrom(1) = %v, want %v", tc.cs, got, tc.want)
		}
	}
}
