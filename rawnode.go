package raft

import (
	"errors"
	"fmt"
	"math"

	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// SoftState is the volatile state of a node: it is not persisted, and the
// application uses it for routing (who leads) and display.
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// Ready is the batch of work a node hands to its application: what to
// persist, what to send and what to apply. Read the contract in the package
// documentation; in short, in the default (synchronous) mode:
//
//  1. Persist HardState, Entries and Snapshot (fsync when MustSync).
//  2. Send Messages. A leader may send them while step 1 is in progress
//     (Raft thesis §10.2.1); a follower or candidate must not send any
//     before step 1 is done, since its answers promise durability.
//  3. Apply Snapshot, then CommittedEntries, to the state machine; for
//     configuration change entries call ApplyConfChange.
//  4. Call Advance.
//
// Fields are empty (nil, zero) when there is nothing of their kind.
type Ready struct {
	// SoftState is set only when it changed since the previous Ready.
	*SoftState
	// HardState is set only when it changed since the previous Ready. It
	// must be persisted before Messages are sent (except a leader's). It is
	// a value of its own each time, never changed by the node afterwards:
	// the application may keep it.
	HardState *pb.HardState
	// ReadStates answer ReadIndex requests made on this node.
	ReadStates []ReadState
	// Entries are to be appended to stable storage. An entry may replace
	// entries already stored at its index and after (a conflicting tail).
	Entries []*pb.Entry
	// Snapshot is to be saved to stable storage, replacing the log.
	Snapshot *pb.Snapshot
	// CommittedEntries are to be applied to the state machine, in order.
	CommittedEntries []*pb.Entry
	// Messages are to be sent to the peers named by their To fields. When a
	// message is a MsgSnap, report the result with ReportSnapshot.
	//
	// The slice and the messages belong to the application once handed
	// out: the node never writes to them or reuses them again, so they may
	// be kept, and the slice appended to or modified (it has no spare
	// capacity; the messages themselves must not be modified, see the
	// package documentation). The node allocates messages, and the arrays
	// behind these slices, in chunks shared by several Readys; a kept
	// message or slice keeps its chunk reachable.
	Messages []*pb.Message
	// MustSync says whether HardState and Entries must be synced to disk
	// before Messages are sent (a new term, vote or entries).
	MustSync bool
}

// Peer names a member of the initial configuration for Bootstrap.
type Peer struct {
	ID      uint64
	Context []byte
}

// SnapshotStatus is the outcome of sending a snapshot, for ReportSnapshot.
type SnapshotStatus int

// The outcomes of sending a snapshot.
const (
	SnapshotFinish SnapshotStatus = iota + 1
	SnapshotFailure
)

// RawNode is a raft node driven by its caller: nothing happens between
// calls, and nothing is done concurrently. It is not safe for concurrent
// use; a program that calls it from several goroutines must serialize the
// calls.
type RawNode struct {
	raft               *raft
	asyncStorageWrites bool

	prevSoftSt SoftState
	// prevHardSt is the hard state of the previous Ready.
	prevTerm, prevVote, prevCommit uint64

	// adv is what the next Advance acknowledges in synchronous mode: the
	// application's write and apply of the last Ready are done by then.
	adv advanceWork

	// propMsg and propEnts are reused by every Propose: the state machine
	// keeps the entries, never the message or its slice.
	propMsg  pb.Message
	propEnts [1]*pb.Entry
	// entries is where Propose takes its entries from (see chunk).
	entries chunk[pb.Entry]
}

// entryChunkSize is the number of entries allocated together for
// proposals. Log entries are released in index order, so in practice a
// chunk is released whole.
const entryChunkSize = 32

// advanceWork is what a synchronous Ready leaves for Advance to
// acknowledge. Plain fields instead of storage messages keep the common
// path free of allocations.
type advanceWork struct {
	pending bool
	// selfMsgs are responses this node sent itself (its votes); they are
	// delivered once the hard state is durable.
	selfMsgs []*pb.Message
	// selfAckIndex/Term: the leader's acknowledgement of its own entries.
	selfAckIndex, selfAckTerm uint64
	// term, last and snap describe the write: the term the Ready was
	// handed out in, its last entry and its snapshot.
	term uint64
	last entryID
	snap *pb.Snapshot
	// applied are the committed entries handed out for applying.
	applied []*pb.Entry
}

// NewRawNode creates a node from a configuration. Zero fields get defaults
// (Config.WithDefaults); an invalid configuration or a failing storage is
// reported as an error.
func NewRawNode(c *Config) (*RawNode, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil config", ErrInvalidConfig)
	}
	cfg := c.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newRaft(&cfg)
	if err != nil {
		return nil, err
	}
	rn := &RawNode{raft: r, asyncStorageWrites: cfg.AsyncStorageWrites}
	rn.prevSoftSt = r.softState()
	rn.prevTerm, rn.prevVote, rn.prevCommit = r.Term, r.Vote, r.raftLog.committed
	return rn, nil
}

// Tick advances the node's logical clock by one tick. Election and
// heartbeat timeouts are counted in ticks.
func (rn *RawNode) Tick() {
	if rn.raft.failed != nil {
		return
	}
	rn.raft.tick()
	_ = rn.raft.checkStorage()
}

// Campaign makes this node start an election now (a pre-election first when
// PreVote is on). The request is ignored (and logged) on a leader, on a node
// that cannot lead (a learner, a node with committed configuration changes
// not yet applied) and, with ReadOnlyLeaseBased, while the node's promise to
// a leader's lease runs: for an election timeout after it heard from the
// leader or restarted.
func (rn *RawNode) Campaign() error {
	return rn.raft.Step(&pb.Message{Type: pb.MsgHup})
}

// Propose proposes data to be appended to the log. On a follower the
// proposal is forwarded to the leader. A nil error means the proposal was
// accepted for now, not that it will commit: a leader change can still drop
// it, and the application must watch the committed entries. Empty data is
// allowed but looks like the empty entry a new leader appends; applications
// that skip empty entries will skip it too.
func (rn *RawNode) Propose(data []byte) error {
	e := rn.entries.next(entryChunkSize)
	e.Data = data
	return rn.propose(e)
}

// propose steps a proposal of one entry through the reused message.
func (rn *RawNode) propose(e *pb.Entry) error {
	m := &rn.propMsg
	rn.propEnts[0] = e
	m.Type, m.From, m.To, m.Term, m.Entries = pb.MsgProp, rn.raft.id, 0, 0, rn.propEnts[:1:1]
	err := rn.raft.Step(m)
	rn.propEnts[0], m.Entries = nil, nil
	return err
}

// ProposeConfChange proposes a configuration change (a *pb.ConfChange or a
// *pb.ConfChangeV2). A change the leader refuses returns an error wrapping
// ErrConfChangeRejected, and nothing is appended.
func (rn *RawNode) ProposeConfChange(cc pb.ConfChangeI) error {
	if cc == nil {
		return fmt.Errorf("%w: nil configuration change", ErrConfChangeRejected)
	}
	typ, data, err := pb.MarshalConfChange(cc)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfChangeRejected, err)
	}
	return rn.propose(&pb.Entry{Type: typ, Data: data})
}

// ApplyConfChange applies a committed configuration change, which the
// application must do when it applies the entry holding it, and returns the
// resulting configuration to store with the application's state. A change
// that cannot be applied returns an error and leaves the configuration as it
// was; every node reaches the same decision for the same entry.
func (rn *RawNode) ApplyConfChange(cc pb.ConfChangeI) (*pb.ConfState, error) {
	if cc == nil {
		return nil, fmt.Errorf("%w: nil configuration change", ErrConfChangeRejected)
	}
	if rn.raft.failed != nil {
		return nil, rn.raft.failed
	}
	return rn.raft.applyConfChange(cc.AsV2())
}

// Step hands the node a message received from a peer, or a storage
// response in AsyncStorageWrites mode. The node may keep m and its entries
// (an append's entries join the log): do not modify or reuse them after the
// call, and step a message once.
func (rn *RawNode) Step(m *pb.Message) error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if pb.IsLocalMsg(m.Type) && !isStorageResp(m) {
		return fmt.Errorf("%w: %s from %d", ErrStepLocalMsg, m.Type, m.From)
	}
	// Our own responses are exempt: a leader that applied its removal still
	// gets the acknowledgement of a write issued before, in async mode.
	if pb.IsResponseMsg(m.Type) && !isStorageResp(m) && m.From != rn.raft.id && rn.raft.trk.Progress[m.From] == nil {
		return fmt.Errorf("%w: %s from %d", ErrStepPeerNotFound, m.Type, m.From)
	}
	if (m.From == LocalAppendThread || m.From == LocalApplyThread) && !pb.IsLocalMsg(m.Type) {
		// Answering it would address a message to a storage thread.
		return rn.raft.invalid(m, "a %s cannot come from a local storage thread", m.Type)
	}
	if m.From == rn.raft.id && (!fromSelf(m.Type) || m.Type == pb.MsgAppResp && m.Reject) {
		// Answering it would address a message to ourselves. (A node
		// acknowledges its own entries, it never rejects them.)
		return rn.raft.invalid(m, "a node never sends itself a %s (reject %v)", m.Type, m.Reject)
	}
	if m.Term == 0 && needsTerm(m.Type) {
		// The state machine takes a message without a term for a local
		// one; a peer's message of this type always carries its term.
		return rn.raft.invalid(m, "a %s must carry a term", m.Type)
	}
	for _, e := range m.Entries {
		if e == nil {
			return rn.raft.invalid(m, "a nil entry")
		}
	}
	if m.Term > maxTerm && m.From != rn.raft.id {
		// (Our own vote may be beyond it: a campaign adds one.)
		return rn.raft.invalid(m, "term %d is beyond %d", m.Term, uint64(maxTerm))
	}
	return rn.raft.Step(m)
}

// maxTerm bounds the terms a node accepts from peers. No cluster comes near
// it; a message beyond it is corrupt or forged, and the bound keeps a
// campaign's Term+1 from overflowing.
const maxTerm = math.MaxUint64 / 2

// fromSelf reports whether a message of type t may name this node as its
// sender: its own acknowledgement and vote, delivered by the append thread
// in asynchronous mode, and the requests the application steps itself.
func fromSelf(t pb.MessageType) bool {
	switch t {
	case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgPreVoteResp,
		pb.MsgProp, pb.MsgReadIndex, pb.MsgTransferLeader, pb.MsgForgetLeader:
		return true
	}
	return false
}

// needsTerm reports whether messages of type t from peers carry a term:
// every network message but proposals and reads forwarded by followers, and
// the requests an application may step itself (TransferLeader, ForgetLeader).
func needsTerm(t pb.MessageType) bool {
	switch t {
	case pb.MsgProp, pb.MsgReadIndex, pb.MsgTransferLeader, pb.MsgForgetLeader:
		return false
	}
	return t >= 0 && t <= pb.MsgForgetLeader && !pb.IsLocalMsg(t)
}

// isStorageResp reports whether m is the response of one of the storage
// threads, the only local messages the application hands back to Step.
func isStorageResp(m *pb.Message) bool {
	return (m.Type == pb.MsgStorageAppendResp && m.From == LocalAppendThread) ||
		(m.Type == pb.MsgStorageApplyResp && m.From == LocalApplyThread)
}

// Ready returns the work the application must do now, and marks it as
// handed out. Call HasReady first to avoid an empty Ready.
//
// In synchronous mode a Ready whose writes the node waits for must be
// acknowledged with Advance before the next one: until then Ready returns
// an empty Ready (and logs the misuse) and HasReady reports false.
func (rn *RawNode) Ready() Ready {
	if rn.raft.failed != nil {
		// A stopped node hands out no more work.
		return Ready{}
	}
	if rn.awaitingAdvance() {
		rn.raft.logger.Error("raft Ready called again before Advance; returning an empty Ready")
		return Ready{}
	}
	rd := rn.readyWithoutAccept()
	rn.acceptReady(rd)
	rd.Messages = handOut(rd.Messages)
	return rd
}

// applyUnstableEntries reports whether committed entries may be applied
// before they are persisted locally. In synchronous mode the application
// persists each Ready's entries before applying its committed entries, so
// it is safe; in asynchronous mode the two are independent.
func (rn *RawNode) applyUnstableEntries() bool { return !rn.asyncStorageWrites }

func (rn *RawNode) readyWithoutAccept() Ready {
	r := rn.raft
	r.flushAppends()
	rd := Ready{
		Entries:  r.raftLog.nextUnstableEnts(),
		Messages: r.msgs,
	}
	if ents, err := r.raftLog.nextCommittedEnts(rn.applyUnstableEntries()); err == nil {
		rd.CommittedEntries = ents
	} else {
		_ = r.fail(err)
	}
	if ss := r.softState(); ss != rn.prevSoftSt {
		changed := ss // only a changed soft state is moved to the heap
		rd.SoftState = &changed
	}
	if rn.hardStateChanged() {
		rd.HardState = r.hardState()
	}
	if r.raftLog.hasNextUnstableSnapshot() {
		rd.Snapshot = r.raftLog.nextUnstableSnapshot()
	}
	if len(r.readStates) != 0 {
		rd.ReadStates = r.readStates
	}
	rd.MustSync = rn.mustSync(len(rd.Entries))
	if rn.asyncStorageWrites {
		if rn.needStorageAppend(rd) {
			rd.Messages = append(rd.Messages, rn.newStorageAppend(rd))
		}
		if len(rd.CommittedEntries) > 0 {
			rd.Messages = append(rd.Messages, rn.newStorageApply(rd.CommittedEntries))
		}
		return rd
	}
	for _, m := range r.msgsAfterAppend {
		if m.To != r.id {
			rd.Messages = append(rd.Messages, m)
		}
	}
	return rd
}

// handOut returns msgs as the Ready hands it out: nil when empty, and
// otherwise without spare capacity, so that an append by the application
// copies it rather than write into the array the node collects its next
// messages in (see raft.resetMsgs).
func handOut(msgs []*pb.Message) []*pb.Message {
	if len(msgs) == 0 {
		return nil
	}
	return msgs[:len(msgs):len(msgs)]
}

func (rn *RawNode) hardStateChanged() bool {
	r := rn.raft
	return r.Term != rn.prevTerm || r.Vote != rn.prevVote || r.raftLog.committed != rn.prevCommit
}

// mustSync reports whether the Ready's writes must reach the disk before
// messages leave: a vote or a term must never be forgotten, nor entries a
// quorum may have counted. A commit index alone may be lost: it is
// recovered from the leader.
func (rn *RawNode) mustSync(entries int) bool {
	r := rn.raft
	return entries != 0 || r.Term != rn.prevTerm || r.Vote != rn.prevVote
}

// needStorageAppend reports whether the Ready has anything for the append
// thread: state to persist, or messages that wait for the write.
func (rn *RawNode) needStorageAppend(rd Ready) bool {
	r := rn.raft
	return len(rd.Entries) > 0 || rd.HardState != nil || rd.Snapshot != nil ||
		len(r.msgsAfterAppend) > 0 || r.selfAckIndex != 0
}

// newStorageAppend builds the MsgStorageAppend of a Ready: what to persist,
// and the messages to deliver once it is durable, the last of which tells
// this node what was persisted.
func (rn *RawNode) newStorageAppend(rd Ready) *pb.Message {
	r := rn.raft
	m := r.newMessage()
	m.Type, m.To, m.From, m.Entries = pb.MsgStorageAppend, LocalAppendThread, r.id, rd.Entries
	if rd.HardState != nil {
		m.Term, m.Vote, m.Commit = rd.HardState.Term, rd.HardState.Vote, rd.HardState.Commit
	}
	if rd.Snapshot != nil {
		m.Snapshot = rd.Snapshot
	}
	m.Responses = make([]*pb.Message, 0, len(r.msgsAfterAppend)+2)
	m.Responses = append(m.Responses, r.msgsAfterAppend...)
	if r.selfAckIndex != 0 {
		ack := r.newMessage()
		ack.Type, ack.To, ack.From = pb.MsgAppResp, r.id, r.id
		ack.Term, ack.Index = r.selfAckTerm, r.selfAckIndex
		m.Responses = append(m.Responses, ack)
	}
	if rn.needStorageAppendResp(rd) {
		m.Responses = append(m.Responses, rn.newStorageAppendResp(rd))
	}
	return m
}

func (rn *RawNode) needStorageAppendResp(rd Ready) bool {
	return len(rd.Entries) > 0 || rd.Snapshot != nil
}

// newStorageAppendResp tells this node which entries and snapshot are
// durable. The last entry's term guards against the entry having been
// replaced in the meantime (see raftLog.stableTo).
func (rn *RawNode) newStorageAppendResp(rd Ready) *pb.Message {
	m := rn.raft.newMessage()
	m.Type, m.To, m.From, m.Term = pb.MsgStorageAppendResp, rn.raft.id, LocalAppendThread, rn.raft.Term
	if n := len(rd.Entries); n > 0 {
		last := rd.Entries[n-1]
		m.Index, m.LogTerm = last.Index, last.Term
	}
	if rd.Snapshot != nil {
		m.Snapshot = &pb.Snapshot{Metadata: rd.Snapshot.Metadata}
	}
	return m
}

func (rn *RawNode) newStorageApply(ents []*pb.Entry) *pb.Message {
	m := rn.raft.newMessage()
	m.Type, m.To, m.From, m.Entries = pb.MsgStorageApply, LocalApplyThread, rn.raft.id, ents
	m.Responses = []*pb.Message{rn.newStorageApplyResp(ents)}
	return m
}

func (rn *RawNode) newStorageApplyResp(ents []*pb.Entry) *pb.Message {
	m := rn.raft.newMessage()
	m.Type, m.To, m.From, m.Entries = pb.MsgStorageApplyResp, rn.raft.id, LocalApplyThread, ents
	return m
}

// acceptReady records that rd was handed out.
func (rn *RawNode) acceptReady(rd Ready) {
	r := rn.raft
	if rd.SoftState != nil {
		rn.prevSoftSt = *rd.SoftState
	}
	if rd.HardState != nil {
		rn.prevTerm, rn.prevVote, rn.prevCommit = rd.HardState.Term, rd.HardState.Vote, rd.HardState.Commit
	}
	if len(rd.ReadStates) != 0 {
		r.readStates = nil
	}
	if !rn.asyncStorageWrites {
		rn.acceptForAdvance(rd)
	}
	r.resetMsgs(rd.Messages)
	// msgsAfterAppend is never handed out (its messages are copied into
	// the Ready, the storage message or advanceWork): reuse its array.
	clear(r.msgsAfterAppend)
	r.msgsAfterAppend = r.msgsAfterAppend[:0]
	r.selfAckIndex, r.selfAckTerm = 0, 0
	r.raftLog.acceptUnstable()
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.acceptApplying(rd.CommittedEntries[n-1].Index, applyingSize(rd.CommittedEntries), rn.applyUnstableEntries())
	}
}

// acceptForAdvance records what Advance will acknowledge for rd.
func (rn *RawNode) acceptForAdvance(rd Ready) {
	r := rn.raft
	w := &rn.adv
	for _, m := range r.msgsAfterAppend {
		if m.To == r.id {
			w.selfMsgs = append(w.selfMsgs, m)
		}
	}
	w.selfAckIndex, w.selfAckTerm = r.selfAckIndex, r.selfAckTerm
	w.term = r.Term
	if n := len(rd.Entries); n > 0 {
		w.last = pbEntryID(rd.Entries[n-1])
	}
	w.snap = rd.Snapshot
	w.applied = rd.CommittedEntries
	w.pending = len(w.selfMsgs) > 0 || w.selfAckIndex != 0 || w.last.index != 0 || w.snap != nil || len(w.applied) > 0
}

// awaitingAdvance reports whether, in synchronous mode, the last Ready's
// writes are not acknowledged yet.
func (rn *RawNode) awaitingAdvance() bool {
	return !rn.asyncStorageWrites && rn.adv.pending
}

// HasReady reports whether Ready would return any work. It allocates
// nothing but the messages the next Ready carries: appends the leader owes
// are built here, so that a Ready is never empty when HasReady said true.
func (rn *RawNode) HasReady() bool {
	r := rn.raft
	if r.failed != nil || rn.awaitingAdvance() {
		return false
	}
	// Owed appends may turn out to be nothing to send (a commit index
	// alone, without eager propagation, waits for the next append or
	// heartbeat); building them now tells.
	r.flushAppends()
	if r.softState() != rn.prevSoftSt || rn.hardStateChanged() {
		return true
	}
	if r.raftLog.hasNextUnstableSnapshot() || r.raftLog.hasNextUnstableEnts() {
		return true
	}
	if len(r.msgs) > 0 || len(r.msgsAfterAppend) > 0 || r.selfAckIndex != 0 || len(r.readStates) != 0 {
		return true
	}
	return r.raftLog.hasNextCommittedEnts(rn.applyUnstableEntries())
}

// ErrAsyncAdvance is returned by Advance in AsyncStorageWrites mode, where
// progress is reported by stepping the storage responses instead.
var ErrAsyncAdvance = errors.New("raft: Advance is not used with AsyncStorageWrites")

// Advance tells the node that the application handled the last Ready:
// persisted it, sent its messages and applied its committed entries.
func (rn *RawNode) Advance(_ Ready) error {
	if rn.asyncStorageWrites {
		return ErrAsyncAdvance
	}
	if rn.raft.failed != nil {
		return rn.raft.failed
	}
	r := rn.raft
	w := &rn.adv
	if !w.pending {
		return nil
	}
	// The order is that of the messages this replaces: responses to
	// ourselves, then the write, then the apply.
	var err error
	for i, m := range w.selfMsgs {
		if serr := r.Step(m); serr != nil && err == nil {
			err = serr
		}
		w.selfMsgs[i] = nil
	}
	if r.failed == nil && w.selfAckIndex != 0 {
		r.onSelfPersisted(w.selfAckTerm, w.selfAckIndex)
	}
	if r.failed == nil {
		r.onPersisted(w.term, w.last, w.snap)
	}
	if r.failed == nil && len(w.applied) > 0 {
		r.onApplied(w.applied)
	}
	*w = advanceWork{selfMsgs: w.selfMsgs[:0]}
	if serr := r.checkStorage(); serr != nil {
		return serr
	}
	return err
}

// ReadIndex requests a linearizable read. rctx identifies the request: the
// answer arrives as a ReadState with the same RequestCtx in a later Ready.
// It returns ErrNoLeader when no leader is known to serve or forward it.
func (rn *RawNode) ReadIndex(rctx []byte) error {
	return rn.raft.Step(&pb.Message{Type: pb.MsgReadIndex, Entries: []*pb.Entry{{Data: rctx}}})
}

// TransferLeader asks the leader to hand leadership to transferee. On a
// follower the request is forwarded to the leader.
func (rn *RawNode) TransferLeader(transferee uint64) error {
	return rn.raft.Step(&pb.Message{Type: pb.MsgTransferLeader, From: transferee})
}

// ForgetLeader makes a follower forget its leader, so it can vote for
// another candidate at once. Use it when the application learns that the
// leader is gone. It is ignored on leaders and candidates, and in
// ReadOnlyLeaseBased mode.
func (rn *RawNode) ForgetLeader() error {
	return rn.raft.Step(&pb.Message{Type: pb.MsgForgetLeader})
}

// ReportUnreachable tells the node that the last message to id could not
// be delivered; the leader stops pipelining to it until it answers.
func (rn *RawNode) ReportUnreachable(id uint64) error {
	return rn.raft.Step(&pb.Message{Type: pb.MsgUnreachable, From: id})
}

// ReportSnapshot tells the leader whether sending a snapshot to id
// finished or failed.
func (rn *RawNode) ReportSnapshot(id uint64, status SnapshotStatus) error {
	return rn.raft.Step(&pb.Message{Type: pb.MsgSnapStatus, From: id, Reject: status == SnapshotFailure})
}

// ErrBootstrapNotEmpty is returned by Bootstrap on a node whose storage
// already holds state.
var ErrBootstrapNotEmpty = errors.New("raft: cannot bootstrap a node with non-empty storage")

// Bootstrap sets up the initial configuration of a brand-new cluster: it
// appends one committed AddNode entry per peer, at term 1, and applies
// them. Every founding member bootstraps with the same peers; nodes that
// join later start empty and learn the configuration from the leader.
func (rn *RawNode) Bootstrap(peers []Peer) error {
	if len(peers) == 0 {
		return fmt.Errorf("%w: Bootstrap needs at least one peer", ErrInvalidConfig)
	}
	r := rn.raft
	if r.raftLog.lastIndex() != 0 || r.Term != 0 {
		return ErrBootstrapNotEmpty
	}
	seen := map[uint64]bool{}
	ents := make([]*pb.Entry, 0, len(peers))
	ccs := make([]*pb.ConfChange, 0, len(peers))
	for i, p := range peers {
		if p.ID == None || seen[p.ID] {
			return fmt.Errorf("%w: Bootstrap peer IDs must be non-zero and distinct, got %d", ErrInvalidConfig, p.ID)
		}
		seen[p.ID] = true
		cc := &pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: p.ID, Context: p.Context}
		data, err := proto.Marshal(cc)
		if err != nil {
			return fmt.Errorf("raft: cannot encode bootstrap change: %w", err)
		}
		ents = append(ents, &pb.Entry{Type: pb.EntryConfChange, Term: 1, Index: uint64(i + 1), Data: data})
		ccs = append(ccs, cc)
	}
	r.becomeFollower(1, None)
	r.raftLog.append(ents...)
	// The bootstrap entries are committed by definition: every founding
	// member has them. The configuration they describe is installed here;
	// the application still sees them in CommittedEntries (applying them
	// again changes nothing), and, as with any committed configuration
	// change, the node campaigns only once it has applied them.
	if err := r.raftLog.commitTo(uint64(len(ents))); err != nil {
		return err
	}
	for _, cc := range ccs {
		if _, err := r.applyConfChange(cc.AsV2()); err != nil {
			return err
		}
	}
	return nil
}

// progressT is a short alias used by visitors.
type progressT = progress.Progress
