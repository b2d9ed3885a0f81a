package raft

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/tickraft/raft/confchange"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
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
		return &pendingConfChangeError{index: r.pendingConfIndex, applied: r.raftLog.applied}
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

// asConfChangeV2 returns cc in its V2 form, or an error wrapping
// ErrConfChangeRejected that says why cc cannot be a change at all: nil
// (untyped, or a typed nil of either version), a nil single change inside
// it, or a Transition that is not one of the three defined.
func asConfChangeV2(cc pb.ConfChangeI) (*pb.ConfChangeV2, error) {
	if cc == nil {
		return nil, fmt.Errorf("%w: nil configuration change", ErrConfChangeRejected)
	}
	if v1, ok := cc.AsV1(); ok && v1 == nil {
		return nil, fmt.Errorf("%w: nil *raftpb.ConfChange", ErrConfChangeRejected)
	}
	v2 := cc.AsV2()
	if v2 == nil {
		return nil, fmt.Errorf("%w: nil *raftpb.ConfChangeV2", ErrConfChangeRejected)
	}
	if err := checkConfChangeV2(v2); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfChangeRejected, err)
	}
	return v2, nil
}

// checkConfChangeV2 rejects what the change logic would otherwise
// misread: a nil single change (read as "add node 0") and an unknown
// Transition (read as JointExplicit, leaving the cluster joint).
func checkConfChangeV2(cc *pb.ConfChangeV2) error {
	if _, ok := pb.ConfChangeTransition_name[int32(cc.Transition)]; !ok {
		return fmt.Errorf("unknown transition %d", int32(cc.Transition))
	}
	for i, c := range cc.Changes {
		if c == nil {
			return fmt.Errorf("change %d of %d is nil", i+1, len(cc.Changes))
		}
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
	if err := checkConfChangeV2(cc); err != nil {
		return progress.Config{}, nil, err
	}
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
			slog.String(keyChange, pb.ConfChangesToString(cc.Changes)), slog.Any(keyError, err))
		return nil, fmt.Errorf("%w: %w", ErrConfChangeRejected, err)
	}
	cs := r.switchToConfig(cfg, prs)
	r.logger.Info("raft applied a configuration change",
		slog.String(keyChange, pb.ConfChangesToString(cc.Changes)), slog.String(keyConfig, r.trk.Config.String()))
	return cs, nil
}

// noteRemovedPeers records in removedPeers the nodes that were in old and
// are not in prs (both applied, hence committed, configurations), and
// forgets those prs holds again.
func (r *raft) noteRemovedPeers(old, prs progress.Map) {
	for id := range old {
		if _, kept := prs[id]; !kept && id != r.id {
			if r.removedPeers == nil {
				r.removedPeers = map[uint64]bool{}
			}
			r.removedPeers[id] = true
		}
	}
	for id := range r.removedPeers {
		if _, back := prs[id]; back {
			delete(r.removedPeers, id)
		}
	}
}

// switchToConfig installs a configuration and does what it implies for the
// leader: tell removed peers, commit what the new quorum already has, probe
// new peers, step down if removed.
func (r *raft) switchToConfig(cfg progress.Config, prs progress.Map) *pb.ConfState {
	old := r.trk.Progress
	r.trk.Config = cfg
	r.trk.Progress = prs
	r.noteRemovedPeers(old, prs)
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

// committedConfChange is a configuration change handed out to the
// application in CommittedEntries and not applied yet.
type committedConfChange struct {
	index uint64
	cc    *pb.ConfChangeV2
}

// handOutConfChanges records the configuration changes among committed
// entries handed out to the application, which ApplyConfChange may then
// apply. Entries that do not decode are left out: no change can match them.
func (r *raft) handOutConfChanges(ents []*pb.Entry) {
	for _, e := range ents {
		if e.Type != pb.EntryConfChange && e.Type != pb.EntryConfChangeV2 {
			continue
		}
		if cc, err := decodeConfChange(e); err == nil {
			r.confToApply = append(r.confToApply, committedConfChange{index: e.Index, cc: cc.AsV2()})
		}
	}
}

// takeCommittedConfChange finds cc among the changes handed out and not
// applied, and forgets it and the ones before it (which the application
// skipped). It returns an error, forgetting nothing, if cc is not there.
func (r *raft) takeCommittedConfChange(cc *pb.ConfChangeV2) error {
	for i, h := range r.confToApply {
		if proto.Equal(h.cc, cc) {
			r.confToApply = slices.Delete(r.confToApply, 0, i+1)
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not a committed change handed out in CommittedEntries and not applied yet (%d pending)",
		ErrConfChangeRejected, pb.ConfChangesToString(cc.Changes), len(r.confToApply))
}

// appliedTo records that the application applied entries up to index,
// releasing size bytes of the apply budget, and leaves an automatic joint
// configuration once its entry is applied.
func (r *raft) appliedTo(index, size uint64) {
	newApplied := max(index, r.raftLog.applied)
	r.raftLog.appliedTo(newApplied, size)
	// Changes the application acknowledged as applied without applying
	// them were skipped; they can no longer be applied.
	n := 0
	for n < len(r.confToApply) && r.confToApply[n].index <= newApplied {
		n++
	}
	if n > 0 {
		r.confToApply = slices.Delete(r.confToApply, 0, n)
	}
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
