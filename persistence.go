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
		if m.Term < r.rewriteTerm {
			// Issued before entries in progress were replaced by a later
			// leader: the entries it names may have been replaced and
			// written again since, and storage may not hold them yet. The
			// acknowledgement of the newer write covers them.
			return nil
		}
		// The last entry's term makes the acknowledgement safe against the
		// entries having been replaced (once) since the write was issued.
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
	if last > r.raftLog.applying {
		return r.invalid(m, "applied index %d beyond the applying index %d", last, r.raftLog.applying)
	}
	// An index below applied is legitimate: these entries were handed out
	// before a snapshot that the application restored first (the append
	// and apply threads run independently). appliedTo then only releases
	// the applying budget they hold; refusing would leak it, and once the
	// budget is used up the node would never apply again.
	r.appliedTo(last, applyingSize(m.Entries))
	if r.state == StateLeader {
		r.reduceUncommittedSize(payloadsSize(m.Entries))
	}
	return nil
}
