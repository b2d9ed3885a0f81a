package raft

import (
	"slices"

	pb "github.com/tickraft/raft/raftpb"
)

// applyingSize is how committed entries are measured against
// MaxCommittedSizePerReady: their payload bytes. The log cuts pages by
// encoded size, which is never smaller, so a page stays within budget.
func applyingSize(ents []*pb.Entry) uint64 { return payloadsSize(ents) }

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

// err returns the first unexpected storage error the log met, or nil.
func (l *raftLog) err() error { return l.storageErr }

// hasNextOrInProgressSnapshot reports whether a snapshot is waiting to be
// persisted, handed out or not.
func (l *raftLog) hasNextOrInProgressSnapshot() bool { return l.unstable.snapshot != nil }
