package sim

import (
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// checkState is what the checkers remember across a run.
type checkState struct {
	// leaders maps every term that had a leader to that leader, recorded
	// the moment its leadership is first seen (see observe).
	leaders map[uint64]leaderRec
	// ghost is the durable acknowledgements the committed entries are
	// derived from.
	ghost ghostState
	// seeding is set while the founding members bootstrap: their
	// bootstrap entries are committed by definition.
	seeding bool
	// checkedLeaders are the terms whose leader was checked in full for
	// leader completeness.
	checkedLeaders map[uint64]bool
	// entries maps every entry ever written to a node's storage, by
	// (index, term), to a hash of its contents and the term of the entry
	// before it in the log that holds it.
	entries map[entryKey]entryRec
	// committed[i] is the entry at index i, committed as the ghost commit
	// (ghost.go) knows it: a quorum acknowledged it durably. Nodes' claims
	// (applying, restoring a snapshot, a commit index) are checked
	// against it.
	committed []commitRec
	// newlyCommitted are the indexes added to committed in this step.
	newlyCommitted []uint64
	// payloadAt maps a proposal's id to the indexes it was committed at.
	payloadAt map[uint64][]uint64
	// proposalCopies counts the extra copies of each proposal the network
	// made (duplicate).
	proposalCopies map[uint64]int
	// maxApplied is the highest index applied anywhere; maxCommit the
	// highest commit index any node has reported.
	maxApplied, maxCommit uint64
	// conf is the latest configuration applied anywhere, at index
	// confIndex; members are every node ever in a configuration.
	conf      *pb.ConfState
	confIndex uint64
	members   map[uint64]bool
	// removedAt is the index of the configuration change that removed a
	// node, known once a node applied it; removedStep the step it was
	// first applied at.
	removedAt   map[uint64]uint64
	removedStep map[uint64]int
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
	node  uint64 // the node it was read from when it became committed
	how   string // how it became committed, if not by acknowledgements
	// ackTerm is the term whose quorum acknowledged it.
	ackTerm uint64
	// termBound is a term in which the entry was committed, the lowest
	// known: the term whose quorum acknowledged it, or the term a node was
	// in when it claimed the entry committed if that is lower. Every
	// leader of a later term must have it.
	termBound uint64
}

// origin says how the entry became committed, for failure reports.
func (c commitRec) origin() string {
	if c.how != "" {
		return fmt.Sprintf("%s, read from node %d", c.how, c.node)
	}
	return fmt.Sprintf("acknowledged by a quorum in term %d, read from node %d", c.ackTerm, c.node)
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
	c.leaders = map[uint64]leaderRec{}
	c.ghost.acks = map[uint64]map[uint64]uint64{}
	c.checkedLeaders = map[uint64]bool{}
	c.entries = map[entryKey]entryRec{}
	c.committed = make([]commitRec, 1)
	c.payloadAt = map[uint64][]uint64{}
	c.proposalCopies = map[uint64]int{}
	c.conf = &pb.ConfState{}
	c.members = map[uint64]bool{}
	c.removedAt, c.removedStep = map[uint64]uint64{}, map[uint64]int{}
	c.reads = map[uint64]*readReq{}
}

// checkStep runs the checks due after every step and the bookkeeping they
// need. full asks for the complete leader completeness check, which the
// main loop does every 100 steps.
func (s *Sim) checkStep(full bool) {
	if s.failure != nil {
		return
	}
	for _, n := range s.upNodes() {
		s.observe(n)
		st := n.rn.BasicStatus()
		s.noteCommitIndex(n, st.Commit, st.Term, true)
	}
	s.checkNodeProgress()
	s.checkLeaderCompleteness(full)
	s.decommissionRemoved(false)
}

// observe looks at node n right after anything was done to it (a message
// stepped, a tick, an Advance, a configuration change applied...), not
// only at the end of a step that may have done many things: a leadership
// is recorded when it starts (checkElectionSafety) and a commit index is
// checked when it moves (checkClaim).
func (s *Sim) observe(n *node) {
	if !n.up() || s.failure != nil {
		return
	}
	st := n.rn.BasicStatus()
	if st.RaftState == raft.StateLeader {
		s.checkElectionSafety(n, st.Term, nil)
	}
	s.chk.maxCommit = max(s.chk.maxCommit, st.Commit)
	s.noteCommitIndex(n, st.Commit, st.Term, false)
	s.checkRemovedCampaign(n, st)
}

// observeSent records the leadership that a message proves: only a leader
// sends appends, heartbeats and snapshots, so its sender led the message's
// term, even if nobody saw it in the leader role.
func (s *Sim) observeSent(n *node, m *pb.Message) {
	switch m.Type {
	case pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap:
		s.checkElectionSafety(n, m.Term, m)
	}
}

// checkElectionSafety checks that no term ever has two leaders (Raft
// Figure 3, Election Safety): node n leads term, as seen in its role or,
// if sent is not nil, in a message it sends, and no other node may have led
// it, over the whole run.
func (s *Sim) checkElectionSafety(n *node, term uint64, sent *pb.Message) {
	l, ok := s.chk.leaders[term]
	if !ok {
		s.chk.leaders[term] = leaderRec{id: n.id, inc: n.incarnation, how: howLeader(sent)}
		s.stats.Leaders++
		s.stats.MaxTerm = max(s.stats.MaxTerm, term)
		s.logf("node %d is leader of term %d (it %s)", n.id, term, howLeader(sent))
		s.checkRemovedLeader(n, term)
		return
	}
	if l.id != n.id {
		s.failf(CheckElectionSafety, "nodes %d and %d are both leaders of term %d (node %d %s; node %d %s)",
			l.id, n.id, term, l.id, l.how, n.id, howLeader(sent))
	}
}

// howLeader says how a leadership was seen.
func howLeader(sent *pb.Message) string {
	if sent == nil {
		return "is leader"
	}
	return "sends " + sent.Type.String()
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
		s.failf(CheckLeaderCompleteness, "leader %d of term %d lacks committed entry %d (%s, committed in term %d: %s)",
			l.id, term, i, describeAppEntry(c.e), c.termBound, c.origin())
	case entryPresent:
		if e.Term != c.e.term || fingerprint(e) != c.e.fp {
			s.failf(CheckLeaderCompleteness, "leader %d of term %d has %s at index %d, but %s was committed there in term %d (%s)",
				l.id, term, pb.DescribeEntry(e, formatPayload), i, describeAppEntry(c.e), c.termBound, c.origin())
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
// it must be the committed entry at i (see checkClaim).
func (s *Sim) checkApplied(n *node, i uint64, ae appEntry) {
	term := uint64(0)
	if n.up() {
		term = n.rn.BasicStatus().Term
	}
	s.checkClaim(n, i, ae, "applies", term)
	s.chk.maxApplied = max(s.chk.maxApplied, i)
}

// noteCommitIndex checks that node n, in term (or earlier), may know the
// entries of its log up to commit to be committed: its in-memory commit
// index (observe, checkStep) or the one it wrote to disk (persist). The
// index is checked at once against the ghost commit; the entries only when
// final: once the node's Ready was handled, when its log is its storage
// plus its queued writes (before, its storage may still hold entries its
// Ready overwrites). Entries below its snapshot are checked when a state
// machine restores it.
func (s *Sim) noteCommitIndex(n *node, commit, term uint64, final bool) {
	if commit > s.chk.ghost.commit && !s.chk.seeding {
		s.refreshGhost()
		if commit > s.chk.ghost.commit {
			s.failf(CheckPrematureCommit, "node %d (term %d) has commit index %d, but no quorum acknowledged durably, in its leader's term, more than index %d (%s)",
				n.id, term, commit, s.chk.ghost.commit, s.describeGhost(n, term))
			return
		}
	}
	if !final {
		return
	}
	for i := max(n.commitSeen, n.app.applied) + 1; i <= commit && s.failure == nil; i++ {
		e, state := s.entryAt(n, i)
		switch state {
		case entryAbsent:
			s.failf(CheckNode, "node %d has commit index %d, but its log (with the writes in progress) ends before %d",
				n.id, commit, i)
			return
		case entryPresent:
			s.checkClaim(n, i, appEntry{term: e.Term, fp: fingerprint(e)}, "holds as committed", term)
		}
	}
	n.commitSeen = max(n.commitSeen, commit)
}

// checkClaim checks that entry ae at index i, which node n (in term, or 0
// if unknown) applies or holds as committed, is committed: a quorum
// acknowledged it (ghost.go), and it is the entry committed there. A claim
// beyond the ghost commit is a premature commit, caught when it is made.
func (s *Sim) checkClaim(n *node, i uint64, ae appEntry, verb string, term uint64) {
	c := &s.chk
	if c.seeding {
		s.recordCommitted(i, ae, n.id, 1)
		c.committed[i].how = "bootstrapped"
		return
	}
	if i > c.ghost.commit {
		// The configuration of a leader may have changed since its
		// acknowledgements were last counted.
		s.refreshGhost()
	}
	if i > c.ghost.commit {
		s.failf(CheckPrematureCommit, "node %d %s %s at index %d, but no quorum acknowledged it durably in its leader's term (committed up to %d)",
			n.id, verb, describeAppEntry(ae), i, c.ghost.commit)
		return
	}
	rec := &c.committed[i]
	if rec.e != ae {
		s.failf(CheckStateMachine, "node %d %s %s at index %d, but %s was committed there (%s)",
			n.id, verb, describeAppEntry(ae), i, describeAppEntry(rec.e), rec.origin())
		return
	}
	if term != 0 && term < rec.termBound {
		rec.termBound = term
	}
}

// recordCommitted records entry ae, read from node, as committed at index
// i in term.
func (s *Sim) recordCommitted(i uint64, ae appEntry, node, term uint64) {
	c := &s.chk
	for uint64(len(c.committed)) <= i {
		c.committed = append(c.committed, commitRec{})
	}
	if c.committed[i].known {
		return
	}
	c.committed[i] = commitRec{known: true, e: ae, node: node, termBound: term, ackTerm: term}
	c.newlyCommitted = append(c.newlyCommitted, i)
	if ae.fp&payloadFlag != 0 && ae.fp&confFlag == 0 {
		s.checkProposalOnce(ae.fp&^payloadFlag, i)
	}
}

// checkProposalOnce checks that proposal id, committed at index i, is not
// committed at more indexes than it was proposed times: once, plus once
// per copy of it the network duplicated.
func (s *Sim) checkProposalOnce(id, i uint64) {
	c := &s.chk
	at := append(c.payloadAt[id], i)
	c.payloadAt[id] = at
	if len(at) > 1+c.proposalCopies[id] {
		s.failf(CheckStateMachine, "proposal p%d is committed at indexes %v, but was proposed %d times", id, at, 1+c.proposalCopies[id])
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
			if c.removedAt[id] != 0 {
				s.failf(CheckNode, "simulator bug: node %d was removed, and the configuration as of %d has it again", id, i)
			}
		}
	}
	for id := range c.members {
		if c.removedAt[id] == 0 && !confHas(cs, id) {
			c.removedAt[id], c.removedStep[id] = i, s.step
			s.logf("node %d is removed by the configuration as of %d", id, i)
		}
	}
}

func confHas(cs *pb.ConfState, id uint64) bool {
	return slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id) ||
		slices.Contains(cs.VotersOutgoing, id) || slices.Contains(cs.LearnersNext, id)
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
