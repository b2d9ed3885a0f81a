package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// cluster runs several nodes in one goroutine over a simulated network and
// clock. Nothing here is concurrent or random, so every run is the same:
// time advances only in tick, and a message is delivered only in deliver.
type cluster struct {
	out   io.Writer
	now   int // the simulated clock, in ticks
	nodes map[uint64]*kvNode

	// inflight holds the messages sent and not yet delivered.
	inflight []*pb.Message
	// isolated nodes run but cannot talk: every message from or to them is
	// dropped. offline nodes do not run at all: no ticks, no Ready, and
	// messages to them are dropped.
	isolated map[uint64]bool
	offline  map[uint64]bool

	// Facts gathered for the narrative and the checks.
	leaderSeen   map[uint64]bool        // node ID -> was leader last time we looked
	snapshotsIn  map[uint64]uint64      // node ID -> index of the last snapshot it installed
	snapReported int                    // ReportSnapshot(SnapshotFinish) calls made
	replaced     map[uint64][]*pb.Entry // node ID -> stored entries the leader overwrote
	stepErrors   []string
}

func newCluster(out io.Writer) *cluster {
	return &cluster{
		out:         out,
		nodes:       map[uint64]*kvNode{},
		isolated:    map[uint64]bool{},
		offline:     map[uint64]bool{},
		leaderSeen:  map[uint64]bool{},
		snapshotsIn: map[uint64]uint64{},
		replaced:    map[uint64][]*pb.Entry{},
	}
}

// say prints one line of the narrative, stamped with the clock.
func (c *cluster) say(format string, args ...any) {
	fmt.Fprintf(c.out, "[tick %2d] %s\n", c.now, fmt.Sprintf(format, args...))
}

// ids returns the node IDs in order: iterating a map directly would make
// the run depend on Go's randomized map order.
func (c *cluster) ids() []uint64 { return slices.Sorted(maps.Keys(c.nodes)) }

// running reports whether a node is up (possibly isolated).
func (c *cluster) running(id uint64) bool { return !c.offline[id] }

// tick advances the clock by one tick on every running node, then lets the
// cluster do all the work that follows.
func (c *cluster) tick() error {
	c.now++
	for _, id := range c.ids() {
		if c.running(id) {
			c.nodes[id].rn.Tick()
		}
	}
	return c.settle()
}

// settle handles Readies and delivers messages until nothing is left to do:
// the network in this simulation is much faster than a tick.
func (c *cluster) settle() error {
	for round := 0; round < 10000; round++ {
		busy := false
		for _, id := range c.ids() {
			n := c.nodes[id]
			for c.running(id) && n.rn.HasReady() {
				busy = true
				if err := c.handleReady(n); err != nil {
					return err
				}
			}
		}
		if len(c.inflight) > 0 {
			busy = true
			c.deliver()
		}
		if !busy {
			return nil
		}
	}
	return errors.New("the cluster never went quiet: a livelock")
}

// handleReady is the application loop of one node, in the order the Ready
// contract requires: persist, send, apply, Advance.
func (c *cluster) handleReady(n *kvNode) error {
	rd := n.rn.Ready()
	if rd.SoftState != nil {
		c.noteRole(n, rd.SoftState)
	}

	// 1. Persist the hard state, the entries and the snapshot.
	replaced, err := n.persist(&rd)
	if err != nil {
		return err
	}
	if len(replaced) > 0 {
		c.replaced[n.id] = append(c.replaced[n.id], replaced...)
		c.say("node %d drops its uncommitted tail, %s, for the leader's entries",
			n.id, describeEntries(replaced))
	}

	// 2. Send the messages. Only now may a follower's votes and
	// acknowledgements leave: they promise that step 1 is durable.
	for _, m := range rd.Messages {
		if m.Type == pb.MsgSnap {
			md := m.Snapshot.Metadata
			c.say("node %d sends node %d a snapshot (index %d, term %d): the entries it needs are compacted",
				m.From, m.To, md.Index, md.Term)
		}
		c.inflight = append(c.inflight, m)
	}

	// 3. Apply the snapshot, then the committed entries.
	if rd.Snapshot != nil && !pb.IsEmptySnap(rd.Snapshot) {
		if err := n.restore(rd.Snapshot); err != nil {
			return err
		}
		c.snapshotsIn[n.id] = n.applied
		c.say("node %d installs the snapshot: applied index jumps to %d, kv %s",
			n.id, n.applied, describeKV(n.kv))
	}
	for _, e := range rd.CommittedEntries {
		cc, err := n.applyEntry(e)
		if err != nil {
			return err
		}
		if cc != nil && n.rn.BasicStatus().RaftState == raft.StateLeader {
			c.say("leader %d applied the change at index %d (%s): %s",
				n.id, e.Index, describeChange(cc), describeConf(n.conf))
		}
	}
	n.readStates = append(n.readStates, rd.ReadStates...)

	// 4. Tell the node this Ready is done.
	return n.rn.Advance(rd)
}

// noteRole narrates the role changes worth a line: a node winning an
// election, and a leader giving up its role.
func (c *cluster) noteRole(n *kvNode, ss *raft.SoftState) {
	term := n.rn.BasicStatus().Term
	isLeader := ss.RaftState == raft.StateLeader
	switch {
	case isLeader && !c.leaderSeen[n.id]:
		c.say("node %d became leader of term %d", n.id, term)
	case !isLeader && c.leaderSeen[n.id]:
		c.say("node %d learned of term %d and stepped down to %s", n.id, term, role(ss.RaftState))
	}
	c.leaderSeen[n.id] = isLeader
}

// deliver hands every in-flight message to its recipient, or drops it if
// the network or the recipient is down. Like a real transport, it tells the
// sender when a message could not be delivered, and reports the outcome of
// every snapshot it carried with ReportSnapshot.
func (c *cluster) deliver() {
	msgs := c.inflight
	c.inflight = nil
	for _, m := range msgs {
		from, to := c.nodes[m.From], c.nodes[m.To]
		if to == nil || c.isolated[m.From] || c.isolated[m.To] || c.offline[m.To] {
			if m.Type == pb.MsgSnap {
				c.reportSnapshot(from, m.To, raft.SnapshotFailure)
			}
			// A hint only: a leader stops pipelining appends to the peer
			// and probes it instead. Other roles ignore it, and an error
			// just means the sender does not know the peer yet.
			_ = from.rn.ReportUnreachable(m.To)
			continue
		}
		// A real transport would serialize m; here the recipient gets the
		// same pointer, which is fine because nobody modifies a message
		// once it is handed over.
		if err := to.rn.Step(m); err != nil {
			c.stepErrors = append(c.stepErrors, fmt.Sprintf("node %d refused %s: %v",
				m.To, pb.DescribeMessage(m, nil), err))
			c.say("UNEXPECTED: node %d refused %s: %v", m.To, pb.DescribeMessage(m, nil), err)
		}
		if m.Type == pb.MsgSnap {
			c.reportSnapshot(from, m.To, raft.SnapshotFinish)
		}
	}
}

func (c *cluster) reportSnapshot(leader *kvNode, to uint64, status raft.SnapshotStatus) {
	if err := leader.rn.ReportSnapshot(to, status); err != nil {
		c.stepErrors = append(c.stepErrors, fmt.Sprintf("ReportSnapshot on node %d: %v", leader.id, err))
	}
	outcome := "delivered"
	if status == raft.SnapshotFailure {
		outcome = "lost"
	} else {
		c.snapReported++
	}
	c.say("transport: the snapshot for node %d was %s; node %d is told so with ReportSnapshot",
		to, outcome, leader.id)
}

// runUntil ticks until cond holds, or fails after limit ticks.
func (c *cluster) runUntil(limit int, what string, cond func() bool) error {
	for range limit {
		if cond() {
			return nil
		}
		if err := c.tick(); err != nil {
			return err
		}
	}
	if cond() {
		return nil
	}
	return fmt.Errorf("tick %d: %s did not happen within %d ticks", c.now, what, limit)
}

// leader returns the running, connected node that is leader in the highest
// term, or nil. Several nodes may believe they lead, in different terms: an
// isolated old leader does until it hears of the newer term.
func (c *cluster) leader() *kvNode {
	var best *kvNode
	for _, id := range c.ids() {
		n := c.nodes[id]
		st := n.rn.BasicStatus()
		if !c.running(id) || c.isolated[id] || st.RaftState != raft.StateLeader {
			continue
		}
		if best == nil || st.Term > best.rn.BasicStatus().Term {
			best = n
		}
	}
	return best
}

// caughtUp reports whether every running node has applied everything the
// leader has in its log.
func (c *cluster) caughtUp(ids ...uint64) bool {
	l := c.leader()
	if l == nil {
		return false
	}
	last, _ := l.storage.LastIndex()
	for _, id := range ids {
		if c.nodes[id].applied < last {
			return false
		}
	}
	return true
}

// live returns the IDs of the nodes that are running and connected.
func (c *cluster) live() []uint64 {
	var ids []uint64
	for _, id := range c.ids() {
		if c.running(id) && !c.isolated[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// describeEntries prints normal entries as "index 8 (term 2: put k=v)".
func describeEntries(ents []*pb.Entry) string {
	var parts []string
	for _, e := range ents {
		parts = append(parts, fmt.Sprintf("index %d (term %d: %s)", e.Index, e.Term, e.Data))
	}
	return strings.Join(parts, ", ")
}

// describeChange prints a configuration change as "add learner 4".
func describeChange(cc pb.ConfChangeI) string {
	var parts []string
	for _, c := range cc.AsV2().Changes {
		verb := map[pb.ConfChangeType]string{
			pb.ConfChangeAddNode:        "add voter",
			pb.ConfChangeAddLearnerNode: "add learner",
			pb.ConfChangeRemoveNode:     "remove",
			pb.ConfChangeUpdateNode:     "update",
		}[c.Type]
		parts = append(parts, fmt.Sprintf("%s %d", verb, c.NodeId))
	}
	return strings.Join(parts, ", ")
}

// role prints StateFollower as "follower".
func role(s raft.StateType) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "State"))
}

func describeConf(cs *pb.ConfState) string {
	return fmt.Sprintf("voters %v, learners %v", cs.GetVoters(), cs.GetLearners())
}
