package raft

import (
	"fmt"
	"log/slog"

	"github.com/tickraft/raft/confchange"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

// checkConfChangeProposal decides whether the leader accepts a proposed
// configuration change. A change is refused while an earlier one may still
// be unapplied (one change at a time keeps every two consecutive
// configurations overlapping), and when it does not fit the joint state.
// The change itself is also tried against the current configuration, so an
// invalid change fails here, where the caller can see the error, instead of
// at apply time on every node.
func (r *raft) checkConfChangeProposal(e *pb.Entry) error {
	cc, err := decodeConfChange(e)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfChangeRejected, err)
	}
	if r.disableConfChangeValidation {
		return nil
	}
	v2 := cc.AsV2()
	alreadyJoint := len(r.trk.Config.Voters[1]) > 0
	wantsLeave := v2.LeaveJoint()
	switch {
	case r.pendingConfIndex > r.raftLog.applied:
		return fmt.Errorf("%w: a configuration change at index %d may not be applied yet (applied %d)",
			ErrConfChangeRejected, r.pendingConfIndex, r.raftLog.applied)
	case alreadyJoint && !wantsLeave:
		return fmt.Errorf("%w: the joint configuration must be left first", ErrConfChangeRejected)
	case !alreadyJoint && wantsLeave:
		return fmt.Errorf("%w: not in a joint configuration, nothing to leave", ErrConfChangeRejected)
	}
	if _, _, err := r.changer().apply(v2); err != nil {
		return fmt.Errorf("%w: %w", ErrConfChangeRejected, err)
	}
	return nil
}

// decodeConfChange reads the change held by a configuration change entry.
func decodeConfChange(e *pb.Entry) (pb.ConfChangeI, error) { return pb.UnmarshalConfChange(e) }

type confChanger struct{ confchange.Changer }

func (r *raft) changer() confChanger {
	return confChanger{confchange.Changer{Tracker: r.trk, LastIndex: r.raftLog.lastIndex()}}
}

// apply computes the configuration a change leads to, without installing
// it.
func (c confChanger) apply(cc *pb.ConfChangeV2) (progress.Config, progress.Map, error) {
	if cc.LeaveJoint() {
		return c.LeaveJoint()
	}
	if autoLeave, ok := cc.EnterJoint(); ok {
		return c.EnterJoint(autoLeave, cc.Changes...)
	}
	return c.Simple(cc.Changes...)
}

// applyConfChange installs the configuration a committed change leads to.
// An invalid change (possible only when validation is disabled or with a
// corrupt log) returns an error and changes nothing; every node applies the
// same entries and so reaches the same decision.
func (r *raft) applyConfChange(cc *pb.ConfChangeV2) (*pb.ConfState, error) {
	cfg, prs, err := r.changer().apply(cc)
	if err != nil {
		r.logger.Warn("raft could not apply a configuration change",
			slog.String("change", pb.ConfChangesToString(cc.Changes)), slog.Any(keyError, err))
		return nil, fmt.Errorf("%w: %w", ErrConfChangeRejected, err)
	}
	cs := r.switchToConfig(cfg, prs)
	r.logger.Info("raft applied a configuration change",
		slog.String("change", pb.ConfChangesToString(cc.Changes)), slog.String(keyConfig, r.trk.Config.String()))
	return cs, nil
}

// switchToConfig installs a configuration and does what it implies for the
// leader: tell removed peers, commit what the new quorum already has, probe
// new peers, step down if removed.
func (r *raft) switchToConfig(cfg progress.Config, prs progress.Map) *pb.ConfState {
	old := r.trk.Progress
	r.trk.Config = cfg
	r.trk.Progress = prs
	if r.state == StateLeader {
		for id, pr := range old {
			if _, kept := prs[id]; !kept && id != r.id {
				r.tellRemoved(id, pr)
			}
		}
	}
	cs := r.trk.ConfState()
	pr, ok := r.trk.Progress[r.id]
	r.isLearner = ok && pr.IsLearner

	if (!ok || r.isLearner) && (r.state == StateCandidate || r.state == StatePreCandidate) {
		// Removed or demoted during an election (a change applied that
		// was not committed when the election started): it cannot win.
		r.becomeFollower(r.Term, None)
		return cs
	}
	if (!ok || r.isLearner) && r.state == StateLeader {
		// The leader was removed or demoted. It keeps leading (so the
		// change can commit on the remaining voters) unless told to step
		// down; it stops counting itself in the quorum either way.
		if r.stepDownOnRemoval {
			r.logger.Info("raft leader stepped down: removed from the configuration")
			r.becomeFollower(r.Term, None)
		}
		return cs
	}
	if r.state != StateLeader || len(cs.Voters) == 0 {
		return cs
	}
	// The new quorum may already hold more entries (commit them), and new
	// peers need their first probe: both go out with the next Ready.
	if r.maybeCommit() {
		r.bcastPending = true
	}
	r.trk.Visit(func(id uint64, pr *progress.Progress) {
		if id == r.id {
			return
		}
		if _, known := old[id]; !known {
			// A new peer is probed with the next Ready, even with nothing
			// to send yet: its answer starts its catch-up, and a change
			// proposed next may need its vote.
			r.probeNew = append(r.probeNew, id)
			r.bcastPending = true
		} else if r.owesAppend(pr) {
			r.bcastPending = true
		}
	})
	if r.leadTransferee != None {
		if _, ok := r.trk.Config.Voters.IDs()[r.leadTransferee]; !ok {
			r.abortLeaderTransfer()
		}
	}
	return cs
}

// appliedTo records that the application applied entries up to index,
// releasing size bytes of the apply budget, and leaves an automatic joint
// configuration once its entry is applied.
func (r *raft) appliedTo(index, size uint64) {
	newApplied := max(index, r.raftLog.applied)
	r.raftLog.appliedTo(newApplied, size)
	r.maybeAutoLeave()
}

// maybeAutoLeave proposes the empty change that leaves a joint
// configuration entered with auto-leave, once the entering change is
// applied on the leader. The proposal can be dropped (a leader transfer is
// in progress); the leader then retries on every heartbeat tick until one
// is appended, so the cluster never stays joint for lack of a trigger.
func (r *raft) maybeAutoLeave() {
	if r.state != StateLeader || !r.trk.Config.AutoLeave || r.raftLog.applied < r.pendingConfIndex {
		return
	}
	m := &pb.Message{Type: pb.MsgProp, Entries: []*pb.Entry{{Type: pb.EntryConfChangeV2}}}
	if err := r.step(m); err != nil {
		r.logger.Info("raft could not propose leaving the joint configuration yet; will retry",
			slog.Any(keyError, err))
		return
	}
	r.logger.Info("raft proposed leaving the joint configuration automatically",
		slog.String(keyConfig, r.trk.Config.String()))
}

// tellRemoved sends a peer that the change being applied removed the commit
// index, if the leader may not have told it that the change committed: the
// commit index goes to every peer once a change commits, but not to a peer
// whose flow was paused then (a full window, a probe in flight), and the
// leader forgets the peer now. Without it the removed node would take
// itself for a voter and campaign. A peer streaming appends gets an empty
// append after those in flight; any other a heartbeat, whose commit index
// is capped at what the peer acknowledged. (A peer that lacks the change's
// entry cannot learn of it; it never answers as a member again either.)
func (r *raft) tellRemoved(id uint64, pr *progress.Progress) {
	if pr.LastSentCommit() >= r.pendingConfIndex {
		return
	}
	commit := r.raftLog.committed
	m := r.newMessage()
	m.To = id
	if term, err := r.raftLog.term(pr.Next - 1); err == nil && pr.State == progress.StateReplicate {
		m.Type, m.Index, m.LogTerm, m.Commit = pb.MsgApp, pr.Next-1, term, commit
	} else {
		m.Type, m.Commit = pb.MsgHeartbeat, min(pr.Match, commit)
	}
	r.send(m)
}
