package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/client"
	"github.com/tickraft/raft/examples/raftkv/internal/cluster"
)

// TestDemoStory is the demo's story as assertions: a cluster built by
// init, learners and a membership change; reads on every node; the leader
// killed; writes go on; the killed node restarts and catches up by
// snapshot; SIGTERM stops everything cleanly.
func TestDemoStory(t *testing.T) {
	c := started(t, "pebble", 3)
	x := ctx(t)
	cl := c.Client()
	defer cl.Close()
	st, err := cl.Status(x, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := countRole(st, "voter"); n != 3 {
		t.Fatalf("voters after bootstrap: %d (%+v)", n, st.Members)
	}
	for _, m := range st.Members {
		if m.APIAddr != c.Node(m.ID).APIAddr || m.RaftAddr != c.Node(m.ID).RaftAddr {
			t.Errorf("member %d addresses %s/%s", m.ID, m.RaftAddr, m.APIAddr)
		}
	}
	for i := range 10 {
		if _, err := cl.Put(x, fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	readAll(t, c, 10, "linearizable")

	leader, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	next, err := c.Leader(x, leader.ID)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := 10; i < 250; i++ {
		if last, err = cl.Put(x, fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatalf("put after the leader was killed: %v", err)
		}
	}
	st, err = next.Status(x)
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshot == 0 {
		t.Fatal("the new leader took no snapshot")
	}
	if err := leader.Start(x); err != nil {
		t.Fatal(err)
	}
	if err := c.CaughtUp(x, last); err != nil {
		t.Fatal(err)
	}
	st, err = leader.Status(x)
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshots.Installed == 0 {
		t.Fatalf("node %d caught up without a snapshot (its log should have been compacted away)", leader.ID)
	}
	readAll(t, c, 250, "stale")
	readAll(t, c, 250, "linearizable")
	if err := c.StopAll(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// readAll checks keys k0..k(n-1) on every running node.
func readAll(t *testing.T, c *cluster.Cluster, n int, cons client.Consistency) {
	t.Helper()
	x := ctx(t)
	for _, node := range c.Nodes() {
		if !node.Running() {
			continue
		}
		nc := client.New([]string{node.APIAddr}, client.Options{TLS: c.TLS})
		for i := range n {
			r, err := nc.Get(x, fmt.Sprint("k", i), cons)
			if err != nil || r.Value != fmt.Sprint("v", i) {
				t.Fatalf("node %d %s read of k%d: %q %v", node.ID, cons, i, r.Value, err)
			}
		}
		nc.Close()
	}
}

func countRole(st api.Status, role string) int {
	n := 0
	for _, m := range st.Members {
		if m.Role == role {
			n++
		}
	}
	return n
}

// TestReadConsistencies: with -lease-reads a lease read is served by the
// lease; without it, consistency=lease is served as linearizable; stale
// reads answer on a follower without asking anyone.
func TestReadConsistencies(t *testing.T) {
	for _, lease := range []bool{false, true} {
		t.Run(fmt.Sprint("lease=", lease), func(t *testing.T) {
			var args []string
			if lease {
				args = append(args, "-lease-reads")
			}
			c := started(t, "memory", 3, args...)
			x := ctx(t)
			cl := c.Client()
			defer cl.Close()
			if _, err := cl.Put(x, "k0", "v0"); err != nil {
				t.Fatal(err)
			}
			leader, err := c.Leader(x)
			if err != nil {
				t.Fatal(err)
			}
			lc := client.New([]string{leader.APIAddr}, client.Options{})
			defer lc.Close()
			r, err := lc.Get(x, "k0", "lease")
			want := "linearizable"
			if lease {
				want = "lease"
			}
			if err != nil || r.Value != "v0" || r.Consistency != want {
				t.Fatalf("lease read: %+v %v, want served as %s", r, err, want)
			}
			readAll(t, c, 1, "lease")
			// Stale reads may lag (a follower learns the commit index with
			// the leader's next message): once caught up they see it.
			st, err := leader.Status(x)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CaughtUp(x, st.Commit); err != nil {
				t.Fatal(err)
			}
			readAll(t, c, 1, "stale")
		})
	}
}
