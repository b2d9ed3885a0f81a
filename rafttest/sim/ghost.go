package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// The ghost commit: what is committed, as the checkers see it. It is
// derived from acknowledgements checked against the nodes' disks, never
// from what a node says its commit index is, so that a node that commits
// too early is caught at the moment it claims the entry (checkClaim,
// noteCommitIndex), whatever it does afterwards.
//
// A node acknowledges the entries of its log up to index i in term t when
// it sends a non-rejecting MsgAppResp of term t for i (to the leader, or in
// asynchronous mode to itself as the leader), and the leader of term t its
// own entries when they reach its disk. An acknowledgement counts only for
// what the node's disk holds when it is sent: a node that acknowledges more
// is reported. Once a quorum of the configuration of the leader of term t
// has acknowledged in t an index whose entry is of term t, that entry and
// every entry before it are committed (Raft §5.4.2: a leader commits only
// entries of its own term by counting, and the others with them). Every
// leader of a later term then has them: each of its voters that
// acknowledged did so before voting in the later term, holding the entry,
// so the winner's log was at least as up to date.
//
// The acknowledgements of a term are counted only while the incarnation
// that led it runs: that is when anyone can learn of a commit in that term.

// leaderRec is the node that led a term, and the incarnation that did.
type leaderRec struct {
	id  uint64
	inc int
	// how is how the leadership was first seen.
	how string
}

// ghostState is the checkers' record of durable acknowledgements.
type ghostState struct {
	// acks[t][id] is the highest index of an entry of term t that node id
	// stored durably while the term on its disk was t. Within term t a
	// node's log only grows along the leader's, so it never goes back.
	acks map[uint64]map[uint64]uint64
	// commit is the ghost commit index: every entry up to it is committed
	// and recorded in checkState.committed.
	commit uint64
}

// noteAck records node n's acknowledgement of its log up to index i in
// term t (see above). An acknowledgement of what its disk does not hold
// counts for nothing: a follower that accepted entries in term t, then
// replaced them in memory with a later leader's before writing, answers
// the first append after that write. (Harmless: that later leader's
// voters include none of the nodes that really hold the entries, so no
// quorum of term t can.)
func (s *Sim) noteAck(n *node, t, i uint64) {
	last, _ := n.storage.LastIndex()
	held := i <= last
	if held {
		tt, err := n.storage.Term(i)
		held = err != nil || tt <= t // compacted: committed already
	}
	if !held {
		s.logf("node %d acknowledges index %d in term %d, which its disk (up to %d) does not hold: not counted", n.id, i, t, last)
		return
	}
	g := &s.chk.ghost
	acks := g.acks[t]
	if acks == nil {
		acks = map[uint64]uint64{}
		g.acks[t] = acks
	}
	if i <= acks[n.id] {
		return
	}
	acks[n.id] = i
	s.advanceGhost(t)
}

// noteDurable runs after every write to node n's disk: if n leads its
// term, it acknowledges what its disk now holds.
func (s *Sim) noteDurable(n *node) {
	if !n.up() {
		return
	}
	st := n.rn.BasicStatus()
	if rec, ok := s.chk.leaders[st.Term]; !ok || rec.id != n.id || rec.inc != n.incarnation || st.RaftState != raft.StateLeader {
		return
	}
	last, _ := n.storage.LastIndex()
	s.noteAck(n, st.Term, last)
}

// noteSentAck records the acknowledgement a message carries, if any.
func (s *Sim) noteSentAck(n *node, m *pb.Message) {
	if m.Type == pb.MsgAppResp && !m.Reject {
		s.noteAck(n, m.Term, m.Index)
	}
}

// advanceGhost raises the ghost commit index to what a quorum of the
// configuration of the leader of term t has acknowledged in t, if that
// leader still runs.
func (s *Sim) advanceGhost(t uint64) {
	rec, ok := s.chk.leaders[t]
	if !ok {
		return
	}
	l := s.nodes[rec.id]
	if !l.up() || l.incarnation != rec.inc {
		return
	}
	acks := s.chk.ghost.acks[t]
	cs := l.app.conf
	idx := min(quorumIndex(cs.Voters, acks), quorumIndex(cs.VotersOutgoing, acks))
	if idx == math.MaxUint64 || idx <= s.chk.ghost.commit {
		return
	}
	// The holders, the leader first: it created the entries of term t.
	holders := []uint64{l.id}
	for _, id := range s.ids {
		if id != l.id && acks[id] >= idx {
			holders = append(holders, id)
		}
	}
	// The entry at idx must be of term t; below the leader's first entry
	// of its term, nothing of term t is acknowledged yet.
	for _, id := range holders {
		if tt, err := s.nodes[id].storage.Term(idx); err == nil {
			if tt != t {
				return
			}
			break
		}
	}
	s.commitGhost(idx, t, holders)
}

// refreshGhost recounts the acknowledgements of every term whose leader
// still runs: its configuration may have changed since they were counted.
func (s *Sim) refreshGhost() {
	for t := range s.chk.ghost.acks {
		s.advanceGhost(t)
	}
}

// describeGhost explains the ghost commit of term to a failure report: the
// acknowledgements counted, the configuration they were counted in, and
// the configuration node n says it has.
func (s *Sim) describeGhost(n *node, term uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "acknowledgements in term %d: %v", term, s.chk.ghost.acks[term])
	if rec, ok := s.chk.leaders[term]; ok {
		l := s.nodes[rec.id]
		fmt.Fprintf(&b, "; leader %d (incarnation %d, now %d) applied %s", rec.id, rec.inc, l.incarnation, pb.DescribeConfState(l.app.conf))
	}
	if n.up() {
		fmt.Fprintf(&b, "; node %d's own configuration: %s", n.id, n.rn.Status().Config)
	}
	return b.String()
}

// quorumIndex returns the highest index that a majority of voters
// acknowledged, or MaxUint64 for no voters (the empty half of a
// configuration that is not joint agrees to anything).
func quorumIndex(voters []uint64, acks map[uint64]uint64) uint64 {
	if len(voters) == 0 {
		return math.MaxUint64
	}
	idx := make([]uint64, len(voters))
	for k, v := range voters {
		idx[k] = acks[v]
	}
	slices.Sort(idx)
	// The majority holds at least the value at position n - (n/2+1).
	return idx[len(idx)-(len(idx)/2+1)]
}

// commitGhost records the entries up to idx as committed in term t, as the
// holders (nodes that acknowledged idx) store them.
func (s *Sim) commitGhost(idx, t uint64, holders []uint64) {
	g := &s.chk.ghost
	for i := g.commit + 1; i <= idx && s.failure == nil; i++ {
		var e *pb.Entry
		var from uint64
		for _, id := range holders {
			ents, err := s.nodes[id].storage.Entries(i, i+1, math.MaxUint64)
			if err == nil && len(ents) == 1 {
				e, from = ents[0], id
				break
			}
		}
		if e == nil {
			s.failf(CheckNode, "simulator bug: no node of %v that acknowledged index %d in term %d still holds entry %d",
				holders, idx, t, i)
			return
		}
		s.recordCommitted(i, appEntry{term: e.Term, fp: fingerprint(e)}, from, t)
	}
	g.commit = max(g.commit, idx)
}
