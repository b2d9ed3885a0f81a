package raft

import (
	pb "github.com/tickraft/raft/raftpb"
)

// handleStorageAppendResp records that the application made entries and a
// snapshot durable. In synchronous mode RawNode.Advance steps this message;
// in asynchronous mode the application does, from the MsgStorageAppend's
// responses.
func (r *raft) handleStorageAppendResp(m *pb.Message) error {
	// A snapshot comes before the entries that follow it.
	if m.Snapshot != nil && m.Snapshot.Metadata != nil {
		r.appliedSnap(m.Snapshot)
	}
	if m.Index != 0 {
		// The term makes the acknowledgement safe against the entries
		// having been truncated and rewritten since the write was issued.
		r.raftLog.stableTo(entryID{term: m.LogTerm, index: m.Index})
	}
	return nil
}

// handleStorageApplyResp records that the application applied committed
// entries.
func (r *raft) handleStorageApplyResp(m *pb.Message) error {
	n := len(m.Entries)
	if n == 0 {
		return nil
	}
	last := m.Entries[n-1].Index
	if last > r.raftLog.applying || last < r.raftLog.applied {
		return r.invalid(m, "applied index %d outside [%d, %d]", last, r.raftLog.applied, r.raftLog.applying)
	}
	r.appliedTo(last, applyingSize(m.Entries))
	if r.state == StateLeader {
		r.reduceUncommittedSize(payloadsSize(m.Entries))
	}
	return nil
}
