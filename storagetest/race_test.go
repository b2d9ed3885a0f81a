//go:build race

package storagetest_test

import (
	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/storagetest"
)

// unsyncedLastIndex caches LastIndex in a field written by every write and
// read without a lock: right when used from one goroutine, a data race
// otherwise, which only the race detector sees.
type unsyncedLastIndex struct {
	*raft.MemoryStorage
	last *uint64
}

func (s unsyncedLastIndex) note(err error) error {
	if err == nil {
		*s.last, _ = s.MemoryStorage.LastIndex()
	}
	return err
}

func (s unsyncedLastIndex) LastIndex() (uint64, error) { return *s.last, nil }

func (s unsyncedLastIndex) Append(ents []*pb.Entry) error {
	return s.note(s.MemoryStorage.Append(ents))
}

func (s unsyncedLastIndex) ApplySnapshot(snap *pb.Snapshot) error {
	return s.note(s.MemoryStorage.ApplySnapshot(snap))
}

func (s unsyncedLastIndex) Compact(i uint64) error {
	return s.note(s.MemoryStorage.Compact(i))
}

// In race-enabled builds the suite must catch a store that is right on one
// goroutine but races with readers.
func init() {
	brokenStores["UnsyncedLastIndex"] = brokenStore{
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return unsyncedLastIndex{ms, new(uint64)} }),
		[]string{"Concurrent/ReadersDuringWrites"},
	}
}
