package replica

import (
	"errors"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/wal"
)

// Update is one batch of raft state to make durable together (the shape of
// wal.Update).
type Update struct {
	// HardState is nil when unchanged.
	HardState *pb.HardState
	// Entries are appended; stored entries at and after Entries[0].Index
	// are replaced.
	Entries []*pb.Entry
	// Snapshot, when set, replaces the log up to its index. It is saved
	// before Entries.
	Snapshot *pb.Snapshot
	// MustSync asks for the update (and every earlier one) to be on stable
	// storage when Save returns.
	MustSync bool
}

// LogStore is the replica's raft log: raft.Storage to read, Save to write.
// The replica reads it from its raft goroutine and writes it from its
// storage goroutine, so reads must be safe concurrently with Save. A Save
// error is final: the replica stops and never retries a write (or fsync)
// whose outcome is unknown.
type LogStore interface {
	raft.Storage
	Save(u Update) error
	// CreateSnapshot records a snapshot at applied index i with
	// configuration cs and data (the replica's small descriptor; the state
	// machine's data lives in the SnapshotStore).
	CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error)
	// Compact discards the log up to i (a snapshot must cover it).
	Compact(i uint64) error
}

// Memory adapts a raft.MemoryStorage to a LogStore. Nothing it holds
// survives the process; a replica restarted on the same MemoryStorage (in
// tests) sees everything saved before.
func Memory(ms *raft.MemoryStorage) LogStore { return memoryStore{ms} }

type memoryStore struct{ *raft.MemoryStorage }

func (m memoryStore) Save(u Update) error {
	if u.Snapshot != nil {
		if err := m.ApplySnapshot(u.Snapshot); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return err
		}
	}
	if len(u.Entries) > 0 {
		if err := m.Append(u.Entries); err != nil {
			return err
		}
	}
	if u.HardState != nil {
		return m.SetHardState(u.HardState)
	}
	return nil
}

// WAL adapts a wal.WAL to a LogStore.
func WAL(w *wal.WAL) LogStore { return walStore{w} }

type walStore struct{ *wal.WAL }

func (s walStore) Save(u Update) error {
	err := s.WAL.Save(wal.Update(u))
	if errors.Is(err, raft.ErrSnapOutOfDate) && u.Snapshot != nil {
		// A newer snapshot is already stored: the rest of the update
		// still has to be saved.
		u.Snapshot = nil
		err = s.WAL.Save(wal.Update(u))
	}
	return err
}
