package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
)

// TestMembership: a new member catches up by snapshot, is promoted; a
// voter is removed; the leader is replaced by a membership change that
// leaves it out; the data is intact on every member throughout.
func TestMembership(t *testing.T) {
	c := newCluster(t, "pebble", 4)
	// Bootstrap three; node 4 starts later.
	n4 := c.Node(4)
	x := ctx(t)
	for _, n := range c.Nodes()[:3] {
		if err := n.Start(x); err != nil {
			t.Fatal(err)
		}
	}
	cl := c.Client()
	defer cl.Close()
	if _, err := cl.Init(x, c.Node(1).APIAddr); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{2, 3} {
		n := c.Node(id)
		if _, err := cl.AddLearner(x, id, n.RaftAddr, n.APIAddr, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.ChangeMembership(x, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	// Enough writes that the log before them is compacted: node 4 can
	// only be sent a snapshot.
	for i := range 250 {
		if _, err := cl.Put(x, fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n4.Start(x); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AddLearner(x, 4, n4.RaftAddr, n4.APIAddr, true); err != nil {
		t.Fatal(err)
	}
	// The learner caught up as the leader sees it; it installs the
	// snapshot it received on its own apply goroutine.
	err := c.WaitFor(x, "node 4 to install a snapshot", func(sts map[uint64]api.Status) bool {
		return sts[4].Snapshots.Installed > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.ChangeMembership(x, 1, 2, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if voters(st) != "1,2,3,4" {
		t.Fatalf("voters after promotion: %s", voters(st))
	}
	readAll(t, c, 250, "linearizable")

	// Remove a follower.
	leader, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	victim := uint64(2)
	if leader.ID == victim {
		victim = 3
	}
	if st, err = cl.Remove(x, victim); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(st.Members, func(m api.MemberStatus) bool { return m.ID == victim }) {
		t.Fatalf("node %d still a member: %+v", victim, st.Members)
	}
	// The removed node shuts itself down once it applies its removal.
	removedExited := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !c.Node(victim).Running() {
			removedExited = true
			break
		}
	}
	if !removedExited {
		t.Errorf("node %d still runs after its removal", victim)
		_ = c.Node(victim).Stop(15 * time.Second)
	} else if err := c.Node(victim).ExitErr(); err != nil {
		t.Errorf("the removed node exited with %v, want a clean exit", err)
	}

	// Replace the leader: a membership without it.
	var rest []uint64
	for _, id := range []uint64{1, 2, 3, 4} {
		if id != victim && id != leader.ID {
			rest = append(rest, id)
		}
	}
	if _, err := cl.ChangeMembership(x, rest...); err != nil {
		t.Fatal(err)
	}
	next, err := c.Leader(x, leader.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(x, "after-replace", "yes"); err != nil {
		t.Fatal(err)
	}
	st, err = next.Status(x)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(rest[0], ",", rest[1])
	if voters(st) != want {
		t.Fatalf("voters after replacing leader %d: %s, want %s", leader.ID, voters(st), want)
	}
	if err := leader.Stop(15 * time.Second); err != nil {
		t.Errorf("stopping the replaced leader: %v", err)
	}
	readAll(t, c, 250, "linearizable")
}

func voters(st api.Status) string {
	s := ""
	for _, m := range st.Members {
		if m.Role == "voter" {
			if s != "" {
				s += ","
			}
			s += fmt.Sprint(m.ID)
		}
	}
	return s
}

// TestJoinFlag: an empty node started with -join asks the cluster to add
// it as a learner (through a follower: the request is redirected to the
// leader), catches up, and can be promoted.
func TestJoinFlag(t *testing.T) {
	c := started(t, "memory", 3)
	x := ctx(t)
	cl := c.Client()
	defer cl.Close()
	for i := range 5 {
		if _, err := cl.Put(x, fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	leader, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	follower := c.Node(leader.ID%3 + 1)
	n4, err := c.Add(4)
	if err != nil {
		t.Fatal(err)
	}
	n4.Args = []string{"-join", follower.APIAddr}
	if err := n4.Start(x); err != nil {
		t.Fatal(err)
	}
	err = c.WaitFor(x, "node 4 to join as a learner", func(sts map[uint64]api.Status) bool {
		for _, m := range sts[leader.ID].Members {
			if m.ID == 4 && m.Role == "learner" && m.APIAddr == n4.APIAddr {
				return sts[4].Applied >= sts[leader.ID].Commit
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ChangeMembership(x, 1, 2, 3, 4); err != nil {
		t.Fatal(err)
	}
	readAll(t, c, 5, "linearizable")
}
