package raft

import (
	"bytes"
	"log/slog"
	"slices"

	"github.com/tickraft/raft/internal/bugs"
	"github.com/tickraft/raft/progress"
	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

// hup starts an election (or a pre-election) if this node may lead.
func (r *raft) hup() {
	if r.state == StateLeader {
		r.logger.Debug("raft ignored MsgHup: already leader")
		return
	}
	if !r.promotable() {
		r.logger.Warn("raft cannot campaign: not a voter, or a snapshot is pending")
		return
	}
	if r.votePromised() {
		// Voting for ourselves would break the promise a leader's lease
		// relies on; our own timer cannot fire before it expires.
		r.logger.Warn("raft cannot campaign: a leader's lease may be running (ReadOnlyLeaseBased)",
			slog.Int(keySinceLeader, r.sinceLeader))
		return
	}
	if r.hasUnappliedConfChanges() {
		// The configuration we would campaign in may not be the one in
		// force once the pending changes apply.
		r.logger.Warn("raft cannot campaign: committed configuration changes are not applied yet",
			slog.Uint64(keyApplied, r.raftLog.applied), slog.Uint64(keyCommit, r.raftLog.committed))
		return
	}
	if r.preVote {
		r.campaign(campaignPreElection)
	} else {
		r.campaign(campaignElection)
	}
}

// hasUnappliedConfChanges reports whether a configuration change is
// committed but not yet applied.
func (r *raft) hasUnappliedConfChanges() bool {
	if r.raftLog.applied >= r.raftLog.committed {
		return false
	}
	found := false
	// Entries being applied are included: their change is not in force yet.
	lo, hi := r.raftLog.applied+1, r.raftLog.committed+1
	_ = r.raftLog.scan(lo, hi, r.maxMsgSize, func(ents []*pb.Entry) error {
		for _, e := range ents {
			if e.Type == pb.EntryConfChange || e.Type == pb.EntryConfChangeV2 {
				found = true
				return errStopScan
			}
		}
		return nil
	})
	return found
}

// campaign asks every voter for its vote. Our own vote is recorded through
// a response to ourselves that is delivered only once the vote is persisted.
func (r *raft) campaign(t campaignType) {
	if !r.promotable() {
		r.logger.Warn("raft invariant: campaign called on a node that cannot lead")
		return
	}
	var term uint64
	var voteMsg pb.MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = pb.MsgPreVote
		// A pre-vote asks about the term we would move to.
		term = r.Term + 1
	} else {
		r.becomeCandidate()
		voteMsg = pb.MsgVote
		term = r.Term
	}
	r.logger.Info("raft started an election",
		slog.String(keyCampaign, string(t)), slog.Uint64(keyTerm, term),
		slog.Uint64(keyLastIndex, r.raftLog.lastIndex()))
	respType, _ := pb.VoteRespMsgType(voteMsg)
	last := r.raftLog.lastEntryID()
	var ctx []byte
	if t == campaignTransfer {
		ctx = []byte(t)
	}
	for _, id := range r.sortedVoterIDs() {
		if id == r.id {
			r.send(&pb.Message{To: id, Term: term, Type: respType})
			continue
		}
		r.send(&pb.Message{To: id, Term: term, Type: voteMsg, Index: last.index, LogTerm: last.term, Context: ctx})
	}
}

// isTransferCampaign reports whether a vote request belongs to the election
// a leader transfer forced.
func isTransferCampaign(m *pb.Message) bool {
	return bytes.Equal(m.Context, []byte(campaignTransfer))
}

// handleVoteRequest answers MsgVote and MsgPreVote in every role.
func (r *raft) handleVoteRequest(m *pb.Message) {
	respType, _ := pb.VoteRespMsgType(m.Type)
	// We can vote for the sender if we already did in this term (a repeated
	// request), if we have not voted and know no leader, or, for a pre-vote,
	// if it is for a later term (a pre-vote records nothing).
	// A lease promise blocks new votes (lease.go).
	free := !r.votePromised() || isTransferCampaign(m)
	canVote := r.Vote == m.From ||
		(r.Vote == None && r.lead == None && free) ||
		(m.Type == pb.MsgPreVote && m.Term > r.Term && free) ||
		(bugs.Enabled && bugs.VoteTwice && m.Type == pb.MsgVote && r.lead == None)
	if r.knownRemoved(m) {
		r.logger.Info("raft rejected a vote: the candidate was removed",
			slog.String(keyMsgType, m.Type.String()), slog.Uint64(keyFrom, m.From),
			slog.Uint64(keyTerm, r.Term), slog.Uint64(keyMsgTerm, m.Term))
		r.send(&pb.Message{To: m.From, Term: r.Term, Type: respType, Reject: true})
		return
	}
	if canVote && r.raftLog.isUpToDate(entryID{term: m.LogTerm, index: m.Index}) {
		r.logger.Info("raft granted a vote",
			slog.String(keyMsgType, m.Type.String()), slog.Uint64(keyFrom, m.From),
			slog.Uint64(keyTerm, r.Term), slog.Uint64(keyMsgTerm, m.Term))
		// The response carries the message's term, not ours: for a pre-vote
		// ours is lower, and the candidate ignores responses of other terms.
		r.send(&pb.Message{To: m.From, Term: m.Term, Type: respType})
		if m.Type == pb.MsgVote {
			r.electionElapsed = 0
			r.Vote = m.From
		}
		return
	}
	r.logger.Info("raft rejected a vote",
		slog.String(keyMsgType, m.Type.String()), slog.Uint64(keyFrom, m.From),
		slog.Uint64(keyTerm, r.Term), slog.Uint64(keyMsgTerm, m.Term), slog.Uint64(keyVote, r.Vote))
	r.send(&pb.Message{To: m.From, Term: r.Term, Type: respType, Reject: true})
}

// knownRemoved reports whether the candidate of vote request m is known to
// be out of the cluster. A removed node must never lead again, even before
// it hears of its removal (the leader's word may be delayed), so it gets
// no vote here. Known means either of:
//
//   - this node applied a configuration that removed it, and none since
//     that added it back (removedPeers; node IDs are not reused);
//   - it is absent from the configuration this node applied (neither voter
//     nor learner), and its log ends at or before the applied index.
//
// Absence alone proves nothing: this node's configuration may be stale,
// and a candidate added by a change it has not applied must get its vote
// (that vote may be needed for any leader to be elected). Such a candidate
// has applied its own addition, so its log holds it, past this node's
// applied index. A learner is present and gets votes: it may have been
// promoted by a change not applied here (etcd's campaign_learner_must_vote).
func (r *raft) knownRemoved(m *pb.Message) bool {
	if r.removedPeers[m.From] {
		return true
	}
	if _, ok := r.trk.Progress[m.From]; ok {
		return false
	}
	return m.Index <= r.raftLog.applied
}

// candidateVoteResp tallies a vote in an election or a pre-election.
func candidateVoteResp(r *raft, m *pb.Message) error {
	// A pre-candidate counts only pre-votes, a candidate only votes.
	if (r.state == StatePreCandidate) != (m.Type == pb.MsgPreVoteResp) {
		return nil
	}
	granted, rejected, res := r.poll(m.From, !m.Reject)
	r.logger.Info("raft counted a vote",
		slog.String(keyMsgType, m.Type.String()), slog.Uint64(keyFrom, m.From), slog.Bool(keyGranted, !m.Reject),
		slog.Int(keyVotesGranted, granted), slog.Int(keyVotesRejected, rejected))
	switch res {
	case quorum.VoteWon:
		if r.state == StatePreCandidate {
			r.campaign(campaignElection)
			return nil
		}
		r.becomeLeader()
		r.bcastAppend()
	case quorum.VoteLost:
		// Stay in the term (a lost pre-election never left it) and wait
		// for a leader or the next timeout.
		r.becomeFollower(r.Term, None)
	}
	return nil
}

func candidatePropose(r *raft, m *pb.Message) error {
	if len(m.Entries) == 0 {
		return r.invalid(m, "empty proposal")
	}
	r.logger.Info("raft dropped a proposal: no leader during the election", slog.Uint64(keyTerm, r.Term))
	return ErrProposalDropped
}

func candidateApp(r *raft, m *pb.Message) error {
	r.becomeFollower(m.Term, m.From)
	r.heardFromLeader(m)
	return r.handleAppendEntries(m)
}

func candidateHeartbeat(r *raft, m *pb.Message) error {
	r.becomeFollower(m.Term, m.From)
	r.heardFromLeader(m)
	return r.handleHeartbeat(m)
}

func candidateSnap(r *raft, m *pb.Message) error {
	r.becomeFollower(m.Term, m.From)
	r.heardFromLeader(m)
	return r.handleSnapshot(m)
}

// leaderCheckQuorum steps down when a quorum was not heard from within the
// last election timeout (CheckQuorum).
func leaderCheckQuorum(r *raft, _ *pb.Message) error {
	if !r.trk.QuorumActive() {
		r.logger.Warn("raft leader stepped down: no quorum active within an election timeout",
			slog.Uint64(keyTerm, r.Term))
		r.becomeFollower(r.Term, None)
	}
	// Start the next window: every peer must show activity again.
	r.trk.Visit(func(id uint64, pr *progress.Progress) {
		if id != r.id {
			pr.RecentActive = false
		}
	})
	return nil
}

// sortedVoterIDs returns the IDs of every voter, incoming or outgoing, in
// increasing order, so that message order is deterministic.
func (r *raft) sortedVoterIDs() []uint64 {
	ids := make([]uint64, 0, len(r.trk.Voters[0])+len(r.trk.Voters[1]))
	for id := range r.trk.Voters.IDs() {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
