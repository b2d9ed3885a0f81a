package raft

import (
	"errors"

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
	// InitialState returns the persisted HardState and ConfState.
	InitialState() (*pb.HardState, *pb.ConfState, error)
	// Entries returns the entries in [lo, hi). The result is limited to
	// maxSize bytes of encoded entries but holds at least one entry when any
	// is in range. It returns ErrCompacted if lo <= the snapshot index, and
	// ErrUnavailable if hi > LastIndex()+1.
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
