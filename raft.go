package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"

	"github.com/tickraft/raft/confchange"
	"github.com/tickraft/raft/progress"
	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

// None is the ID that stands for "no node": no leader, no vote.
const None uint64 = 0

// LocalAppendThread and LocalApplyThread are the targets of the local
// storage messages of AsyncStorageWrites mode: MsgStorageAppend goes to
// LocalAppendThread, MsgStorageApply to LocalApplyThread.
const (
	LocalAppendThread uint64 = math.MaxUint64
	LocalApplyThread  uint64 = math.MaxUint64 - 1
)

// StateType is the role of a node in its current term.
type StateType uint64

// The roles of a node.
const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

var stateNames = [...]string{"StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"}

// String returns the role's name, e.g. "StateLeader".
func (s StateType) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("StateType(%d)", uint64(s))
}

// campaignType says why a node campaigns.
type campaignType string

const (
	campaignPreElection campaignType = "CampaignPreElection"
	campaignElection    campaignType = "CampaignElection"
	// campaignTransfer is an election started by MsgTimeoutNow. Its vote
	// requests carry it as context so that followers skip the leader-lease
	// check: the leader itself asked for the election.
	campaignTransfer campaignType = "CampaignTransfer"
)

// raft is the state machine of one node. It is driven by Step and tick and
// records its output in msgs, msgsAfterAppend and the log's unstable part,
// which RawNode turns into Ready structs.
type raft struct {
	id uint64

	// Term and Vote are the persistent hard state, together with the log's
	// committed index. Vote is None or the node voted for in Term.
	Term uint64
	Vote uint64

	readStates []ReadState

	raftLog *raftLog

	maxMsgSize         uint64
	maxUncommittedSize uint64
	trk                progress.Tracker

	state StateType
	// isLearner is true while this node is a learner of the configuration.
	isLearner bool

	// msgs are messages to send once the Ready holding them is handled; they
	// do not depend on this node's unpersisted state.
	msgs []*pb.Message
	// msgsAfterAppend are messages that may leave only after the unstable
	// entries, hard state and snapshot of the same Ready are persisted: vote
	// and append responses, including this node's acknowledgements to itself.
	msgsAfterAppend []*pb.Message
	// selfAckIndex and selfAckTerm are the leader's acknowledgement of its
	// own entries: the last index it appended and the term it did so in.
	// Like msgsAfterAppend it is delivered only once the write is durable;
	// it is kept out of that list so the common case allocates nothing.
	selfAckIndex, selfAckTerm uint64
	// hardStates and messages are where hardState and newMessage take
	// their values from (see chunk).
	hardStates chunk[pb.HardState]
	messages   chunk[pb.Message]
	// msgBuf is the array r.msgs is carved from after each Ready (see
	// resetMsgs): r.msgs starts empty at msgBuf[msgBufOff] with the rest of
	// msgBuf as its capacity, so a Ready's messages are collected without
	// allocating. Only the part below msgBufOff was handed out.
	msgBuf    []*pb.Message
	msgBufOff int
	// bcastPending says the leader owes its peers appends (new entries or
	// a new commit index); flushAppends sends them when the next Ready is
	// built, so that everything stepped in between is batched.
	bcastPending bool
	// bcastConfCommit says the commit index passed an entry that may be a
	// configuration change (up to pendingConfIndex): flushAppends sends it
	// to every peer at once, even without eagerCommit. A removed node
	// learns its removal this way before the leader drops its progress
	// (and stops campaigning), and followers learn of promotions before
	// they count votes.
	bcastConfCommit bool
	// probeNew are peers added by a configuration change since the last
	// flushAppends: each gets an append with the next Ready, empty if need
	// be, instead of waiting for the next heartbeat.
	probeNew []uint64

	// lead is the leader of Term as far as this node knows, or None.
	lead uint64
	// leadTransferee is the target of an ongoing leader transfer, or None.
	leadTransferee uint64
	// transferElapsed counts the leader's ticks since the transfer to
	// leadTransferee started; it is abandoned after an election timeout.
	// It is not electionElapsed: a transfer request must not postpone the
	// CheckQuorum check, which bounds the leader's lease.
	transferElapsed int
	// pendingConfIndex is, on the leader, the index of the latest
	// configuration change that may not yet be applied. A new one is
	// accepted only when applied >= pendingConfIndex.
	pendingConfIndex uint64
	// disableConfChangeValidation skips the pendingConfIndex check.
	disableConfChangeValidation bool
	// uncommittedSize is the payload bytes of the leader's uncommitted tail.
	uncommittedSize uint64

	readOnly *readOnly
	// readSeq numbers ReadIndex rounds; it only grows, across terms too.
	readSeq uint64
	// leaseBroken is set once this leader sent MsgTimeoutNow in its term:
	// the forced election that follows ignores the lease, so lease-based
	// reads must be confirmed by a heartbeat round instead.
	leaseBroken bool
	// ticks counts every tick this node has seen; it only grows. A
	// lease-based leader times its heartbeat rounds with it.
	ticks uint64
	// sinceLeader counts ticks since this node last heard from the leader
	// of its term (or, in lease mode, since it restarted), saturating at
	// the election timeout. A lease-based node does not vote while it is
	// below the election timeout (see lease.go).
	sinceLeader int

	// electionElapsed counts ticks since the last election timeout reset: on
	// a leader or candidate, since it became one; on a follower, since it
	// last heard from a valid leader.
	electionElapsed  int
	heartbeatElapsed int

	checkQuorum bool
	preVote     bool

	heartbeatTimeout int
	electionTimeout  int
	// randomizedElectionTimeout is drawn from [electionTimeout,
	// 2*electionTimeout) at every reset.
	randomizedElectionTimeout int
	disableProposalForwarding bool
	stepDownOnRemoval         bool
	// eagerCommit sends a new commit index to up-to-date followers at once
	// (Config.EagerCommitPropagation).
	eagerCommit bool

	tick func()
	// handlers are the per-message handlers of the current role.
	handlers *handlerTable

	logger *slog.Logger
	rand   *rand.Rand

	// pendingReadIndexMessages are ReadIndex requests that arrived before
	// the leader committed an entry of its term; they are answered then.
	pendingReadIndexMessages []*pb.Message

	// failed is the storage error that stopped this node, or nil.
	failed error
	// droppedMsgs counts messages dropped because they were inconsistent.
	droppedMsgs uint64
	// rewriteTerm is the latest term in which a leader's append replaced
	// entries already handed out for persistence. A storage
	// acknowledgement issued in an earlier term is ignored: the entries it
	// names may have been replaced and then written again since (A, B, A),
	// with the storage still about to go through B.
	rewriteTerm uint64
}

func newRaft(c *Config) (*raft, error) {
	raftlog, err := newLog(c.Storage, c.MaxCommittedSizePerReady)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorageFailed, err)
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorageFailed, err)
	}
	r := &raft{
		id:                          c.ID,
		lead:                        None,
		isLearner:                   false,
		raftLog:                     raftlog,
		maxMsgSize:                  c.MaxSizePerMsg,
		maxUncommittedSize:          c.MaxUncommittedEntriesSize,
		trk:                         progress.MakeTracker(c.MaxInflightMsgs, c.MaxInflightBytes),
		electionTimeout:             c.ElectionTick,
		heartbeatTimeout:            c.HeartbeatTick,
		logger:                      c.Logger.With(slog.Uint64(keyNode, c.ID)),
		rand:                        c.newRand(),
		checkQuorum:                 c.CheckQuorum,
		preVote:                     c.PreVote,
		readOnly:                    newReadOnly(c.ReadOnlyOption),
		disableProposalForwarding:   c.DisableProposalForwarding,
		disableConfChangeValidation: c.DisableConfChangeValidation,
		stepDownOnRemoval:           c.StepDownOnRemoval,
		eagerCommit:                 c.EagerCommitPropagation,
	}
	cfg, prs, err := confchange.Restore(confchange.Changer{
		Tracker:   r.trk,
		LastIndex: raftlog.lastIndex(),
	}, cs)
	if err != nil {
		return nil, fmt.Errorf("raft: cannot restore the configuration %s from storage: %w", pb.DescribeConfState(cs), err)
	}
	if err := pb.ConfStateEquivalent(cs, r.switchToConfig(cfg, prs)); err != nil {
		return nil, fmt.Errorf("raft: restored configuration differs from storage: %w", err)
	}
	if !pb.IsEmptyHardState(hs) {
		if err := r.loadState(hs); err != nil {
			return nil, err
		}
	}
	if err := r.restoreApplied(c.Applied); err != nil {
		return nil, err
	}
	r.becomeFollower(r.Term, None)
	// A node with no state promised nothing; one that restarts may have
	// answered a leader's heartbeat just before it stopped.
	r.sinceLeader = r.electionTimeout
	if !pb.IsEmptyHardState(hs) {
		r.sinceLeader = 0
	}
	if err := r.raftLog.err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorageFailed, err)
	}
	r.logger.Info("raft node started",
		slog.Uint64(keyTerm, r.Term), slog.Uint64(keyCommit, r.raftLog.committed),
		slog.Uint64(keyApplied, r.raftLog.applied), slog.Uint64(keyLastIndex, r.raftLog.lastIndex()),
		slog.String(keyConfig, r.trk.Config.String()))
	return r, nil
}

// loadState restores the persisted hard state.
func (r *raft) loadState(hs *pb.HardState) error {
	if hs.Commit > r.raftLog.lastIndex() {
		return fmt.Errorf("%w: persisted commit index %d is beyond the last index %d",
			ErrStorageFailed, hs.Commit, r.raftLog.lastIndex())
	}
	// The persisted commit index may lag the snapshot (a commit-only hard
	// state need not be synced, and an asynchronous apply thread can
	// snapshot before the append thread writes it). A snapshot covers only
	// committed entries, so the snapshot index is a lower bound.
	r.raftLog.committed = max(hs.Commit, r.raftLog.committed)
	r.Term = hs.Term
	r.Vote = hs.Vote
	return nil
}

// restoreApplied takes up where the application left off before a
// restart: it checks Config.Applied against the persisted log and brings
// the configuration, which Storage reports as of its snapshot, up to
// Applied by replaying the configuration changes the application applied
// since. Entries after Applied are handed out again, and their changes
// applied by the application as usual.
func (r *raft) restoreApplied(applied uint64) error {
	snapIndex := r.raftLog.firstIndex() - 1
	if err := r.raftLog.err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStorageFailed, err)
	}
	last := r.raftLog.lastIndex()
	switch {
	case applied < snapIndex:
		// The entries after Applied are compacted: the state machine can
		// only catch up from the snapshot.
		return fmt.Errorf("%w: Applied (%d) is below the index of the storage's snapshot (%d): "+
			"restore the state machine from Storage.Snapshot() and pass the snapshot's index (or what was applied after it) as Applied",
			ErrInvalidConfig, applied, snapIndex)
	case applied > last:
		return fmt.Errorf("%w: Applied (%d) is beyond the last index of the persisted log (%d): "+
			"the storage lost entries the application applied",
			ErrInvalidConfig, applied, last)
	}
	if applied > r.raftLog.committed {
		// Entries are handed out for applying only once committed, and a
		// commit-only hard state need not be synced: the application may
		// have applied beyond the persisted commit index. The entries up to
		// Applied are in the log, and committed.
		r.logger.Info("raft took the commit index from Applied: the persisted one lagged",
			slog.Uint64(keyCommit, r.raftLog.committed), slog.Uint64(keyApplied, applied))
		r.raftLog.committed = applied
	}
	if err := r.replayConfChanges(snapIndex+1, applied+1); err != nil {
		return err
	}
	if applied > snapIndex {
		r.raftLog.appliedTo(applied, 0)
	}
	return nil
}

// replayConfChanges applies the configuration changes of the committed
// entries in [lo, hi) to the configuration restored from storage. The
// application applied them before the restart; a change that failed then
// fails again (every step is deterministic) and is skipped, as it was.
func (r *raft) replayConfChanges(lo, hi uint64) error {
	err := r.raftLog.scan(lo, hi, r.raftLog.maxApplyingEntsSize, func(ents []*pb.Entry) error {
		for _, e := range ents {
			if e.Type != pb.EntryConfChange && e.Type != pb.EntryConfChangeV2 {
				continue
			}
			cc, err := decodeConfChange(e)
			if err != nil {
				return fmt.Errorf("%w: the configuration change at index %d cannot be decoded: %w",
					ErrStorageFailed, e.Index, err)
			}
			if cfg, prs, err := r.changer().apply(cc.AsV2()); err == nil {
				r.switchToConfig(cfg, prs)
			}
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrStorageFailed) {
			err = fmt.Errorf("%w: replaying configuration changes up to Applied: %w", ErrStorageFailed, err)
		}
		return err
	}
	return nil
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

// hsChunkSize is the number of hard states allocated together by
// hardState (64 bytes each).
const hsChunkSize = 16

// hardState returns the current hard state as a new value, which the
// application may keep (see chunk).
func (r *raft) hardState() *pb.HardState {
	hs := r.hardStates.next(hsChunkSize)
	hs.Term, hs.Vote, hs.Commit = r.Term, r.Vote, r.raftLog.committed
	return hs
}

// msgChunkSize is the number of messages allocated together by
// newMessage. The messages of a Ready are normally dropped together once
// sent, and a chunk with them.
const msgChunkSize = 16

// newMessage returns a new zero message for this node to send. The
// application and the receiving node own it as they would a message of
// their own allocation (see chunk).
func (r *raft) newMessage() *pb.Message { return r.messages.next(msgChunkSize) }

// msgBufSize is the length of the arrays r.msgs is carved from, and
// msgBufMinFree the room below which a new one is allocated. The messages
// of a Ready take a few slots, so one array serves many Readys. An array
// keeps the messages handed out from it (at most msgBufSize-1, and what
// they point to) reachable as long as the node uses it, or an application
// keeps a Ready's Messages slice carved from it.
const (
	msgBufSize    = 64
	msgBufMinFree = 16
)

// resetMsgs starts r.msgs afresh once the Ready whose Messages is handed
// was built from it (handed is r.msgs, possibly with more messages
// appended in place). The slots handed out are never written again: the
// next r.msgs starts after them, and the Ready gets a slice without spare
// capacity (see handOut). If r.msgs is not the slice carved
// last time (it outgrew its array, or was taken and cleared), nothing is
// known about who holds the array, and a new one is used.
func (r *raft) resetMsgs(handed []*pb.Message) {
	off := r.msgBufOff
	if cap(r.msgs) > 0 && off < len(r.msgBuf) && &r.msgs[:1][0] == &r.msgBuf[off] {
		used := len(r.msgs)
		if len(handed) > 0 && &handed[0] == &r.msgBuf[off] {
			used = len(handed)
		}
		off += used
	} else {
		off = len(r.msgBuf)
	}
	if len(r.msgBuf)-off < msgBufMinFree {
		r.msgBuf, off = make([]*pb.Message, msgBufSize), 0
	}
	r.msgBufOff = off
	r.msgs = r.msgBuf[off:off:len(r.msgBuf)]
}

// send queues m for sending. Responses that depend on this node's
// unpersisted state wait in msgsAfterAppend.
func (r *raft) send(m *pb.Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case pb.MsgVote, pb.MsgVoteResp, pb.MsgPreVote, pb.MsgPreVoteResp:
		if m.Term == 0 {
			// Vote messages carry the term they campaign for, which is not
			// always r.Term; forgetting to set it is a programming error.
			panic(fmt.Sprintf("raft invariant broken: %s sent without a term", m.Type))
		}
	default:
		if m.Term != 0 {
			panic(fmt.Sprintf("raft invariant broken: %s sent with term %d set by the caller", m.Type, m.Term))
		}
		// Proposals and ReadIndex forwarded to the leader carry no term:
		// they are treated as local messages there.
		if m.Type != pb.MsgProp && m.Type != pb.MsgReadIndex {
			m.Term = r.Term
		}
	}
	switch m.Type {
	case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgPreVoteResp:
		// A vote or an append acknowledgement promises that the vote or the
		// entries are durable; it must wait for the write.
		if r.coalesceAck(m) {
			return
		}
		r.msgsAfterAppend = append(r.msgsAfterAppend, m)
	default:
		if m.To == r.id {
			panic(fmt.Sprintf("raft invariant broken: message %s addressed to self", m.Type))
		}
		r.msgs = append(r.msgs, m)
	}
}

// coalesceAck folds an append acknowledgement into the previous one when
// both go to the same node in the same term: acknowledgements are
// cumulative (the log matches the leader's up to the index), so the later,
// higher one says all the earlier one does. A batch of appends stepped
// before one Ready then costs the leader one answer. Rejections are never
// folded: each carries its own hint.
func (r *raft) coalesceAck(m *pb.Message) bool {
	n := len(r.msgsAfterAppend)
	if m.Type != pb.MsgAppResp || m.Reject || n == 0 {
		return false
	}
	prev := r.msgsAfterAppend[n-1]
	if prev.Type != pb.MsgAppResp || prev.Reject || prev.To != m.To || prev.Term != m.Term {
		return false
	}
	prev.Index = max(prev.Index, m.Index)
	return true
}

// reset starts a new term (or restarts the current one) in a new role.
func (r *raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.abortLeaderTransfer()
	r.trk.ResetVotes()
	last := r.raftLog.lastIndex()
	// Our own Match counts only what is durable: a leader's own entries
	// count toward the quorum once its write is acknowledged.
	persisted := min(last, r.raftLog.unstable.offset-1)
	r.trk.Visit(func(id uint64, pr *progress.Progress) {
		*pr = progress.Progress{
			Next:      last + 1,
			Inflights: progress.NewInflights(r.trk.MaxInflight, r.trk.MaxInflightBytes),
			IsLearner: pr.IsLearner,
		}
		if id == r.id {
			pr.Match = persisted
		}
	})
	r.pendingConfIndex = 0
	r.uncommittedSize = 0
	// Reads waiting for this node's leadership are dropped with it; their
	// clients time out and retry, as with any lost request.
	r.readOnly = newReadOnly(r.readOnly.option)
	r.pendingReadIndexMessages = nil
	r.leaseBroken = false
	r.bcastPending = false
	r.bcastConfCommit = false
	r.probeNew = r.probeNew[:0]
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

// pastElectionTimeout reports whether the randomized election timeout has
// elapsed.
func (r *raft) pastElectionTimeout() bool {
	return r.electionElapsed >= r.randomizedElectionTimeout
}

func (r *raft) becomeFollower(term, lead uint64) {
	prev := r.state
	r.reset(term)
	r.tick = r.tickElection
	r.handlers = &followerHandlers
	r.lead = lead
	r.state = StateFollower
	r.logRoleChange(prev)
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raft invariant broken: a leader cannot become a candidate directly")
	}
	prev := r.state
	r.reset(r.Term + 1)
	r.tick = r.tickElection
	r.handlers = &candidateHandlers
	r.Vote = r.id
	r.state = StateCandidate
	r.logRoleChange(prev)
}

// becomePreCandidate starts a pre-election. Term, Vote and lead stay as
// they are: a pre-election changes nothing another node could observe.
func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raft invariant broken: a leader cannot become a pre-candidate directly")
	}
	prev := r.state
	r.handlers = &candidateHandlers
	r.trk.ResetVotes()
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
	r.logRoleChange(prev)
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic("raft invariant broken: a follower cannot become leader without an election")
	}
	prev := r.state
	r.reset(r.Term)
	r.tick = r.tickHeartbeat
	r.handlers = &leaderHandlers
	r.lead = r.id
	r.state = StateLeader
	// Our own progress: we replicate to ourselves through the local write,
	// and we are trivially active.
	pr := r.trk.Progress[r.id]
	pr.BecomeReplicate()
	pr.RecentActive = true
	// Entries in our log may include configuration changes that are not
	// committed yet; be conservative and treat the whole tail as pending.
	r.pendingConfIndex = r.raftLog.lastIndex()
	// An empty entry of the new term: committing it commits everything
	// before it (Raft §5.4.2) and lets reads proceed (thesis §6.4).
	if !r.appendEntry(&pb.Entry{}) {
		panic("raft invariant broken: the empty entry of a new leader was refused")
	}
	r.logRoleChange(prev)
}

func (r *raft) logRoleChange(prev StateType) {
	r.logger.Info("raft role changed",
		slog.String(keyRole, r.state.String()), slog.String(keyPrevRole, prev.String()),
		slog.Uint64(keyTerm, r.Term), slog.Uint64(keyLeader, r.lead))
}

// countTick advances the clocks every role keeps.
func (r *raft) countTick() {
	r.ticks++
	if r.sinceLeader < r.electionTimeout {
		r.sinceLeader++
	}
}

// tickElection is the tick of followers and candidates.
func (r *raft) tickElection() {
	r.countTick()
	r.electionElapsed++
	if r.promotable() && r.pastElectionTimeout() {
		r.electionElapsed = 0
		r.stepLocal(&pb.Message{Type: pb.MsgHup})
	}
}

// tickHeartbeat is the tick of leaders.
func (r *raft) tickHeartbeat() {
	r.countTick()
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			r.stepLocal(&pb.Message{Type: pb.MsgCheckQuorum})
		}
	}
	// A transfer that did not finish within an election timeout failed.
	if r.state == StateLeader && r.leadTransferee != None {
		if r.transferElapsed++; r.transferElapsed >= r.electionTimeout {
			r.abortLeaderTransfer()
		}
	}
	if r.state != StateLeader {
		return
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		r.stepLocal(&pb.Message{Type: pb.MsgBeat})
		r.maybeAutoLeave()
	}
}

// stepLocal steps a message the node generated itself. Such steps cannot be
// refused for input reasons; an error here is logged.
func (r *raft) stepLocal(m *pb.Message) {
	if err := r.Step(m); err != nil && !errors.Is(err, ErrProposalDropped) {
		r.logger.Warn("raft local step failed", slog.String(keyMsgType, m.Type.String()), slog.Any(keyError, err))
	}
}

// promotable reports whether this node may become leader: it is a voter
// and has no snapshot waiting to be persisted.
func (r *raft) promotable() bool {
	pr := r.trk.Progress[r.id]
	return pr != nil && !pr.IsLearner && !r.raftLog.hasNextOrInProgressSnapshot()
}

// fail stops the node after a storage failure.
func (r *raft) fail(err error) error {
	if r.failed == nil {
		r.failed = fmt.Errorf("%w: %w", ErrStorageFailed, err)
		r.logger.Error("raft node stopped by a storage failure", slog.Any(keyError, err))
		r.msgs = nil
		r.msgsAfterAppend = nil
		r.selfAckIndex, r.selfAckTerm = 0, 0
		r.bcastPending = false
		r.bcastConfCommit = false
		r.probeNew = nil
	}
	return r.failed
}

// checkStorage turns a storage error recorded by the log into a stop.
func (r *raft) checkStorage() error {
	if r.failed != nil {
		return r.failed
	}
	if err := r.raftLog.err(); err != nil {
		return r.fail(err)
	}
	return nil
}

// invalid drops an inconsistent message and reports why.
func (r *raft) invalid(m *pb.Message, format string, args ...any) error {
	r.droppedMsgs++
	err := fmt.Errorf("%w: %s from %d: %s", ErrInvalidMessage, m.Type, m.From, fmt.Sprintf(format, args...))
	r.logger.Warn("raft dropped an invalid message", slog.Any(keyError, err))
	return err
}

// quorumVoteResult is a helper for the vote tally.
func (r *raft) poll(id uint64, v bool) (granted, rejected int, result quorum.VoteResult) {
	r.trk.RecordVote(id, v)
	return r.trk.TallyVotes()
}
