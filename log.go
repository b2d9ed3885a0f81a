package raft

import (
	"errors"
	"fmt"
	"math"

	"github.com/tickraft/raft/internal/bugs"
	"github.com/tickraft/raft/internal/invariants"
	pb "github.com/tickraft/raft/raftpb"
)

// entryID identifies a log entry by its term and index. By the Log Matching
// property two entries with the same entryID are the same entry, and the
// logs holding them agree on every entry up to it.
type entryID struct {
	term  uint64
	index uint64
}

// pbEntryID returns the entryID of e.
func pbEntryID(e *pb.Entry) entryID {
	return entryID{term: e.GetTerm(), index: e.GetIndex()}
}

// raftLog is a node's view of the replicated log: the persisted part in
// Storage, followed by the part not yet persisted in unstable, plus how far
// the log is committed, handed out for application, and applied.
//
//	  compacted   |      Storage (persisted)      |   unstable (not persisted)
//	..............|firstIndex ............ offset-1|offset ......... lastIndex
//
//	applied <= applying <= committed <= lastIndex
//
// # Storage errors
//
// Methods that return an error pass storage errors on. Some methods cannot
// return one (firstIndex, lastTerm, lastEntryID, matchTerm, findConflict,
// findConflictByTerm, isUpToDate, zeroTermOnOutOfBounds...). Instead, every
// method that meets an unexpected storage error, whether it returns it or
// not, records the first one in storageErr and carries on with a
// conservative value. ErrCompacted is expected (the application compacts
// at will) and not recorded; ErrUnavailable is expected only for indexes
// beyond the log, and recorded when storage lacks an index the log holds as
// persisted. The caller must check storageErr after every operation that
// may have read storage and, if it is set, stop using the log: values
// computed after a storage failure are not trustworthy.
//
// lastIndex never reads storage. The log ends at the last unstable entry,
// or, when there is none, right before unstable.offset. This relies on the
// application's side of the contract: it writes to storage only what
// unstable handed it, in the order handed out, an append replaces whatever
// storage held from its first index on, and acknowledgements come in the
// same order. Then every index below offset is in storage (or covered by
// the pending snapshot) and, once everything is acknowledged, nothing
// beyond it is. Builds with the invariants tag check this.
type raftLog struct {
	// storage holds the persisted entries and the latest snapshot. The log
	// only reads it; the application writes to it.
	storage Storage
	// unstable holds the entries, and possibly a snapshot, not yet persisted.
	// Its offset is one past the last persisted index.
	unstable unstable

	// committed is the highest index known to be committed on a quorum.
	// Invariant: applying <= committed <= lastIndex(). It never decreases.
	committed uint64
	// applying is the highest index handed to the application to apply.
	// Invariant: applied <= applying <= committed.
	applying uint64
	// applied is the highest index the application reported applied.
	// Invariant: applied <= applying. It never decreases.
	applied uint64

	// maxApplyingEntsSize is the byte budget of entries handed out for
	// application but not yet reported applied; nextCommittedEnts pages the
	// committed entries to stay within it. Never 0 (newLog turns 0 into
	// noLimit).
	maxApplyingEntsSize uint64
	// applyingEntsSize is the size of the entries handed out for application
	// and not yet reported applied, as the caller measured it in
	// acceptApplying and appliedTo.
	applyingEntsSize uint64
	// applyingEntsPaused stops handing out committed entries until the
	// application reports progress: the budget is exhausted, or the last
	// page was cut short because the next entry did not fit.
	applyingEntsPaused bool

	// storageErr is the first unexpected error storage returned, or nil.
	// See "Storage errors" above.
	storageErr error
}

// newLog returns a log over storage, starting where the storage ends: all
// of its entries are persisted, committed and applied are set to the
// storage's first index minus one (the caller raises them from the hard
// state and the application's progress). maxApplyingEntsSize is the byte
// budget of entries being applied; 0 means no limit. Storage errors, and a
// storage whose first and last index contradict each other, are returned.
func newLog(storage Storage, maxApplyingEntsSize uint64) (*raftLog, error) {
	if storage == nil {
		return nil, errors.New("raft: newLog needs a storage")
	}
	first, err := storage.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("raft: reading the first index from storage: %w", err)
	}
	last, err := storage.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("raft: reading the last index from storage: %w", err)
	}
	if first == 0 || last+1 < first {
		return nil, fmt.Errorf("raft: storage reports first index %d and last index %d: want 1 <= first <= last+1", first, last)
	}
	if maxApplyingEntsSize == 0 {
		maxApplyingEntsSize = noLimit
	}
	l := &raftLog{
		storage:             storage,
		unstable:            unstable{offset: last + 1, offsetInProgress: last + 1},
		committed:           first - 1,
		applying:            first - 1,
		applied:             first - 1,
		maxApplyingEntsSize: maxApplyingEntsSize,
	}
	l.checkInvariants()
	return l, nil
}

// String describes the log's positions for logs and test failures.
func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d applying=%d applied=%d unstable[%s]",
		l.committed, l.applying, l.applied, &l.unstable)
}

// noteStorageErr records err in storageErr unless an earlier error is
// already there.
func (l *raftLog) noteStorageErr(err error) {
	if l.storageErr == nil {
		l.storageErr = err
	}
}

// maybeAppend is the follower side of log replication. If the log holds the
// entry prev, ents (which must directly follow prev) are merged into it:
// entries already present are kept, and from the first conflicting entry on
// the log is replaced by the rest of ents. The commit index then moves up to
// min(committed, prev.index+len(ents)): the leader vouches only for the
// entries it sent.
//
// It returns the index of the last entry of ents and true on success, and
// false if the log does not hold prev (the leader must back up). It returns
// an error and leaves the log unchanged if ents are malformed or would
// replace a committed entry; neither happens with a correct leader.
func (l *raftLog) maybeAppend(prev entryID, committed uint64, ents []*pb.Entry) (lastNewIndex uint64, ok bool, err error) {
	if err := checkAppendShape(prev, ents); err != nil {
		return 0, false, err
	}
	if !l.matchTerm(prev) && !(bugs.Enabled && bugs.AppendIgnoresPrevTerm && l.hasIndex(prev.index)) {
		return 0, false, nil
	}
	lastNewIndex = prev.index + uint64(len(ents))
	switch ci := l.findConflict(ents); {
	case ci == 0 && bugs.Enabled && bugs.TruncateOnStaleAppend && len(ents) > 0 &&
		lastNewIndex < l.lastIndex() && lastNewIndex > l.committed:
		// Injected bug, for tests only: cut the log after the append.
		l.append(ents[len(ents)-1])
	case ci == 0:
		// Every entry is already in the log.
	case ci <= l.committed:
		e := ents[ci-prev.index-1]
		return 0, false, fmt.Errorf("%w: entry %d term %d, committed index %d",
			errTruncateCommitted, e.GetIndex(), e.GetTerm(), l.committed)
	default:
		l.append(ents[ci-prev.index-1:]...)
	}
	if err := l.commitTo(min(committed, lastNewIndex)); err != nil {
		panicInvariant("entries just matched or appended are in the log", "%v", err)
	}
	return lastNewIndex, true, nil
}

// maxLogIndex bounds the indexes a peer can make the log hold, by an
// append or a snapshot. No real log comes near it; what goes beyond is a
// corrupt or forged message, and the bound keeps every index computation
// (lastIndex+1, a leader's own appends) from overflowing.
const maxLogIndex = math.MaxUint64 / 2

// checkAppendShape checks that ents directly follow prev: contiguous
// indexes starting at prev.index+1 and terms that never decrease, starting
// no lower than prev.term, the last index at most maxLogIndex. It returns
// errMalformedAppend otherwise.
func checkAppendShape(prev entryID, ents []*pb.Entry) error {
	if n := uint64(len(ents)); n > 0 && prev.index > maxLogIndex-n {
		return fmt.Errorf("%w: %d entries after index %d go beyond index %d", errMalformedAppend, n, prev.index, uint64(maxLogIndex))
	}
	want, term := prev.index+1, prev.term
	for k, e := range ents {
		switch {
		case e == nil:
			return fmt.Errorf("%w: nil entry at position %d", errMalformedAppend, k)
		case e.GetIndex() != want:
			return fmt.Errorf("%w: entry at position %d has index %d, want %d", errMalformedAppend, k, e.GetIndex(), want)
		case e.GetTerm() < term:
			return fmt.Errorf("%w: entry %d has term %d after term %d", errMalformedAppend, e.GetIndex(), e.GetTerm(), term)
		}
		want, term = want+1, e.GetTerm()
	}
	return nil
}

// append adds ents, which have contiguous indexes, to the log and returns
// the new last index. If they start inside the log, the entries from there
// on are replaced. This is the leader appending its own proposals (after
// the last index), and the follower path of maybeAppend once it has
// checked for conflicts. Replacing a committed entry is an invariant
// violation.
func (l *raftLog) append(ents ...*pb.Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if first := ents[0].GetIndex(); first <= l.committed {
		panicInvariant("appends never replace committed entries",
			"appending from index %d, committed index %d", first, l.committed)
	}
	l.unstable.truncateAndAppend(ents)
	l.checkInvariants()
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents whose term
// differs from the log's entry at that index, or that is beyond the log
// (the first new entry). It returns 0 if every entry of ents is in the log.
// ents must have contiguous indexes. An index whose term cannot be read
// (compacted) counts as a conflict.
func (l *raftLog) findConflict(ents []*pb.Entry) uint64 {
	for _, e := range ents {
		if id := pbEntryID(e); !l.matchTerm(id) {
			return id.index
		}
	}
	return 0
}

// findConflictByTerm speeds up finding where two logs diverge. Given that
// the other log has an entry of the given term at index, it returns the
// largest index <= index at which this log's term is <= term, with that
// term: every entry of this log between it and index has a larger term and
// so cannot match. index is first clamped to the last index. The walk stops
// at the first index whose term cannot be read (compacted), returning it
// with term 0.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	index = min(index, l.lastIndex())
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// matchTerm reports whether the log holds the entry id: the term at
// id.index is readable and equals id.term.
// hasIndex reports whether the log has an entry (or the snapshot) at i.
// Only the AppendIgnoresPrevTerm bug uses it.
func (l *raftLog) hasIndex(i uint64) bool {
	_, err := l.term(i)
	return err == nil
}

func (l *raftLog) matchTerm(id entryID) bool {
	t, err := l.term(id.index)
	return err == nil && t == id.term
}

// term returns the term of the entry at index i. The unstable part is
// consulted first, then storage. firstIndex()-1 is readable: it is the
// index of the snapshot (or the log's starting point) and its term is kept.
// Older indexes give ErrCompacted, indexes beyond the last give
// ErrUnavailable. Any other storage error is recorded in storageErr and
// returned.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	if l.unstable.snapshot != nil {
		// Below the pending snapshot: storage's contents are about to be
		// replaced, nothing there belongs to the log any more.
		return 0, ErrCompacted
	}
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	t, err := l.storage.Term(i)
	switch {
	case err == nil:
		return t, nil
	case errors.Is(err, ErrCompacted):
		// Compacted by the application since firstIndex was read.
		return 0, err
	default:
		// ErrUnavailable lands here too: the index is persisted as far as
		// the log knows, so storage lost it.
		err = fmt.Errorf("raft: reading the term of persisted index %d from storage: %w", i, err)
		l.noteStorageErr(err)
		return 0, err
	}
}

// firstIndex returns the index of the first entry still readable: one past
// the pending snapshot, or storage's first index. If storage fails, the
// error is recorded in storageErr and unstable.offset is returned, as if
// everything persisted had been compacted, so no further reads from storage
// are attempted below it.
func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		l.noteStorageErr(fmt.Errorf("raft: reading the first index from storage: %w", err))
		return l.unstable.offset
	}
	return i
}

// lastIndex returns the index of the last entry of the log: the last
// unstable entry, else the pending snapshot's index, else the last
// persisted index. It never reads storage (see the raftLog comment).
func (l *raftLog) lastIndex() uint64 {
	return l.unstable.lastEntryIndex()
}

// lastTerm returns the term of the last entry. On a storage failure it
// records the error in storageErr and returns 0.
func (l *raftLog) lastTerm() uint64 {
	last := l.lastIndex()
	t, err := l.term(last)
	if err != nil {
		// The last index is never compacted and never beyond the log, so
		// any error here is a storage failure.
		l.noteStorageErr(fmt.Errorf("raft: reading the term of the last index %d: %w", last, err))
		return 0
	}
	return t
}

// lastEntryID returns the ID of the last entry. See lastTerm for storage
// failures.
func (l *raftLog) lastEntryID() entryID {
	return entryID{term: l.lastTerm(), index: l.lastIndex()}
}

// isUpToDate reports whether a candidate whose last entry is cand has a log
// at least as up to date as this one (Raft §5.4.1): its last term is
// higher, or the same and its log at least as long.
func (l *raftLog) isUpToDate(cand entryID) bool {
	last := l.lastEntryID()
	return cand.term > last.term || (cand.term == last.term && cand.index >= last.index)
}

// commitTo raises the commit index to tocommit; a lower value is ignored,
// the commit index never decreases. A tocommit beyond the last index can
// only come from a faulty or malicious peer: it returns an error wrapping
// errCommitBeyondLast and changes nothing.
func (l *raftLog) commitTo(tocommit uint64) error {
	if tocommit <= l.committed {
		return nil
	}
	if last := l.lastIndex(); tocommit > last {
		return fmt.Errorf("%w: commit index %d, last index %d", errCommitBeyondLast, tocommit, last)
	}
	l.committed = tocommit
	l.checkInvariants()
	return nil
}

// maybeCommit is the leader's commit rule: it commits up to at.index, which
// a quorum holds, only if the log's entry there has term at.term. The
// leader passes its current term, so that entries of earlier terms are
// only committed indirectly, by committing an entry of the current term
// after them (Raft §5.4.2, Figure 8). It reports whether the commit index
// moved.
func (l *raftLog) maybeCommit(at entryID) bool {
	if at.index <= l.committed {
		return false
	}
	if t, err := l.term(at.index); err != nil || t != at.term {
		return false
	}
	// The term was readable, so at.index is in the log: commitTo succeeds.
	return l.commitTo(at.index) == nil
}

// appliedTo records that the application applied the log up to index i and
// releases size bytes of the applying budget (measured as in
// acceptApplying). i must not exceed committed. An i below applied is
// legitimate and only releases the budget: a page of entries acknowledged
// after the application already applied a later snapshot.
func (l *raftLog) appliedTo(i uint64, size uint64) {
	if i > l.committed {
		panicInvariant("applied <= committed", "applied to %d, committed %d", i, l.committed)
	}
	l.applied = max(l.applied, i)
	l.applying = max(l.applying, i)
	l.applyingEntsSize -= min(l.applyingEntsSize, size)
	l.applyingEntsPaused = l.applyingEntsSize >= l.maxApplyingEntsSize
	l.checkInvariants()
}

// acceptApplying records that the entries up to index i, of total size
// bytes, were handed to the application to apply. allowUnstable must be the
// value given to the nextCommittedEnts call that produced them. Application
// pauses when the budget is used up, or when the entries stopped short of
// what could be applied: the next entry did not fit, and handing it out
// before the application makes progress would overshoot the budget.
func (l *raftLog) acceptApplying(i uint64, size uint64, allowUnstable bool) {
	if i < l.applying || i > l.committed {
		panicInvariant("applying never decreases and applying <= committed",
			"applying %d, was %d, committed %d", i, l.applying, l.committed)
	}
	l.applying = i
	l.applyingEntsSize += size
	l.applyingEntsPaused = l.applyingEntsSize >= l.maxApplyingEntsSize ||
		i < l.maxAppliableIndex(allowUnstable)
	l.checkInvariants()
}

// hasNextUnstableEnts reports whether there are entries to hand to the
// application for persistence.
func (l *raftLog) hasNextUnstableEnts() bool {
	return len(l.nextUnstableEnts()) > 0
}

// nextUnstableEnts returns the entries to hand to the application for
// persistence: the unstable entries not already handed out.
func (l *raftLog) nextUnstableEnts() []*pb.Entry {
	return l.unstable.nextEntries()
}

// hasNextUnstableSnapshot reports whether there is a snapshot to hand to the
// application for persistence.
func (l *raftLog) hasNextUnstableSnapshot() bool {
	return l.unstable.nextSnapshot() != nil
}

// nextUnstableSnapshot returns the pending snapshot if it was not handed
// out yet, or nil.
func (l *raftLog) nextUnstableSnapshot() *pb.Snapshot {
	return l.unstable.nextSnapshot()
}

// hasNextCommittedEnts reports whether nextCommittedEnts has entries to
// hand out. It is false while application is paused and while a snapshot is
// pending: the snapshot must be applied first.
func (l *raftLog) hasNextCommittedEnts(allowUnstable bool) bool {
	if l.applyingEntsPaused || l.unstable.snapshot != nil {
		return false
	}
	return l.applying < l.maxAppliableIndex(allowUnstable)
}

// nextCommittedEnts returns the next committed entries to apply: those in
// (applying, maxAppliableIndex(allowUnstable)], cut to the remaining
// applying budget (at least one entry when there is any). The cut uses the
// encoded entry size, which is what storage pages by and is never smaller
// than the payload size, so the page stays within a budget counted in
// either measure. The caller reports what it handed out with
// acceptApplying.
func (l *raftLog) nextCommittedEnts(allowUnstable bool) ([]*pb.Entry, error) {
	if !l.hasNextCommittedEnts(allowUnstable) {
		return nil, nil
	}
	lo, hi := l.applying+1, l.maxAppliableIndex(allowUnstable)+1
	// Not paused, so applyingEntsSize < maxApplyingEntsSize.
	ents, err := l.slice(lo, hi, l.maxApplyingEntsSize-l.applyingEntsSize)
	if err != nil {
		return nil, fmt.Errorf("raft: reading committed entries [%d, %d): %w", lo, hi, err)
	}
	return ents, nil
}

// maxAppliableIndex returns the highest index that may be handed out for
// application: the commit index, capped at the last persisted index unless
// allowUnstable (the application may then apply entries that it is still
// writing).
func (l *raftLog) maxAppliableIndex(allowUnstable bool) uint64 {
	hi := l.committed
	if !allowUnstable {
		hi = min(hi, l.unstable.offset-1)
	}
	return hi
}

// stableTo records that the application persisted the entries up to id.
// Stale acknowledgements are ignored; see unstable.stableTo. When one
// acknowledgement covers a snapshot and entries after it, call stableSnapTo
// first: entry acknowledgements are ignored while a snapshot is pending.
func (l *raftLog) stableTo(id entryID) {
	l.unstable.stableTo(id)
	l.checkInvariants()
}

// stableSnapTo records that the application persisted the snapshot at
// index i.
func (l *raftLog) stableSnapTo(i uint64) {
	l.unstable.stableSnapTo(i)
	l.checkInvariants()
}

// acceptUnstable marks what nextUnstableEnts and nextUnstableSnapshot
// currently return as handed to the application.
func (l *raftLog) acceptUnstable() {
	l.unstable.acceptInProgress()
	l.checkInvariants()
}

// snapshot returns the pending snapshot if there is one, else storage's
// latest snapshot. ErrSnapshotTemporarilyUnavailable is passed on as is;
// other storage errors are recorded in storageErr too.
func (l *raftLog) snapshot() (*pb.Snapshot, error) {
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot, nil
	}
	s, err := l.storage.Snapshot()
	if err != nil && !errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
		err = fmt.Errorf("raft: reading the snapshot from storage: %w", err)
		l.noteStorageErr(err)
	}
	return s, err
}

// restore replaces the log with the snapshot s: the log now ends at the
// snapshot, which is committed, and the snapshot becomes pending for
// persistence. The caller restores only snapshots past the commit index.
func (l *raftLog) restore(s *pb.Snapshot) {
	if i := s.GetMetadata().GetIndex(); i < l.committed {
		panicInvariant("the commit index never decreases",
			"restoring snapshot at index %d, committed index %d", i, l.committed)
	}
	l.committed = s.GetMetadata().GetIndex()
	l.unstable.restore(s)
	l.checkInvariants()
}

// entries returns the entries from index i to the end of the log, cut to
// maxSize bytes (at least one entry if any). See slice.
func (l *raftLog) entries(i uint64, maxSize uint64) ([]*pb.Entry, error) {
	last := l.lastIndex()
	if i > last {
		return nil, nil
	}
	return l.slice(i, last+1, maxSize)
}

// slice returns the entries in [lo, hi), reading storage for the persisted
// part and unstable for the rest, cut to maxSize bytes of encoded entries
// but at least one entry when the range is not empty. It returns
// ErrCompacted if lo < firstIndex(), and an error wrapping ErrUnavailable
// if hi > lastIndex()+1. Storage failures are recorded in storageErr too.
//
// The result has no spare capacity and never shares an array that is
// written to later: unstable never overwrites handed-out positions, and a
// result that spans storage and unstable is a fresh array.
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if err := l.checkBounds(lo, hi); err != nil {
		return nil, err
	}
	if lo == hi {
		return nil, nil
	}
	off := l.unstable.offset
	if lo >= off {
		return limitSize(l.unstable.slice(lo, hi), maxSize), nil
	}
	cut := min(hi, off)
	ents, err := l.storageEntries(lo, cut, maxSize)
	if err != nil {
		return nil, err
	}
	if hi <= off || uint64(len(ents)) < cut-lo {
		// Nothing unstable requested, or storage already hit the limit.
		return ents[:len(ents):len(ents)], nil
	}
	var budget uint64
	if size := entsSize(ents); size < maxSize {
		budget = maxSize - size
	}
	more := l.unstable.slice(off, hi)
	more = more[:fitSize(more, budget)]
	if len(more) == 0 {
		return ents[:len(ents):len(ents)], nil
	}
	out := make([]*pb.Entry, 0, len(ents)+len(more))
	out = append(out, ents...)
	return append(out, more...), nil
}

// storageEntries reads the persisted entries [lo, hi) from storage and
// checks that storage kept its contract: a non-empty prefix of the range.
// ErrCompacted is passed on; anything else is a storage failure, recorded
// in storageErr and returned.
func (l *raftLog) storageEntries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	ents, err := l.storage.Entries(lo, hi, maxSize)
	if err != nil {
		if errors.Is(err, ErrCompacted) {
			return nil, err
		}
		err = fmt.Errorf("raft: reading persisted entries [%d, %d) from storage: %w", lo, hi, err)
		l.noteStorageErr(err)
		return nil, err
	}
	n := uint64(len(ents))
	if n == 0 || n > hi-lo || ents[0].GetIndex() != lo || ents[n-1].GetIndex() != lo+n-1 {
		err = fmt.Errorf("raft: storage returned %d entries for [%d, %d), not a non-empty prefix of the range", n, lo, hi)
		l.noteStorageErr(err)
		return nil, err
	}
	return ents, nil
}

// checkBounds checks that [lo, hi) may be read: ErrCompacted if lo is
// before the first index, an error wrapping ErrUnavailable if hi is past the
// end of the log. lo > hi is a caller bug and panics.
func (l *raftLog) checkBounds(lo, hi uint64) error {
	if lo > hi {
		panicInvariant("slice bounds are ordered", "lo %d > hi %d", lo, hi)
	}
	if lo < l.firstIndex() {
		return ErrCompacted
	}
	if last := l.lastIndex(); hi > last+1 {
		return fmt.Errorf("raft: slice [%d, %d) beyond the last index %d: %w", lo, hi, last, ErrUnavailable)
	}
	return nil
}

// scan calls v on the entries in [lo, hi) in order, in pages of at most
// pageSize bytes (at least one entry each). It stops at the first error,
// from reading the log or from v, and returns it. v must not keep or modify
// the slice beyond the call's needs: it is shared with the log.
func (l *raftLog) scan(lo, hi, pageSize uint64, v func([]*pb.Entry) error) error {
	for lo < hi {
		ents, err := l.slice(lo, hi, pageSize)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			panicInvariant("a non-empty slice returns at least one entry", "slice [%d, %d) returned nothing", lo, hi)
		}
		if err := v(ents); err != nil {
			return err
		}
		lo += uint64(len(ents))
	}
	return nil
}

// zeroTermOnOutOfBounds turns the result of a term lookup into a term:
// 0 when the index is compacted or beyond the log (no entry can have term
// 0, so it matches nothing), and also 0 on a storage failure, which it
// records in storageErr.
func (l *raftLog) zeroTermOnOutOfBounds(t uint64, err error) uint64 {
	switch {
	case err == nil:
		return t
	case errors.Is(err, ErrCompacted), errors.Is(err, ErrUnavailable):
		return 0
	default:
		l.noteStorageErr(err)
		return 0
	}
}

// checkInvariants verifies the log in builds with the invariants tag: the
// position invariants, unstable's invariants, that storage ends where
// unstable begins, and that indexes are contiguous and terms
// non-decreasing across the last checkWindow persisted entries and the
// unstable ones. Older persisted entries were checked when they were
// unstable (every persisted entry is handed out from there), so the cost
// per call does not grow with the log. The check changes nothing: a
// storage error it meets ends it silently and is not recorded (a node
// built with the tag stops exactly when one built without it does).
func (l *raftLog) checkInvariants() {
	if !invariants.Enabled {
		return
	}
	l.unstable.checkInvariants()
	last := l.lastIndex()
	if l.applied > l.applying || l.applying > l.committed || l.committed > last {
		panicInvariant("applied <= applying <= committed <= lastIndex", "%s, last index %d", l, last)
	}
	if l.storageErr != nil {
		return
	}
	defer func(saved error) { l.storageErr = saved }(l.storageErr)
	if l.unstable.snapshot == nil {
		// Every index below offset is persisted; with nothing unstable,
		// nothing beyond it is (lastIndex relies on this).
		sl, err := l.storage.LastIndex()
		if err != nil {
			return
		}
		if sl+1 < l.unstable.offset || (len(l.unstable.entries) == 0 && sl+1 != l.unstable.offset) {
			panicInvariant("storage ends right before unstable.offset when nothing is unstable, and never before it",
				"storage last index %d, %s", sl, &l.unstable)
		}
	}
	first := l.firstIndex()
	if l.storageErr != nil {
		return
	}
	if l.unstable.offset > checkWindow {
		first = max(first, l.unstable.offset-checkWindow)
	}
	prevTerm, err := l.term(first - 1)
	if err != nil {
		if l.storageErr != nil || errors.Is(err, ErrCompacted) {
			return // storage failed or was compacted concurrently
		}
		panicInvariant("the term of firstIndex-1 is readable", "index %d: %v", first-1, err)
	}
	for lo := first; lo <= last; {
		ents, err := l.slice(lo, last+1, noLimit)
		if err != nil {
			if l.storageErr != nil || errors.Is(err, ErrCompacted) {
				return
			}
			panicInvariant("every index from firstIndex to lastIndex is readable", "[%d, %d]: %v", lo, last, err)
		}
		for _, e := range ents {
			if e.GetIndex() != lo {
				panicInvariant("log indexes are contiguous", "found index %d where %d belongs", e.GetIndex(), lo)
			}
			if e.GetTerm() < prevTerm {
				panicInvariant("log terms never decrease", "entry %d has term %d after term %d", lo, e.GetTerm(), prevTerm)
			}
			prevTerm = e.GetTerm()
			lo++
		}
	}
}

// checkWindow is how many persisted entries before the unstable ones
// checkInvariants reads.
const checkWindow = 64

// err returns the first unexpected storage error the log met, or nil.
func (l *raftLog) err() error { return l.storageErr }

// hasNextOrInProgressSnapshot reports whether a snapshot is waiting to be
// persisted, handed out or not.
func (l *raftLog) hasNextOrInProgressSnapshot() bool { return l.unstable.snapshot != nil }
