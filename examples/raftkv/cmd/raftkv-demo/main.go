// Command raftkv-demo tells raftkv's story with three real server
// processes on loopback: it builds the server, starts three nodes with
// data dirs under a temporary directory, initializes the cluster, adds
// learners and makes them voters, writes and reads on every node, kills the
// leader with SIGKILL, keeps writing through the new leader, restarts the
// killed node and watches it catch up by snapshot, then stops everything
// and cleans up. Every step is checked; the exit status is 1 if one fails.
//
//	go run ./cmd/raftkv-demo [-sm memory] [-keep]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/client"
	"github.com/tickraft/raft/examples/raftkv/internal/cluster"
)

var failures int

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }
func say(format string, args ...any)  { fmt.Printf("    "+format+"\n", args...) }

func check(ok bool, format string, args ...any) {
	if ok {
		fmt.Printf("    ok: "+format+"\n", args...)
		return
	}
	failures++
	fmt.Printf("    FAILED: "+format+"\n", args...)
}

func must(err error, what string) {
	if err != nil {
		fmt.Printf("    FAILED: %s: %v\n", what, err)
		panic(abort{})
	}
}

type abort struct{}

func main() {
	sm := flag.String("sm", "pebble", "state machine: pebble or memory")
	keep := flag.Bool("keep", false, "keep the data dirs and logs")
	flag.Parse()
	start := time.Now()
	dir, err := os.MkdirTemp("", "raftkv-demo-")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	var c *cluster.Cluster
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(abort); !ok {
					panic(r)
				}
				failures++
			}
		}()
		c = demo(dir, *sm)
	}()
	if c != nil {
		c.KillAll() // nothing left running, whatever happened
	}
	if *keep || failures > 0 {
		fmt.Printf("\ndata dirs and logs kept in %s\n", dir)
	} else {
		os.RemoveAll(dir)
	}
	if failures > 0 {
		fmt.Printf("\nDEMO FAILED: %d check(s) failed (%.1fs)\n", failures, time.Since(start).Seconds())
		os.Exit(1)
	}
	fmt.Printf("\ndemo passed: every check held (%.1fs)\n", time.Since(start).Seconds())
}

func demo(dir, sm string) *cluster.Cluster {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	step("building the raftkv server")
	bins, err := cluster.Build(dir, "raftkv")
	must(err, "go build")
	say("built %s", bins["raftkv"])

	// Small snapshot intervals so the restarted node catches up by
	// snapshot; a fast tick so failover takes a fraction of a second.
	c := cluster.New(bins["raftkv"], dir, sm, "-snapshot-entries", "100", "-compaction-tail", "20", "-tick", "50ms", "-log-level", "info")
	step("starting three %s nodes on loopback (data under %s)", sm, dir)
	for id := uint64(1); id <= 3; id++ {
		n, err := c.Add(id)
		must(err, "ports")
		must(n.Start(ctx), "start")
		say("node %d: raft %s, API http://%s/ (pid running, log %s)", id, n.RaftAddr, n.APIAddr, n.LogPath)
	}
	cl := c.Client()
	defer cl.Close()
	n1, n2, n3 := c.Node(1), c.Node(2), c.Node(3)

	step("initializing a one-node cluster on node 1 (POST /v1/admin/init)")
	st, err := cl.Init(ctx, n1.APIAddr)
	must(err, "init")
	check(st.Role == "leader", "node 1 leads its one-node cluster (term %d)", st.Term)

	step("adding nodes 2 and 3 as learners, waiting until they caught up")
	for _, n := range []*cluster.Node{n2, n3} {
		_, err := cl.AddLearner(ctx, n.ID, n.RaftAddr, n.APIAddr, true)
		must(err, "add-learner")
		say("node %d added as a learner", n.ID)
	}
	st, err = cl.Status(ctx, n1.APIAddr)
	must(err, "status")
	check(countRole(st, "learner") == 2, "the leader lists 2 learners")

	step("changing the membership to voters {1, 2, 3}")
	st, err = cl.ChangeMembership(ctx, 1, 2, 3)
	must(err, "change-membership")
	check(countRole(st, "voter") == 3, "3 voters: %s", members(st))

	step("writing 10 keys through the client")
	var last uint64
	for i := range 10 {
		v, err := cl.Put(ctx, fmt.Sprintf("greeting/%02d", i), fmt.Sprintf("hello #%d", i))
		must(err, "put")
		last = v
	}
	say("last write got version (log index) %d", last)
	v, err := cl.CAS(ctx, "greeting/00", "hello again", 0)
	check(client.Code(err) == api.CodeVersionMismatch, "a CAS on a stale version is refused: %v", err)
	_ = v

	step("writing through each node's API (a follower answers not_leader naming the leader; the client follows)")
	for _, n := range c.Nodes() {
		nc := client.New([]string{n.APIAddr}, client.Options{})
		v, err := nc.Put(ctx, fmt.Sprintf("via/node%d", n.ID), fmt.Sprintf("sent to node %d", n.ID))
		nc.Close()
		check(err == nil, "write sent to node %d applied at version %d", n.ID, v)
	}

	step("reading every key on every node (linearizable reads, leader or not)")
	for _, n := range c.Nodes() {
		nc := client.New([]string{n.APIAddr}, client.Options{})
		ok := true
		for i := range 10 {
			r, err := nc.Get(ctx, fmt.Sprintf("greeting/%02d", i), "linearizable")
			ok = ok && err == nil && r.Value == fmt.Sprintf("hello #%d", i)
		}
		for _, m := range c.Nodes() {
			r, err := nc.Get(ctx, fmt.Sprintf("via/node%d", m.ID), "linearizable")
			ok = ok && err == nil && r.Value == fmt.Sprintf("sent to node %d", m.ID)
		}
		nc.Close()
		check(ok, "node %d reads all 13 values", n.ID)
	}

	leader, err := c.Leader(ctx)
	must(err, "leader")
	step("the leader is node %d; killing it with SIGKILL", leader.ID)
	must(leader.Kill(), "kill")
	killedAt := time.Now()
	newLeader, err := c.Leader(ctx, leader.ID)
	must(err, "new leader")
	check(newLeader.ID != leader.ID, "node %d took over %.0fms after the kill", newLeader.ID, float64(time.Since(killedAt).Milliseconds()))

	step("writing 300 more keys while node %d is down (enough for snapshots and log compaction)", leader.ID)
	for i := range 300 {
		v, err := cl.Put(ctx, fmt.Sprintf("during-outage/%03d", i), fmt.Sprint(i))
		must(err, "put during outage")
		last = v
	}
	st, err = cl.Status(ctx, newLeader.APIAddr)
	must(err, "status")
	check(st.Snapshot > 0, "the leader took snapshots (latest at index %d) and compacted its log", st.Snapshot)

	step("restarting node %d from its data dir", leader.ID)
	must(leader.Start(ctx), "restart")
	must(c.CaughtUp(ctx, last), "catch up")
	st, err = leader.Status(ctx)
	must(err, "status")
	check(st.Applied >= last, "node %d applied index %d (last write %d)", leader.ID, st.Applied, last)
	check(st.Snapshots.Installed > 0, "node %d caught up by snapshot (%d installed)", leader.ID, st.Snapshots.Installed)
	rc := client.New([]string{leader.APIAddr}, client.Options{})
	r, err := rc.Get(ctx, "during-outage/299", "stale")
	check(err == nil && r.Value == "299", "node %d serves a key written while it was down (stale read: %q)", leader.ID, r.Value)
	r, err = rc.Get(ctx, "greeting/09", "linearizable")
	check(err == nil && r.Value == "hello #9", "and one written before (linearizable read: %q)", r.Value)
	rc.Close()

	step("cluster status as the leader sees it")
	st, err = cl.Status(ctx, "")
	must(err, "status")
	for _, m := range st.Members {
		say("node %d  %-7s raft %s  api %s  match %d  lag %d", m.ID, m.Role, m.RaftAddr, m.APIAddr, m.Match, m.Lag)
	}

	step("stopping every node with SIGTERM")
	err = c.StopAll(10 * time.Second)
	check(err == nil, "every node drained and exited 0 (%v)", err)
	return c
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

func members(st api.Status) string {
	s := ""
	for _, m := range st.Members {
		s += fmt.Sprintf("%d:%s ", m.ID, m.Role)
	}
	return s
}
