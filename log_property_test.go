package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// This file drives a raftLog over a MemoryStorage through random sequences
// of operations, the way a node would use it, and compares it after every
// step with a naive model: a plain slice of terms plus a few indexes.
//
// The generator respects what Raft guarantees the log: an (index, term)
// pair names one entry with one history (Log Matching), because each term
// has a single writer whose log only grows during its term; and every
// leader's log holds the node's committed entries. Within those rules
// anything goes: stale leaders, conflicting appends, snapshots overtaking
// writes, acknowledgements of writes whose entries were since replaced,
// compaction, and paged application under a byte budget.

// propModel is the naive model of the log.
type propModel struct {
	// terms[i] is the term of index i (terms[0] == 0), for the whole log,
	// compacted prefix included.
	terms []uint64

	committed, applying, applied uint64

	// storageFirst is the first index of the MemoryStorage, as the harness
	// drove it (compaction and snapshots).
	storageFirst uint64
	// snap is the index and term of the snapshot pending persistence, if
	// snapPending; snapHanded says it was handed out.
	snap        entryID
	snapPending bool
	snapHanded  bool
	// offset is the first index not acknowledged as persisted; next the
	// first index not handed out for persistence.
	offset, next uint64

	// Application paging.
	budget, applyingSize uint64
	paused               bool
}

// last is the model's last index.
func (m *propModel) last() uint64 { return uint64(len(m.terms)) - 1 }

// first is the model's first readable entry index.
func (m *propModel) first() uint64 {
	if m.snapPending {
		return m.snap.index + 1
	}
	return m.storageFirst
}

// readable reports whether the term of index i can be read from the log.
func (m *propModel) readable(i uint64) bool { return i+1 >= m.first() && i <= m.last() }

// appendAt replaces the log from index from on with entries of the given
// terms.
func (m *propModel) appendAt(from uint64, terms []uint64) {
	m.terms = append(m.terms[:from:from], terms...)
	m.offset = min(m.offset, from)
	m.next = min(m.next, from)
}

// maxAppliable mirrors raftLog.maxAppliableIndex.
func (m *propModel) maxAppliable(allowUnstable bool) uint64 {
	if allowUnstable {
		return m.committed
	}
	return min(m.committed, m.offset-1)
}

// propWrite is a batch handed to the "application" for persistence.
type propWrite struct {
	snap *pb.Snapshot
	ents []*pb.Entry
}

// propApply is a page handed to the "application" for applying.
type propApply struct {
	last, size uint64
}

// propHarness holds the log under test, its storage, the model and the
// simulated cluster and application around them.
type propHarness struct {
	t   *testing.T
	rng *rand.Rand
	l   *raftLog
	ms  *MemoryStorage
	m   *propModel

	// maxTerm is the highest term ever used; new writers take maxTerm+1.
	maxTerm uint64
	// ourTerm is the term in which this node last led; weLead says its log
	// has not been changed by anyone else since, so it may keep appending
	// in that term.
	ourTerm uint64
	weLead  bool
	// The other leader: its term and log (terms by index).
	leaderTerm uint64
	leaderLog  []uint64

	writes  []propWrite     // handed out, not yet written to storage
	acks    []propWrite     // written, acknowledgement not yet delivered
	applies []propApply     // handed out for application, not yet acknowledged
	history []uint64        // committed terms as first committed
	stats   map[string]int  // how often interesting things happened
	ops     []string        // recent operations, for failure messages
	opNames map[string]bool // operations that ran at least once
}

// propEnt builds the entry at index with term. Its payload size depends only
// on (index, term), so every copy of an entry has the same sizes.
func propEnt(index, term uint64) *pb.Entry {
	return &pb.Entry{Index: index, Term: term, Data: make([]byte, (index*7+term*13)%40)}
}

// propEnts builds the entries from index from on with the given terms.
func propEnts(from uint64, terms []uint64) []*pb.Entry {
	ents := make([]*pb.Entry, len(terms))
	for k, t := range terms {
		ents[k] = propEnt(from+uint64(k), t)
	}
	return ents
}

func TestLogProperty(t *testing.T) {
	seeds, steps := 16, 1500
	if testing.Short() {
		seeds, steps = 8, 600
	}
	stats := map[string]int{}
	ran := map[string]bool{}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			h := newPropHarness(t, seed)
			h.stats, h.opNames = stats, ran
			h.run(steps)
		})
	}
	t.Logf("paths taken: %v", stats)
	if testing.Short() {
		return
	}
	// The interesting paths must have been taken, or the test proves little.
	for _, k := range []string{
		"stale ack ignored", "ack accepted", "entry ack while snapshot pending",
		"truncation of in-progress entries", "conflict with committed", "paused", "compaction",
		"restore", "prev mismatch", "commit beyond last", "figure 8 refused",
		"ack of a re-sent entry behind a pending snapshot",
	} {
		require.Positive(t, stats[k], "never exercised: %s (%v)", k, stats)
	}
	for _, op := range propOps {
		require.True(t, ran[op.name], "operation %s never ran", op.name)
	}
}

// newPropHarness starts from an empty storage, or from one with a few
// persisted entries, with an applying budget drawn from the seed.
func newPropHarness(t *testing.T, seed uint64) *propHarness {
	rng := rand.New(rand.NewPCG(seed, 0x7a3f))
	ms := NewMemoryStorage()
	h := &propHarness{t: t, rng: rng, ms: ms}
	terms := []uint64{0}
	if rng.IntN(2) == 0 {
		h.maxTerm = 1
		n := rng.IntN(5)
		for range n {
			terms = append(terms, 1)
		}
		require.NoError(t, ms.Append(propEnts(1, terms[1:])))
	}
	var budget uint64
	switch rng.IntN(3) {
	case 0:
		budget = 0 // no limit
	case 1:
		budget = 1 + rng.Uint64N(60)
	default:
		budget = 60 + rng.Uint64N(400)
	}
	l, err := newLog(ms, budget)
	require.NoError(t, err)
	h.l = l
	last := uint64(len(terms)) - 1
	h.m = &propModel{
		terms:        terms,
		storageFirst: 1,
		offset:       last + 1,
		next:         last + 1,
		budget:       l.maxApplyingEntsSize,
	}
	h.history = []uint64{0}
	h.check("start")
	return h
}

// propOp is one kind of step, with its weight in the random mix.
type propOp struct {
	name   string
	weight int
	run    func(h *propHarness)
}

var propOps = []propOp{
	{"lead", 8, (*propHarness).opLead},
	{"newLeader", 3, (*propHarness).opNewLeader},
	{"leaderGrows", 5, (*propHarness).opLeaderGrows},
	{"followerAppend", 12, (*propHarness).opFollowerAppend},
	{"badAppend", 1, (*propHarness).opBadAppend},
	{"restore", 2, (*propHarness).opRestore},
	{"handout", 8, (*propHarness).opHandout},
	{"persist", 8, (*propHarness).opPersist},
	{"ack", 8, (*propHarness).opAck},
	{"commit", 6, (*propHarness).opCommit},
	{"apply", 6, (*propHarness).opApply},
	{"applyAck", 6, (*propHarness).opApplyAck},
	{"compact", 2, (*propHarness).opCompact},
	{"drain", 1, (*propHarness).opDrain},
}

// run performs n random steps, checking the log against the model after
// each, then drains everything and checks that nothing got stuck.
func (h *propHarness) run(n int) {
	total := 0
	for _, op := range propOps {
		total += op.weight
	}
	for step := range n {
		k := h.rng.IntN(total)
		for _, op := range propOps {
			if k < op.weight {
				h.ops = append(h.ops, op.name)
				if len(h.ops) > 30 {
					h.ops = h.ops[1:]
				}
				h.opNames[op.name] = true
				op.run(h)
				h.check(fmt.Sprintf("step %d (%s)", step, op.name))
				break
			}
			k -= op.weight
		}
	}
	h.opDrain()
	h.check("final drain")
}

// count records that something interesting happened.
func (h *propHarness) count(what string) { h.stats[what]++ }

// lostLead notes that someone else changed the log: this node must take a
// new term before appending as leader again.
func (h *propHarness) lostLead() { h.weLead = false }

// opLead appends entries as the leader, in a fresh term if needed.
func (h *propHarness) opLead() {
	if !h.weLead || h.ourTerm < h.m.terms[h.m.last()] {
		h.maxTerm++
		h.ourTerm, h.weLead = h.maxTerm, true
	}
	from := h.m.last() + 1
	terms := make([]uint64, 1+h.rng.IntN(4))
	for k := range terms {
		terms[k] = h.ourTerm
	}
	got := h.l.append(propEnts(from, terms)...)
	h.m.appendAt(from, terms)
	require.Equal(h.t, h.m.last(), got, "append's returned last index")
}

// opNewLeader elects another node in a fresh term. Its log is this node's
// log up to some index at or past the commit index, then entries of its
// own.
func (h *propHarness) opNewLeader() {
	h.maxTerm++
	h.leaderTerm = h.maxTerm
	k := h.m.committed + h.rng.Uint64N(h.m.last()-h.m.committed+1)
	h.leaderLog = append([]uint64(nil), h.m.terms[:k+1]...)
	for range h.rng.IntN(4) {
		h.leaderLog = append(h.leaderLog, h.leaderTerm)
	}
}

// opLeaderGrows lets the other leader append to its log (even when it is
// stale: its messages are still consistent with its term).
func (h *propHarness) opLeaderGrows() {
	if h.leaderTerm == 0 {
		return
	}
	for range 1 + h.rng.IntN(4) {
		h.leaderLog = append(h.leaderLog, h.leaderTerm)
	}
}

// opFollowerAppend delivers an append from the other leader: a window of
// its log after a random previous entry, with a random commit index.
func (h *propHarness) opFollowerAppend() {
	if h.leaderTerm == 0 {
		return
	}
	leaderLast := uint64(len(h.leaderLog)) - 1
	p := h.rng.Uint64N(leaderLast + 1)
	if h.rng.IntN(2) == 0 {
		// Most appends continue near the end of this node's log.
		end := min(leaderLast, h.m.last())
		p = end - min(end, h.rng.Uint64N(4))
	}
	n := h.rng.Uint64N(min(5, leaderLast-p) + 1)
	prev := entryID{term: h.leaderLog[p], index: p}
	terms := h.leaderLog[p+1 : p+1+n]
	commit := h.rng.Uint64N(leaderLast + 1)
	h.followerAppend(prev, commit, terms)
}

// followerAppend runs maybeAppend on the log and on the model and compares
// the outcomes.
func (h *propHarness) followerAppend(prev entryID, commit uint64, terms []uint64) {
	h.lostLead()
	m := h.m
	gotLast, gotOK, gotErr := h.l.maybeAppend(prev, commit, propEnts(prev.index+1, terms))

	if !m.readable(prev.index) || m.terms[prev.index] != prev.term {
		h.count("prev mismatch")
		require.NoError(h.t, gotErr)
		require.False(h.t, gotOK)
		return
	}
	var ci uint64
	for k, term := range terms {
		i := prev.index + 1 + uint64(k)
		if i > m.last() || m.terms[i] != term {
			ci = i
			break
		}
	}
	if ci != 0 && ci <= m.committed {
		h.count("conflict with committed")
		require.ErrorIs(h.t, gotErr, errTruncateCommitted)
		require.False(h.t, gotOK)
		return
	}
	require.NoError(h.t, gotErr)
	require.True(h.t, gotOK)
	if ci != 0 {
		if ci <= m.last() && ci < m.next {
			h.count("truncation of in-progress entries")
		}
		m.appendAt(ci, append([]uint64(nil), terms[ci-prev.index-1:]...))
	}
	lastNew := prev.index + uint64(len(terms))
	require.Equal(h.t, lastNew, gotLast)
	m.committed = max(m.committed, min(commit, lastNew))
}

// opBadAppend delivers appends no correct leader sends: one replacing a
// committed entry, one with a hole, and a commit index beyond the log.
func (h *propHarness) opBadAppend() {
	m := h.m
	if m.committed >= 1 && m.committed >= m.first() {
		c := m.first() + h.rng.Uint64N(m.committed-m.first()+1)
		h.maxTerm++
		before := h.snapshotOfLog()
		_, ok, err := h.l.maybeAppend(entryID{term: m.terms[c-1], index: c - 1}, m.committed, propEnts(c, []uint64{h.maxTerm}))
		require.ErrorIs(h.t, err, errTruncateCommitted)
		require.False(h.t, ok)
		require.Equal(h.t, before, h.snapshotOfLog(), "a refused append must not change the log")
		h.count("conflict with committed")
	}
	last := m.last()
	_, ok, err := h.l.maybeAppend(entryID{term: m.terms[last], index: last}, last, propEnts(last+2, []uint64{h.maxTerm}))
	require.ErrorIs(h.t, err, errMalformedAppend)
	require.False(h.t, ok)

	require.ErrorIs(h.t, h.l.commitTo(last+1+h.rng.Uint64N(3)), errCommitBeyondLast)
	h.count("commit beyond last")
}

// snapshotOfLog captures the log's observable positions and terms.
func (h *propHarness) snapshotOfLog() string {
	l := h.l
	s := fmt.Sprintf("%s last=%d", l, l.lastIndex())
	for i := l.firstIndex() - 1; i <= l.lastIndex(); i++ {
		term, err := l.term(i)
		require.NoError(h.t, err)
		s += fmt.Sprintf(" %d", term)
	}
	return s
}

// opRestore delivers a snapshot from the other leader, past the commit
// index. The leader's log must hold this node's committed entries (a stale
// leader's may not; a real node would refuse its message by term).
func (h *propHarness) opRestore() {
	m := h.m
	leaderLast := uint64(len(h.leaderLog)) - 1
	if h.leaderTerm == 0 || leaderLast <= m.committed {
		return
	}
	for i := uint64(0); i <= m.committed; i++ {
		if h.leaderLog[i] != m.terms[i] {
			return
		}
	}
	s := m.committed + 1 + h.rng.Uint64N(leaderLast-m.committed)
	if hi := min(leaderLast, m.next-1); h.rng.IntN(2) == 0 && hi > m.committed+1 {
		// A snapshot overtaking entries handed out for persistence.
		s = m.committed + 1 + h.rng.Uint64N(hi-m.committed-1)
	}
	snap := logSnap(s, h.leaderLog[s])
	h.lostLead()
	h.l.restore(snap)
	m.terms = append([]uint64(nil), h.leaderLog[:s+1]...)
	m.committed = s
	m.snap, m.snapPending, m.snapHanded = entryID{term: h.leaderLog[s], index: s}, true, false
	m.offset, m.next = s+1, s+1
	h.count("restore")
	if h.rng.IntN(4) > 0 && s < leaderLast {
		// The leader goes on replicating right after the snapshot, often
		// resending entries an older write still in flight also carries.
		n := 1 + h.rng.Uint64N(min(8, leaderLast-s))
		h.followerAppend(entryID{term: h.leaderLog[s], index: s}, leaderLast, h.leaderLog[s+1:s+1+n])
	}
}

// opHandout hands the next entries and snapshot to the application for
// persistence, as a Ready would.
func (h *propHarness) opHandout() {
	l := h.l
	w := propWrite{snap: l.nextUnstableSnapshot(), ents: l.nextUnstableEnts()}
	if w.snap == nil && len(w.ents) == 0 {
		require.False(h.t, l.hasNextUnstableEnts())
		require.False(h.t, l.hasNextUnstableSnapshot())
		return
	}
	l.acceptUnstable()
	h.m.next = h.m.last() + 1
	if w.snap != nil {
		h.m.snapHanded = true
	}
	h.writes = append(h.writes, w)
}

// opPersist writes the oldest handed-out batch to storage: the snapshot
// first, then the entries.
func (h *propHarness) opPersist() {
	if len(h.writes) == 0 {
		return
	}
	w := h.writes[0]
	h.writes = h.writes[1:]
	if w.snap != nil {
		require.NoError(h.t, h.ms.ApplySnapshot(w.snap))
		h.m.storageFirst = w.snap.GetMetadata().GetIndex() + 1
	}
	require.NoError(h.t, h.ms.Append(w.ents))
	h.acks = append(h.acks, w)
}

// opAck delivers the oldest write acknowledgement: the snapshot's first
// (which also counts as applying it), then the last entry's.
func (h *propHarness) opAck() {
	if len(h.acks) == 0 {
		return
	}
	w := h.acks[0]
	h.acks = h.acks[1:]
	m := h.m
	if w.snap != nil {
		s := w.snap.GetMetadata().GetIndex()
		h.l.stableSnapTo(s)
		h.l.appliedTo(s, 0)
		if m.snapPending && m.snap.index == s {
			m.snapPending, m.snapHanded = false, false
		}
		m.applied = max(m.applied, s)
		m.applying = max(m.applying, s)
		m.paused = m.applyingSize >= m.budget
	}
	if len(w.ents) == 0 {
		return
	}
	id := pbEntryID(w.ents[len(w.ents)-1])
	h.l.stableTo(id)
	switch {
	case m.snapPending:
		h.count("entry ack while snapshot pending")
		if id.index > m.snap.index && id.index <= m.last() && m.terms[id.index] == id.term {
			// The acknowledged entry is in the log behind the snapshot,
			// but the snapshot's write will wipe the copy in storage.
			h.count("ack of a re-sent entry behind a pending snapshot")
		}
	case id.index < m.offset:
		h.count("stale ack ignored")
	case id.index > m.last() || m.terms[id.index] != id.term:
		h.count("stale ack ignored")
	default:
		h.count("ack accepted")
		m.offset = id.index + 1
		m.next = max(m.next, m.offset)
	}
}

// opCommit moves the commit index: as a leader (maybeCommit with its
// term), through maybeCommit with an arbitrary term, or as a follower
// hearing a commit index (commitTo).
func (h *propHarness) opCommit() {
	m := h.m
	if m.last() <= m.committed {
		return
	}
	i := m.committed + 1 + h.rng.Uint64N(m.last()-m.committed)
	switch {
	case h.weLead && h.rng.IntN(2) == 0:
		// A quorum holds i. The leader may commit it only if its entry is
		// from the leader's term (Figure 8).
		got := h.l.maybeCommit(entryID{term: h.ourTerm, index: i})
		want := m.terms[i] == h.ourTerm
		require.Equal(h.t, want, got, "maybeCommit(%d) in term %d", i, h.ourTerm)
		if want {
			m.committed = i
		} else {
			h.count("figure 8 refused")
		}
	case h.rng.IntN(4) == 0:
		term := m.terms[i] + uint64(h.rng.IntN(2))
		got := h.l.maybeCommit(entryID{term: term, index: i})
		want := m.terms[i] == term
		require.Equal(h.t, want, got, "maybeCommit(%d) with term %d", i, term)
		if want {
			m.committed = i
		}
	default:
		require.NoError(h.t, h.l.commitTo(i))
		m.committed = i
	}
}

// opApply hands the next page of committed entries to the application, and
// checks the page against the model and the budget.
func (h *propHarness) opApply() {
	l, m := h.l, h.m
	allowUnstable := h.rng.IntN(2) == 0
	want := !m.paused && !m.snapPending && m.applying < m.maxAppliable(allowUnstable)
	require.Equal(h.t, want, l.hasNextCommittedEnts(allowUnstable), "hasNextCommittedEnts(%v)", allowUnstable)
	page, err := l.nextCommittedEnts(allowUnstable)
	require.NoError(h.t, err)
	if !want {
		require.Empty(h.t, page)
		if m.paused {
			h.count("paused")
		}
		return
	}
	require.NotEmpty(h.t, page)
	for k, e := range page {
		i := m.applying + 1 + uint64(k)
		require.Equal(h.t, entryID{term: m.terms[i], index: i}, pbEntryID(e))
	}
	last := page[len(page)-1].GetIndex()
	require.LessOrEqual(h.t, last, m.maxAppliable(allowUnstable))
	if len(page) > 1 {
		require.LessOrEqual(h.t, entsSize(page), m.budget-m.applyingSize, "page exceeds the remaining budget")
	}
	if last < m.maxAppliable(allowUnstable) {
		// Cut short: the next entry must not have fitted.
		next := propEnt(last+1, m.terms[last+1])
		require.Greater(h.t, entsSize(page)+entrySize(next), m.budget-m.applyingSize)
	}
	size := payloadsSize(page)
	l.acceptApplying(last, size, allowUnstable)
	m.applying = last
	m.applyingSize += size
	m.paused = m.applyingSize >= m.budget || last < m.maxAppliable(allowUnstable)
	h.applies = append(h.applies, propApply{last: last, size: size})
}

// opApplyAck reports the oldest page applied.
func (h *propHarness) opApplyAck() {
	if len(h.applies) == 0 {
		return
	}
	a := h.applies[0]
	h.applies = h.applies[1:]
	h.l.appliedTo(a.last, a.size)
	m := h.m
	m.applied = max(m.applied, a.last)
	m.applying = max(m.applying, a.last)
	m.applyingSize -= min(m.applyingSize, a.size)
	m.paused = m.applyingSize >= m.budget
}

// opCompact snapshots and compacts storage at an applied, persisted index.
func (h *propHarness) opCompact() {
	m := h.m
	if m.snapPending {
		return
	}
	hi := min(m.applied, m.offset-1)
	if hi < m.storageFirst {
		return
	}
	i := m.storageFirst + h.rng.Uint64N(hi-m.storageFirst+1)
	if h.rng.IntN(2) == 0 {
		_, err := h.ms.CreateSnapshot(i, nil, nil)
		require.NoError(h.t, err)
	}
	require.NoError(h.t, h.ms.Compact(i))
	m.storageFirst = i + 1
	h.count("compaction")
}

// opDrain persists and acknowledges everything, then applies everything,
// and checks that the log ends up with nothing unstable and everything
// committed applied.
func (h *propHarness) opDrain() {
	for range 1000 {
		h.opHandout()
		if len(h.writes) == 0 && len(h.acks) == 0 {
			break
		}
		for len(h.writes) > 0 {
			h.opPersist()
		}
		for len(h.acks) > 0 {
			h.opAck()
		}
		h.check("drain: persistence")
	}
	require.Empty(h.t, h.l.unstable.entries, "entries stuck in unstable after all writes were acknowledged")
	require.Nil(h.t, h.l.unstable.snapshot, "snapshot stuck in unstable after all writes were acknowledged")
	for range 10000 {
		for len(h.applies) > 0 {
			h.opApplyAck()
		}
		if !h.l.hasNextCommittedEnts(h.rng.IntN(2) == 0) {
			break
		}
		h.opApply()
		h.check("drain: application")
	}
	for len(h.applies) > 0 {
		h.opApplyAck()
	}
	require.Equal(h.t, h.m.committed, h.l.applied, "committed entries left unapplied")
	require.False(h.t, h.l.applyingEntsPaused)
	require.Zero(h.t, h.l.applyingEntsSize)
}

// propView is what check compares between the log and the model. Building
// both sides and comparing them at once keeps the per-step check cheap
// (testify's helpers walk the stack on every call) and gives one diff.
type propView struct {
	First, Last                  uint64
	Committed, Applying, Applied uint64
	Offset, OffsetInProgress     uint64
	ApplyingSize                 uint64
	Paused                       bool
	Terms                        []uint64 // from First-1 to Last
	LastID                       entryID
	BelowFirstCompacted          bool // the term before First-1 gives ErrCompacted
	PastLastUnavailable          bool // the term after Last gives ErrUnavailable
	NextUnstable                 []entryID
	HasNextUnstable, HasNextSnap bool
	NextSnap                     entryID
	CommittedTermsUnchanged      bool
}

// modelView is the view the model predicts.
func (h *propHarness) modelView() propView {
	m := h.m
	v := propView{
		First: m.first(), Last: m.last(),
		Committed: m.committed, Applying: m.applying, Applied: m.applied,
		Offset: m.offset, OffsetInProgress: m.next,
		ApplyingSize: m.applyingSize, Paused: m.paused,
		Terms:                   m.terms[m.first()-1:],
		LastID:                  entryID{term: m.terms[m.last()], index: m.last()},
		BelowFirstCompacted:     true,
		PastLastUnavailable:     true,
		HasNextSnap:             m.snapPending && !m.snapHanded,
		CommittedTermsUnchanged: true,
	}
	for i := m.next; i <= m.last(); i++ {
		v.NextUnstable = append(v.NextUnstable, entryID{term: m.terms[i], index: i})
	}
	v.HasNextUnstable = len(v.NextUnstable) > 0
	if v.HasNextSnap {
		v.NextSnap = m.snap
	}
	return v
}

// logView is the view the log shows. Committed entries are checked here
// against the history of committed terms.
func (h *propHarness) logView() propView {
	l, m := h.l, h.m
	v := propView{
		First: l.firstIndex(), Last: l.lastIndex(),
		Committed: l.committed, Applying: l.applying, Applied: l.applied,
		Offset: l.unstable.offset, OffsetInProgress: l.unstable.offsetInProgress,
		ApplyingSize: l.applyingEntsSize, Paused: l.applyingEntsPaused,
		LastID:              l.lastEntryID(),
		BelowFirstCompacted: true,
		NextUnstable:        logIDs(l.nextUnstableEnts()),
		HasNextUnstable:     l.hasNextUnstableEnts(),
		HasNextSnap:         l.hasNextUnstableSnapshot(),
	}
	for i := v.First - 1; i <= v.Last; i++ {
		term, err := l.term(i)
		if err != nil {
			term = 1 << 62 // cannot match the model
		}
		v.Terms = append(v.Terms, term)
	}
	if v.First >= 2 {
		_, err := l.term(v.First - 2)
		v.BelowFirstCompacted = errors.Is(err, ErrCompacted)
	}
	_, err := l.term(v.Last + 1)
	v.PastLastUnavailable = errors.Is(err, ErrUnavailable)
	if s := l.nextUnstableSnapshot(); s != nil {
		v.NextSnap = entryID{term: s.GetMetadata().GetTerm(), index: s.GetMetadata().GetIndex()}
	}
	// Committed entries never change: the log's committed prefix (as far
	// as it is readable) matches the terms recorded when first committed.
	for i := uint64(len(h.history)); i <= m.committed && i <= m.last(); i++ {
		h.history = append(h.history, m.terms[i])
	}
	v.CommittedTermsUnchanged = true
	for i := v.First - 1; i <= min(l.committed, v.Last) && i < uint64(len(h.history)); i++ {
		if v.Terms[i-(v.First-1)] != h.history[i] {
			v.CommittedTermsUnchanged = false
		}
	}
	return v
}

// check compares the log with the model, and the log's idea of what is
// persisted with the storage.
func (h *propHarness) check(desc string) {
	t, l, m := h.t, h.l, h.m
	defer func() {
		if t.Failed() {
			t.Logf("after %s; recent operations: %v\nlog: %s\nmodel: %+v", desc, h.ops, l, *m)
		}
	}()
	if l.storageErr != nil {
		require.NoError(t, l.storageErr, desc)
	}

	// Safety first: everything the log holds as persisted is in storage.
	// Checked before the model's positions, so that a bug shows up as the
	// safety violation it causes.
	if !m.snapPending {
		first, offset := m.first(), min(l.unstable.offset, m.last()+1)
		stored := []uint64{}
		for i := first; i < offset; i++ {
			term, err := h.ms.Term(i)
			if err != nil {
				require.NoError(t, err, "storage term(%d) of an entry the log holds persisted, %s", i, desc)
			}
			stored = append(stored, term)
		}
		if !slices.Equal(m.terms[first:offset], stored) {
			require.Equal(t, m.terms[first:offset], stored,
				"storage terms from index %d of entries the log holds persisted, %s", first, desc)
		}
	}

	if want, got := h.modelView(), h.logView(); !reflect.DeepEqual(want, got) {
		require.Equal(t, want, got, "log differs from the model, %s", desc)
	}

	// A random slice, under a random byte limit.
	first, last := m.first(), m.last()
	lo := first + h.rng.Uint64N(last+2-first)
	hi := lo + h.rng.Uint64N(last+2-lo)
	maxSize := uint64(noLimit)
	if h.rng.IntN(2) == 0 {
		maxSize = h.rng.Uint64N(200)
	}
	ents, err := l.slice(lo, hi, maxSize)
	if err != nil {
		require.NoError(t, err, "slice(%d, %d, %d), %s", lo, hi, maxSize, desc)
	}
	var wantIDs []entryID
	for k := range ents {
		i := lo + uint64(k)
		wantIDs = append(wantIDs, entryID{term: m.terms[i], index: i})
	}
	n := uint64(len(ents))
	switch {
	case !slices.Equal(wantIDs, logIDs(ents)):
		require.Equal(t, wantIDs, logIDs(ents), "slice(%d, %d, %d), %s", lo, hi, maxSize, desc)
	case len(ents) != cap(ents):
		require.Fail(t, "slice result has spare capacity", desc)
	case lo < hi && n == 0:
		require.Fail(t, "slice of a non-empty range returned nothing", "slice(%d, %d, %d), %s", lo, hi, maxSize, desc)
	case n > 1 && entsSize(ents) > maxSize:
		require.Fail(t, "slice exceeds its byte limit", "slice(%d, %d, %d), %s", lo, hi, maxSize, desc)
	case lo+n < hi && entsSize(ents)+entrySize(propEnt(lo+n, m.terms[lo+n])) <= maxSize:
		require.Fail(t, "slice cut short although the next entry fits", "slice(%d, %d, %d), %s", lo, hi, maxSize, desc)
	}
	if first >= 2 {
		if _, err := l.slice(first-1, hi, maxSize); !errors.Is(err, ErrCompacted) {
			require.ErrorIs(t, err, ErrCompacted, desc)
		}
	}
}
