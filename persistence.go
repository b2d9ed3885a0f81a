package raft

import (
	pb "github.com/tickraft/raft/raftpb"
)

// handleStorageAppendResp records that the application made entries and a
// snapshot durable: in asynchronous mode the application steps it back from
// the MsgStorageAppend's responses.
func (r *raft) handleStorageAppendResp(m *pb.Message) error {
	if snap := m.Snapshot; snap != nil && snap.Metadata != nil && snap.Metadata.Index > r.raftLog.committed {
		// Restoring a snapshot commits up to its index, so one handed out
		// by this node is never beyond the commit index.
		return r.invalid(m, "snapshot at index %d beyond the commit index %d: not one this node handed out",
			snap.Metadata.Index, r.raftLog.committed)
	}
	r.onPersisted(m.Term, entryID{term: m.LogTerm, index: m.Index}, m.Snapshot)
	return nil
}

// onPersisted records a completed write, issued in term, of entries up to
// last (index 0: none) and of snap (nil: none). In synchronous mode
// RawNode.Advance calls it directly.
func (r *raft) onPersisted(term uint64, last entryID, snap *pb.Snapshot) {
	// A snapshot comes before the entries that follow it.
	if snap != nil && snap.Metadata != nil {
		r.appliedSnap(snap)
	}
	if last.index == 0 {
		return
	}
	if term < r.rewriteTerm {
		// Issued before entries in progress were replaced by a later
		// leader: the entries it names may have been replaced and written
		// again since, and storage may not hold them yet. The
		// acknowledgement of the newer write covers them.
		return
	}
	// The last entry's term makes the acknowledgement safe against the
	// entries having been replaced (once) since the write was issued.
	r.raftLog.stableTo(last)
}

// onSelfPersisted delivers the leader's acknowledgement of its own entries
// up to index, appended in term, once they are durable. It is ignored if
// the node is no longer the leader of that term, or no longer a member.
func (r *raft) onSelfPersisted(term, index uint64) {
	if term != r.Term || r.state != StateLeader {
		return
	}
	pr := r.trk.Progress[r.id]
	if pr == nil || !pr.MaybeUpdate(index) {
		return
	}
	if r.maybeCommit() {
		r.releasePendingReadIndexMessages()
		r.bcastPending = true
	}
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
	r.onApplied(m.Entries)
	return nil
}

// onApplied records that the application applied ents, the last entries
// handed out to it. In synchronous mode RawNode.Advance calls it directly.
func (r *raft) onApplied(ents []*pb.Entry) {
	r.appliedTo(ents[len(ents)-1].Index, applyingSize(ents))
	if r.state == StateLeader {
		r.reduceUncommittedSize(payloadsSize(ents))
	}
}
