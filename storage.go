package raft

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	pb "github.com/tickraft/raft/raftpb"
)

// ErrCompacted is returned by Storage.Entries and Storage.Term when the
// requested index is older than the storage's first index: the entries were
// compacted into a snapshot.
var ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")

// ErrSnapOutOfDate is returned by MemoryStorage.ApplySnapshot and
// MemoryStorage.CreateSnapshot when the snapshot is older than the one the
// storage already holds.
var ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")

// ErrUnavailable is returned by Storage.Entries and Storage.Term when the
// requested index is beyond the storage's last index.
var ErrUnavailable = errors.New("raft: requested entry at index is unavailable")

// ErrSnapshotTemporarilyUnavailable is returned by Storage.Snapshot when the
// snapshot is being built and cannot be handed out yet. The leader retries
// later instead of treating it as a failure.
var ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")

// Storage is the read side of a node's durable state: the last persisted
// hard state and configuration, the persisted log and the latest snapshot.
// The state machine only reads from it; the application writes to it while
// handling a Ready, before it calls Advance.
//
// Any error other than ErrCompacted, ErrUnavailable and
// ErrSnapshotTemporarilyUnavailable is treated as a storage failure: the node
// stops taking part in the cluster and reports the error.
type Storage interface {
	// InitialState returns the persisted HardState and the ConfState of the
	// latest snapshot (empty when there is none). The node replays the
	// configuration changes applied since from the log, so a later
	// configuration must not be reported here.
	InitialState() (*pb.HardState, *pb.ConfState, error)
	// Entries returns the entries in [lo, hi): the longest prefix of the
	// range whose encoded size (proto.Size summed over the entries) is at
	// most maxSize, but at least one entry when the range is not empty. It
	// returns ErrCompacted if lo < FirstIndex(), and ErrUnavailable if
	// hi > LastIndex()+1.
	//
	// The returned entries must not be modified by the caller or by the
	// storage afterwards: the state machine may keep and share them.
	Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error)
	// Term returns the term of the entry at index i, which must be in
	// [FirstIndex()-1, LastIndex()]. The term of FirstIndex()-1 is the term
	// of the snapshot (or the log's initial term) and stays available.
	Term(i uint64) (uint64, error)
	// LastIndex returns the index of the last entry in the log.
	LastIndex() (uint64, error)
	// FirstIndex returns the index of the first entry that may be read with
	// Entries; older entries were compacted into the latest snapshot.
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot. If it is being built, it
	// returns ErrSnapshotTemporarilyUnavailable and the state machine asks
	// again later.
	Snapshot() (*pb.Snapshot, error)
}

// MemoryStorage is a Storage that keeps the whole log, the hard state and the
// latest snapshot in memory. It suits tests, and applications that keep their
// own durable copy of the state and rebuild a MemoryStorage from it on start.
//
// All methods are safe for concurrent use. Entries handed to Append and
// returned by Entries are shared, never copied, and must not be modified by
// anyone; snapshot data is shared in the same way.
type MemoryStorage struct {
	mu sync.Mutex

	hardState *pb.HardState
	snapshot  *pb.Snapshot
	// ents[0] is a placeholder that only carries the index and term of the
	// entry just before the first real entry: the snapshot's index and term,
	// or the log's initial position. The real entries follow it. The array
	// behind ents is never rewritten below len(ents) once slices of it have
	// been handed out; truncation and compaction build a new array.
	ents []*pb.Entry
	// compactedLen is the length ents had before the latest Compact. An
	// application that compacts periodically lets the log grow back to
	// about that length before compacting again, so Append grows the array
	// straight to it rather than in the many small steps of append.
	compactedLen int
}

var _ Storage = (*MemoryStorage)(nil)

// NewMemoryStorage returns a MemoryStorage with an empty log starting after
// index 0, term 0, an empty hard state and an empty snapshot.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{
		hardState: &pb.HardState{},
		snapshot:  emptySnapshot(),
		ents:      []*pb.Entry{{}},
	}
}

// emptySnapshot returns a snapshot at index 0 with all its metadata present.
func emptySnapshot() *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{}}}
}

// InitialState returns copies of the stored hard state and of the conf state
// of the latest snapshot (an empty conf state when there is none). It never
// returns an error.
func (ms *MemoryStorage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	hs := proto.Clone(ms.hardState).(*pb.HardState)
	cs := &pb.ConfState{}
	if c := ms.snapshot.GetMetadata().GetConfState(); c != nil {
		cs = proto.Clone(c).(*pb.ConfState)
	}
	return hs, cs, nil
}

// SetHardState stores a copy of hs; later changes to hs do not affect the
// storage. It returns an error if hs is nil.
func (ms *MemoryStorage) SetHardState(hs *pb.HardState) error {
	if hs == nil {
		return errors.New("raft: SetHardState called with a nil hard state")
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	// Copy the fields into our own struct: no allocation per Ready, and the
	// caller keeps ownership of hs.
	ms.hardState.Term, ms.hardState.Vote, ms.hardState.Commit = hs.Term, hs.Vote, hs.Commit
	return nil
}

// Entries returns the entries with indexes in [lo, hi), cut to at most maxSize
// bytes of encoded entries but always holding at least the first one when the
// range is not empty. It returns ErrCompacted if lo <= the index of the latest
// compaction or snapshot, ErrUnavailable if hi > LastIndex()+1, and another
// error if lo > hi.
//
// The returned slice has no spare capacity, so appending to it never touches
// the storage; its entries must not be modified.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if lo > hi {
		return nil, fmt.Errorf("raft: invalid entry range [%d, %d)", lo, hi)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].GetIndex()
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	i, j := lo-offset, hi-offset
	return limitEntriesSize(ms.ents[i:j:j], maxSize), nil
}

// Term returns the term of the entry at index i. The term of FirstIndex()-1
// is always available. It returns ErrCompacted for older indexes and
// ErrUnavailable for indexes beyond LastIndex().
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].GetIndex()
	if i < offset {
		return 0, ErrCompacted
	}
	if i-offset >= uint64(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].GetTerm(), nil
}

// LastIndex returns the index of the last entry in the log, or the index of
// the latest compaction or snapshot when the log holds no entries. It never
// returns an error.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].GetIndex() + uint64(len(ms.ents)) - 1
}

// FirstIndex returns the index of the first entry Entries may return: one
// past the latest compaction or snapshot. It never returns an error.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.firstIndex(), nil
}

func (ms *MemoryStorage) firstIndex() uint64 {
	return ms.ents[0].GetIndex() + 1
}

// Snapshot returns the latest snapshot, or an empty snapshot at index 0 when
// none was applied or created. The metadata is a copy; the data is shared
// and must not be modified. It never returns an error.
func (ms *MemoryStorage) Snapshot() (*pb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return shareSnapshot(ms.snapshot), nil
}

// shareSnapshot returns a snapshot with a private copy of the metadata of s
// and the same data.
func shareSnapshot(s *pb.Snapshot) *pb.Snapshot {
	md := &pb.SnapshotMetadata{}
	if s.GetMetadata() != nil {
		md = proto.Clone(s.GetMetadata()).(*pb.SnapshotMetadata)
	}
	if md.ConfState == nil {
		md.ConfState = &pb.ConfState{}
	}
	return &pb.Snapshot{Data: s.GetData(), Metadata: md}
}

// ApplySnapshot replaces the storage's contents with snap: the log is
// emptied and restarts after the snapshot's index and term, and the
// snapshot's conf state becomes the one InitialState reports. The hard state
// is left alone. The storage keeps a copy of the metadata and shares the
// data. It returns ErrSnapOutOfDate, and changes nothing, if the snapshot's
// index is not greater than the index of the snapshot already held. A nil
// snapshot, or one without metadata, is an error of its own (not
// ErrSnapOutOfDate: nothing was compared) and changes nothing either.
func (ms *MemoryStorage) ApplySnapshot(snap *pb.Snapshot) error {
	if snap == nil {
		return errors.New("raft: ApplySnapshot called with a nil snapshot")
	}
	if snap.Metadata == nil {
		return errors.New("raft: ApplySnapshot called with a snapshot without metadata")
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if snap.GetMetadata().GetIndex() <= ms.snapshot.GetMetadata().GetIndex() {
		return ErrSnapOutOfDate
	}
	s := shareSnapshot(snap)
	ms.snapshot = s
	ms.ents = []*pb.Entry{{Index: s.Metadata.Index, Term: s.Metadata.Term}}
	return nil
}

// CreateSnapshot records a snapshot of the state machine at log index i,
// which must still be in the log, and returns it. cs is the configuration at
// that index; nil keeps the conf state of the previous snapshot. The log is
// not compacted: call Compact for that. The storage keeps a copy of cs and
// shares data.
//
// It returns ErrSnapOutOfDate if i is not greater than the index of the
// snapshot already held, ErrCompacted if the term of i was already compacted
// away, and an error wrapping ErrUnavailable if i > LastIndex(). On error
// nothing changes.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.GetMetadata().GetIndex() {
		return nil, ErrSnapOutOfDate
	}
	offset := ms.ents[0].GetIndex()
	if i < offset {
		return nil, ErrCompacted
	}
	if last := ms.lastIndex(); i > last {
		return nil, fmt.Errorf("raft: snapshot index %d is beyond the last index %d: %w", i, last, ErrUnavailable)
	}
	if cs == nil {
		cs = ms.snapshot.GetMetadata().GetConfState()
	}
	ms.snapshot = &pb.Snapshot{
		Data: data,
		Metadata: &pb.SnapshotMetadata{
			ConfState: proto.Clone(cs).(*pb.ConfState),
			Index:     i,
			Term:      ms.ents[i-offset].GetTerm(),
		},
	}
	return shareSnapshot(ms.snapshot), nil
}

// Compact discards the entries before compactIndex; the entry at
// compactIndex survives only as the position (index and term) the log starts
// after, so FirstIndex becomes compactIndex+1. The application must have
// created a snapshot covering the discarded entries. It returns ErrCompacted
// if compactIndex is not past the current start of the log, and an error
// wrapping ErrUnavailable if compactIndex > LastIndex(). On error nothing
// changes.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].GetIndex()
	if compactIndex <= offset {
		return ErrCompacted
	}
	if last := ms.lastIndex(); compactIndex > last {
		return fmt.Errorf("raft: compaction index %d is beyond the last index %d: %w", compactIndex, last, ErrUnavailable)
	}
	k := compactIndex - offset
	// Copy into a fresh array so the discarded entries can be collected.
	ents := make([]*pb.Entry, 1, uint64(len(ms.ents))-k)
	ents[0] = &pb.Entry{Index: ms.ents[k].GetIndex(), Term: ms.ents[k].GetTerm()}
	ms.compactedLen = len(ms.ents)
	ms.ents = append(ents, ms.ents[k+1:]...)
	return nil
}

// Append adds entries to the log. The entries must be non-nil with
// contiguous, ascending indexes, otherwise an error is returned. Entries at
// or before the start of the log (already compacted) are skipped. If the
// first new entry does not directly follow LastIndex(), the stored entries
// from its index on are replaced by the new ones; a first index beyond
// LastIndex()+1 would leave a hole and is an error. On error nothing
// changes. The storage keeps the entry pointers, not copies: the entries must
// not be modified afterwards.
func (ms *MemoryStorage) Append(entries []*pb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for k, e := range entries {
		if e == nil {
			return fmt.Errorf("raft: Append given a nil entry at position %d", k)
		}
	}
	for k := 1; k < len(entries); k++ {
		// The second test catches wrap-around past the largest index.
		if prev, cur := entries[k-1].GetIndex(), entries[k].GetIndex(); cur != prev+1 || cur < prev {
			return fmt.Errorf("raft: Append given non-contiguous entries: index %d follows %d", cur, prev)
		}
	}

	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.firstIndex()
	if entries[len(entries)-1].GetIndex() < first {
		return nil
	}
	if start := entries[0].GetIndex(); start < first {
		entries = entries[first-start:]
	}
	pos := entries[0].GetIndex() - ms.ents[0].GetIndex()
	switch n := uint64(len(ms.ents)); {
	case pos == n:
		// Writing into spare capacity is safe: no slice handed out by
		// Entries reaches past len(ms.ents).
		if need := len(ms.ents) + len(entries); need > cap(ms.ents) {
			// Double (append grows large arrays by only a quarter,
			// copying the whole log each time), and go straight to the
			// length the log had when last compacted.
			grown := make([]*pb.Entry, len(ms.ents), max(2*need, ms.compactedLen))
			copy(grown, ms.ents)
			ms.ents = grown
		}
		ms.ents = append(ms.ents, entries...)
	case pos < n:
		// Replace a suffix. Slices of the old array may be held by
		// readers, so build a new one rather than overwrite it.
		ents := make([]*pb.Entry, 0, pos+uint64(len(entries)))
		ents = append(ents, ms.ents[:pos]...)
		ms.ents = append(ents, entries...)
	default:
		return fmt.Errorf("raft: Append would leave a gap: first new index %d, last index %d",
			entries[0].GetIndex(), ms.lastIndex())
	}
	return nil
}

// limitEntriesSize returns the longest prefix of ents whose encoded size
// (the sum of proto.Size of each entry) is at most maxSize, but never fewer
// than one entry when ents is not empty. The result has no spare capacity.
func limitEntriesSize(ents []*pb.Entry, maxSize uint64) []*pb.Entry {
	if len(ents) == 0 {
		return ents[:0:0]
	}
	size := entrySize(ents[0])
	n := 1
	for ; n < len(ents); n++ {
		size += entrySize(ents[n])
		if size > maxSize {
			break
		}
	}
	return ents[:n:n]
}
