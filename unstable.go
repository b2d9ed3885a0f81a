package raft

import (
	"fmt"

	"github.com/tickraft/raft/internal/invariants"
	pb "github.com/tickraft/raft/raftpb"
)

// unstable is the tail of the raft log that has not been persisted to
// Storage yet: an incoming snapshot, entries, or both. The application is
// handed this state for persistence (nextEntries, nextSnapshot), marks it in
// progress (acceptInProgress), and later acknowledges what it wrote
// (stableTo, stableSnapTo), at which point it is dropped from here and read
// from Storage instead.
//
// Writes are asynchronous: between handing entries out and the
// acknowledgement, the tail may be truncated and rewritten by a new leader.
// The acknowledgement names the entry by index and term so a stale one is
// recognised and ignored.
//
// Entries are shared, never copied, and never modified. An array position
// that was ever handed out in a slice is never written again: appends only
// write past the end, truncation builds a new array, and slices returned
// have no spare capacity, so their holders cannot write into it either.
type unstable struct {
	// snapshot is an incoming snapshot that has not been persisted yet, or
	// nil. When set, it replaces everything in Storage, and
	// offset == snapshot index + 1.
	snapshot *pb.Snapshot
	// entries are the entries not yet persisted: entries[i] has index
	// offset+i. Their indexes are contiguous and their terms non-decreasing.
	entries []*pb.Entry
	// offset is the index of entries[0], or the index the next entry would
	// take when entries is empty. Every index below offset is either in
	// Storage or covered by snapshot.
	offset uint64

	// snapshotInProgress says snapshot was handed to the application for
	// persistence. It implies snapshot != nil.
	snapshotInProgress bool
	// offsetInProgress is the first index not yet handed to the application:
	// entries[:offsetInProgress-offset] are being written. It satisfies
	// offset <= offsetInProgress <= offset+len(entries). Entries are only
	// handed out together with, or after, a pending snapshot, so
	// offsetInProgress > offset implies snapshot == nil || snapshotInProgress.
	offsetInProgress uint64
}

// snapshotIndex is the index of the pending snapshot; only meaningful when
// u.snapshot != nil.
func (u *unstable) snapshotIndex() uint64 {
	return u.snapshot.GetMetadata().GetIndex()
}

// lastEntryIndex is the index of the last unstable entry, or offset-1 when
// there is none.
func (u *unstable) lastEntryIndex() uint64 {
	return u.offset + uint64(len(u.entries)) - 1
}

// maybeFirstIndex returns the first index of the log if it is known from
// unstable alone, that is if a snapshot is pending: the entry after it.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshotIndex() + 1, true
	}
	return 0, false
}

// maybeTerm returns the term of the entry at index i if unstable knows it:
// an unstable entry, or the pending snapshot's own index.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && i == u.snapshotIndex() {
			return u.snapshot.GetMetadata().GetTerm(), true
		}
		return 0, false
	}
	if i > u.lastEntryIndex() || len(u.entries) == 0 {
		return 0, false
	}
	return u.entries[i-u.offset].GetTerm(), true
}

// nextEntries returns the entries not yet handed to the application for
// persistence, or nil. The slice has no spare capacity.
func (u *unstable) nextEntries() []*pb.Entry {
	k := u.offsetInProgress - u.offset
	n := uint64(len(u.entries))
	if k == n {
		return nil
	}
	return u.entries[k:n:n]
}

// nextSnapshot returns the pending snapshot if it has not been handed to the
// application yet, or nil.
func (u *unstable) nextSnapshot() *pb.Snapshot {
	if u.snapshot == nil || u.snapshotInProgress {
		return nil
	}
	return u.snapshot
}

// acceptInProgress marks everything nextEntries and nextSnapshot currently
// return as handed to the application, so they are not returned again.
func (u *unstable) acceptInProgress() {
	if len(u.entries) > 0 {
		u.offsetInProgress = u.lastEntryIndex() + 1
	}
	if u.snapshot != nil {
		u.snapshotInProgress = true
	}
}

// stableTo records that the application persisted the entries up to and
// including id, and drops them from unstable. The acknowledgement is ignored
// when it no longer describes the unstable tail:
//   - id.index is not an unstable entry (already acknowledged, or replaced
//     by a snapshot);
//   - the entry at id.index now has another term: it was truncated and
//     rewritten after being handed out (the ABA case of async writes), and
//     the new entry still has to be written;
//   - a snapshot is pending. Entries after it are written after it, so an
//     acknowledgement that covers both must be applied with stableSnapTo
//     first; until then offset stays pinned to the snapshot. An entry
//     acknowledgement seen while the snapshot is pending either predates
//     the snapshot, whose write then wiped the entries it names, or was
//     passed in the wrong order; dropping entries on its account could lose
//     them.
func (u *unstable) stableTo(id entryID) {
	if u.snapshot != nil {
		return
	}
	t, ok := u.maybeTerm(id.index)
	if !ok || id.index < u.offset || t != id.term {
		return
	}
	n := id.index + 1 - u.offset
	u.entries = u.entries[n:]
	u.offset = id.index + 1
	u.offsetInProgress = max(u.offsetInProgress, u.offset)
	u.shrinkEntriesArray()
	u.checkInvariants()
}

// shrinkEntriesArray releases memory after entries were dropped from the
// front. Dropped entries stay reachable through the backing array until it
// is replaced, and the array is never written to (handed-out slices alias
// it), so when entries is empty or uses less than half of the remaining
// capacity it is moved to a new, tight array.
//
// Arrays of up to minEntriesCap entries are kept even when empty: appends
// go on filling their remaining capacity, so a steady stream of small
// appends allocates once per minEntriesCap entries, at the price of keeping
// that many persisted entries reachable.
func (u *unstable) shrinkEntriesArray() {
	c := cap(u.entries)
	switch {
	case c <= minEntriesCap:
	case len(u.entries) == 0:
		u.entries = nil
	case 2*len(u.entries) < c:
		u.entries = append(make([]*pb.Entry, 0, max(len(u.entries), minEntriesCap)), u.entries...)
	}
}

// minEntriesCap is the smallest array the unstable entries grow into.
const minEntriesCap = 64

// stableSnapTo records that the application persisted the snapshot at index
// i. It is ignored unless that snapshot is the pending one.
func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshotIndex() == i {
		u.snapshot = nil
		u.snapshotInProgress = false
		u.checkInvariants()
	}
}

// restore replaces the whole unstable state with the snapshot s: the log now
// starts right after it, with no entries.
func (u *unstable) restore(s *pb.Snapshot) {
	u.snapshot = s
	u.entries = nil
	u.offset = s.GetMetadata().GetIndex() + 1
	u.offsetInProgress = u.offset
	u.snapshotInProgress = false
	u.checkInvariants()
}

// truncateAndAppend adds ents, which have contiguous indexes, to the tail.
// Where they start decides what happens:
//   - right after the last unstable entry: they are appended;
//   - at or before offset: they replace all unstable entries (entries before
//     offset in Storage are overwritten when these are persisted);
//   - inside the unstable entries: the entries from ents[0]'s index on are
//     dropped, then ents appended. If that cuts into the range handed out
//     for persistence, offsetInProgress moves back so the new entries are
//     handed out too.
//
// Starting beyond the last index would leave a hole, and starting at or
// before a pending snapshot would contradict it: both are invariant
// violations the raftLog rules out.
func (u *unstable) truncateAndAppend(ents []*pb.Entry) {
	if len(ents) == 0 {
		return
	}
	from := ents[0].GetIndex()
	if u.snapshot != nil && from <= u.snapshotIndex() {
		panicInvariant("unstable entries follow the pending snapshot",
			"appending from index %d, snapshot at index %d", from, u.snapshotIndex())
	}
	switch last := u.lastEntryIndex(); {
	case from == last+1:
		// Only array positions past len(entries) are written, which no
		// handed-out slice reaches. Grow with room to spare (see
		// shrinkEntriesArray).
		if n := len(u.entries) + len(ents); n > cap(u.entries) {
			grown := make([]*pb.Entry, len(u.entries), max(2*n, minEntriesCap))
			copy(grown, u.entries)
			u.entries = grown
		}
		u.entries = append(u.entries, ents...)
	case from <= u.offset:
		// The full slice expression makes the next append reallocate
		// instead of writing into the caller's array.
		u.entries = ents[:len(ents):len(ents)]
		u.offset = from
		u.offsetInProgress = from
	case from <= last:
		// Keep the prefix in a new array: the old one may be aliased by
		// slices handed out for persistence or in messages.
		keep := from - u.offset
		fresh := make([]*pb.Entry, 0, keep+uint64(len(ents)))
		fresh = append(fresh, u.entries[:keep]...)
		u.entries = append(fresh, ents...)
		u.offsetInProgress = min(u.offsetInProgress, from)
	default:
		panicInvariant("appended entries are contiguous with the log",
			"appending from index %d after last index %d", from, last)
	}
	u.checkInvariants()
}

// slice returns the unstable entries in [lo, hi). The caller guarantees
// offset <= lo <= hi <= offset+len(entries). The result has no spare
// capacity.
func (u *unstable) slice(lo, hi uint64) []*pb.Entry {
	if lo > hi || lo < u.offset || hi > u.lastEntryIndex()+1 {
		panicInvariant("unstable.slice bounds within the unstable entries",
			"[%d, %d) requested, unstable entries span [%d, %d)", lo, hi, u.offset, u.lastEntryIndex()+1)
	}
	i, j := lo-u.offset, hi-u.offset
	return u.entries[i:j:j]
}

// String describes the unstable state for logs and test failures.
func (u *unstable) String() string {
	snap := "none"
	if u.snapshot != nil {
		snap = fmt.Sprintf("%d/%d", u.snapshotIndex(), u.snapshot.GetMetadata().GetTerm())
		if u.snapshotInProgress {
			snap += " (in progress)"
		}
	}
	return fmt.Sprintf("snapshot=%s offset=%d offsetInProgress=%d len(entries)=%d",
		snap, u.offset, u.offsetInProgress, len(u.entries))
}

// checkInvariants verifies the structural invariants documented on the
// fields. It runs only in builds with the invariants tag, since it scans
// every unstable entry.
func (u *unstable) checkInvariants() {
	if !invariants.Enabled {
		return
	}
	if u.snapshot != nil && u.offset != u.snapshotIndex()+1 {
		panicInvariant("unstable offset follows the pending snapshot",
			"offset %d, snapshot index %d", u.offset, u.snapshotIndex())
	}
	if u.snapshotInProgress && u.snapshot == nil {
		panicInvariant("snapshotInProgress implies a pending snapshot", "%s", u)
	}
	if u.offsetInProgress < u.offset || u.offsetInProgress > u.lastEntryIndex()+1 {
		panicInvariant("offset <= offsetInProgress <= offset+len(entries)", "%s", u)
	}
	if u.offsetInProgress > u.offset && u.snapshot != nil && !u.snapshotInProgress {
		panicInvariant("entries are handed out only with or after the snapshot", "%s", u)
	}
	prevTerm := u.snapshot.GetMetadata().GetTerm()
	for k, e := range u.entries {
		if e == nil {
			panicInvariant("unstable entries are not nil", "nil entry at position %d of %s", k, u)
		}
		if want := u.offset + uint64(k); e.GetIndex() != want {
			panicInvariant("unstable entries have contiguous indexes",
				"entry at position %d has index %d, want %d", k, e.GetIndex(), want)
		}
		if e.GetTerm() < prevTerm {
			panicInvariant("unstable entry terms do not decrease",
				"entry %d has term %d after term %d", e.GetIndex(), e.GetTerm(), prevTerm)
		}
		prevTerm = e.GetTerm()
	}
}
