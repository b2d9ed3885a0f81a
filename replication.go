package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/tickraft/raft/internal/bugs"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

// appendEntry appends proposed entries to the leader's log, stamping them
// with the current term and the next indexes. It refuses them when they
// would exceed the uncommitted-size limit. The entries are owned by the
// log from here on.
func (r *raft) appendEntry(es ...*pb.Entry) bool {
	// Refuse before stamping: a refused proposal's entries stay untouched.
	if !r.increaseUncommittedSize(es) {
		r.logger.Warn("raft dropped a proposal: the uncommitted size limit is reached",
			slog.Uint64("uncommitted_size", r.uncommittedSize), slog.Uint64("limit", r.maxUncommittedSize))
		return false
	}
	li := r.raftLog.lastIndex()
	for i, e := range es {
		e.Term = r.Term
		e.Index = li + 1 + uint64(i)
	}
	li = r.raftLog.append(es...)
	// The leader acknowledges its own entries like any follower, once they
	// are durable. A later acknowledgement covers an earlier one: writes
	// complete in order.
	r.selfAckIndex, r.selfAckTerm = li, r.Term
	return true
}

// increaseUncommittedSize accounts for new entries and reports whether
// they fit under MaxUncommittedEntriesSize. Empty entries always fit, and
// so does anything when nothing is uncommitted, so that one large proposal
// can always make progress.
func (r *raft) increaseUncommittedSize(ents []*pb.Entry) bool {
	s := payloadsSize(ents)
	if r.maxUncommittedSize > 0 && r.uncommittedSize > 0 && s > 0 && r.uncommittedSize+s > r.maxUncommittedSize {
		return false
	}
	r.uncommittedSize += s
	return true
}

// reduceUncommittedSize releases the size of entries that were committed
// and applied.
func (r *raft) reduceUncommittedSize(s uint64) {
	if s > r.uncommittedSize {
		// Entries of a previous leadership term are applied after this one
		// started counting; the count cannot go below zero.
		r.uncommittedSize = 0
		return
	}
	r.uncommittedSize -= s
}

// owesAppend reports whether the leader has something to send a peer now:
// entries it has not sent, or a commit index it does not know.
func (r *raft) owesAppend(pr *progress.Progress) bool {
	if pr.IsPaused() {
		return false
	}
	return pr.Next <= r.raftLog.lastIndex() || pr.CanBumpCommit(r.raftLog.committed)
}

// flushAppends sends what the leader owes its peers since the last Ready:
// the entries appended since (as many messages as the flow control allows)
// and, with eagerCommit, the new commit index to peers that have
// everything. Proposals and acknowledgements only mark this as pending, so
// that everything stepped between two Readys goes out in as few messages as
// possible.
//
// Without eagerCommit a commit index alone waits for the next append or
// heartbeat: under load the next proposal's append carries it, and when
// idle a heartbeat does. An update of its own would cost each follower a
// message, a Ready and an answer for every commit. The exception is a
// commit index that passes a configuration change (bcastConfCommit): every
// affected node must learn of it within a round trip, a removed one before
// the leader forgets it.
func (r *raft) flushAppends() {
	if !r.bcastPending {
		return
	}
	r.bcastPending = false
	eager := r.eagerCommit || r.bcastConfCommit
	probeNew := r.probeNew
	r.bcastConfCommit = false
	r.probeNew = r.probeNew[:0]
	if r.state != StateLeader {
		return
	}
	commit := r.raftLog.committed
	r.trk.Visit(func(id uint64, pr *progress.Progress) {
		if id == r.id {
			return
		}
		sendIfEmpty := eager && pr.CanBumpCommit(commit) || slices.Contains(probeNew, id)
		if !r.maybeSendAppend(id, sendIfEmpty) {
			return
		}
		for pr.State == progress.StateReplicate && r.maybeSendAppend(id, false) {
		}
	})
}

// bcastAppend sends appends (or snapshots) to every peer that is not
// paused, even if only to carry the commit index.
func (r *raft) bcastAppend() {
	r.trk.Visit(func(id uint64, _ *progress.Progress) {
		if id != r.id {
			r.maybeSendAppend(id, true)
		}
	})
}

// sendCommit sends a peer the commit index now, with an empty append, if
// it lags and its flow allows: for the reads and transfers that need it.
func (r *raft) sendCommit(to uint64) {
	if pr := r.trk.Progress[to]; pr != nil && pr.CanBumpCommit(r.raftLog.committed) {
		r.maybeSendAppend(to, true)
	}
}

// sendAppend sends an append to a peer, even an empty one for the commit
// index, unless the peer's flow is paused.
func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends the next batch of entries to a peer, or a snapshot
// if the entries it needs were compacted. It reports whether a message was
// sent. With sendIfEmpty false it sends nothing when there are no entries.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.Progress[to]
	if pr == nil || pr.IsPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, err := r.raftLog.term(prevIndex)
	if err != nil {
		return r.maybeSendSnapshot(to, pr, err)
	}
	var ents []*pb.Entry
	// With a full window (or a probe in flight) only an empty append may
	// go out, to carry the commit index or to restart a stalled flow.
	if pr.CanSendEntries() {
		ents, err = r.raftLog.entries(pr.Next, r.maxMsgSize)
		if err != nil {
			return r.maybeSendSnapshot(to, pr, err)
		}
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	commit := r.raftLog.committed
	m := r.newMessage()
	m.To, m.Type = to, pb.MsgApp
	m.Index, m.LogTerm = prevIndex, prevTerm
	m.Entries, m.Commit = ents, commit
	r.send(m)
	pr.SentEntries(len(ents), payloadsSize(ents))
	pr.SentCommit(commit)
	return true
}

// maybeSendSnapshot sends the latest snapshot to a peer whose next entry is
// no longer in the log. err is why the entries could not be read.
func (r *raft) maybeSendSnapshot(to uint64, pr *progress.Progress, err error) bool {
	if !errors.Is(err, ErrCompacted) {
		// ErrUnavailable for an index we should have is a storage bug; the
		// log has recorded it and the node stops at the end of this step.
		r.logger.Error("raft could not read entries to send", slog.Uint64(keyTo, to), slog.Any(keyError, err))
		return false
	}
	if !pr.RecentActive {
		r.logger.Debug("raft skipped a snapshot to an inactive peer", slog.Uint64(keyTo, to))
		return false
	}
	snap, err := r.raftLog.snapshot()
	if err != nil {
		if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
			r.logger.Debug("raft snapshot temporarily unavailable; will retry", slog.Uint64(keyTo, to))
			return false
		}
		r.logger.Error("raft could not read the snapshot", slog.Any(keyError, err))
		return false
	}
	if pb.IsEmptySnap(snap) {
		r.logger.Error("raft storage returned an empty snapshot for compacted entries", slog.Uint64(keyTo, to))
		return false
	}
	if !confStateHas(snap.Metadata.GetConfState(), to) {
		// The snapshot predates the peer's membership: the peer would refuse
		// it (it must not adopt a configuration without itself). Wait for
		// the application to take a newer one; the next probe asks again.
		r.logger.Info("raft snapshot predates the peer's membership; waiting for a newer one",
			slog.Uint64(keyTo, to), slog.Uint64(keySnapIndex, snap.Metadata.Index))
		return false
	}
	sindex, sterm := snap.Metadata.Index, snap.Metadata.Term
	r.logger.Info("raft sent a snapshot",
		slog.Uint64(keyTo, to), slog.Uint64(keySnapIndex, sindex), slog.Uint64(keySnapTerm, sterm),
		slog.String(keyProgress, pr.String()))
	pr.BecomeSnapshot(sindex)
	r.send(&pb.Message{To: to, Type: pb.MsgSnap, Snapshot: snap})
	return true
}

// bcastHeartbeat sends a heartbeat to every peer.
func (r *raft) bcastHeartbeat() {
	ctx := r.nextBeatCtx()
	r.trk.Visit(func(id uint64, _ *progress.Progress) {
		if id != r.id {
			r.sendHeartbeat(id, ctx)
		}
	})
}

// sendHeartbeat sends a heartbeat. Its commit index is capped at what the
// peer is known to have: the peer may not have the entries up to our commit
// index yet, and must not commit entries that might not match ours.
func (r *raft) sendHeartbeat(to uint64, ctx []byte) {
	pr := r.trk.Progress[to]
	commit := min(pr.Match, r.raftLog.committed)
	m := r.newMessage()
	m.To, m.Type, m.Commit, m.Context = to, pb.MsgHeartbeat, commit, ctx
	r.send(m)
	pr.SentCommit(commit)
}

// maybeCommit advances the commit index to what a quorum has acknowledged,
// but only to an entry of the current term (Raft §5.4.2): entries of older
// terms are committed indirectly.
func (r *raft) maybeCommit() bool {
	prev := r.raftLog.committed
	var ok bool
	if bugs.Enabled && bugs.CommitOldTermByCounting {
		// Injected bug, for tests only: commit whatever a quorum holds.
		idx := r.trk.Committed()
		ok = r.raftLog.maybeCommit(entryID{term: r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(idx)), index: idx})
	} else {
		ok = r.raftLog.maybeCommit(entryID{term: r.Term, index: r.trk.Committed()})
	}
	if ok && prev < r.pendingConfIndex && r.pendingConfIndex <= r.raftLog.committed {
		r.bcastConfCommit = true
	}
	return ok
}

func leaderBeat(r *raft, _ *pb.Message) error {
	r.bcastHeartbeat()
	return nil
}

func leaderPropose(r *raft, m *pb.Message) error {
	if len(m.Entries) == 0 {
		return r.invalid(m, "empty proposal")
	}
	if r.trk.Progress[r.id] == nil {
		// We were removed from the configuration and are only waiting to
		// step down; nobody would replicate the proposal.
		return ErrProposalDropped
	}
	if r.leadTransferee != None {
		r.logger.Debug("raft dropped a proposal: leader transfer in progress",
			slog.Uint64("transferee", r.leadTransferee))
		return ErrProposalDropped
	}
	confIndex := uint64(0)
	for i, e := range m.Entries {
		if e.Type != pb.EntryConfChange && e.Type != pb.EntryConfChangeV2 {
			continue
		}
		if err := r.checkConfChangeProposal(e); err != nil {
			r.logger.Warn("raft rejected a configuration change", slog.Any(keyError, err))
			return err
		}
		confIndex = r.raftLog.lastIndex() + uint64(i) + 1
	}
	if !r.appendEntry(m.Entries...) {
		return ErrProposalDropped
	}
	if confIndex != 0 {
		r.pendingConfIndex = confIndex
	}
	// Sent with the next Ready: proposals stepped until then share appends.
	r.bcastPending = true
	return nil
}

func followerPropose(r *raft, m *pb.Message) error {
	if len(m.Entries) == 0 {
		return r.invalid(m, "empty proposal")
	}
	if r.lead == None {
		r.logger.Info("raft dropped a proposal: no leader", slog.Uint64(keyTerm, r.Term))
		return ErrProposalDropped
	}
	if r.disableProposalForwarding {
		r.logger.Info("raft dropped a proposal: forwarding is disabled", slog.Uint64(keyLeader, r.lead))
		return ErrProposalDropped
	}
	// The forwarded message outlives this call; RawNode reuses the slice of
	// its proposals, so the entries are copied.
	r.send(&pb.Message{To: r.lead, Type: pb.MsgProp, Entries: slices.Clone(m.Entries)})
	return nil
}

func followerApp(r *raft, m *pb.Message) error {
	r.heardFromLeader(m)
	return r.handleAppendEntries(m)
}

func followerHeartbeat(r *raft, m *pb.Message) error {
	r.heardFromLeader(m)
	return r.handleHeartbeat(m)
}

// handleAppendEntries is the follower side of MsgApp (Raft §5.3).
func (r *raft) handleAppendEntries(m *pb.Message) error {
	if err := r.checkAgainstCommitted(m); err != nil {
		// Leader Completeness: a correct leader holds our committed entries
		// unchanged, so this append comes from a broken or malicious peer.
		return r.invalid(m, "%v", err)
	}
	if m.Index < r.raftLog.committed {
		// Everything up to our commit index already matches the leader's
		// log; tell it where we are so it skips ahead.
		r.sendAppResp(m.From, r.raftLog.committed)
		return nil
	}
	prev := entryID{term: m.LogTerm, index: m.Index}
	inProgress := r.raftLog.unstable.offsetInProgress
	lastNew, ok, err := r.raftLog.maybeAppend(prev, m.Commit, m.Entries)
	if err != nil {
		return r.invalid(m, "%v", err)
	}
	if r.raftLog.unstable.offsetInProgress < inProgress {
		// Entries handed out for persistence were replaced.
		r.rewriteTerm = r.Term
	}
	if ok {
		r.sendAppResp(m.From, lastNew)
		return nil
	}
	// Our log does not match at m.Index. Hint the leader at the last index
	// whose term is at most m.LogTerm: every entry after it in our log
	// conflicts with the leader's, so the leader can skip a whole term per
	// round trip instead of one index (Raft §5.3, fast backtracking).
	hintIndex := min(m.Index, r.raftLog.lastIndex())
	hintIndex, hintTerm := r.raftLog.findConflictByTerm(hintIndex, m.LogTerm)
	r.logger.Debug("raft rejected an append",
		slog.Uint64(keyFrom, m.From), slog.Uint64(keyIndex, m.Index), slog.Uint64("log_term", m.LogTerm),
		slog.Uint64("hint_index", hintIndex), slog.Uint64("hint_term", hintTerm))
	resp := r.newMessage()
	resp.To, resp.Type, resp.Index, resp.Reject = m.From, pb.MsgAppResp, m.Index, true
	resp.RejectHint, resp.LogTerm = hintIndex, hintTerm
	r.send(resp)
	return nil
}

// sendAppResp acknowledges the log up to index to the leader to.
func (r *raft) sendAppResp(to, index uint64) {
	m := r.newMessage()
	m.To, m.Type, m.Index = to, pb.MsgAppResp, index
	r.send(m)
}

// checkAgainstCommitted returns an error if an append's previous entry or
// entries disagree in term with our committed entries, which the append
// would otherwise replace or, below the commit index, silently skip.
// Compacted indexes cannot be checked and are skipped.
func (r *raft) checkAgainstCommitted(m *pb.Message) error {
	committed := r.raftLog.committed
	if m.Index > committed {
		return nil
	}
	disagrees := func(index, term uint64) bool {
		t, err := r.raftLog.term(index)
		return err == nil && t != term
	}
	if disagrees(m.Index, m.LogTerm) {
		return fmt.Errorf("%w: previous entry %d has term %d, our committed entry there does not",
			errTruncateCommitted, m.Index, m.LogTerm)
	}
	for _, e := range m.Entries {
		if e.GetIndex() > committed {
			break
		}
		if disagrees(e.GetIndex(), e.GetTerm()) {
			return fmt.Errorf("%w: entry %d has term %d, committed index %d",
				errTruncateCommitted, e.GetIndex(), e.GetTerm(), committed)
		}
	}
	return nil
}

// handleHeartbeat is the follower side of MsgHeartbeat.
func (r *raft) handleHeartbeat(m *pb.Message) error {
	if m.Commit > r.raftLog.lastIndex() {
		// The leader caps the commit index at what we acknowledged, so this
		// cannot come from a correct leader.
		return r.invalid(m, "commit index %d beyond the last index %d", m.Commit, r.raftLog.lastIndex())
	}
	if err := r.raftLog.commitTo(m.Commit); err != nil {
		return r.invalid(m, "%v", err)
	}
	resp := r.newMessage()
	resp.To, resp.Type, resp.Context = m.From, pb.MsgHeartbeatResp, m.Context
	r.send(resp)
	return nil
}

// leaderAppResp handles a follower's (or our own) append acknowledgement or
// rejection.
func leaderAppResp(r *raft, m *pb.Message) error {
	pr := r.trk.Progress[m.From]
	if pr == nil {
		if m.From == r.id {
			// Our own acknowledgement of a write issued before we applied
			// our removal: we no longer count, so there is nothing to do.
			return nil
		}
		return fmt.Errorf("%w: MsgAppResp from %d", ErrStepPeerNotFound, m.From)
	}
	pr.RecentActive = true
	if m.Reject {
		return r.handleAppendReject(m, pr)
	}
	if m.Index > r.raftLog.lastIndex() {
		return r.invalid(m, "acknowledged index %d beyond the leader's last index %d", m.Index, r.raftLog.lastIndex())
	}
	if !pr.MaybeUpdate(m.Index) && !(pr.Match == m.Index && pr.State == progress.StateProbe) {
		return nil
	}
	switch {
	case pr.State == progress.StateProbe:
		pr.BecomeReplicate()
	case pr.State == progress.StateSnapshot && pr.Match+1 >= r.raftLog.firstIndex():
		// The follower caught up by other means (the snapshot arrived, or
		// appends reconnected its log): resume normal replication.
		r.logger.Info("raft peer recovered from needing a snapshot",
			slog.Uint64(keyFrom, m.From), slog.String(keyProgress, pr.String()))
		pr.BecomeProbe()
		pr.BecomeReplicate()
	}
	// The ack may have freed room in the pipeline or advanced the commit
	// index; the appends that follow from it go out with the next Ready,
	// together with those of every other ack and proposal stepped before.
	if r.maybeCommit() {
		r.releasePendingReadIndexMessages()
		r.bcastPending = true
	} else if m.From != r.id && r.owesAppend(pr) {
		r.bcastPending = true
	}
	if m.From == r.leadTransferee && pr.Match == r.raftLog.lastIndex() {
		r.logger.Info("raft transferee caught up; sending MsgTimeoutNow", slog.Uint64(keyTo, m.From))
		r.sendTimeoutNow(m.From)
	}
	return nil
}

// handleAppendReject moves a follower's Next back after a mismatch.
func (r *raft) handleAppendReject(m *pb.Message, pr *progress.Progress) error {
	r.logger.Debug("raft append rejected",
		slog.Uint64(keyFrom, m.From), slog.Uint64(keyIndex, m.Index),
		slog.Uint64("hint_index", m.RejectHint), slog.Uint64("hint_term", m.LogTerm))
	next := m.RejectHint
	if m.LogTerm > 0 {
		// The follower's log has term m.LogTerm at m.RejectHint. Our last
		// index with a term at most that is the best candidate for a match:
		// this skips whole terms on both sides.
		next, _ = r.raftLog.findConflictByTerm(m.RejectHint, m.LogTerm)
	}
	if pr.MaybeDecrTo(m.Index, next) {
		r.sendAppend(m.From)
	}
	return nil
}

// leaderHeartbeatResp handles a heartbeat acknowledgement: it marks the
// peer active, restarts its flow if it was waiting, and counts toward a
// pending read.
func leaderHeartbeatResp(r *raft, m *pb.Message) error {
	pr := r.trk.Progress[m.From]
	if pr == nil {
		return fmt.Errorf("%w: MsgHeartbeatResp from %d", ErrStepPeerNotFound, m.From)
	}
	pr.RecentActive = true
	pr.Resume()
	// The follower may have lost appends (or their answers): an append
	// now, even an empty one, tells where it stands. Heartbeats are
	// periodic, so this does not need batching.
	// A caught-up follower left probing (after ReportUnreachable, a
	// rejection, a new leadership) gets one too: its acknowledgement moves
	// it back to Replicate, so the next entries are pipelined instead of
	// going out as a lone probe.
	if pr.Match < r.raftLog.lastIndex() || pr.CanBumpCommit(r.raftLog.committed) || pr.State == progress.StateProbe {
		r.sendAppend(m.From)
	}
	r.handleReadHeartbeatResp(m)
	return nil
}

// leaderUnreachable: the transport could not deliver to the peer. Stop
// pipelining to it; probe until it answers again.
func leaderUnreachable(r *raft, m *pb.Message) error {
	pr := r.trk.Progress[m.From]
	if pr == nil {
		return fmt.Errorf("%w: MsgUnreachable for %d", ErrStepPeerNotFound, m.From)
	}
	if pr.State == progress.StateReplicate {
		pr.BecomeProbe()
	}
	r.logger.Debug("raft peer unreachable", slog.Uint64(keyTo, m.From), slog.String(keyProgress, pr.String()))
	return nil
}
