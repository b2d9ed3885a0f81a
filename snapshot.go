package raft

import (
	"fmt"
	"log/slog"

	"github.com/tickraft/raft/confchange"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

func followerSnap(r *raft, m *pb.Message) error {
	r.heardFromLeader(m)
	return r.handleSnapshot(m)
}

// handleSnapshot is the follower side of MsgSnap. The answer is an append
// acknowledgement: of the snapshot's index if it was installed, of our
// commit index otherwise, so the leader knows where to continue.
func (r *raft) handleSnapshot(m *pb.Message) error {
	s := m.Snapshot
	if pb.IsEmptySnap(s) {
		return r.invalid(m, "empty snapshot")
	}
	if i := s.Metadata.Index; i > maxLogIndex {
		return r.invalid(m, "snapshot index %d is beyond index %d", i, uint64(maxLogIndex))
	}
	restored, err := r.restore(s)
	if err != nil {
		return r.invalid(m, "%v", err)
	}
	if restored {
		r.logger.Info("raft restored a snapshot",
			slog.Uint64(keySnapIndex, s.Metadata.Index), slog.Uint64(keySnapTerm, s.Metadata.Term),
			slog.Uint64(keyCommit, r.raftLog.committed))
		r.send(&pb.Message{To: m.From, Type: pb.MsgAppResp, Index: r.raftLog.lastIndex()})
		return nil
	}
	r.logger.Info("raft ignored a snapshot",
		slog.Uint64(keySnapIndex, s.Metadata.Index), slog.Uint64(keySnapTerm, s.Metadata.Term),
		slog.Uint64(keyCommit, r.raftLog.committed))
	r.send(&pb.Message{To: m.From, Type: pb.MsgAppResp, Index: r.raftLog.committed})
	return nil
}

// restore installs a snapshot as the new base of the log and the new
// configuration. It reports false when the snapshot brings nothing new: it
// is not beyond our commit index, or our log already contains its last
// entry (then the commit index moves up to it instead).
func (r *raft) restore(s *pb.Snapshot) (bool, error) {
	sindex, sterm := s.Metadata.Index, s.Metadata.Term
	if sindex <= r.raftLog.committed {
		return false, nil
	}
	if r.state != StateFollower {
		// Only a leader of our term sends snapshots, and stepping its
		// message made us a follower. Anything else is a bug.
		return false, fmt.Errorf("snapshot received in role %s", r.state)
	}
	cs := s.Metadata.ConfState
	if cs == nil {
		cs = &pb.ConfState{}
	}
	if !confStateHas(cs, r.id) {
		// We are not in the snapshot's configuration: we were removed, or
		// this snapshot was meant for someone else. Installing it would
		// leave us with a configuration that does not name us.
		r.logger.Warn("raft refused a snapshot whose configuration does not include this node",
			slog.String(keyConfig, pb.DescribeConfState(cs)))
		return false, nil
	}
	if r.raftLog.matchTerm(entryID{term: sterm, index: sindex}) {
		// Our log already has the snapshot's last entry: it is committed,
		// and everything before it matches the leader.
		if err := r.raftLog.commitTo(sindex); err != nil {
			return false, err
		}
		return false, nil
	}
	// Check the configuration before touching the log.
	trk := progress.MakeTracker(r.trk.MaxInflight, r.trk.MaxInflightBytes)
	cfg, prs, err := confchange.Restore(confchange.Changer{Tracker: trk, LastIndex: sindex}, cs)
	if err != nil {
		return false, fmt.Errorf("snapshot configuration %s: %w", pb.DescribeConfState(cs), err)
	}
	// Restore reads the lists as sets; a leader's conf state never repeats
	// an ID, and the check below the log change must not see one.
	if err := pb.ConfStateEquivalent(cs, (&progress.Tracker{Config: cfg}).ConfState()); err != nil {
		return false, fmt.Errorf("snapshot configuration %s: %w", pb.DescribeConfState(cs), err)
	}
	r.raftLog.restore(s)
	r.trk = trk
	if err := pb.ConfStateEquivalent(cs, r.switchToConfig(cfg, prs)); err != nil {
		panicInvariant("the configuration restored from a snapshot is the snapshot's", "%v", err)
	}
	pr := r.trk.Progress[r.id]
	pr.MaybeUpdate(pr.Next - 1)
	return true, nil
}

func confStateHas(cs *pb.ConfState, id uint64) bool {
	for _, set := range [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing()} {
		for _, v := range set {
			if v == id {
				return true
			}
		}
	}
	return false
}

// leaderSnapStatus handles ReportSnapshot: the transport finished (or gave
// up) sending a snapshot to a peer.
func leaderSnapStatus(r *raft, m *pb.Message) error {
	pr := r.trk.Progress[m.From]
	if pr == nil {
		return fmt.Errorf("%w: MsgSnapStatus for %d", ErrStepPeerNotFound, m.From)
	}
	if m.Reject {
		if pr.OnSnapshotFailed() {
			r.logger.Info("raft snapshot send failed; probing again", slog.Uint64(keyTo, m.From),
				slog.String(keyProgress, pr.String()))
		}
		return nil
	}
	// The peer is probed from the snapshot's index, once it answers (or a
	// heartbeat response arrives): a slow install is not flooded.
	if pr.OnSnapshotDone() {
		r.logger.Info("raft snapshot sent; probing from its index", slog.Uint64(keyTo, m.From),
			slog.String(keyProgress, pr.String()))
	}
	return nil
}

// appliedSnap records that the application persisted and applied the
// snapshot.
func (r *raft) appliedSnap(s *pb.Snapshot) {
	index := s.Metadata.Index
	r.raftLog.stableSnapTo(index)
	r.appliedTo(index, 0)
}
