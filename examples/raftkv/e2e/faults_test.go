package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
)

// TestDiskFailureStopsNode: a node whose wal writes and syncs fail (the
// test hook of -test-hooks) stops with a non-zero exit instead of going
// on; the other two keep serving, and every acknowledged write is there.
func TestDiskFailureStopsNode(t *testing.T) {
	c := started(t, "pebble", 3, "-test-hooks")
	x := ctx(t)
	leader, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	victim := c.Node(leader.ID%3 + 1)
	if code := post(t, "POST", "http://"+victim.APIAddr+"/v1/test/disk", api.DiskFaultRequest{Fail: true}, nil); code != 200 {
		t.Fatalf("disk hook: %d", code)
	}
	cl := c.Client()
	defer cl.Close()
	for i := range 20 {
		if _, err := cl.Put(x, fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-victim.Exited():
	case <-time.After(60 * time.Second):
		t.Fatalf("node %d kept running with a failing disk", victim.ID)
	}
	if victim.ExitErr() == nil {
		t.Fatalf("node %d exited 0 after a disk failure", victim.ID)
	}
	readAll(t, c, 20, "linearizable")
}

// TestPartitionHook: the leader cut off by the message-dropping hook loses
// its leadership to the others; healed, it rejoins and catches up.
func TestPartitionHook(t *testing.T) {
	c := started(t, "memory", 3, "-test-hooks")
	x := ctx(t)
	leader, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	var others []uint64
	for _, n := range c.Nodes() {
		if n.ID != leader.ID {
			others = append(others, n.ID)
		}
	}
	cut := api.FaultsRequest{DropTo: others, DropFrom: others}
	if code := post(t, "POST", "http://"+leader.APIAddr+"/v1/test/faults", cut, nil); code != 200 {
		t.Fatalf("faults hook: %d", code)
	}
	err = c.WaitFor(x, "a new leader among the others", func(sts map[uint64]api.Status) bool {
		st := sts[others[0]]
		return st.Leader != nil && st.Leader.ID != leader.ID && sts[others[1]].Leader != nil && sts[others[1]].Leader.ID == st.Leader.ID
	})
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Client()
	defer cl.Close()
	var last uint64
	for i := range 10 {
		if last, err = cl.Put(x, fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if code := post(t, "POST", "http://"+leader.APIAddr+"/v1/test/faults", api.FaultsRequest{}, nil); code != 200 {
		t.Fatalf("heal: %d", code)
	}
	if err := c.CaughtUp(x, last); err != nil {
		t.Fatal(err)
	}
	readAll(t, c, 10, "linearizable")
}
