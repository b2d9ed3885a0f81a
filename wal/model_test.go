package wal

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// model is the state a wal should hold, kept in memory the simplest way.
type model struct {
	hs               *pb.HardState
	snap             *pb.Snapshot
	start, startTerm uint64
	ents             []*pb.Entry // start+1, start+2, ...
}

func newModel() *model {
	return &model{hs: &pb.HardState{}, snap: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{}}}}
}

func (m *model) clone() *model {
	c := *m
	c.ents = append([]*pb.Entry(nil), m.ents...)
	return &c
}

func (m *model) last() uint64 { return m.start + uint64(len(m.ents)) }

func (m *model) term(i uint64) uint64 {
	if i == m.start {
		return m.startTerm
	}
	return m.ents[i-m.start-1].Term
}

func (m *model) save(u Update) {
	if s := u.Snapshot; s != nil {
		m.snap = shareSnapshot(s)
		m.start, m.startTerm, m.ents = s.Metadata.Index, s.Metadata.Term, nil
	}
	if len(u.Entries) > 0 {
		es := u.Entries
		for len(es) > 0 && es[0].Index <= m.start {
			es = es[1:]
		}
		if len(es) > 0 {
			m.ents = append(m.ents[:es[0].Index-m.start-1:es[0].Index-m.start-1], es...)
		}
	}
	if u.HardState != nil {
		m.hs = proto.Clone(u.HardState).(*pb.HardState)
	}
}

func (m *model) create(i uint64, cs *pb.ConfState, data []byte) {
	if cs == nil {
		cs = m.snap.Metadata.ConfState
	}
	m.snap = &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{Index: i, Term: m.term(i), ConfState: cs}}
}

func (m *model) compact(i uint64) {
	t := m.term(i)
	m.ents = append([]*pb.Entry(nil), m.ents[i-m.start:]...)
	m.start, m.startTerm = i, t
}

func (m *model) InitialState() (*pb.HardState, *pb.ConfState, error) {
	return m.hs, m.snap.Metadata.ConfState, nil
}

func (m *model) Entries(lo, hi, _ uint64) ([]*pb.Entry, error) {
	if lo <= m.start || hi > m.last()+1 {
		return nil, fmt.Errorf("model: [%d, %d) out of range", lo, hi)
	}
	return m.ents[lo-m.start-1 : hi-m.start-1], nil
}

func (m *model) Term(i uint64) (uint64, error) {
	if i < m.start || i > m.last() {
		return 0, raft.ErrUnavailable
	}
	return m.term(i), nil
}

func (m *model) LastIndex() (uint64, error)      { return m.last(), nil }
func (m *model) FirstIndex() (uint64, error)     { return m.start + 1, nil }
func (m *model) Snapshot() (*pb.Snapshot, error) { return m.snap, nil }
