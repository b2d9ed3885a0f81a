package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// checkState is what the checkers remember across a run.
type checkState struct {
	// leaders maps every term that had a leader to that leader.
	leaders map[uint64]uint64
	// checkedLeaders are the terms whose leader was checked in full for
	// leader completeness.
	checkedLeaders map[uint64]bool
	// entries maps every entry ever written to a node's storage, by
	// (index, term), to a hash of its contents and the term of the entry
	// before it in the log that holds it.
	entries map[entryKey]entryRec
	// committed[i] is the entry at index i as the first node that knew it
	// committed saw it: it applied it, restored a snapshot covering it, or
	// its commit index covered it.
	committed []commitRec
	// newlyCommitted are the indexes added to committed in this step.
	newlyCommitted []uint64
	// payloadAt maps a proposal's id to the index it was applied at.
	payloadAt map[uint64]uint64
	// maxApplied is the highest index applied anywhere; maxCommit the
	// highest commit index any node has reported.
	maxApplied, maxCommit uint64
	// conf is the latest configuration applied anywhere, at index
	// confIndex; members are every node ever in a configuration.
	conf      *pb.ConfState
	confIndex uint64
	members   map[uint64]bool
	// reads are the ReadIndex requests made, by id.
	reads map[uint64]*readReq
}

type entryKey struct{ index, term uint64 }

type entryRec struct {
	hash     uint64
	prevTerm uint64
	node     uint64 // the node that first stored it
}

type commitRec struct {
	known bool
	e     appEntry
	node  uint64 // the first node that applied it or held it as committed
	how   string // what that node did: "applied" or "held as committed"
	// termBound is the lowest term a node had when it applied the entry:
	// the entry was committed in that term or earlier, so every leader of
	// a later term must have it.
	termBound uint64
}

// readReq is a ReadIndex request as issued.
type readReq struct {
	node uint64
	step int
	// minIndex is the highest commit index any node knew when the read was
	// issued: the answer must not be lower.
	minIndex uint64
	// lastWrite is the highest index applied anywhere when the read was
	// issued: the last write a client saw completed. The state the read
	// returns must include it.
	lastWrite uint64
}

// pendingRead is an answered read waiting for its node to apply up to the
// read index.
type pendingRead struct {
	id    uint64
	index uint64
}

func (c *checkState) init() {
	c.leaders = map[uint64]uint64{}
	c.checkedLeaders = map[uint64]bool{}
	c.entries = map[entryKey]entryRec{}
	c.committed = make([]commitRec, 1)
	c.payloadAt = map[uint64]uint64{}
	c.conf = &pb.ConfState{}
	c.members = map[uint64]bool{}
	c.reads = map[uint64]*readReq{}
}

// checkStep runs the checks due after every step and the bookkeeping they
// need. full asks for the complete leader completeness check, which the
// main loop does every 100 steps.
func (s *Sim) checkStep(full bool) {
	if s.failure != nil {
		return
	}
	s.checkElectionSafety()
	s.checkCommitIndexes()
	s.checkNodeProgress()
	s.checkLeaderCompleteness(full)
	s.decommissionRemoved()
}

// checkElectionSafety checks that no term ever has two leaders (Raft
// Figure 3, Election Safety). Every running node's role is looked at after
// every step; a leader is remembered for its term for the whole run.
func (s *Sim) checkElectionSafety() {
	for _, n := range s.upNodes() {
		st := n.rn.BasicStatus()
		if st.Commit > s.chk.maxCommit {
			s.chk.maxCommit = st.Commit
		}
		if st.RaftState != raft.StateLeader {
			continue
		}
		l, ok := s.chk.leaders[st.Term]
		if !ok {
			s.chk.leaders[st.Term] = n.id
			s.stats.Leaders++
			s.stats.MaxTerm = max(s.stats.MaxTerm, st.Term)
			s.logf("node %d is leader of term %d", n.id, st.Term)
			continue
		}
		if l != n.id {
			s.failf(CheckElectionSafety, "nodes %d and %d are both leaders of term %d", l, n.id, st.Term)
			return
		}
	}
}

// checkLogMatching checks the Log Matching property (Raft §5.3) over the
// durable logs, as entries land in a node's storage: two entries with the
// same index and term anywhere hold the same data and follow an entry of
// the same term. By induction over the index, the logs up to two such
// entries are then identical.
func (s *Sim) checkLogMatching(n *node, ents []*pb.Entry) {
	first, _ := n.storage.FirstIndex()
	for k, e := range ents {
		if e.Index < first {
			continue // compacted already: not written
		}
		var prev uint64
		if k > 0 {
			prev = ents[k-1].Term
		} else {
			t, err := n.storage.Term(e.Index - 1)
			if err != nil {
				s.failf(CheckNode, "node %d: term of %d after appending: %v", n.id, e.Index-1, err)
				return
			}
			prev = t
		}
		key := entryKey{e.Index, e.Term}
		rec := entryRec{hash: entryHash(e), prevTerm: prev, node: n.id}
		old, ok := s.chk.entries[key]
		if !ok {
			s.chk.entries[key] = rec
			continue
		}
		if old.hash != rec.hash {
			s.failf(CheckLogMatching, "node %d stores %s, but node %d stored a different entry at index %d term %d",
				n.id, pb.DescribeEntry(e, formatPayload), old.node, e.Index, e.Term)
			return
		}
		if old.prevTerm != rec.prevTerm {
			s.failf(CheckLogMatching, "node %d stores %s after an entry of term %d, but node %d stored it after term %d",
				n.id, pb.DescribeEntry(e, formatPayload), prev, old.node, old.prevTerm)
			return
		}
	}
}

func entryHash(e *pb.Entry) uint64 {
	h := fnv.New64a()
	h.Write([]byte{byte(e.Type)})
	h.Write(e.Data)
	return h.Sum64()
}

// checkLeaderCompleteness checks Leader Completeness (Raft §5.4): an
// entry committed in some term is in the log of the leader of every later
// term. An entry is known committed once a node applies it or its commit
// index covers it; it was committed at the latest in the term that node
// was in then (see commitRec.termBound). The leader's
// log is its storage plus the writes the simulator holds for it, not yet
// done; entries it compacted are covered by its snapshot.
//
// A leader's log only grows while it leads, so a leader is checked in
// full the first time it is seen and then against each newly committed
// entry; everything is checked again every 100 steps (full).
func (s *Sim) checkLeaderCompleteness(full bool) {
	var leaders []*node
	var terms []uint64
	for _, n := range s.upNodes() {
		if st := n.rn.BasicStatus(); st.RaftState == raft.StateLeader {
			leaders = append(leaders, n)
			terms = append(terms, st.Term)
		}
	}
	for k, l := range leaders {
		if full || !s.chk.leaderChecked(l.id, terms[k]) {
			for i := uint64(1); i < uint64(len(s.chk.committed)); i++ {
				s.checkLeaderHas(l, terms[k], i)
			}
		} else {
			for _, i := range s.chk.newlyCommitted {
				s.checkLeaderHas(l, terms[k], i)
			}
		}
	}
	s.chk.newlyCommitted = s.chk.newlyCommitted[:0]
}

// leaderChecked reports whether the leader of term was already checked in
// full, and records that it is about to be.
func (c *checkState) leaderChecked(id, term uint64) bool {
	if c.checkedLeaders[term] {
		return true
	}
	c.checkedLeaders[term] = true
	return false
}

func (s *Sim) checkLeaderHas(l *node, term, i uint64) {
	c := s.chk.committed[i]
	if !c.known || term <= c.termBound {
		return
	}
	e, st := s.entryAt(l, i)
	switch st {
	case entryCompacted:
		return
	case entryAbsent:
		s.failf(CheckLeaderCompleteness, "leader %d of term %d lacks committed entry %d (%s, %s by node %d in term %d)",
			l.id, term, i, describeAppEntry(c.e), c.how, c.node, c.termBound)
	case entryPresent:
		if e.Term != c.e.term || fingerprint(e) != c.e.fp {
			s.failf(CheckLeaderCompleteness, "leader %d of term %d has %s at index %d, but node %d %s %s there in term %d",
				l.id, term, pb.DescribeEntry(e, formatPayload), i, c.node, c.how, describeAppEntry(c.e), c.termBound)
		}
	}
}

type entryState int

const (
	entryAbsent entryState = iota
	entryPresent
	entryCompacted
)

// entryAt returns n's entry at index i as it will be once the writes the
// simulator holds for it are done: its storage, overlaid with its queued
// appends, newest first.
func (s *Sim) entryAt(n *node, i uint64) (*pb.Entry, entryState) {
	for k := len(n.appendQ) - 1; k >= 0; k-- {
		m := n.appendQ[k]
		if len(m.Entries) > 0 && m.Entries[0].Index <= i {
			if last := m.Entries[len(m.Entries)-1].Index; i <= last {
				return m.Entries[i-m.Entries[0].Index], entryPresent
			}
			return nil, entryAbsent
		}
		if m.Snapshot != nil && !pb.IsEmptySnap(m.Snapshot) {
			if i <= m.Snapshot.Metadata.Index {
				return nil, entryCompacted
			}
			return nil, entryAbsent
		}
	}
	first, _ := n.storage.FirstIndex()
	last, _ := n.storage.LastIndex()
	switch {
	case i < first:
		return nil, entryCompacted
	case i > last:
		return nil, entryAbsent
	}
	ents, err := n.storage.Entries(i, i+1, 1<<62)
	if err != nil || len(ents) != 1 {
		s.failf(CheckNode, "node %d: reading entry %d from storage: %v", n.id, i, err)
		return nil, entryCompacted
	}
	return ents[0], entryPresent
}

// checkApplied is the heart of State Machine Safety (Raft §5.4.3): when a
// node applies the entry at index i (or restores a snapshot covering it),
// it must be the entry every other node applied, or holds as committed, at
// i. Also, a proposal is applied at one index only (the simulator never
// proposes a payload twice, and never duplicates a proposal on the
// network).
func (s *Sim) checkApplied(n *node, i uint64, ae appEntry) {
	term := uint64(0)
	if n.up() {
		term = n.rn.BasicStatus().Term
	}
	s.checkCommitted(n, i, ae, "applies", term)
	s.chk.maxApplied = max(s.chk.maxApplied, i)
}

// checkCommitIndexes runs after every step: every entry a running node's
// commit index covers is committed, so it is recorded (or compared) as if
// applied. This learns of commits before anyone applies them, which lets
// leader completeness and state machine safety see an unsafe commit
// sooner. Commit indexes written to disk are noted the same way as they
// are written (see persist), with the term written alongside as the bound.
func (s *Sim) checkCommitIndexes() {
	for _, n := range s.upNodes() {
		st := n.rn.BasicStatus()
		s.noteCommitIndex(n, st.Commit, st.Term)
	}
}

// noteCommitIndex records that node n, in term (or earlier), knew the
// entries of its log up to commit to be committed. Entries below its
// snapshot are checked when a state machine restores it.
func (s *Sim) noteCommitIndex(n *node, commit, term uint64) {
	for i := max(n.commitSeen, n.app.applied) + 1; i <= commit && s.failure == nil; i++ {
		e, state := s.entryAt(n, i)
		switch state {
		case entryAbsent:
			s.failf(CheckNode, "node %d has commit index %d, but its log (with the writes in progress) ends before %d",
				n.id, commit, i)
			return
		case entryPresent:
			s.checkCommitted(n, i, appEntry{term: e.Term, fp: fingerprint(e)}, "holds as committed", term)
		}
	}
	n.commitSeen = max(n.commitSeen, commit)
}

// checkCommitted records that node n knows entry ae at index i to be
// committed, in term or earlier (0: unknown), or checks it against what is
// recorded already.
func (s *Sim) checkCommitted(n *node, i uint64, ae appEntry, verb string, term uint64) {
	c := &s.chk
	if i < uint64(len(c.committed)) && c.committed[i].known {
		rec := &c.committed[i]
		if rec.e != ae {
			s.failf(CheckStateMachine, "node %d %s %s at index %d, but node %d %s %s there",
				n.id, verb, describeAppEntry(ae), i, rec.node, rec.how, describeAppEntry(rec.e))
			return
		}
		if term != 0 && term < rec.termBound {
			rec.termBound = term
		}
		return
	}
	for uint64(len(c.committed)) <= i {
		c.committed = append(c.committed, commitRec{})
	}
	how := "applied"
	if verb != "applies" {
		how = "held as committed"
	}
	c.committed[i] = commitRec{known: true, e: ae, node: n.id, how: how, termBound: term}
	if term == 0 {
		// Restored on restart from a snapshot: no bound is known.
		c.committed[i].termBound = math.MaxUint64
	}
	c.newlyCommitted = append(c.newlyCommitted, i)
	if ae.fp&payloadFlag != 0 && ae.fp&confFlag == 0 {
		id := ae.fp &^ payloadFlag
		if j, ok := c.payloadAt[id]; ok && j != i {
			s.failf(CheckStateMachine, "proposal p%d is committed at index %d and at index %d: applied twice", id, j, i)
			return
		}
		c.payloadAt[id] = i
	}
}

func describeAppEntry(e appEntry) string {
	switch {
	case e.fp == 0:
		return fmt.Sprintf("an empty entry of term %d", e.term)
	case e.fp&confFlag != 0:
		return fmt.Sprintf("a conf change (hash %x) of term %d", e.fp&^confFlag, e.term)
	}
	return fmt.Sprintf("p%d of term %d", e.fp&^payloadFlag, e.term)
}

// checkNodeProgress checks, after every step, the rest of State Machine
// Safety on each running node: raft's applied index never goes back within
// an incarnation and never runs ahead of the state machine.
func (s *Sim) checkNodeProgress() {
	for _, n := range s.upNodes() {
		st := n.rn.BasicStatus()
		if st.Err != nil {
			s.failf(CheckNode, "node %d stopped: %v", n.id, st.Err)
			return
		}
		if st.Applied < n.lastApplied {
			s.failf(CheckStateMachine, "node %d's applied index went back from %d to %d", n.id, n.lastApplied, st.Applied)
			return
		}
		if st.Applied > n.app.applied {
			s.failf(CheckStateMachine, "node %d believes it applied %d, but its state machine is at %d", n.id, st.Applied, n.app.applied)
			return
		}
		n.lastApplied = st.Applied
	}
}

// noteConf records a configuration applied at index i.
func (s *Sim) noteConf(i uint64, cs *pb.ConfState) {
	c := &s.chk
	if i <= c.confIndex {
		return
	}
	c.conf = proto.Clone(cs).(*pb.ConfState)
	c.confIndex = i
	s.stats.ConfChanges++
	s.logf("configuration as of index %d: %s", i, pb.DescribeConfState(cs))
	for _, ids := range [][]uint64{cs.Voters, cs.Learners, cs.VotersOutgoing, cs.LearnersNext} {
		for _, id := range ids {
			c.members[id] = true
			if n := s.nodes[id]; n != nil && n.decommissioned {
				s.failf(CheckNode, "simulator bug: node %d was removed, and the configuration as of %d has it again", id, i)
			}
		}
	}
}

func confHas(cs *pb.ConfState, id uint64) bool {
	return slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id) ||
		slices.Contains(cs.VotersOutgoing, id) || slices.Contains(cs.LearnersNext, id)
}

// decommissionRemoved shuts down for good the nodes that the latest
// committed configuration no longer has, as an operator would: a removed
// node that does not know it was removed would otherwise campaign forever.
// Its disk is kept, for the checks.
func (s *Sim) decommissionRemoved() {
	for _, id := range s.ids {
		n := s.nodes[id]
		if n.decommissioned || !s.chk.members[id] || confHas(s.chk.conf, id) {
			continue
		}
		n.decommissioned = true
		if n.up() {
			s.crash(n, "(decommissioned)")
		}
		s.logf("node %d is decommissioned: the configuration as of %d no longer has it", id, s.chk.confIndex)
	}
}

// checkDurability checks that every committed entry survives crashes:
// the nodes whose durable log (or snapshot) holds it are never few enough
// that the others could elect a leader without it, in the latest
// configuration (in a joint configuration: in at least one of its
// halves, since an election needs both). It runs after every crash, the
// only step that loses state, and at the end of a run.
//
// The entries a node holds form a prefix of the committed entries (log
// matching), so only the longest prefix per node is computed.
func (s *Sim) checkDurability() {
	if s.failure != nil {
		return
	}
	c := &s.chk
	held := map[uint64]uint64{} // node -> highest committed index it holds, with all before
	for _, id := range s.ids {
		held[id] = s.heldPrefix(s.nodes[id])
	}
	for i := uint64(1); i < uint64(len(c.committed)); i++ {
		if !c.committed[i].known {
			continue
		}
		inOK := !quorumWithout(c.conf.Voters, held, i)
		outOK := len(c.conf.VotersOutgoing) > 0 && !quorumWithout(c.conf.VotersOutgoing, held, i)
		if !inOK && !outOK {
			s.failf(CheckDurability, "committed entry %d (%s) is durable only on %v, not enough for configuration %s",
				i, describeAppEntry(c.committed[i].e), holders(held, i), pb.DescribeConfState(c.conf))
			return
		}
	}
}

// heldPrefix returns the highest index up to which n's disk holds the
// committed entries.
func (s *Sim) heldPrefix(n *node) uint64 {
	c := &s.chk
	snap, _ := n.storage.Snapshot()
	h := snap.GetMetadata().GetIndex()
	last, _ := n.storage.LastIndex()
	for i := h + 1; i <= last && i < uint64(len(c.committed)); i++ {
		rec := c.committed[i]
		if !rec.known {
			break
		}
		t, err := n.storage.Term(i)
		if err != nil || t != rec.e.term {
			break
		}
		h = i
	}
	return h
}

// quorumWithout reports whether the voters that do not hold index i form
// a majority of voters.
func quorumWithout(voters []uint64, held map[uint64]uint64, i uint64) bool {
	lacking := 0
	for _, v := range voters {
		if held[v] < i {
			lacking++
		}
	}
	return lacking > len(voters)/2
}

func holders(held map[uint64]uint64, i uint64) []uint64 {
	var out []uint64
	for id, h := range held {
		if h >= i {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// checkReadState checks an answer to a ReadIndex request (thesis §6.4):
// its index is at least the highest commit index any node knew when the
// read was issued, and it is delivered to the node that asked.
func (s *Sim) checkReadState(n *node, rs raft.ReadState) {
	id, ok := readID(rs.RequestCtx)
	req := s.chk.reads[id]
	if !ok || req == nil {
		s.failf(CheckReads, "node %d got a ReadState for an unknown request %q", n.id, rs.RequestCtx)
		return
	}
	if req.node != n.id {
		s.failf(CheckReads, "read%d was issued on node %d but answered on node %d", id, req.node, n.id)
		return
	}
	s.logf("node %d: read%d answered with index %d (issued at step %d, commit index then %d)", n.id, id, rs.Index, req.step, req.minIndex)
	if rs.Index < req.minIndex {
		s.failf(CheckReads, "read%d on node %d answered with index %d, but index %d was known committed when it was issued at step %d",
			id, n.id, rs.Index, req.minIndex, req.step)
		return
	}
	n.reads = append(n.reads, pendingRead{id: id, index: rs.Index})
	s.checkReadsOnApply(n)
}

// checkReadsOnApply checks the reads answered on n once its state machine
// reaches their index: the state read then includes the last write
// applied anywhere before the read was issued.
func (s *Sim) checkReadsOnApply(n *node) {
	keep := n.reads[:0]
	for _, pr := range n.reads {
		if n.app.applied < pr.index {
			keep = append(keep, pr)
			continue
		}
		req := s.chk.reads[pr.id]
		s.stats.ReadsChecked++
		w := req.lastWrite
		if w > pr.index || n.app.log[w] != s.chk.committed[w].e {
			s.failf(CheckReads, "read%d on node %d reads the state at index %d, which misses the write at index %d (%s) completed before the read",
				pr.id, n.id, pr.index, w, describeAppEntry(s.chk.committed[w].e))
			return
		}
	}
	n.reads = keep
}
