package storagetest

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// errRefused is what the model answers for a write the Store contract
// refuses with an error of no particular value (bad input): the store must
// return some error and change nothing.
var errRefused = errors.New("storagetest: the write must be refused")

// model is the reference the suite compares a store with: the Store
// contract written as plainly as possible, with no concern for speed.
//
// Every write method returns what the store must return: nil, one of the
// raft sentinel errors (matched with errors.Is), or errRefused. On any
// error the model is left unchanged, as the store must be.
type model struct {
	hs *pb.HardState
	// snap is the latest snapshot, with metadata and conf state always
	// present.
	snap *pb.Snapshot
	// offset and offsetTerm are the position the log starts after:
	// FirstIndex() is offset+1, and Term(offset) is offsetTerm.
	offset, offsetTerm uint64
	// ents are the entries offset+1, offset+2, ...; private copies, so a
	// store that modifies what it was given is caught.
	ents []*pb.Entry
}

func newModel() *model {
	return &model{
		hs:   &pb.HardState{},
		snap: normalSnapshot(nil),
	}
}

func (m *model) firstIndex() uint64 { return m.offset + 1 }
func (m *model) lastIndex() uint64  { return m.offset + uint64(len(m.ents)) }

// term returns the term at i, which must be in [offset, lastIndex()].
func (m *model) term(i uint64) uint64 {
	if i == m.offset {
		return m.offsetTerm
	}
	return m.ents[i-m.offset-1].GetTerm()
}

// termErr is what Term(i) must return.
func (m *model) termErr(i uint64) (uint64, error) {
	switch {
	case i < m.offset:
		return 0, raft.ErrCompacted
	case i > m.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return m.term(i), nil
}

// entries is what Entries(lo, hi, maxSize) must return, for lo <= hi. When
// lo is compacted and hi is beyond the log, both errors are allowed (the
// contract does not order them); the model names ErrCompacted and
// entriesErrOK accepts either.
func (m *model) entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	switch {
	case lo <= m.offset:
		return nil, raft.ErrCompacted
	case hi > m.lastIndex()+1:
		return nil, raft.ErrUnavailable
	}
	return limitSize(m.ents[lo-m.offset-1:hi-m.offset-1], maxSize), nil
}

// entriesErrOK reports whether err is an acceptable answer of
// Entries(lo, hi, ...) when the model expects the error want.
func (m *model) entriesErrOK(lo, hi uint64, want, err error) bool {
	if errors.Is(err, want) {
		return true
	}
	// Both bounds out of range: either error is right.
	return lo <= m.offset && hi > m.lastIndex()+1 && errors.Is(err, raft.ErrUnavailable)
}

// limitSize is the longest prefix of ents whose total encoded size is at
// most maxSize, but at least one entry when ents is not empty: the size
// accounting raft.Storage.Entries promises.
func limitSize(ents []*pb.Entry, maxSize uint64) []*pb.Entry {
	if len(ents) == 0 {
		return nil
	}
	size := uint64(proto.Size(ents[0]))
	n := 1
	for ; n < len(ents); n++ {
		size += uint64(proto.Size(ents[n]))
		if size > maxSize {
			break
		}
	}
	return ents[:n]
}

// setHardState mirrors Store.SetHardState.
func (m *model) setHardState(hs *pb.HardState) error {
	if hs == nil {
		return errRefused
	}
	m.hs = &pb.HardState{Term: hs.GetTerm(), Vote: hs.GetVote(), Commit: hs.GetCommit()}
	return nil
}

// validEntries reports whether ents may be handed to Append at all:
// non-nil entries with consecutive indexes.
func validEntries(ents []*pb.Entry) bool {
	for k, e := range ents {
		if e == nil {
			return false
		}
		if k > 0 && (e.GetIndex() != ents[k-1].GetIndex()+1 || e.GetIndex() == 0) {
			return false
		}
	}
	return true
}

// append mirrors Store.Append.
func (m *model) append(ents []*pb.Entry) error {
	if !validEntries(ents) {
		return errRefused
	}
	if len(ents) == 0 || ents[len(ents)-1].GetIndex() <= m.offset {
		return nil
	}
	if start := ents[0].GetIndex(); start <= m.offset {
		ents = ents[m.offset+1-start:]
	}
	start := ents[0].GetIndex()
	if start > m.lastIndex()+1 {
		return errRefused
	}
	kept := m.ents[:start-m.offset-1]
	out := make([]*pb.Entry, len(kept), len(kept)+len(ents))
	copy(out, kept)
	for _, e := range ents {
		out = append(out, proto.Clone(e).(*pb.Entry))
	}
	m.ents = out
	return nil
}

// compact mirrors Store.Compact.
func (m *model) compact(i uint64) error {
	switch {
	case i <= m.offset:
		return raft.ErrCompacted
	case i > m.lastIndex():
		return raft.ErrUnavailable
	}
	m.offsetTerm = m.term(i)
	m.ents = append([]*pb.Entry(nil), m.ents[i-m.offset:]...)
	m.offset = i
	return nil
}

// createSnapshot mirrors Store.CreateSnapshot and returns the snapshot the
// store must return.
func (m *model) createSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	switch {
	case i <= m.snap.GetMetadata().GetIndex():
		return nil, raft.ErrSnapOutOfDate
	case i < m.offset:
		return nil, raft.ErrCompacted
	case i > m.lastIndex():
		return nil, raft.ErrUnavailable
	}
	if cs == nil {
		cs = m.snap.GetMetadata().GetConfState()
	}
	m.snap = normalSnapshot(&pb.Snapshot{
		Data:     data,
		Metadata: &pb.SnapshotMetadata{Index: i, Term: m.term(i), ConfState: cs},
	})
	return proto.Clone(m.snap).(*pb.Snapshot), nil
}

// applySnapshot mirrors Store.ApplySnapshot.
func (m *model) applySnapshot(snap *pb.Snapshot) error {
	switch {
	case snap == nil || snap.GetMetadata() == nil:
		return errRefused
	case snap.GetMetadata().GetIndex() <= m.snap.GetMetadata().GetIndex():
		return raft.ErrSnapOutOfDate
	}
	m.snap = normalSnapshot(snap)
	m.offset, m.offsetTerm = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
	m.ents = nil
	return nil
}

// normalSnapshot returns a private copy of s with metadata and conf state
// present (a missing one reads as empty).
func normalSnapshot(s *pb.Snapshot) *pb.Snapshot {
	out := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{}}
	if s != nil {
		out = proto.Clone(s).(*pb.Snapshot)
	}
	if out.Metadata == nil {
		out.Metadata = &pb.SnapshotMetadata{}
	}
	if out.Metadata.ConfState == nil {
		out.Metadata.ConfState = &pb.ConfState{}
	}
	return out
}

// normalConfState returns cs, or an empty conf state if cs is nil.
func normalConfState(cs *pb.ConfState) *pb.ConfState {
	if cs == nil {
		return &pb.ConfState{}
	}
	return cs
}

// normalHardState returns hs, or an empty hard state if hs is nil.
func normalHardState(hs *pb.HardState) *pb.HardState {
	if hs == nil {
		return &pb.HardState{}
	}
	return hs
}
