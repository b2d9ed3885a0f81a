// Command demo runs a tickraft cluster inside one process and tells what
// happens, in plain words: an election, replication, a partitioned leader,
// a new member, a snapshot and a linearizable read. It doubles as an
// example of how to embed tickraft (see node.go for the application side,
// cluster.go for the Ready loop and the simulated network) and as a test:
// it checks what it claims and exits non-zero when a check fails.
package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// defaultSeed drives the randomized election timeouts. The scenario picks
// its leaders and followers as they come, so any seed must pass.
const defaultSeed = 7

func main() {
	if err := run(os.Stdout, defaultSeed); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// The stage titles, also what main_test.go looks for in the narrative.
var stages = []string{
	"1. Three voters bootstrap and elect a leader",
	"2. The leader replicates writes",
	"3. The leader is cut off; the others elect a new one",
	"4. The old leader rejoins",
	"5. A fourth node joins as a learner, then becomes a voter",
	"6. A lagging node catches up from a snapshot",
	"7. A linearizable read on a follower",
}

// demo holds the cluster and the outcome of the checks.
type demo struct {
	*cluster
	seed     uint64
	checks   int
	failures []string
	// oldLeader is the leader cut off in stage 3.
	oldLeader uint64
}

// check records the outcome of one claim the demo makes. A failed check is
// printed at once and makes run return an error at the end.
func (d *demo) check(ok bool, format string, args ...any) {
	d.checks++
	if !ok {
		msg := fmt.Sprintf(format, args...)
		d.failures = append(d.failures, msg)
		d.say("CHECK FAILED: %s", msg)
	}
}

func (d *demo) stage(i int) {
	fmt.Fprintf(d.out, "\n== %s ==\n", stages[i-1])
}

// run plays the whole scenario, printing the narrative to out. It returns
// an error if the cluster misbehaves or any check fails.
func run(out io.Writer, seed uint64) error {
	d := &demo{cluster: newCluster(out), seed: seed}
	steps := []func() error{
		d.bootstrap, d.replicate, d.partition, d.rejoin, d.addLearner, d.snapshot, d.read,
	}
	for i, step := range steps {
		d.stage(i + 1)
		if err := step(); err != nil {
			return fmt.Errorf("stage %d: %w", i+1, err)
		}
	}
	d.summary()
	if len(d.failures) > 0 {
		return fmt.Errorf("%d of %d checks failed: %s", len(d.failures), d.checks, strings.Join(d.failures, "; "))
	}
	return nil
}

// Stage 1: every founding member bootstraps with the same peer list. No one
// leads at first; the first node whose randomized election timeout fires
// campaigns.
func (d *demo) bootstrap() error {
	peers := []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for _, p := range peers {
		n, err := newKVNode(p.ID, d.seed)
		if err != nil {
			return err
		}
		if err := n.rn.Bootstrap(peers); err != nil {
			return err
		}
		d.nodes[p.ID] = n
	}
	d.say("nodes 1, 2 and 3 bootstrap as voters of term 1, with no leader")
	if err := d.settle(); err != nil {
		return err
	}
	err := d.runUntil(50, "a first election", func() bool {
		l := d.leader()
		return l != nil && d.allFollow(l.id, d.live()...)
	})
	if err != nil {
		return err
	}
	l := d.leader()
	d.say("nodes %s follow node %d", d.others(l.id), l.id)
	return nil
}

// Stage 2: a client writes to the leader. A write is done when it is
// applied: every node then holds it.
func (d *demo) replicate() error {
	l := d.leader()
	if err := d.write(l, "a=1", "b=2", "c=3"); err != nil {
		return err
	}
	for _, id := range d.ids() {
		n := d.nodes[id]
		d.say("node %d applied through index %d: kv %s", id, n.applied, describeKV(n.kv))
	}
	d.check(d.kvsAgree(d.ids()...) && l.kv["c"] == "3", "all nodes hold a, b and c")
	return nil
}

// Stage 3: the leader is cut off. It keeps believing it leads (CheckQuorum
// is off) and even accepts a write it can never commit, while the two
// others elect a leader of a higher term and carry on.
func (d *demo) partition() error {
	old := d.leader()
	oldTerm := old.rn.BasicStatus().Term
	d.isolated[old.id] = true
	d.say("network: node %d is cut off; its messages are dropped both ways", old.id)

	if err := old.rn.Propose(put("orphan", "lost")); err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	last, _ := old.storage.LastIndex()
	d.say("client -> node %d: put orphan=lost; node %d appends it at index %d but cannot commit it",
		old.id, old.id, last)

	err := d.runUntil(50, "a new election", func() bool {
		l := d.leader()
		return l != nil && l.rn.BasicStatus().Term > oldTerm && d.allFollow(l.id, d.live()...)
	})
	if err != nil {
		return err
	}
	l := d.leader()
	if err := d.write(l, "d=4", "e=5"); err != nil {
		return err
	}
	st := old.rn.BasicStatus()
	d.say("node %d still believes it leads term %d, with commit index %d", old.id, st.Term, st.Commit)
	d.check(l.id != old.id && l.rn.BasicStatus().Term > oldTerm, "a new leader in a higher term")
	d.check(st.RaftState == raft.StateLeader && old.kv["d"] == "", "the isolated leader neither stepped down nor saw d")
	d.oldLeader = old.id
	return nil
}

// Stage 4: the network heals. The old leader hears of the higher term,
// steps down, loses its uncommitted write and catches up.
func (d *demo) rejoin() error {
	old := d.nodes[d.oldLeader]
	delete(d.isolated, old.id)
	d.say("network: node %d is reachable again", old.id)
	err := d.runUntil(50, "the old leader catching up", func() bool {
		return d.caughtUp(d.live()...) && d.allFollow(d.leader().id, old.id)
	})
	if err != nil {
		return err
	}
	l := d.leader()
	st := old.rn.BasicStatus()
	d.say("node %d follows node %d in term %d and applied through index %d: kv %s",
		old.id, l.id, st.Term, old.applied, describeKV(old.kv))
	d.check(st.RaftState == raft.StateFollower && st.Term == l.rn.BasicStatus().Term,
		"the old leader is a follower in the new term")
	d.check(slices.ContainsFunc(d.replaced[old.id], func(e *pb.Entry) bool { return string(e.Data) == "put orphan=lost" }),
		"the old leader's uncommitted entry was replaced")
	d.check(d.kvsAgree(d.ids()...) && !d.anyHas("orphan"), "all nodes agree and none has orphan")
	return nil
}

// Stage 5: a new node starts with empty storage and no Bootstrap. It is
// added as a learner, which receives the log without voting, so it cannot
// slow down commits while it catches up; then it is promoted to voter.
func (d *demo) addLearner() error {
	const id = 4
	n, err := newKVNode(id, d.seed)
	if err != nil {
		return err
	}
	d.nodes[id] = n
	l := d.leader()
	d.say("node %d starts empty; leader %d proposes to add it as a learner", id, l.id)
	if err := d.changeConf(l, pb.ConfChangeAddLearnerNode, id); err != nil {
		return err
	}
	if err := d.runUntil(50, "the learner catching up", func() bool { return d.caughtUp(id) }); err != nil {
		return err
	}
	d.say("learner %d caught up: applied through index %d, kv %s", id, n.applied, describeKV(n.kv))
	d.check(slices.Contains(n.conf.Learners, id), "node %d is a learner in its own configuration", id)

	d.say("leader %d proposes to promote node %d to voter", l.id, id)
	if err := d.changeConf(l, pb.ConfChangeAddNode, id); err != nil {
		return err
	}
	for _, nid := range d.ids() {
		d.check(slices.Contains(d.nodes[nid].conf.Voters, id), "node %d counts node %d as a voter", nid, id)
	}
	return nil
}

// Stage 6: a follower goes offline while writes continue; the leader then
// compacts its log, so the entries the follower misses exist only in the
// leader's snapshot.
func (d *demo) snapshot() error {
	l := d.leader()
	lag := d.firstFollower(l.id)
	d.offline[lag.id] = true
	d.say("node %d goes offline at applied index %d", lag.id, lag.applied)
	if err := d.write(l, "f=6", "g=7", "h=8"); err != nil {
		return err
	}

	// The application takes the snapshot: its own state at its applied
	// index, with the configuration in force there. Then the log up to
	// that index can go.
	data, err := l.snapshotData()
	if err != nil {
		return err
	}
	if _, err := l.storage.CreateSnapshot(l.applied, l.conf, data); err != nil {
		return err
	}
	if err := l.storage.Compact(l.applied); err != nil {
		return err
	}
	first, _ := l.storage.FirstIndex()
	d.say("leader %d snapshots its kv at index %d and compacts its log: it now starts at index %d",
		l.id, l.applied, first)

	// Let some time pass: the leader's heartbeats to the node are lost.
	for range 5 {
		if err := d.tick(); err != nil {
			return err
		}
	}
	delete(d.offline, lag.id)
	d.say("node %d comes back online, still at applied index %d", lag.id, lag.applied)
	if err := d.runUntil(50, "the lagging node catching up", func() bool { return d.caughtUp(lag.id) }); err != nil {
		return err
	}
	d.say("node %d caught up: applied through index %d, kv %s", lag.id, lag.applied, describeKV(lag.kv))
	d.check(d.snapshotsIn[lag.id] >= first-1, "node %d installed the snapshot at index %d", lag.id, first-1)
	d.check(d.snapReported > 0, "the snapshot's delivery was reported with ReportSnapshot")
	d.check(d.kvsAgree(d.ids()...), "all nodes agree after the snapshot")
	return nil
}

// Stage 7: a linearizable read served by a follower. The follower asks the
// leader for its commit index (ReadIndex); the leader confirms with a
// heartbeat round that it still leads, and answers. Once the follower has
// applied up to that index, its own state answers the read.
func (d *demo) read() error {
	l := d.leader()
	if err := d.write(l, "answer=42"); err != nil {
		return err
	}
	written := l.applied // the write is acknowledged: it is applied on the leader
	f := d.nodes[d.ids()[len(d.ids())-1]]
	if f.id == l.id {
		f = d.firstFollower(l.id)
	}
	ctx := []byte("read-answer")
	if err := f.rn.ReadIndex(ctx); err != nil {
		return err
	}
	d.say("client -> node %d: read answer (ReadIndex, request %q)", f.id, ctx)
	if err := d.settle(); err != nil {
		return err
	}

	var rs raft.ReadState
	err := d.runUntil(10, "the ReadState", func() bool {
		i := slices.IndexFunc(f.readStates, func(r raft.ReadState) bool { return bytes.Equal(r.RequestCtx, ctx) })
		if i >= 0 {
			rs = f.readStates[i]
		}
		return i >= 0
	})
	if err != nil {
		return err
	}
	d.say("node %d got its ReadState: read index %d (it has applied through %d)", f.id, rs.Index, f.applied)
	d.check(rs.Index >= written, "the read index %d covers the acknowledged write at %d", rs.Index, written)
	// Here the follower has usually applied that far already: the leader's
	// heartbeats that confirm the read also carry the commit index. An
	// application that applies entries asynchronously has to wait.
	if err := d.runUntil(10, "applying up to the read index", func() bool { return f.applied >= rs.Index }); err != nil {
		return err
	}
	value := f.kv["answer"]
	d.say("node %d has applied through %d >= %d and answers: answer=%s", f.id, f.applied, rs.Index, value)
	d.check(value == "42", "the read returned the latest value 42, got %q", value)
	return nil
}

// summary prints the final state of every node and checks that they agree.
func (d *demo) summary() {
	fmt.Fprintf(d.out, "\n== Summary ==\n")
	l := d.leader()
	if l == nil {
		d.check(false, "a leader at the end")
		return
	}
	fmt.Fprintf(d.out, "leader: node %d, term %d, configuration %s\n",
		l.id, l.rn.BasicStatus().Term, describeConf(l.conf))
	for _, id := range d.ids() {
		n := d.nodes[id]
		fmt.Fprintf(d.out, "node %d: term %d, applied %d, %d keys, kv digest %s\n",
			id, n.rn.BasicStatus().Term, n.applied, len(n.kv), digest(n.kv))
	}
	d.check(d.kvsAgree(d.ids()...), "all nodes end with the same kv")
	d.check(d.caughtUp(d.ids()...), "all nodes end at the same applied index")
	d.check(len(d.stepErrors) == 0, "no node refused a message: %v", d.stepErrors)
	if len(d.failures) == 0 {
		fmt.Fprintf(d.out, "all %d checks passed\n", d.checks)
	} else {
		fmt.Fprintf(d.out, "%d of %d checks FAILED\n", len(d.failures), d.checks)
	}
}

// write proposes puts to the leader and waits until every live node has
// applied them, which is when a client would see them acknowledged.
func (d *demo) write(l *kvNode, kvs ...string) error {
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		if err := l.rn.Propose(put(k, v)); err != nil {
			return err
		}
	}
	d.say("client -> leader %d: put %s", l.id, strings.Join(kvs, ", put "))
	if err := d.settle(); err != nil {
		return err
	}
	live := d.live()
	if err := d.runUntil(20, "applying the writes", func() bool { return d.caughtUp(live...) }); err != nil {
		return err
	}
	d.say("committed and applied on nodes %s, through index %d", list(live), l.applied)
	return nil
}

// changeConf proposes a one-node configuration change as a ConfChangeV2
// and waits until every node has applied it.
func (d *demo) changeConf(l *kvNode, typ pb.ConfChangeType, id uint64) error {
	cc := &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: typ, NodeId: id}}}
	if err := l.rn.ProposeConfChange(cc); err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	return d.runUntil(20, "applying the configuration change", func() bool { return d.caughtUp(d.ids()...) })
}

// allFollow reports whether the given nodes know id as their leader.
func (d *demo) allFollow(id uint64, ids ...uint64) bool {
	for _, nid := range ids {
		if d.nodes[nid].rn.BasicStatus().Lead != id {
			return false
		}
	}
	return true
}

// kvsAgree reports whether the given nodes hold the same key-value pairs.
func (d *demo) kvsAgree(ids ...uint64) bool {
	for _, id := range ids {
		if !maps.Equal(d.nodes[id].kv, d.nodes[ids[0]].kv) {
			return false
		}
	}
	return true
}

// anyHas reports whether some node holds key.
func (d *demo) anyHas(key string) bool {
	for _, n := range d.nodes {
		if _, ok := n.kv[key]; ok {
			return true
		}
	}
	return false
}

// firstFollower returns the lowest-numbered node other than the leader.
func (d *demo) firstFollower(leader uint64) *kvNode {
	for _, id := range d.ids() {
		if id != leader {
			return d.nodes[id]
		}
	}
	panic("no follower")
}

// others lists the live nodes other than id.
func (d *demo) others(id uint64) string {
	return list(slices.DeleteFunc(d.live(), func(x uint64) bool { return x == id }))
}

// list prints IDs as "1, 2 and 3".
func list(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
