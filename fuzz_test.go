package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// Native Go fuzz targets for the RawNode API.
//
// FuzzStepMessage drives a three-voter cluster to a chosen role of node 1
// and steps into node 1 a message from the fuzz input, both decoded from
// raw protobuf bytes and built field by field relative to the node's state
// (so that well-formed but inconsistent messages are common). It checks
// the errors Step must return and the per-node invariants a correct node
// keeps whatever it is told: its commit index and term never decrease, the
// committed entries it hands out are contiguous and handed out once, and
// committed entries are never rewritten. Storage responses are the one
// input it does not forge: they come from the application, not the network.
//
// FuzzAPISequence runs a sequence of API calls decoded from the fuzz input
// on a small cluster whose messages the target delivers, drops, duplicates
// and reorders, and checks the cross-node safety properties too: at most
// one leader per term, the committed and applied sequences of all nodes
// are prefixes of one another, a ReadIndex answer (ReadOnlySafe) covers
// every entry committed when the read was requested, and API misuse
// returns errors. An ApplyConfChange of a change that is not in the log
// (the input may ask for one) lets the nodes disagree on the
// configuration; from then on only the per-node checks run.
//
// The harness below (the fz helpers) plays the application of every node:
// it persists to a MemoryStorage, applies committed entries and
// configuration changes, and in AsyncStorageWrites mode carries out the
// storage messages, as the package documentation prescribes.
//
// Run them with, for instance:
//
//	go test -run '^$' -fuzz '^FuzzStepMessage$' -fuzztime 5m .
//	go test -run '^$' -fuzz '^FuzzAPISequence$' -fuzztime 5m .

// fzReader hands out the fuzz input piece by piece; reading past its end
// yields zeros, so every input decodes to something.
type fzReader struct{ b []byte }

func (r *fzReader) more() bool { return len(r.b) > 0 }

func (r *fzReader) u8() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *fzReader) u64() uint64 {
	var buf [8]byte
	n := copy(buf[:], r.b)
	r.b = r.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

// bytes returns a slice of up to max bytes, its length read first. A
// length of 0 gives nil, and max+1 an empty, non-nil slice.
func (r *fzReader) bytes(max int) []byte {
	n := int(r.u8()) % (max + 2)
	switch {
	case n == 0:
		return nil
	case n == max+1:
		return []byte{}
	}
	n = min(n, len(r.b))
	out := slices.Clone(r.b[:n])
	r.b = r.b[n:]
	if out == nil {
		out = []byte{}
	}
	return out
}

// fzRel returns a value near base (the node's term, last index, commit
// index...), or zero, a small constant, a value at the edge of the index
// range, or an arbitrary value: inputs that are almost right are the
// interesting ones.
func fzRel(r *fzReader, base uint64) uint64 {
	k := r.u8()
	d := uint64(k >> 3)
	switch k % 8 {
	case 6:
		switch {
		case d >= 28:
			return maxLogIndex - 1 + (d - 28)
		case d >= 24:
			return math.MaxUint64 - (d - 24)
		}
		return d
	case 0:
		return base
	case 1:
		return base + 1
	case 2:
		return base - min(base, 1)
	case 3:
		return 0
	case 4:
		return base + 2 + d
	case 5:
		return base - min(base, d)
	default:
		return r.u64()
	}
}

// fzIDPool are the node IDs changes, messages and reports name: members,
// nodes that may join, a node that never exists, and None.
var fzIDPool = []uint64{1, 2, 3, 4, 5, 6, None}

func fzPickID(r *fzReader) uint64 { return fzIDPool[int(r.u8())%len(fzIDPool)] }

// fzConfChange builds a configuration change, valid or not, v1 or v2.
func fzConfChange(r *fzReader) pb.ConfChangeI {
	k := r.u8()
	if k&1 == 0 {
		return &pb.ConfChange{
			Type:    pb.ConfChangeType((k >> 1) % 5), // 4 is not a valid type
			NodeId:  fzPickID(r),
			Context: r.bytes(4),
		}
	}
	cc := &pb.ConfChangeV2{Transition: pb.ConfChangeTransition((k >> 1) % 4), Context: r.bytes(4)}
	for range int(k>>3) % 4 {
		cc.Changes = append(cc.Changes, &pb.ConfChangeSingle{
			Type:   pb.ConfChangeType(r.u8() % 5),
			NodeId: fzPickID(r),
		})
	}
	return cc
}

// fzEnt is what the harness remembers of a log entry.
type fzEnt struct {
	known bool
	term  uint64
	typ   pb.EntryType
	data  string
}

func fzEntOf(e *pb.Entry) fzEnt {
	return fzEnt{known: true, term: e.GetTerm(), typ: e.GetType(), data: string(e.GetData())}
}

func (e fzEnt) String() string {
	if !e.known {
		return "?"
	}
	return fmt.Sprintf("t%d/%s/%q", e.term, e.typ, e.data)
}

// fzOpts are the configuration choices of a fuzzed cluster.
type fzOpts struct {
	async, preVote, checkQuorum, lease, stepDown bool
	// hold keeps the storage messages of async mode until the input says
	// to carry them out.
	hold           bool
	smallMsgs      bool
	maxUncommitted uint64
	seed           uint64
}

func fzOptsFrom(b byte) fzOpts {
	o := fzOpts{
		async:       b&1 != 0,
		preVote:     b&2 != 0,
		checkQuorum: b&4 != 0,
		lease:       b&8 != 0,
		stepDown:    b&16 != 0,
		hold:        b&32 != 0,
		smallMsgs:   b&64 != 0,
		seed:        uint64(b >> 7),
	}
	if b&0xc0 == 0xc0 {
		o.maxUncommitted = 16
	}
	return o
}

func (o fzOpts) config(id uint64, st Storage) *Config {
	c := &Config{
		ID:                 id,
		ElectionTick:       10,
		HeartbeatTick:      1,
		Storage:            st,
		AsyncStorageWrites: o.async,
		PreVote:            o.preVote,
		CheckQuorum:        o.checkQuorum || o.lease,
		StepDownOnRemoval:  o.stepDown,
		Seed:               o.seed + 1,
	}
	if o.lease {
		c.ReadOnlyOption = ReadOnlyLeaseBased
	}
	if o.smallMsgs {
		c.MaxSizePerMsg = 1
		c.MaxInflightMsgs = 2
		c.MaxCommittedSizePerReady = 1
	}
	c.MaxUncommittedEntriesSize = o.maxUncommitted
	return c
}

// fzNode is one RawNode and the application around it.
type fzNode struct {
	id uint64
	rn *RawNode
	st *MemoryStorage
	// cs is the configuration after the last applied entry; csHist holds
	// it at every index where it changed, for snapshots of older indexes.
	cs     *pb.ConfState
	csHist []fzCS
	// applied are the entries applied to the state machine: applied[i] is
	// the entry at index abase+i+1. abase is not zero after a snapshot
	// whose state the harness does not know (a forged one).
	abase   uint64
	applied []fzEnt
	// handed is the last index handed out to apply (or the index of the
	// last snapshot handed out).
	handed uint64
	// committed are the entries the node reported committed: committed[i]
	// is the entry at index cbase+i+1 as it was first seen committed.
	// Entries below the first index of the node's log are forgotten (the
	// log cannot show them any more), so a snapshot far ahead costs
	// nothing.
	cbase     uint64
	committed []fzEnt
	// claimedLoss is set when a forged heartbeat from the node's leader
	// claimed a commit index beyond its log: the node cannot tell that
	// from storage that lost acknowledged entries, and stops.
	claimedLoss bool
	// hsTerm and hsCommit are from the last HardState handed out;
	// maxTerm and maxCommit the highest seen in BasicStatus.
	hsTerm, hsCommit   uint64
	maxTerm, maxCommit uint64
	// local are the storage messages of async mode not carried out yet.
	local []*pb.Message
	// canonDone is the last committed index compared with the cluster's
	// canonical log.
	canonDone uint64
}

func (nd *fzNode) appliedIndex() uint64   { return nd.abase + uint64(len(nd.applied)) }
func (nd *fzNode) committedIndex() uint64 { return nd.cbase + uint64(len(nd.committed)) }

// committedAt returns the recorded committed entry at index i, unknown if
// there is none.
func (nd *fzNode) committedAt(i uint64) fzEnt {
	if i <= nd.cbase || i > nd.committedIndex() {
		return fzEnt{}
	}
	return nd.committed[i-nd.cbase-1]
}

type fzCS struct {
	index uint64
	cs    *pb.ConfState
}

// csAt returns the configuration in force after applying index i.
func (nd *fzNode) csAt(i uint64) *pb.ConfState {
	cs := &pb.ConfState{}
	for _, h := range nd.csHist {
		if h.index <= i {
			cs = h.cs
		}
	}
	return cs
}

// fzWorld is a cluster of fzNodes and the messages in flight.
type fzWorld struct {
	t     testing.TB
	o     fzOpts
	nodes map[uint64]*fzNode
	ids   []uint64
	queue []*pb.Message
	// snaps maps the data of the snapshots the harness created to the
	// applied entries they stand for.
	snaps map[string][]fzEnt
	// cross enables the cross-node checks; tainted turns them off once
	// the input did something that legitimately breaks them (applying a
	// configuration change that was never committed).
	cross, tainted bool
	// leaders maps each term to the node seen leading it.
	leaders map[uint64]uint64
	// reads maps the context of each ReadIndex request to the highest
	// commit index of any node when it was made.
	reads map[string]uint64
	// canon is the committed log as the first node to commit each index
	// saw it.
	canon []fzEnt
	// joinable are the IDs for which a node with empty storage is created
	// when a message is sent to it.
	joinable map[uint64]bool
	// lastStepErr is the error of the last delivery.
	lastStepErr error
}

func (w *fzWorld) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf(format, args...)
}

// fzNewWorld bootstraps voters 1..n and handles the bootstrap Readys.
func fzNewWorld(t testing.TB, o fzOpts, n int) *fzWorld {
	w := &fzWorld{
		t: t, o: o, nodes: map[uint64]*fzNode{}, snaps: map[string][]fzEnt{},
		leaders: map[uint64]uint64{}, joinable: map[uint64]bool{}, reads: map[string]uint64{},
	}
	var peers []Peer
	for id := uint64(1); id <= uint64(n); id++ {
		peers = append(peers, Peer{ID: id})
	}
	for _, p := range peers {
		nd := w.addNode(p.ID)
		if err := nd.rn.Bootstrap(peers); err != nil {
			w.fail("bootstrap node %d: %v", p.ID, err)
		}
	}
	w.stabilize(10, nil)
	return w
}

// addNode creates a node with empty storage.
func (w *fzWorld) addNode(id uint64) *fzNode {
	st := NewMemoryStorage()
	rn, err := NewRawNode(w.o.config(id, st))
	if err != nil {
		w.fail("NewRawNode %d: %v", id, err)
	}
	nd := &fzNode{id: id, rn: rn, st: st, cs: &pb.ConfState{}}
	w.nodes[id] = nd
	w.ids = append(w.ids, id)
	slices.Sort(w.ids)
	return nd
}

func (w *fzWorld) node(id uint64) *fzNode { return w.nodes[id] }

// send queues a message for the network.
func (w *fzWorld) send(m *pb.Message) { w.queue = append(w.queue, m) }

// handleReady carries out one Ready of nd and reports whether there was one.
func (w *fzWorld) handleReady(nd *fzNode) bool {
	w.t.Helper()
	if !nd.rn.HasReady() {
		return false
	}
	w.recordCommitted(nd)
	rd := nd.rn.Ready()
	for _, rs := range rd.ReadStates {
		floor, ok := w.reads[string(rs.RequestCtx)]
		if ok && w.cross && !w.tainted && !w.o.lease && rs.Index < floor {
			w.fail("node %d: ReadState %d for %q, but index %d was committed when it was requested",
				nd.id, rs.Index, rs.RequestCtx, floor)
		}
	}
	if hs := rd.HardState; hs != nil {
		if hs.Term < nd.hsTerm || hs.Commit < nd.hsCommit {
			w.fail("node %d: HardState went back from term %d commit %d to %s",
				nd.id, nd.hsTerm, nd.hsCommit, pb.DescribeHardState(hs))
		}
		nd.hsTerm, nd.hsCommit = hs.Term, hs.Commit
	}
	// Never is a committed entry to be rewritten.
	w.compareCommitted(nd, "Ready", rd.Entries)
	if !nd.rn.asyncStorageWrites {
		w.checkHanded(nd, rd.Snapshot, rd.CommittedEntries)
		w.persist(nd, rd.Snapshot, rd.HardState, rd.Entries)
		for _, m := range rd.Messages {
			w.send(m)
		}
		w.apply(nd, rd.CommittedEntries)
		if err := nd.rn.Advance(rd); err != nil {
			w.fail("node %d: Advance: %v", nd.id, err)
		}
		return true
	}
	for _, m := range rd.Messages {
		switch m.To {
		case LocalAppendThread, LocalApplyThread:
			switch {
			case m.Type == pb.MsgStorageAppend && m.To == LocalAppendThread:
				w.checkHanded(nd, m.Snapshot, nil)
			case m.Type == pb.MsgStorageApply && m.To == LocalApplyThread:
				w.checkHanded(nd, nil, m.Entries)
			default:
				w.fail("node %d: Ready holds %s for a local thread", nd.id, pb.DescribeMessage(m, nil))
			}
			nd.local = append(nd.local, m)
		default:
			w.send(m)
		}
	}
	if !w.o.hold {
		w.runLocal(nd, len(nd.local))
	}
	return true
}

// checkHanded checks what a Ready hands out to apply: a snapshot beyond
// everything handed out before, or committed entries that directly follow
// what was handed out and match what the node reported committed.
func (w *fzWorld) checkHanded(nd *fzNode, snap *pb.Snapshot, ents []*pb.Entry) {
	w.t.Helper()
	if snap != nil && !pb.IsEmptySnap(snap) {
		si := snap.Metadata.Index
		if si <= nd.handed {
			w.fail("node %d: snapshot at index %d handed out after entries up to %d", nd.id, si, nd.handed)
		}
		nd.handed = si
	}
	for _, e := range ents {
		if e.Index != nd.handed+1 {
			w.fail("node %d: committed entry %d handed out after %d", nd.id, e.Index, nd.handed)
		}
		if e.Index > nd.committedIndex() {
			w.fail("node %d: entry %d handed out to apply, committed only up to %d", nd.id, e.Index, nd.committedIndex())
		}
		if rec := nd.committedAt(e.Index); rec.known && rec != fzEntOf(e) {
			w.fail("node %d: entry %d handed out as %s, committed as %s", nd.id, e.Index, fzEntOf(e), rec)
		}
		nd.handed = e.Index
	}
}

// persist writes a snapshot, entries and a hard state to nd's storage, as
// a Ready or a MsgStorageAppend asks. A snapshot is applied to the state
// machine too.
func (w *fzWorld) persist(nd *fzNode, snap *pb.Snapshot, hs *pb.HardState, ents []*pb.Entry) {
	w.t.Helper()
	if snap != nil && !pb.IsEmptySnap(snap) {
		if err := nd.st.ApplySnapshot(snap); err != nil {
			w.fail("node %d: ApplySnapshot %s: %v", nd.id, pb.DescribeSnapshot(snap), err)
		}
		w.installSnapshot(nd, snap)
	}
	if err := nd.st.Append(ents); err != nil {
		w.fail("node %d: Append %s: %v", nd.id, pb.DescribeEntries(ents, nil), err)
	}
	if hs != nil {
		if err := nd.st.SetHardState(hs); err != nil {
			w.fail("node %d: SetHardState: %v", nd.id, err)
		}
	}
}

// installSnapshot replaces nd's state machine with a snapshot's.
func (w *fzWorld) installSnapshot(nd *fzNode, snap *pb.Snapshot) {
	w.t.Helper()
	md := snap.Metadata
	cs := md.GetConfState()
	if cs == nil {
		cs = &pb.ConfState{}
	}
	nd.cs = proto.Clone(cs).(*pb.ConfState)
	nd.csHist = []fzCS{{index: md.Index, cs: nd.cs}}
	state, ok := w.snaps[string(snap.Data)]
	if ok && uint64(len(state)) == md.Index {
		nd.abase, nd.applied = 0, slices.Clone(state)
	} else {
		nd.abase, nd.applied = md.Index, nil
	}
	if w.cross && !w.tainted {
		for i, e := range nd.applied {
			w.checkCanon(nd, uint64(i+1), e)
		}
	}
}

// apply applies committed entries to nd's state machine, configuration
// changes included.
func (w *fzWorld) apply(nd *fzNode, ents []*pb.Entry) {
	w.t.Helper()
	for _, e := range ents {
		if e.Index != nd.appliedIndex()+1 {
			w.fail("node %d: entry %d applied after %d", nd.id, e.Index, nd.appliedIndex())
		}
		nd.applied = append(nd.applied, fzEntOf(e))
		if w.cross && !w.tainted {
			w.checkCanon(nd, e.Index, fzEntOf(e))
		}
		if e.Type != pb.EntryConfChange && e.Type != pb.EntryConfChangeV2 {
			continue
		}
		cc, err := pb.UnmarshalConfChange(e)
		if err != nil {
			continue
		}
		// A change the node refuses is refused by every node alike.
		if cs, err := nd.rn.ApplyConfChange(cc); err == nil {
			nd.cs = cs
			nd.csHist = append(nd.csHist, fzCS{index: e.Index, cs: cs})
		}
	}
}

// runLocal carries out up to n of nd's pending storage messages, in order,
// and delivers their responses.
func (w *fzWorld) runLocal(nd *fzNode, n int) {
	w.t.Helper()
	for ; n > 0 && len(nd.local) > 0; n-- {
		m := nd.local[0]
		nd.local = nd.local[1:]
		switch m.Type {
		case pb.MsgStorageAppend:
			var hs *pb.HardState
			if m.Term != 0 || m.Vote != 0 || m.Commit != 0 {
				hs = &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
			}
			w.persist(nd, m.Snapshot, hs, m.Entries)
		case pb.MsgStorageApply:
			w.apply(nd, m.Entries)
		}
		for _, resp := range m.Responses {
			if resp.To != nd.id {
				w.send(resp)
				continue
			}
			// A node removed from the configuration finds no progress
			// for its own acknowledgements; nothing else may fail.
			if err := nd.rn.Step(resp); err != nil && !errors.Is(err, ErrStepPeerNotFound) {
				w.fail("node %d: stepping its own %s: %v", nd.id, pb.DescribeMessage(resp, nil), err)
			}
		}
	}
}

// process handles the Readys of every node until none has one.
func (w *fzWorld) process() {
	w.t.Helper()
	for range 200 {
		progress := false
		for _, id := range w.ids {
			for w.handleReady(w.nodes[id]) {
				progress = true
			}
		}
		if !progress {
			return
		}
	}
	w.fail("Readys keep coming")
}

// flushLocal carries out every pending storage message.
func (w *fzWorld) flushLocal() {
	for _, id := range w.ids {
		w.runLocal(w.nodes[id], len(w.nodes[id].local))
	}
}

// deliver steps m into its destination, creating a joining node if m is
// addressed to one that does not exist yet. It reports whether m reached
// a node; the error is in lastStepErr.
func (w *fzWorld) deliver(m *pb.Message) bool {
	w.lastStepErr = nil
	nd, ok := w.nodes[m.To]
	if !ok {
		if !w.joinable[m.To] {
			return false
		}
		nd = w.addNode(m.To)
	}
	w.lastStepErr = nd.rn.Step(m)
	w.noteLeader(nd)
	return true
}

// noteLeader records nd as the leader of its term if it leads, and fails
// if another node led that term.
func (w *fzWorld) noteLeader(nd *fzNode) {
	w.t.Helper()
	if !w.cross || w.tainted || nd.rn.raft.state != StateLeader {
		return
	}
	term := nd.rn.raft.Term
	if other, ok := w.leaders[term]; ok && other != nd.id {
		w.fail("nodes %d and %d are both leaders of term %d", other, nd.id, term)
	}
	w.leaders[term] = nd.id
}

// maxCommit is the highest commit index of any node.
func (w *fzWorld) maxCommit() uint64 {
	var c uint64
	for _, nd := range w.nodes {
		c = max(c, nd.rn.raft.raftLog.committed)
	}
	return c
}

// deliverAll delivers the queued messages (not those they cause) and
// returns how many there were.
func (w *fzWorld) deliverAll(check func(m *pb.Message, err error)) int {
	msgs := w.queue
	w.queue = nil
	for _, m := range msgs {
		if w.deliver(m) && check != nil {
			check(m, w.lastStepErr)
		}
	}
	return len(msgs)
}

// stabilize handles Readys and delivers messages until the cluster is
// quiet or rounds run out.
func (w *fzWorld) stabilize(rounds int, check func(m *pb.Message, err error)) {
	w.t.Helper()
	for range rounds {
		w.flushLocal()
		w.process()
		w.flushLocal()
		if w.deliverAll(check) == 0 && w.quiet() {
			return
		}
	}
}

// quiet reports whether no node has a Ready or a storage message pending.
func (w *fzWorld) quiet() bool {
	for _, nd := range w.nodes {
		if len(nd.local) > 0 || nd.rn.HasReady() {
			return false
		}
	}
	return true
}

// recordCommitted remembers the entries nd committed since last time.
func (w *fzWorld) recordCommitted(nd *fzNode) {
	w.t.Helper()
	l := nd.rn.raft.raftLog
	commit := l.committed
	lo := nd.committedIndex() + 1
	if lo > commit {
		return
	}
	if first := l.firstIndex(); lo < first {
		// A snapshot covers the entries up to first-1: forget them, once
		// compared with the other nodes'.
		w.checkCanonNode(nd)
		nd.cbase, nd.committed = first-1, nil
		lo = first
	}
	if lo > commit {
		return
	}
	ents, err := l.slice(lo, commit+1, noLimit)
	if err != nil {
		w.fail("node %d: reading committed entries [%d, %d]: %v", nd.id, lo, commit, err)
	}
	for _, e := range ents {
		nd.committed = append(nd.committed, fzEntOf(e))
	}
}

// checkCanon compares an entry a node committed or applied at index i
// with what the other nodes committed there.
func (w *fzWorld) checkCanon(nd *fzNode, i uint64, e fzEnt) {
	w.t.Helper()
	if !e.known {
		return
	}
	for uint64(len(w.canon)) < i {
		w.canon = append(w.canon, fzEnt{})
	}
	switch c := w.canon[i-1]; {
	case !c.known:
		w.canon[i-1] = e
	case c != e:
		w.fail("node %d has %s at index %d, another node committed %s there", nd.id, e, i, c)
	}
}

// checkNode checks the invariants of one node that hold whatever it is
// told: its term and commit index never decrease, and its committed
// entries never change, neither in its log nor in its storage.
func (w *fzWorld) checkNode(nd *fzNode) {
	w.t.Helper()
	bs := nd.rn.BasicStatus()
	if bs.Err != nil && !(nd.claimedLoss && errors.Is(bs.Err, errStorageLost)) {
		w.fail("node %d stopped: %v", nd.id, bs.Err)
	}
	if bs.Term < nd.maxTerm || bs.Commit < nd.maxCommit {
		w.fail("node %d: term %d commit %d after term %d commit %d", nd.id, bs.Term, bs.Commit, nd.maxTerm, nd.maxCommit)
	}
	nd.maxTerm, nd.maxCommit = bs.Term, bs.Commit
	w.recordCommitted(nd)
	l := nd.rn.raft.raftLog
	first, last := l.firstIndex(), min(l.lastIndex(), nd.committedIndex())
	if first <= last {
		ents, err := l.slice(first, last+1, noLimit)
		if err != nil {
			w.fail("node %d: reading its log [%d, %d]: %v", nd.id, first, last, err)
		}
		w.compareCommitted(nd, "log", ents)
	}
	if l.unstable.snapshot == nil {
		// Storage holds the log below the unstable entries. (At and above
		// them it may hold entries the log replaced, still to be
		// overwritten.)
		sf, _ := nd.st.FirstIndex()
		sl, _ := nd.st.LastIndex()
		if sl = min(sl, nd.committedIndex(), l.unstable.offset-1); sf <= sl {
			ents, err := nd.st.Entries(sf, sl+1, noLimit)
			if err != nil {
				w.fail("node %d: reading storage [%d, %d]: %v", nd.id, sf, sl, err)
			}
			w.compareCommitted(nd, "storage", ents)
		}
	}
	w.checkCanonNode(nd)
	w.noteLeader(nd)
}

// checkCanonNode compares the entries nd committed since last time with
// the cluster's canonical log.
func (w *fzWorld) checkCanonNode(nd *fzNode) {
	w.t.Helper()
	if !w.cross || w.tainted {
		return
	}
	for i := max(nd.canonDone, nd.cbase) + 1; i <= nd.committedIndex(); i++ {
		w.checkCanon(nd, i, nd.committedAt(i))
	}
	nd.canonDone = nd.committedIndex()
}

func (w *fzWorld) compareCommitted(nd *fzNode, where string, ents []*pb.Entry) {
	w.t.Helper()
	for _, e := range ents {
		if e.Index > nd.committedIndex() {
			return
		}
		if rec := nd.committedAt(e.Index); rec.known && rec != fzEntOf(e) {
			w.fail("node %d: committed entry %d was %s, its %s has %s", nd.id, e.Index, rec, where, fzEntOf(e))
		}
	}
}

func (w *fzWorld) checkAll() {
	w.t.Helper()
	for _, id := range w.ids {
		w.checkNode(w.nodes[id])
	}
}

// compact makes nd's application snapshot its state at an applied index
// chosen by k and compact its storage there.
func (w *fzWorld) compact(nd *fzNode, k byte) {
	w.t.Helper()
	snap, _ := nd.st.Snapshot()
	si := snap.GetMetadata().GetIndex()
	applied := nd.appliedIndex()
	if applied <= si || nd.abase != 0 {
		return
	}
	i := si + 1 + uint64(k)%(applied-si)
	data := fmt.Appendf(nil, "snap-%d", len(w.snaps))
	w.snaps[string(data)] = slices.Clone(nd.applied[:i])
	if _, err := nd.st.CreateSnapshot(i, nd.csAt(i), data); err != nil {
		w.fail("node %d: CreateSnapshot(%d): %v", nd.id, i, err)
	}
	if err := nd.st.Compact(i); err != nil {
		w.fail("node %d: Compact(%d): %v", nd.id, i, err)
	}
}

// fzSentinels are the errors an error of the API must wrap.
var fzSentinels = []error{
	ErrProposalDropped, ErrStepLocalMsg, ErrStepPeerNotFound, ErrNoLeader, ErrConfChangeRejected,
	ErrInvalidMessage, ErrStorageFailed, ErrAsyncAdvance, ErrBootstrapNotEmpty, ErrInvalidConfig,
}

func fzKnownErr(err error) bool {
	if err == nil {
		return true
	}
	if strings.Contains(err.Error(), "cannot transfer leadership to learner") {
		// The one error of the API without a sentinel (see leaderTransfer).
		return true
	}
	for _, s := range fzSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------
// FuzzStepMessage

// The roles FuzzStepMessage drives node 1 to.
const (
	fzFollower = iota
	fzPreCandidate
	fzCandidate
	fzLeader
)

// fzElect makes node id campaign in a cluster that has no leader yet and
// settles the cluster; id must win.
func (w *fzWorld) fzElect(id uint64) {
	w.t.Helper()
	if err := w.node(id).rn.Campaign(); err != nil {
		w.fail("campaign %d: %v", id, err)
	}
	w.stabilize(50, nil)
	if st := w.node(id).rn.BasicStatus().RaftState; st != StateLeader {
		w.fail("setup: node %d did not win the election: %s", id, st)
	}
}

// fzTransfer hands leadership from the current leader to id.
func (w *fzWorld) fzTransfer(from, to uint64) {
	w.t.Helper()
	if err := w.node(from).rn.TransferLeader(to); err != nil {
		w.fail("transfer %d->%d: %v", from, to, err)
	}
	w.stabilize(50, nil)
	if st := w.node(to).rn.BasicStatus().RaftState; st != StateLeader {
		w.fail("setup: node %d did not take over leadership: %s", to, st)
	}
}

func (w *fzWorld) fzPropose(id uint64, n int, tag string) {
	w.t.Helper()
	for i := range n {
		if err := w.node(id).rn.Propose(fmt.Appendf(nil, "%s%d", tag, i)); err != nil {
			w.fail("setup: propose on %d: %v", id, err)
		}
	}
}

// fzStepSetup builds the cluster state FuzzStepMessage steps into: node 1
// in the chosen role, after a history shaped by shape.
func fzStepSetup(t testing.TB, cfg, role, shape byte) *fzWorld {
	o := fzOptsFrom(cfg)
	o.hold = false
	o.maxUncommitted = 0
	role %= 4
	if role == fzPreCandidate {
		o.preVote = true
	}
	w := fzNewWorld(t, o, 3)
	leader := uint64(2)
	if role == fzLeader {
		leader = 1
	}
	if shape&0x80 != 0 {
		// An earlier leader, so that the log holds several terms.
		w.fzElect(3)
		w.fzPropose(3, 1, "old")
		w.stabilize(50, nil)
		w.fzTransfer(3, leader)
	} else {
		w.fzElect(leader)
	}
	w.fzPropose(leader, int(shape&3), "c")
	w.stabilize(50, nil)
	if tail := int(shape>>2) % 3; tail > 0 {
		// Uncommitted entries at node 1: the leader's own, or appended
		// from the leader with the acknowledgements lost.
		w.fzPropose(leader, tail, "u")
		w.process()
		w.flushLocal()
		if leader != 1 {
			msgs := w.queue
			w.queue = nil
			for _, m := range msgs {
				if m.To == 1 && m.Type == pb.MsgApp {
					w.deliver(m)
				}
			}
			w.process()
			w.flushLocal()
		}
		w.queue = nil
	}
	if shape&0x40 != 0 {
		w.compact(w.node(1), shape>>4)
	}
	n1 := w.node(1)
	switch role {
	case fzPreCandidate:
		// A lease-based node keeps its promise to the leader for an
		// election timeout before it may campaign.
		for n1.rn.raft.votePromised() {
			n1.rn.Tick()
		}
		if err := n1.rn.Campaign(); err != nil {
			w.fail("setup: campaign: %v", err)
		}
	case fzCandidate:
		// What leader 2 sends when it hands leadership to node 1.
		m := &pb.Message{Type: pb.MsgTimeoutNow, From: leader, To: 1, Term: n1.rn.raft.Term}
		if err := n1.rn.Step(m); err != nil {
			w.fail("setup: MsgTimeoutNow: %v", err)
		}
	}
	w.process()
	w.flushLocal()
	w.queue = nil
	want := map[byte]StateType{
		fzFollower: StateFollower, fzPreCandidate: StatePreCandidate, fzCandidate: StateCandidate, fzLeader: StateLeader,
	}[role]
	if st := n1.rn.BasicStatus().RaftState; st != want {
		w.fail("setup: node 1 is %s, want %s", st, want)
	}
	w.checkAll()
	return w
}

// fzFromPool are the senders of fuzzed messages: peers, this node, None,
// nodes that are not members, and the local storage threads.
var fzFromPool = [16]uint64{2, 3, 2, 3, 1, None, 4, 6, 2, 3, 2, 3, 1, None, LocalAppendThread, LocalApplyThread}

// fzMsgTypes maps a byte to a message type: every type, the ones peers
// send more often, and values that are no message type. ASCII digits, which
// the fuzzing engine likes, land on network messages.
var fzMsgTypes = [32]pb.MessageType{
	pb.MsgHup, pb.MsgBeat, pb.MsgProp, pb.MsgApp, pb.MsgAppResp, pb.MsgVote, pb.MsgVoteResp, pb.MsgSnap,
	pb.MsgHeartbeat, pb.MsgHeartbeatResp, pb.MsgUnreachable, pb.MsgSnapStatus, pb.MsgCheckQuorum,
	pb.MsgTransferLeader, pb.MsgTimeoutNow, pb.MsgReadIndex,
	pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap, pb.MsgAppResp, pb.MsgVote, pb.MsgPreVote, pb.MsgVoteResp,
	pb.MsgPreVoteResp, pb.MsgReadIndexResp, pb.MsgStorageAppend, pb.MsgStorageAppendResp, pb.MsgStorageApply,
	pb.MsgStorageApplyResp, pb.MsgForgetLeader, pb.MsgForgetLeader + 1, -1,
}

// fzTypeByte returns the byte that selects t in fzMsgTypes.
func fzTypeByte(t pb.MessageType) byte { return byte(slices.Index(fzMsgTypes[:], t)) }

// fzBuildMessage builds a message from the fuzz input, with fields near
// node nd's state.
func fzBuildMessage(r *fzReader, nd *fzNode) *pb.Message {
	rf := nd.rn.raft
	l := rf.raftLog
	last, commit := l.lastIndex(), l.committed
	lastTerm := l.lastTerm()
	m := &pb.Message{To: nd.id}
	k := r.u8()
	m.Type = fzMsgTypes[k%32]
	if k == 0xff {
		m.Type = pb.MessageType(int32(r.u64()))
	}
	m.From = fzFromPool[r.u8()%16]
	if r.u8()&7 == 7 {
		m.To = fzPickID(r)
	}
	m.Term = fzRel(r, rf.Term)
	if m.Type == pb.MsgPreVote || m.Type == pb.MsgPreVoteResp {
		m.Term = fzRel(r, rf.Term+1)
	}
	m.Index = fzRel(r, last)
	if r.u8()&1 == 1 {
		m.Index = fzRel(r, commit)
	}
	m.LogTerm = fzRel(r, lastTerm)
	if t, err := l.term(m.Index); err == nil && r.u8()&1 == 1 {
		m.LogTerm = t
	}
	m.Commit = fzRel(r, commit)
	if r.u8()&1 == 1 {
		m.Commit = fzRel(r, last)
	}
	flags := r.u8()
	m.Reject = flags&1 != 0
	if flags&2 != 0 {
		m.RejectHint = fzRel(r, last)
	}
	if flags&4 != 0 {
		m.Vote = fzPickID(r)
	}
	switch (flags >> 3) % 4 {
	case 1:
		m.Context = []byte(campaignTransfer)
	case 2:
		m.Context = encodeReadSeq(fzRel(r, rf.readSeq))
	case 3:
		m.Context = r.bytes(10)
	}
	n := int(r.u8() % 5)
	index, term := m.Index, m.LogTerm
	for range n {
		ek := r.u8()
		index++
		if ek&3 == 3 {
			index = fzRel(r, index)
		}
		switch (ek >> 2) % 4 {
		case 1:
			term++
		case 2:
			term = fzRel(r, m.Term)
		case 3:
			term = fzRel(r, term)
		}
		e := &pb.Entry{Index: index, Term: term, Type: pb.EntryType((ek >> 4) % 4)}
		switch {
		case (ek>>6) == 1 && (e.Type == pb.EntryConfChange || e.Type == pb.EntryConfChangeV2):
			cc := fzConfChange(r)
			typ, data, err := pb.MarshalConfChange(cc)
			if err == nil {
				e.Type, e.Data = typ, data
			}
		default:
			e.Data = r.bytes(12)
		}
		m.Entries = append(m.Entries, e)
	}
	if flags&0x20 != 0 {
		sk := r.u8()
		md := &pb.SnapshotMetadata{Index: fzRel(r, last), Term: fzRel(r, m.Term)}
		if sk&1 == 0 {
			md.ConfState = &pb.ConfState{}
			for range int(sk>>1) % 4 {
				md.ConfState.Voters = append(md.ConfState.Voters, fzPickID(r))
			}
			if sk&0x10 != 0 {
				md.ConfState.Learners = append(md.ConfState.Learners, fzPickID(r))
			}
			if sk&0x20 != 0 {
				md.ConfState.VotersOutgoing = append(md.ConfState.VotersOutgoing, 1, fzPickID(r))
				md.ConfState.AutoLeave = sk&0x40 != 0
			}
			if sk&0x80 != 0 {
				md.ConfState.LearnersNext = append(md.ConfState.LearnersNext, fzPickID(r))
			}
		} else if sk&2 == 0 {
			// The node's configuration, perhaps with a learner more: the
			// snapshot a leader would send.
			md.ConfState = rf.trk.ConfState()
			if sk&4 != 0 {
				md.ConfState.Learners = append(md.ConfState.Learners, fzPickID(r))
			}
		}
		m.Snapshot = &pb.Snapshot{Metadata: md, Data: r.bytes(4)}
		if sk == 0xff {
			m.Snapshot.Metadata = nil
		}
	}
	return m
}

// fzStepChecked steps m into node nd from the outside and checks the
// error Step returns.
func (w *fzWorld) fzStepChecked(nd *fzNode, m *pb.Message) {
	w.t.Helper()
	if (m.From == LocalAppendThread || m.From == LocalApplyThread) && pb.IsLocalMsg(m.Type) {
		// Storage responses come from the application, which the node
		// trusts; forging them is not network input.
		m.From = 2
	}
	rf := nd.rn.raft
	known := rf.trk.Progress[m.From] != nil
	before := nd.rn.BasicStatus()
	lastBefore, lastTermBefore := rf.raftLog.lastIndex(), rf.raftLog.lastTerm()
	desc := pb.DescribeMessage(m, nil)
	err := nd.rn.Step(m)
	after := nd.rn.BasicStatus()
	validType := m.Type >= 0 && m.Type <= pb.MsgForgetLeader
	switch {
	case pb.IsLocalMsg(m.Type):
		if !errors.Is(err, ErrStepLocalMsg) {
			w.fail("Step(%s) = %v, want ErrStepLocalMsg", desc, err)
		}
	case pb.IsResponseMsg(m.Type) && !known && m.From != nd.id:
		if !errors.Is(err, ErrStepPeerNotFound) {
			w.fail("Step(%s) = %v, want ErrStepPeerNotFound", desc, err)
		}
	case !validType:
		if !errors.Is(err, ErrInvalidMessage) {
			w.fail("Step(%s) = %v, want ErrInvalidMessage", desc, err)
		}
	}
	if !fzKnownErr(err) {
		w.fail("Step(%s) = %v, which wraps no package error", desc, err)
	}
	if errors.Is(err, errStorageLost) {
		// A heartbeat of the node's leader says the node acknowledged
		// entries its log lacks: it trusts its leader and stops. Nothing
		// else may make it claim a loss.
		if m.Type != pb.MsgHeartbeat || m.Commit <= lastBefore || rf.trk.Progress[m.From] == nil {
			w.fail("Step(%s) = %v: a storage loss claimed by something else than the leader's heartbeat", desc, err)
		}
		nd.claimedLoss = true
	}
	dropped := after.DroppedMessages - before.DroppedMessages
	switch {
	case errors.Is(err, ErrInvalidMessage) && dropped != 1:
		w.fail("Step(%s) = %v but counted %d dropped messages", desc, err, dropped)
	case !errors.Is(err, ErrInvalidMessage) && dropped != 0:
		w.fail("Step(%s) = %v but counted %d dropped messages", desc, err, dropped)
	}
	if errors.Is(err, ErrInvalidMessage) {
		// An invalid message is dropped: the log is left as it was.
		if after.Commit != before.Commit || rf.raftLog.lastIndex() != lastBefore || rf.raftLog.lastTerm() != lastTermBefore {
			w.fail("Step(%s) = %v but changed the log: commit %d->%d, last %d/%d->%d/%d", desc, err,
				before.Commit, after.Commit, lastTermBefore, lastBefore, rf.raftLog.lastTerm(), rf.raftLog.lastIndex())
		}
	}
}

// fzRun lets the cluster work for a few rounds after a fuzzed step:
// Readys, ticks of node 1 and message deliveries, checking every node
// after each round.
func (w *fzWorld) fzRun(r *fzReader) {
	w.t.Helper()
	rounds := int(r.u8()%4) + 1
	for range rounds {
		w.process()
		w.flushLocal()
		w.checkAll()
		for range int(r.u8() % 3) {
			w.node(1).rn.Tick()
		}
		w.process()
		w.flushLocal()
		w.checkAll()
		w.deliverAll(nil)
	}
	w.process()
	w.flushLocal()
	w.checkAll()
}

func FuzzStepMessage(f *testing.F) {
	// cfg: async, preVote, checkQuorum, lease, ...; role; shape: committed
	// proposals, uncommitted tail, compaction, earlier leader.
	app := func(typ pb.MessageType, from, term, logTerm, index, commit uint64, ents ...*pb.Entry) []byte {
		b, err := proto.Marshal(&pb.Message{
			Type: typ, From: from, To: 1, Term: term, LogTerm: logTerm, Index: index, Commit: commit, Entries: ents,
		})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	// Structured fields (see fzBuildMessage): type, from, to?, term,
	// index and a choice, log term and a choice, commit and a choice,
	// flags, number of entries, entries, snapshot.
	f.Add(byte(0), byte(fzFollower), byte(1), []byte{}, []byte{fzTypeByte(pb.MsgApp), 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add(byte(1), byte(fzLeader), byte(2), app(pb.MsgAppResp, 2, 2, 0, 7, 0), []byte{fzTypeByte(pb.MsgAppResp), 1, 0, 0, 1})
	f.Add(byte(2), byte(fzPreCandidate), byte(5), app(pb.MsgPreVoteResp, 3, 3, 0, 0, 0), []byte{fzTypeByte(pb.MsgPreVoteResp), 1, 0, 0})
	f.Add(byte(4), byte(fzCandidate), byte(0x41), app(pb.MsgVoteResp, 2, 3, 0, 0, 0), []byte{fzTypeByte(pb.MsgVoteResp), 0, 0, 0})
	f.Add(byte(7), byte(fzFollower), byte(0x86), app(pb.MsgHeartbeat, 2, 2, 0, 0, 99), []byte{fzTypeByte(pb.MsgHeartbeat), 0, 0, 0, 0, 0, 0, 0, 4})
	f.Add(byte(0), byte(fzFollower), byte(0xc4),
		app(pb.MsgApp, 3, 9, 1, 1, 9, &pb.Entry{Index: 2, Term: 9}, &pb.Entry{Index: 3, Term: 9}),
		[]byte{fzTypeByte(pb.MsgSnap), 1, 0, 1, 4, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0x20})
	f.Add(byte(9), byte(fzLeader), byte(0x87), app(pb.MsgReadIndex, 2, 0, 0, 0, 0, &pb.Entry{Data: []byte("r")}),
		[]byte{fzTypeByte(pb.MsgHeartbeatResp), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0})
	f.Add(byte(3), byte(fzFollower), byte(0), app(pb.MsgTimeoutNow, 2, 2, 0, 0, 0), []byte{fzTypeByte(pb.MsgTransferLeader), 1})
	// A snapshot from the leader two entries past the log, with the
	// node's configuration: installed.
	snap := []byte{fzTypeByte(pb.MsgSnap), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 1, 4, 0}
	f.Add(byte(0), byte(fzFollower), byte(0x41), []byte{}, snap)
	f.Add(byte(1), byte(fzCandidate), byte(0x82), []byte{}, snap)
	// The same at the largest index, and at the largest a peer may use.
	f.Add(byte(0), byte(fzFollower), byte(0), []byte{}, append(slices.Clone(snap[:13]), 24<<3|6, 0))
	f.Add(byte(0), byte(fzFollower), byte(0), []byte{}, append(slices.Clone(snap[:13]), 29<<3|6, 0))
	f.Fuzz(fzStepMessage)
}

// fzStepMessage is one run of FuzzStepMessage.
func fzStepMessage(t *testing.T, cfg, role, shape byte, raw, fields []byte) {
	w := fzStepSetup(t, cfg, role, shape)
	n1 := w.node(1)
	r := &fzReader{b: fields}
	if len(raw) > 0 {
		m := &pb.Message{}
		if proto.Unmarshal(raw, m) == nil {
			w.fzStepChecked(n1, m)
			w.fzRun(r)
		}
	}
	w.fzStepChecked(n1, fzBuildMessage(r, n1))
	w.fzRun(r)
}

// ---------------------------------------------------------------------
// FuzzAPISequence

// fzTrace logs every operation of FuzzAPISequence, to debug a failing
// input: FZTRACE=1 go test -run 'FuzzAPISequence/<name>' -v .
var fzTrace = os.Getenv("FZTRACE") != ""

// fzAPI runs one API sequence.
type fzAPI struct {
	*fzWorld
	r *fzReader
}

// checkNet checks the error of a message delivered between nodes. Correct
// nodes never send each other invalid messages.
func (a *fzAPI) checkNet(m *pb.Message, err error) {
	a.t.Helper()
	if !fzKnownErr(err) {
		a.fail("delivering %s: %v, which wraps no package error", pb.DescribeMessage(m, nil), err)
	}
	if errors.Is(err, ErrInvalidMessage) && !a.tainted {
		a.fail("delivering %s between correct nodes: %v", pb.DescribeMessage(m, nil), err)
	}
}

func (a *fzAPI) checkErr(what string, err error) {
	a.t.Helper()
	if !fzKnownErr(err) {
		a.fail("%s: %v, which wraps no package error", what, err)
	}
}

// The operations of FuzzAPISequence. An operation is a byte (its low five
// bits index fzOpTable; the high bit asks to handle every node's Readys
// afterwards), the node it applies to, and its arguments.
const (
	fzOpTick        = iota // Tick
	fzOpTickAll            // n: every node ticks n%12+1 times
	fzOpCampaign           // Campaign
	fzOpPropose            // data: Propose
	fzOpProposeCC          // change: ProposeConfChange
	fzOpApplyCC            // change: ApplyConfChange of a change not in the log
	fzOpReadIndex          // ctx: ReadIndex
	fzOpTransfer           // id: TransferLeader
	fzOpForget             // ForgetLeader
	fzOpUnreachable        // id: ReportUnreachable
	fzOpReportSnap         // status, id: ReportSnapshot
	fzOpNet                // sub, ...: deliver, drop, duplicate, reorder messages
	fzOpReady              // handle one Ready
	fzOpProcess            // handle every node's Readys
	fzOpRunLocal           // n: carry out held storage messages (async)
	fzOpCompact            // k: snapshot and compact storage
	fzOpStatus             // Status and BasicStatus
	fzOpMisuse             // sub: API misuse that must return an error
)

var fzOpNames = [...]string{
	"Tick", "TickAll", "Campaign", "Propose", "ProposeConfChange", "ApplyConfChange", "ReadIndex",
	"TransferLeader", "ForgetLeader", "ReportUnreachable", "ReportSnapshot", "Net", "Ready", "Process",
	"RunLocal", "Compact", "Status", "Misuse",
}

// fzOpTable weighs the operations: the cluster must work (deliver, handle
// Readys, propose) for the rarer calls to meet interesting states.
var fzOpTable = [32]int{
	fzOpTick, fzOpTickAll, fzOpTickAll, fzOpCampaign, fzOpPropose, fzOpPropose, fzOpPropose, fzOpPropose,
	fzOpProposeCC, fzOpProposeCC, fzOpApplyCC, fzOpReadIndex, fzOpTransfer, fzOpForget, fzOpUnreachable, fzOpReportSnap,
	fzOpNet, fzOpNet, fzOpNet, fzOpNet, fzOpNet, fzOpNet, fzOpReady, fzOpReady,
	fzOpProcess, fzOpProcess, fzOpProcess, fzOpRunLocal, fzOpCompact, fzOpCompact, fzOpStatus, fzOpMisuse,
}

// fzOp returns the byte that selects op.
func fzOp(op int) byte { return byte(slices.Index(fzOpTable[:], op)) }

func (a *fzAPI) pickNode() *fzNode { return a.nodes[a.ids[int(a.r.u8())%len(a.ids)]] }

func (a *fzAPI) op() {
	a.t.Helper()
	r := a.r
	k := r.u8()
	nd := a.pickNode()
	rn := nd.rn
	bs := rn.BasicStatus()
	op := fzOpTable[k%32]
	if fzTrace {
		a.t.Logf("%s on node %d, %d in flight", fzOpNames[op], nd.id, len(a.queue))
		for _, id := range a.ids {
			bs := a.nodes[id].rn.BasicStatus()
			a.t.Logf("  node %d: %s term %d lead %d commit %d applied %d last %d config %s", id, bs.RaftState,
				bs.Term, bs.Lead, bs.Commit, bs.Applied, a.nodes[id].rn.raft.raftLog.lastIndex(), a.nodes[id].rn.raft.trk.Config)
		}
	}
	switch op {
	case fzOpTick:
		rn.Tick()
	case fzOpTickAll:
		for range int(r.u8()%12) + 1 {
			for _, id := range a.ids {
				a.nodes[id].rn.Tick()
			}
		}
	case fzOpCampaign:
		if err := rn.Campaign(); err != nil {
			a.fail("node %d: Campaign: %v", nd.id, err)
		}
	case fzOpPropose:
		err := rn.Propose(r.bytes(8))
		a.checkErr("Propose", err)
		rf := rn.raft
		if err != nil && bs.RaftState == StateLeader && rf.leadTransferee == None &&
			rf.trk.Progress[rf.id] != nil && rf.maxUncommittedSize == 0 {
			a.fail("node %d: leader refused a proposal: %v", nd.id, err)
		}
		if err == nil && (bs.RaftState == StateCandidate || bs.RaftState == StatePreCandidate) {
			a.fail("node %d: %s accepted a proposal", nd.id, bs.RaftState)
		}
	case fzOpProposeCC:
		cc := fzConfChange(r)
		last := rn.raft.raftLog.lastIndex()
		err := rn.ProposeConfChange(cc)
		a.checkErr("ProposeConfChange", err)
		if errors.Is(err, ErrConfChangeRejected) && rn.raft.raftLog.lastIndex() != last {
			a.fail("node %d: rejected configuration change was appended", nd.id)
		}
	case fzOpApplyCC:
		cc := fzConfChange(r)
		cs, err := rn.ApplyConfChange(cc)
		a.checkErr("ApplyConfChange", err)
		if err == nil {
			// A change applied out of the log: the nodes' configurations
			// may disagree from now on, which no safety property survives.
			a.tainted = true
			nd.cs = cs
			nd.csHist = append(nd.csHist, fzCS{index: nd.appliedIndex(), cs: cs})
		}
	case fzOpReadIndex:
		// Each request has its own context, so that its answer can be
		// checked: the read index covers every entry committed anywhere
		// when the request was made.
		ctx := fmt.Appendf(nil, "read-%d", len(a.reads))
		a.reads[string(ctx)] = a.maxCommit()
		err := rn.ReadIndex(ctx)
		a.checkErr("ReadIndex", err)
		if (bs.RaftState == StateFollower && bs.Lead == None) || bs.RaftState == StateCandidate ||
			bs.RaftState == StatePreCandidate {
			if !errors.Is(err, ErrNoLeader) {
				a.fail("node %d: ReadIndex without a leader = %v, want ErrNoLeader", nd.id, err)
			}
		}
	case fzOpTransfer:
		to := fzPickID(r)
		err := rn.TransferLeader(to)
		if bs.RaftState == StateLeader && rn.raft.trk.Progress[to] == nil && !errors.Is(err, ErrStepPeerNotFound) {
			a.fail("node %d: TransferLeader(%d) to a non-member = %v, want ErrStepPeerNotFound", nd.id, to, err)
		}
		a.checkErr("TransferLeader", err)
	case fzOpForget:
		a.checkErr("ForgetLeader", rn.ForgetLeader())
	case fzOpUnreachable:
		a.checkErr("ReportUnreachable", rn.ReportUnreachable(fzPickID(r)))
	case fzOpReportSnap:
		status := SnapshotFinish
		if r.u8()&1 == 1 {
			status = SnapshotFailure
		}
		a.checkErr("ReportSnapshot", rn.ReportSnapshot(fzPickID(r), status))
	case fzOpNet:
		a.netOp()
	case fzOpReady:
		a.handleReady(nd)
	case fzOpProcess:
		a.process()
	case fzOpRunLocal:
		a.runLocal(nd, int(r.u8()%4)+1)
	case fzOpCompact:
		a.compact(nd, r.u8())
	case fzOpStatus:
		a.status(nd)
	case fzOpMisuse:
		a.misuse(nd)
	}
	if k&0x80 != 0 {
		a.process()
	}
	a.checkAll()
}

// netOp delivers, drops, duplicates or reorders messages in flight.
func (a *fzAPI) netOp() {
	a.t.Helper()
	r := a.r
	sub := r.u8()
	if len(a.queue) == 0 && sub%8 != 6 {
		return
	}
	switch sub % 8 {
	case 0:
		m := a.queue[0]
		a.queue = a.queue[1:]
		if a.deliver(m) {
			a.checkNet(m, a.lastStepErr)
		}
	case 1:
		a.queue = a.queue[1:]
	case 2:
		// Duplicate: deliver now and again later, the same message both
		// times, as an in-process transport sharing pointers would.
		m := a.queue[0]
		a.queue = append(a.queue[1:], m)
		if a.deliver(m) {
			a.checkNet(m, a.lastStepErr)
		}
	case 3:
		a.deliverAll(a.checkNet)
	case 4:
		i := int(r.u8()) % len(a.queue)
		m := a.queue[i]
		a.queue = slices.Delete(a.queue, i, i+1)
		if a.deliver(m) {
			a.checkNet(m, a.lastStepErr)
		}
	case 5:
		// A partition: everything to or from one node is lost.
		id := fzPickID(r)
		a.queue = slices.DeleteFunc(a.queue, func(m *pb.Message) bool { return m.From == id || m.To == id })
	case 6:
		a.stabilize(int(r.u8()%8)+1, a.checkNet)
	case 7:
		i := int(r.u8()) % len(a.queue)
		a.queue[0], a.queue[i] = a.queue[i], a.queue[0]
	}
}

// status checks that Status and BasicStatus agree.
func (a *fzAPI) status(nd *fzNode) {
	a.t.Helper()
	bs := nd.rn.BasicStatus()
	s := nd.rn.Status()
	if s.BasicStatus != bs {
		a.fail("node %d: Status %+v and BasicStatus %+v differ", nd.id, s.BasicStatus, bs)
	}
	if (s.Progress != nil) != (bs.RaftState == StateLeader) {
		a.fail("node %d: %s with progress %v", nd.id, bs.RaftState, s.Progress)
	}
	if _, err := s.MarshalJSON(); err != nil {
		a.fail("node %d: Status.MarshalJSON: %v", nd.id, err)
	}
	n := 0
	nd.rn.WithProgress(func(uint64, ProgressType, progressT) { n++ })
	if bs.RaftState == StateLeader && n != len(s.Progress) {
		a.fail("node %d: WithProgress visited %d peers, Status has %d", nd.id, n, len(s.Progress))
	}
	if bs.Applied > bs.Commit {
		a.fail("node %d: applied %d beyond commit %d", nd.id, bs.Applied, bs.Commit)
	}
}

// misuse calls the API wrongly and checks that it says so.
func (a *fzAPI) misuse(nd *fzNode) {
	a.t.Helper()
	rn := nd.rn
	switch sub := a.r.u8(); sub % 8 {
	case 0:
		if err := rn.ProposeConfChange(nil); !errors.Is(err, ErrConfChangeRejected) {
			a.fail("ProposeConfChange(nil) = %v", err)
		}
	case 1:
		if cs, err := rn.ApplyConfChange(nil); err == nil || cs != nil {
			a.fail("ApplyConfChange(nil) = %v, %v", cs, err)
		}
	case 2:
		if err := rn.Step(nil); !errors.Is(err, ErrInvalidMessage) {
			a.fail("Step(nil) = %v", err)
		}
	case 3:
		local := []pb.MessageType{
			pb.MsgHup, pb.MsgBeat, pb.MsgUnreachable, pb.MsgSnapStatus, pb.MsgCheckQuorum,
			pb.MsgStorageAppend, pb.MsgStorageAppendResp, pb.MsgStorageApply, pb.MsgStorageApplyResp,
		}
		m := &pb.Message{Type: local[int(sub>>3)%len(local)], From: fzPickID(a.r), To: nd.id, Term: rn.raft.Term}
		if err := rn.Step(m); !errors.Is(err, ErrStepLocalMsg) {
			a.fail("Step(%s) = %v, want ErrStepLocalMsg", pb.DescribeMessage(m, nil), err)
		}
	case 4:
		// The harness handles every Ready it takes, so none is outstanding.
		err := rn.Advance(Ready{})
		want := ErrInvalidCall
		switch {
		case rn.asyncStorageWrites:
			want = ErrAsyncAdvance
		case rn.raft.failed != nil:
			want = ErrStorageFailed
		}
		if !errors.Is(err, want) {
			a.fail("Advance without a Ready (async %v) = %v, want %v", rn.asyncStorageWrites, err, want)
		}
	case 5:
		if err := rn.Bootstrap(nil); !errors.Is(err, ErrInvalidConfig) {
			a.fail("Bootstrap(nil) = %v", err)
		}
		if nd.id <= 3 {
			if err := rn.Bootstrap([]Peer{{ID: 1}}); !errors.Is(err, ErrBootstrapNotEmpty) {
				a.fail("Bootstrap on a bootstrapped node = %v", err)
			}
		}
	case 6:
		m := &pb.Message{Type: pb.MsgAppResp, From: 9, To: nd.id, Term: rn.raft.Term, Index: 1}
		if err := rn.Step(m); !errors.Is(err, ErrStepPeerNotFound) {
			a.fail("Step(%s) = %v, want ErrStepPeerNotFound", pb.DescribeMessage(m, nil), err)
		}
	case 7:
		if err := rn.Propose(nil); rn.BasicStatus().RaftState == StateCandidate && !errors.Is(err, ErrProposalDropped) {
			a.fail("Propose on a candidate = %v", err)
		}
	}
}

// fzAPISetup elects a leader (setup%4: none, or node 1..3) and commits
// (setup>>2)%8 proposals before the operations run.
func fzAPISetup(w *fzWorld, setup byte) {
	if lead := uint64(setup % 4); lead != 0 {
		w.fzElect(lead)
		w.fzPropose(lead, int(setup>>2)%8, "s")
		w.stabilize(50, nil)
	}
}

func FuzzAPISequence(f *testing.F) {
	const p = 0x80 // handle every node's Readys after the operation
	var (
		net       = fzOp(fzOpNet)
		propose   = fzOp(fzOpPropose)
		proposeCC = fzOp(fzOpProposeCC)
		stabilize = []byte{net, 0, 6, 7}
	)
	elect := append([]byte{fzOp(fzOpCampaign) | p, 0}, stabilize...)
	f.Add(byte(0), byte(0), elect)
	f.Add(byte(1), byte(0), append(slices.Clone(elect), propose|p, 0, 3, 'a', 'b', 'c', net, 0, 0, propose|p, 1, 0, net, 0, 6, 7))
	// Add node 4 and let it catch up, then compact and add node 5 (snapshot).
	f.Add(byte(2), byte(1|4<<2), []byte{proposeCC | p, 0, 0, 3, net, 0, 6, 7, fzOp(fzOpCompact), 0, 0xff,
		proposeCC | p, 0, 0, 4, net, 0, 6, 7})
	// A joint change in async mode with held writes.
	f.Add(byte(0x21), byte(2), []byte{proposeCC | p, 1, 0x0b, 0, 2, 4, 0, 5, net, 0, 6, 7,
		fzOp(fzOpRunLocal), 1, 3, net, 0, 6, 7})
	f.Add(byte(4), byte(3|2<<2), []byte{fzOp(fzOpTransfer) | p, 2, 1, net, 0, 6, 7,
		fzOp(fzOpReadIndex) | p, 0, 1, 'x', net, 0, 6, 7, fzOp(fzOpForget) | p, 1})
	f.Add(byte(8), byte(1), []byte{fzOp(fzOpTickAll), 0, 11, net, 0, 5, 2, fzOp(fzOpTickAll), 0, 11,
		net, 0, 6, 7, fzOp(fzOpMisuse), 0, 3, fzOp(fzOpMisuse), 1, 4})
	f.Add(byte(0x41), byte(1|7<<2), []byte{propose | p, 0, 9, 'p', 'a', 'y', 'l', 'o', 'a', 'd', '!',
		net, 0, 2, net, 0, 4, 1, net, 0, 0, net, 0, 6, 7, fzOp(fzOpApplyCC), 2, 2, 3})
	f.Fuzz(fzAPISequence)
}

// fzAPISequence is one run of FuzzAPISequence.
func fzAPISequence(t *testing.T, cfg, setup byte, ops []byte) {
	w := fzNewWorld(t, fzOptsFrom(cfg), 3)
	w.cross = true
	w.joinable[4], w.joinable[5] = true, true
	fzAPISetup(w, setup)
	a := &fzAPI{fzWorld: w, r: &fzReader{b: ops}}
	for n := 0; a.r.more() && n < 200; n++ {
		a.op()
	}
	a.stabilize(30, a.checkNet)
	a.checkAll()
}
