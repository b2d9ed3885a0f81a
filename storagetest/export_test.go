package storagetest

import (
	"errors"

	"google.golang.org/protobuf/proto"

	pb "github.com/tickraft/raft/raftpb"
)

// NewUnsyncedStore returns the suite's model as a Store: right on one
// goroutine, and with no synchronization at all, a data race as soon as
// another goroutine reads it.
func NewUnsyncedStore() Store { return &modelStore{m: newModel()} }

type modelStore struct{ m *model }

func (s *modelStore) InitialState() (*pb.HardState, *pb.ConfState, error) {
	return proto.Clone(s.m.hs).(*pb.HardState), proto.Clone(s.m.snap.GetMetadata().GetConfState()).(*pb.ConfState), nil
}

func (s *modelStore) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if lo > hi {
		return nil, errors.New("inverted range")
	}
	return s.m.entries(lo, hi, maxSize)
}

func (s *modelStore) Term(i uint64) (uint64, error) { return s.m.termErr(i) }
func (s *modelStore) LastIndex() (uint64, error)    { return s.m.lastIndex(), nil }
func (s *modelStore) FirstIndex() (uint64, error)   { return s.m.firstIndex(), nil }

func (s *modelStore) Snapshot() (*pb.Snapshot, error) {
	return proto.Clone(s.m.snap).(*pb.Snapshot), nil
}

func (s *modelStore) Append(ents []*pb.Entry) error         { return s.m.append(ents) }
func (s *modelStore) SetHardState(hs *pb.HardState) error   { return s.m.setHardState(hs) }
func (s *modelStore) ApplySnapshot(snap *pb.Snapshot) error { return s.m.applySnapshot(snap) }
func (s *modelStore) Compact(i uint64) error                { return s.m.compact(i) }

func (s *modelStore) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	return s.m.createSnapshot(i, cs, data)
}
