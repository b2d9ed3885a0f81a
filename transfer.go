package raft

import (
	"fmt"
	"log/slog"

	pb "github.com/tickraft/raft/raftpb"
)

// leaderTransfer starts moving leadership to m.From (thesis §3.10): bring
// the transferee's log up to date, then tell it to campaign at once with
// MsgTimeoutNow. Proposals are dropped meanwhile; the transfer is abandoned
// after an election timeout.
func leaderTransfer(r *raft, m *pb.Message) error {
	transferee := m.From
	pr := r.trk.Progress[transferee]
	if pr == nil {
		return fmt.Errorf("%w: leader transfer to %d", ErrStepPeerNotFound, transferee)
	}
	if pr.IsLearner {
		r.logger.Info("raft ignored a leader transfer to a learner", slog.Uint64(keyTransferee, transferee))
		return fmt.Errorf("%w: cannot transfer leadership to learner %d", ErrTransferRejected, transferee)
	}
	if r.leadTransferee != None {
		if r.leadTransferee == transferee {
			r.logger.Info("raft leader transfer already in progress", slog.Uint64(keyTransferee, transferee))
			return nil
		}
		r.abortLeaderTransfer()
	}
	if transferee == r.id {
		return nil
	}
	r.logger.Info("raft started a leader transfer", slog.Uint64(keyTransferee, transferee),
		slog.Uint64(keyTerm, r.Term))
	// The transfer must finish within one election timeout.
	r.transferElapsed = 0
	r.leadTransferee = transferee
	if pr.Match == r.raftLog.lastIndex() {
		r.sendTimeoutNow(transferee)
	} else {
		r.sendAppend(transferee)
	}
	return nil
}

func (r *raft) sendTimeoutNow(to uint64) {
	// Appends owed (the commit index above all) leave first, so the
	// transferee campaigns knowing what is committed.
	r.flushAppends()
	r.sendCommit(to)
	r.send(&pb.Message{To: to, Type: pb.MsgTimeoutNow})
	// The transferee's election overrides the followers' leader lease, so
	// from now on this leader cannot rely on it: a new leader may exist
	// before we hear of its term. Lease-based reads fall back to a
	// heartbeat round for the rest of the term.
	r.leaseBroken = true
}

func (r *raft) abortLeaderTransfer() {
	if r.leadTransferee != None {
		r.logger.Info("raft leader transfer ended", slog.Uint64(keyTransferee, r.leadTransferee))
	}
	r.leadTransferee = None
}

func followerTransfer(r *raft, m *pb.Message) error {
	if r.lead == None {
		r.logger.Info("raft dropped a leader transfer request: no leader", slog.Uint64(keyTerm, r.Term))
		return ErrNoLeader
	}
	r.send(&pb.Message{To: r.lead, Type: pb.MsgTransferLeader, Index: m.Index, Context: m.Context, From: m.From})
	return nil
}

// followerTimeoutNow campaigns at once, skipping the pre-vote: the leader
// asked for it, so the election cannot be disruptive.
func followerTimeoutNow(r *raft, m *pb.Message) error {
	r.logger.Info("raft received MsgTimeoutNow; campaigning", slog.Uint64(keyFrom, m.From),
		slog.Uint64(keyTerm, r.Term))
	if !r.promotable() || r.hasUnappliedConfChanges() {
		r.logger.Warn("raft cannot campaign after MsgTimeoutNow")
		return nil
	}
	r.campaign(campaignTransfer)
	return nil
}

// followerForgetLeader drops the known leader, so that a pre-vote or vote
// for another candidate can be granted without waiting for the election
// timeout (useful when the application knows the leader is gone).
func followerForgetLeader(r *raft, _ *pb.Message) error {
	if r.readOnly.option == ReadOnlyLeaseBased {
		// The leader's lease relies on followers not voting while they
		// remember it.
		r.logger.Warn("raft ignored ForgetLeader: lease-based reads depend on the leader being remembered")
		return nil
	}
	if r.lead != None {
		r.logger.Info("raft forgot the leader", slog.Uint64(keyLeader, r.lead), slog.Uint64(keyTerm, r.Term))
		r.lead = None
	}
	return nil
}
