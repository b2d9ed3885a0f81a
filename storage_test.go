package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	pb "github.com/tickraft/raft/raftpb"
)

// memStorageEnts returns entries with consecutive indexes starting at first
// and the given terms.
func memStorageEnts(first uint64, terms ...uint64) []*pb.Entry {
	ents := make([]*pb.Entry, len(terms))
	for k, term := range terms {
		ents[k] = &pb.Entry{Index: first + uint64(k), Term: term}
	}
	return ents
}

// memStorageWith returns a MemoryStorage whose log starts after (offset,
// offsetTerm) and holds entries offset+1, offset+2, ... with the given terms,
// as if the earlier entries had been compacted. No snapshot is recorded.
func memStorageWith(offset, offsetTerm uint64, terms ...uint64) *MemoryStorage {
	ms := NewMemoryStorage()
	ms.ents = append([]*pb.Entry{{Index: offset, Term: offsetTerm}}, memStorageEnts(offset+1, terms...)...)
	return ms
}

// memStorageEntsIT lists the (index, term) pairs of ents. Entries are
// compared this way because protobuf structs carry internal state that
// reflect-based equality would look at.
func memStorageEntsIT(ents []*pb.Entry) [][2]uint64 {
	var out [][2]uint64
	for _, e := range ents {
		out = append(out, [2]uint64{e.GetIndex(), e.GetTerm()})
	}
	return out
}

// memStorageIndexTerms lists the (index, term) pairs of the storage's
// internal slice, placeholder included.
func memStorageIndexTerms(ms *MemoryStorage) [][2]uint64 {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return memStorageEntsIT(ms.ents)
}

func memStorageFirstLast(t *testing.T, ms *MemoryStorage) (uint64, uint64) {
	t.Helper()
	first, err := ms.FirstIndex()
	require.NoError(t, err)
	last, err := ms.LastIndex()
	require.NoError(t, err)
	return first, last
}

func TestMemoryStorageNew(t *testing.T) {
	ms := NewMemoryStorage()
	first, last := memStorageFirstLast(t, ms)
	require.Equal(t, uint64(1), first)
	require.Equal(t, uint64(0), last)

	term, err := ms.Term(0)
	require.NoError(t, err)
	require.Equal(t, uint64(0), term)
	_, err = ms.Term(1)
	require.ErrorIs(t, err, ErrUnavailable)

	ents, err := ms.Entries(1, 1, 0)
	require.NoError(t, err)
	require.Empty(t, ents)
	_, err = ms.Entries(1, 2, 0)
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = ms.Entries(0, 1, 0)
	require.ErrorIs(t, err, ErrCompacted)

	hs, cs, err := ms.InitialState()
	require.NoError(t, err)
	require.True(t, proto.Equal(&pb.HardState{}, hs))
	require.True(t, proto.Equal(&pb.ConfState{}, cs))

	snap, err := ms.Snapshot()
	require.NoError(t, err)
	require.NotNil(t, snap.GetMetadata())
	require.NotNil(t, snap.GetMetadata().GetConfState())
	require.Equal(t, uint64(0), snap.GetMetadata().GetIndex())
}

func TestMemoryStorageTerm(t *testing.T) {
	// Compacted up to 3: entries 4 and 5 remain.
	ms := memStorageWith(3, 3, 4, 5)
	tests := []struct {
		i       uint64
		wantErr error
		want    uint64
	}{
		{i: 0, wantErr: ErrCompacted},
		{i: 2, wantErr: ErrCompacted},
		{i: 3, want: 3},
		{i: 4, want: 4},
		{i: 5, want: 5},
		{i: 6, wantErr: ErrUnavailable},
		{i: 1 << 63, wantErr: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.i), func(t *testing.T) {
			term, err := ms.Term(tt.i)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, term)
		})
	}
}

func TestMemoryStorageEntries(t *testing.T) {
	// Compacted up to 3: entries 4, 5, 6 remain, each with a payload so the
	// sizes differ from the indexes.
	base := memStorageEnts(4, 4, 5, 6)
	base[1].Data = []byte("hello")
	sz := func(k int) uint64 { return uint64(proto.Size(base[k])) }
	all := sz(0) + sz(1) + sz(2)
	tests := []struct {
		name    string
		lo, hi  uint64
		maxSize uint64
		wantErr error
		anyErr  bool
		want    [][2]uint64
	}{
		{name: "below offset", lo: 2, hi: 6, maxSize: all, wantErr: ErrCompacted},
		{name: "at offset", lo: 3, hi: 4, maxSize: all, wantErr: ErrCompacted},
		{name: "beyond last", lo: 4, hi: 8, maxSize: all, wantErr: ErrUnavailable},
		{name: "empty range", lo: 5, hi: 5, maxSize: all, want: nil},
		{name: "empty range after last", lo: 7, hi: 7, maxSize: all, want: nil},
		{name: "lo above hi", lo: 6, hi: 5, maxSize: all, anyErr: true},
		{name: "lo above hi and compacted", lo: 3, hi: 2, maxSize: all, anyErr: true},
		{name: "one", lo: 4, hi: 5, maxSize: all, want: [][2]uint64{{4, 4}}},
		{name: "all", lo: 4, hi: 7, maxSize: all, want: [][2]uint64{{4, 4}, {5, 5}, {6, 6}}},
		{name: "unlimited", lo: 4, hi: 7, maxSize: ^uint64(0), want: [][2]uint64{{4, 4}, {5, 5}, {6, 6}}},
		{name: "max size zero gives one", lo: 4, hi: 7, maxSize: 0, want: [][2]uint64{{4, 4}}},
		{name: "first entry too big gives one", lo: 5, hi: 7, maxSize: sz(1) - 1, want: [][2]uint64{{5, 5}}},
		{name: "exactly two", lo: 4, hi: 7, maxSize: sz(0) + sz(1), want: [][2]uint64{{4, 4}, {5, 5}}},
		{name: "one byte short of two", lo: 4, hi: 7, maxSize: sz(0) + sz(1) - 1, want: [][2]uint64{{4, 4}}},
		{name: "one byte short of three", lo: 4, hi: 7, maxSize: all - 1, want: [][2]uint64{{4, 4}, {5, 5}}},
		{name: "exactly three", lo: 4, hi: 7, maxSize: all, want: [][2]uint64{{4, 4}, {5, 5}, {6, 6}}},
		{name: "limit within sub-range", lo: 5, hi: 7, maxSize: sz(1) + sz(2) - 1, want: [][2]uint64{{5, 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := NewMemoryStorage()
			ms.ents = append([]*pb.Entry{{Index: 3, Term: 3}}, base...)
			ents, err := ms.Entries(tt.lo, tt.hi, tt.maxSize)
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
				require.Nil(t, ents)
				return
			case tt.anyErr:
				require.Error(t, err)
				require.NotErrorIs(t, err, ErrCompacted)
				require.NotErrorIs(t, err, ErrUnavailable)
				require.Nil(t, ents)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, memStorageEntsIT(ents))
			require.Equal(t, len(ents), cap(ents), "result must have no spare capacity")
		})
	}
}

func TestMemoryStorageLimitEntriesSize(t *testing.T) {
	ents := memStorageEnts(1, 1, 2, 3, 4)
	one := uint64(proto.Size(ents[0]))
	tests := []struct {
		ents    []*pb.Entry
		maxSize uint64
		want    int
	}{
		{ents: nil, maxSize: 100, want: 0},
		{ents: ents[:0], maxSize: 100, want: 0},
		{ents: ents, maxSize: 0, want: 1},
		{ents: ents, maxSize: one, want: 1},
		{ents: ents, maxSize: 2*one - 1, want: 1},
		{ents: ents, maxSize: 2 * one, want: 2},
		{ents: ents, maxSize: 4*one - 1, want: 3},
		{ents: ents, maxSize: 4 * one, want: 4},
		{ents: ents, maxSize: ^uint64(0), want: 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", len(tt.ents), tt.maxSize), func(t *testing.T) {
			got := limitEntriesSize(tt.ents, tt.maxSize)
			require.Len(t, got, tt.want)
			require.Equal(t, len(got), cap(got))
		})
	}
}

func TestMemoryStorageFirstLastIndex(t *testing.T) {
	tests := []struct {
		name            string
		ms              *MemoryStorage
		wantFirst, last uint64
	}{
		{name: "new", ms: NewMemoryStorage(), wantFirst: 1, last: 0},
		{name: "entries from 1", ms: memStorageWith(0, 0, 1, 1, 2), wantFirst: 1, last: 3},
		{name: "compacted", ms: memStorageWith(3, 3, 4, 5), wantFirst: 4, last: 5},
		{name: "compacted to the end", ms: memStorageWith(5, 5), wantFirst: 6, last: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, last := memStorageFirstLast(t, tt.ms)
			require.Equal(t, tt.wantFirst, first)
			require.Equal(t, tt.last, last)
		})
	}

	ms := NewMemoryStorage()
	require.NoError(t, ms.Append(memStorageEnts(1, 1, 2, 3, 4, 5)))
	first, last := memStorageFirstLast(t, ms)
	require.Equal(t, []uint64{1, 5}, []uint64{first, last})
	require.NoError(t, ms.Compact(3))
	first, last = memStorageFirstLast(t, ms)
	require.Equal(t, []uint64{4, 5}, []uint64{first, last})
	require.NoError(t, ms.Append(memStorageEnts(6, 6)))
	first, last = memStorageFirstLast(t, ms)
	require.Equal(t, []uint64{4, 6}, []uint64{first, last})
}

func TestMemoryStorageCompact(t *testing.T) {
	tests := []struct {
		name    string
		i       uint64
		wantErr error
		want    [][2]uint64
	}{
		{name: "below offset", i: 2, wantErr: ErrCompacted, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "at offset", i: 3, wantErr: ErrCompacted, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "middle", i: 4, want: [][2]uint64{{4, 4}, {5, 5}}},
		{name: "at last index", i: 5, want: [][2]uint64{{5, 5}}},
		{name: "beyond last index", i: 6, wantErr: ErrUnavailable, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "far beyond last index", i: 1 << 40, wantErr: ErrUnavailable, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := memStorageWith(3, 3, 4, 5)
			ms.ents[1].Data = []byte("payload")
			err := ms.Compact(tt.i)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.want, memStorageIndexTerms(ms))

			offset := tt.want[0][0]
			first, last := memStorageFirstLast(t, ms)
			require.Equal(t, offset+1, first)
			require.Equal(t, uint64(5), last)
			term, err := ms.Term(offset)
			require.NoError(t, err)
			require.Equal(t, tt.want[0][1], term)
			_, err = ms.Term(offset - 1)
			require.ErrorIs(t, err, ErrCompacted)
			_, err = ms.Entries(offset, last+1, 0)
			require.ErrorIs(t, err, ErrCompacted)
			ents, err := ms.Entries(first, last+1, ^uint64(0))
			require.NoError(t, err)
			require.Len(t, ents, int(last+1-first))

			if tt.wantErr == nil {
				// The placeholder keeps only the position, and the new
				// array holds nothing beyond the surviving entries.
				require.Empty(t, ms.ents[0].GetData())
				require.Equal(t, len(ms.ents), cap(ms.ents))
			}
		})
	}
}

func TestMemoryStorageCompactKeepsEarlierReads(t *testing.T) {
	ms := memStorageWith(0, 0, 1, 2, 3, 4)
	before, err := ms.Entries(1, 5, ^uint64(0))
	require.NoError(t, err)
	require.NoError(t, ms.Compact(2))
	require.NoError(t, ms.Append(memStorageEnts(5, 5, 5)))
	require.Equal(t, [][2]uint64{{1, 1}, {2, 2}, {3, 3}, {4, 4}}, memStorageEntsIT(before))
}

func TestMemoryStorageAppend(t *testing.T) {
	tests := []struct {
		name    string
		input   []*pb.Entry
		wantErr bool
		want    [][2]uint64
	}{
		{name: "nothing", input: nil,
			want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "same entries", input: memStorageEnts(3, 3, 4, 5),
			want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "overwrite last", input: memStorageEnts(5, 6),
			want: [][2]uint64{{3, 3}, {4, 4}, {5, 6}}},
		{name: "overwrite suffix and extend", input: memStorageEnts(4, 6, 6, 6),
			want: [][2]uint64{{3, 3}, {4, 6}, {5, 6}, {6, 6}}},
		{name: "overwrite all real entries", input: memStorageEnts(4, 7),
			want: [][2]uint64{{3, 3}, {4, 7}}},
		{name: "extend", input: memStorageEnts(6, 5, 6),
			want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}, {6, 5}, {7, 6}}},
		{name: "entirely compacted", input: memStorageEnts(1, 1, 2),
			want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "ends at the offset", input: memStorageEnts(1, 9, 9, 9),
			want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "partially compacted, matching", input: memStorageEnts(2, 3, 3, 4, 5),
			want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "partially compacted, conflicting", input: memStorageEnts(2, 3, 3, 5, 5, 5),
			want: [][2]uint64{{3, 3}, {4, 5}, {5, 5}, {6, 5}}},
		{name: "partially compacted, extending", input: memStorageEnts(2, 3, 3, 4, 5, 5),
			want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}, {6, 5}}},
		{name: "gap", input: memStorageEnts(7, 5),
			wantErr: true, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "non-contiguous", input: []*pb.Entry{{Index: 6, Term: 5}, {Index: 8, Term: 5}},
			wantErr: true, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "descending", input: []*pb.Entry{{Index: 6, Term: 5}, {Index: 5, Term: 5}},
			wantErr: true, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "repeated index", input: []*pb.Entry{{Index: 6, Term: 5}, {Index: 6, Term: 5}},
			wantErr: true, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "non-contiguous and compacted", input: []*pb.Entry{{Index: 1, Term: 1}, {Index: 3, Term: 3}},
			wantErr: true, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "index wraps around", input: []*pb.Entry{{Index: ^uint64(0), Term: 5}, {Index: 0, Term: 5}},
			wantErr: true, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
		{name: "nil entry", input: []*pb.Entry{{Index: 6, Term: 5}, nil},
			wantErr: true, want: [][2]uint64{{3, 3}, {4, 4}, {5, 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := memStorageWith(3, 3, 4, 5)
			err := ms.Append(tt.input)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.want, memStorageIndexTerms(ms))
		})
	}
}

func TestMemoryStorageAppendReusedInput(t *testing.T) {
	ms := NewMemoryStorage()
	buf := memStorageEnts(1, 1, 1)
	require.NoError(t, ms.Append(buf))
	// The caller reuses its slice for something else.
	buf[0], buf[1] = &pb.Entry{Index: 9, Term: 9}, &pb.Entry{Index: 10, Term: 9}
	require.Equal(t, [][2]uint64{{0, 0}, {1, 1}, {2, 1}}, memStorageIndexTerms(ms))
}

func TestMemoryStorageReturnedSlices(t *testing.T) {
	ms := NewMemoryStorage()
	// Leave spare capacity in the storage's array, so that an uncapped
	// result would let the caller write into it.
	ms.ents = make([]*pb.Entry, 1, 16)
	ms.ents[0] = &pb.Entry{}
	require.NoError(t, ms.Append(memStorageEnts(1, 1, 1, 1, 1, 1)))

	// Appending to a full result must not reach the storage's array.
	ents, err := ms.Entries(1, 3, ^uint64(0))
	require.NoError(t, err)
	_ = append(ents, &pb.Entry{Index: 3, Term: 99})
	// Nor to a result cut short by the size limit.
	limited, err := ms.Entries(1, 5, 0)
	require.NoError(t, err)
	require.Len(t, limited, 1)
	_ = append(limited, &pb.Entry{Index: 2, Term: 99})
	// Nor to a result reaching the end of the log.
	tail, err := ms.Entries(4, 6, ^uint64(0))
	require.NoError(t, err)
	_ = append(tail, &pb.Entry{Index: 6, Term: 99})

	require.Equal(t, [][2]uint64{{0, 0}, {1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}}, memStorageIndexTerms(ms))
	_, last := memStorageFirstLast(t, ms)
	require.Equal(t, uint64(5), last)

	// Replacing a suffix must not change what earlier readers hold, and
	// later appends into spare capacity must not either.
	held, err := ms.Entries(1, 6, ^uint64(0))
	require.NoError(t, err)
	require.NoError(t, ms.Append(memStorageEnts(3, 2, 2)))
	require.NoError(t, ms.Append(memStorageEnts(5, 2, 2, 2)))
	require.Equal(t, memStorageEntsIT(memStorageEnts(1, 1, 1, 1, 1, 1)), memStorageEntsIT(held))
	now, err := ms.Entries(1, 8, ^uint64(0))
	require.NoError(t, err)
	require.Equal(t, memStorageEntsIT(memStorageEnts(1, 1, 1, 2, 2, 2, 2, 2)), memStorageEntsIT(now))
}

func TestMemoryStorageCreateSnapshot(t *testing.T) {
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	prevCS := &pb.ConfState{Voters: []uint64{1}, Learners: []uint64{4}}
	data := []byte("data")
	tests := []struct {
		name     string
		i        uint64
		cs       *pb.ConfState
		wantErr  error
		wantTerm uint64
		wantCS   *pb.ConfState
	}{
		{name: "older than snapshot", i: 2, cs: cs, wantErr: ErrSnapOutOfDate},
		{name: "same as snapshot", i: 3, cs: cs, wantErr: ErrSnapOutOfDate},
		{name: "compacted but newer than snapshot", i: 4, cs: cs, wantErr: ErrCompacted},
		{name: "at offset", i: 5, cs: cs, wantTerm: 5, wantCS: cs},
		{name: "middle", i: 6, cs: cs, wantTerm: 6, wantCS: cs},
		{name: "last", i: 7, cs: cs, wantTerm: 7, wantCS: cs},
		{name: "beyond last", i: 8, cs: cs, wantErr: ErrUnavailable},
		{name: "nil conf state keeps previous", i: 6, cs: nil, wantTerm: 6, wantCS: prevCS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A snapshot at 3, then a compaction at 5 without a snapshot.
			ms := NewMemoryStorage()
			require.NoError(t, ms.ApplySnapshot(&pb.Snapshot{
				Data:     []byte("old"),
				Metadata: &pb.SnapshotMetadata{Index: 3, Term: 3, ConfState: prevCS},
			}))
			require.NoError(t, ms.Append(memStorageEnts(4, 4, 5, 6, 7)))
			require.NoError(t, ms.Compact(5))
			before := memStorageIndexTerms(ms)

			snap, err := ms.CreateSnapshot(tt.i, tt.cs, data)
			stored, serr := ms.Snapshot()
			require.NoError(t, serr)
			require.Equal(t, before, memStorageIndexTerms(ms), "CreateSnapshot must not change the log")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Nil(t, snap)
				require.Equal(t, uint64(3), stored.GetMetadata().GetIndex())
				require.Equal(t, []byte("old"), stored.GetData())
				return
			}
			require.NoError(t, err)
			want := &pb.Snapshot{
				Data:     data,
				Metadata: &pb.SnapshotMetadata{Index: tt.i, Term: tt.wantTerm, ConfState: tt.wantCS},
			}
			require.True(t, proto.Equal(want, snap), "got %v", snap)
			require.True(t, proto.Equal(want, stored), "got %v", stored)
			_, gotCS, err := ms.InitialState()
			require.NoError(t, err)
			require.True(t, proto.Equal(tt.wantCS, gotCS))
		})
	}
}

func TestMemoryStorageCreateSnapshotNilConfStateInitially(t *testing.T) {
	ms := memStorageWith(0, 0, 1, 1)
	snap, err := ms.CreateSnapshot(2, nil, nil)
	require.NoError(t, err)
	require.NotNil(t, snap.GetMetadata().GetConfState())
	require.True(t, proto.Equal(&pb.ConfState{}, snap.GetMetadata().GetConfState()))
}

func TestMemoryStorageCreateSnapshotCopiesConfState(t *testing.T) {
	ms := memStorageWith(0, 0, 1, 1)
	cs := &pb.ConfState{Voters: []uint64{1, 2}}
	snap, err := ms.CreateSnapshot(1, cs, nil)
	require.NoError(t, err)
	cs.Voters[0] = 9
	snap.Metadata.Index = 100
	snap.Metadata.ConfState.Voters = nil

	stored, err := ms.Snapshot()
	require.NoError(t, err)
	require.Equal(t, uint64(1), stored.GetMetadata().GetIndex())
	require.Equal(t, []uint64{1, 2}, stored.GetMetadata().GetConfState().GetVoters())
}

// errMalformedSnapshot marks, in TestMemoryStorageApplySnapshot, a snapshot
// that must be refused with an error other than ErrSnapOutOfDate.
var errMalformedSnapshot = errors.New("malformed snapshot")

func TestMemoryStorageApplySnapshot(t *testing.T) {
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	mk := func(index, term uint64) *pb.Snapshot {
		return &pb.Snapshot{
			Data:     []byte(fmt.Sprintf("snap %d", index)),
			Metadata: &pb.SnapshotMetadata{Index: index, Term: term, ConfState: cs},
		}
	}
	tests := []struct {
		name    string
		snap    *pb.Snapshot
		wantErr error
	}{
		{name: "newer, inside the log", snap: mk(5, 5)},
		{name: "newer, beyond the log", snap: mk(10, 8)},
		{name: "newer, below the compacted offset", snap: mk(3, 3)},
		{name: "equal", snap: mk(2, 2), wantErr: ErrSnapOutOfDate},
		{name: "older", snap: mk(1, 1), wantErr: ErrSnapOutOfDate},
		{name: "nil", snap: nil, wantErr: errMalformedSnapshot},
		{name: "no metadata", snap: &pb.Snapshot{Data: []byte("x")}, wantErr: errMalformedSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := NewMemoryStorage()
			require.NoError(t, ms.ApplySnapshot(mk(2, 2)))
			require.NoError(t, ms.Append(memStorageEnts(3, 3, 4, 5, 6)))
			require.NoError(t, ms.Compact(4))
			before := memStorageIndexTerms(ms)

			err := ms.ApplySnapshot(tt.snap)
			stored, serr := ms.Snapshot()
			require.NoError(t, serr)
			if tt.wantErr != nil {
				if tt.wantErr == errMalformedSnapshot {
					// Its own error: nothing was compared, so it is not
					// ErrSnapOutOfDate.
					require.Error(t, err)
					require.NotErrorIs(t, err, ErrSnapOutOfDate)
				} else {
					require.ErrorIs(t, err, tt.wantErr)
				}
				require.Equal(t, before, memStorageIndexTerms(ms))
				require.True(t, proto.Equal(mk(2, 2), stored))
				return
			}
			require.NoError(t, err)
			require.True(t, proto.Equal(tt.snap, stored))
			md := tt.snap.GetMetadata()
			require.Equal(t, [][2]uint64{{md.GetIndex(), md.GetTerm()}}, memStorageIndexTerms(ms))
			first, last := memStorageFirstLast(t, ms)
			require.Equal(t, md.GetIndex()+1, first)
			require.Equal(t, md.GetIndex(), last)
			term, err := ms.Term(md.GetIndex())
			require.NoError(t, err)
			require.Equal(t, md.GetTerm(), term)

			// The log continues right after the snapshot.
			require.NoError(t, ms.Append(memStorageEnts(md.GetIndex()+1, md.GetTerm())))
			_, last = memStorageFirstLast(t, ms)
			require.Equal(t, md.GetIndex()+1, last)
		})
	}
}

func TestMemoryStorageApplySnapshotCopiesMetadata(t *testing.T) {
	ms := NewMemoryStorage()
	snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 4, Term: 2, ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	require.NoError(t, ms.ApplySnapshot(snap))
	snap.Metadata.Index = 40
	snap.Metadata.ConfState.Voters[0] = 7

	got, err := ms.Snapshot()
	require.NoError(t, err)
	require.Equal(t, uint64(4), got.GetMetadata().GetIndex())
	require.Equal(t, []uint64{1}, got.GetMetadata().GetConfState().GetVoters())
	got.Metadata.Index = 50
	got.Metadata.ConfState.Voters[0] = 8

	again, err := ms.Snapshot()
	require.NoError(t, err)
	require.Equal(t, uint64(4), again.GetMetadata().GetIndex())
	require.Equal(t, []uint64{1}, again.GetMetadata().GetConfState().GetVoters())
}

func TestMemoryStorageApplySnapshotWithoutConfState(t *testing.T) {
	ms := NewMemoryStorage()
	require.NoError(t, ms.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 4, Term: 2}}))
	snap, err := ms.Snapshot()
	require.NoError(t, err)
	require.NotNil(t, snap.GetMetadata().GetConfState())
	_, cs, err := ms.InitialState()
	require.NoError(t, err)
	require.NotNil(t, cs)
}

func TestMemoryStorageInitialState(t *testing.T) {
	ms := NewMemoryStorage()
	require.Error(t, ms.SetHardState(nil))

	hs := &pb.HardState{Term: 3, Vote: 2, Commit: 5}
	require.NoError(t, ms.SetHardState(hs))
	hs.Term = 100 // later changes by the caller are not seen

	cs := &pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}
	require.NoError(t, ms.ApplySnapshot(&pb.Snapshot{
		Metadata: &pb.SnapshotMetadata{Index: 4, Term: 2, ConfState: cs},
	}))

	gotHS, gotCS, err := ms.InitialState()
	require.NoError(t, err)
	require.True(t, proto.Equal(&pb.HardState{Term: 3, Vote: 2, Commit: 5}, gotHS), "got %v", gotHS)
	require.True(t, proto.Equal(cs, gotCS), "got %v", gotCS)

	// Changing the results does not change the storage.
	gotHS.Commit = 99
	gotCS.Voters[0] = 99
	gotHS, gotCS, err = ms.InitialState()
	require.NoError(t, err)
	require.Equal(t, uint64(5), gotHS.GetCommit())
	require.Equal(t, []uint64{1, 2}, gotCS.GetVoters())

	// The hard state survives a later snapshot, and the conf state follows
	// the newest snapshot.
	cs2 := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	require.NoError(t, ms.ApplySnapshot(&pb.Snapshot{
		Metadata: &pb.SnapshotMetadata{Index: 8, Term: 3, ConfState: cs2},
	}))
	require.NoError(t, ms.SetHardState(&pb.HardState{Term: 4, Vote: 1, Commit: 8}))
	gotHS, gotCS, err = ms.InitialState()
	require.NoError(t, err)
	require.True(t, proto.Equal(&pb.HardState{Term: 4, Vote: 1, Commit: 8}, gotHS))
	require.True(t, proto.Equal(cs2, gotCS))
}

// TestMemoryStorageConcurrent runs one writer against several readers; run
// it with -race. The writer keeps terms non-decreasing along the log and
// never lowers the term at an index, so readers can check orderings across
// separate calls.
func TestMemoryStorageConcurrent(t *testing.T) {
	ms := NewMemoryStorage()
	var done atomic.Bool
	var wg sync.WaitGroup
	const readers = 4
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			okErr := func(err error) bool {
				return err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable)
			}
			for iter := 0; !done.Load() || iter < 10; iter++ {
				first, err := ms.FirstIndex()
				assert.NoError(t, err)
				last, err := ms.LastIndex()
				assert.NoError(t, err)
				if !assert.LessOrEqual(t, first, last+1) {
					return
				}

				lo := first + uint64(rng.IntN(int(last+2-first)))
				hi := lo + uint64(rng.IntN(int(last+2-lo)))
				ents, err := ms.Entries(lo, hi, uint64(rng.IntN(64)))
				if !assert.True(t, okErr(err), "Entries(%d, %d): %v", lo, hi, err) {
					return
				}
				if err == nil {
					if lo < hi {
						assert.NotEmpty(t, ents)
					}
					for k, e := range ents {
						assert.Equal(t, lo+uint64(k), e.GetIndex(), "entries not contiguous")
						if k > 0 {
							assert.LessOrEqual(t, ents[k-1].GetTerm(), e.GetTerm(), "terms decrease")
						}
					}
				}

				i := first - 1 + uint64(rng.IntN(int(last+2-first)))
				t1, err1 := ms.Term(i)
				t2, err2 := ms.Term(i + 1)
				assert.True(t, okErr(err1), "Term(%d): %v", i, err1)
				assert.True(t, okErr(err2), "Term(%d): %v", i+1, err2)
				if err1 == nil && err2 == nil {
					assert.LessOrEqual(t, t1, t2, "terms at %d and %d", i, i+1)
				}

				snap, err := ms.Snapshot()
				assert.NoError(t, err)
				assert.NotNil(t, snap.GetMetadata().GetConfState())
				hs, cs, err := ms.InitialState()
				assert.NoError(t, err)
				assert.NotNil(t, hs)
				assert.NotNil(t, cs)
			}
		})
	}

	rng := rand.New(rand.NewPCG(42, 42))
	term := uint64(1)
	for range 3000 {
		first, last := memStorageFirstLast(t, ms)
		switch r := rng.IntN(20); {
		case r < 12: // extend the log
			ents := memStorageEnts(last+1, term)
			for range rng.IntN(4) {
				ents = append(ents, &pb.Entry{Index: ents[len(ents)-1].Index + 1, Term: term})
			}
			require.NoError(t, ms.Append(ents))
		case r < 15: // a new leader replaces a suffix
			term++
			start := first + uint64(rng.IntN(int(last+2-first)))
			require.NoError(t, ms.Append(memStorageEnts(start, term, term)))
		case r < 17:
			if last >= first {
				require.NoError(t, ms.Compact(first+uint64(rng.IntN(int(last+1-first)))))
			}
		case r < 19:
			if last >= first {
				_, err := ms.CreateSnapshot(first+uint64(rng.IntN(int(last+1-first))), nil, nil)
				if err != nil {
					require.ErrorIs(t, err, ErrSnapOutOfDate)
				}
			}
		default: // catch up from a leader's snapshot beyond the log
			term++
			// A suffix replacement may have left the last snapshot
			// beyond the log.
			snap, err := ms.Snapshot()
			require.NoError(t, err)
			top := max(last, snap.GetMetadata().GetIndex())
			require.NoError(t, ms.ApplySnapshot(&pb.Snapshot{
				Metadata: &pb.SnapshotMetadata{Index: top + 1 + uint64(rng.IntN(5)), Term: term},
			}))
		}
		require.NoError(t, ms.SetHardState(&pb.HardState{Term: term, Commit: last}))
	}
	done.Store(true)
	wg.Wait()
}

// memStorageModel is a plain description of what a MemoryStorage should
// hold, used to check the real one against random operations.
type memStorageModel struct {
	terms     map[uint64]uint64 // index -> term, from offset to last
	offset    uint64            // position the log starts after
	last      uint64
	snapIndex uint64
	snapTerm  uint64
	snapCS    []uint64 // voters of the latest snapshot
}

func (m *memStorageModel) term(i uint64) (uint64, error) {
	if i < m.offset {
		return 0, ErrCompacted
	}
	if i > m.last {
		return 0, ErrUnavailable
	}
	return m.terms[i], nil
}

func TestMemoryStorageAgainstModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			memStorageRunModel(t, seed)
		})
	}
}

func memStorageRunModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	ms := NewMemoryStorage()
	m := &memStorageModel{terms: map[uint64]uint64{0: 0}}
	// near returns a random index around [m.offset, m.last], a little past
	// either end.
	near := func() uint64 {
		lo := int64(m.offset) - 2
		hi := int64(m.last) + 3
		v := lo + rng.Int64N(hi-lo+1)
		return uint64(max(v, 0))
	}

	for step := range 400 {
		var desc string
		switch op := rng.IntN(10); {
		case op < 5: // Append
			start := max(near(), 1)
			n := rng.IntN(5)
			ents := make([]*pb.Entry, n)
			for k := range ents {
				ents[k] = &pb.Entry{Index: start + uint64(k), Term: 1 + uint64(rng.IntN(9))}
			}
			bad := n >= 2 && rng.IntN(8) == 0
			if bad {
				ents[n-1].Index += 1 + uint64(rng.IntN(2))
			}
			desc = fmt.Sprintf("Append(start %d, n %d, bad %v)", start, n, bad)
			err := ms.Append(ents)

			var wantErr bool
			switch {
			case n == 0:
			case bad:
				wantErr = true
			case ents[n-1].Index <= m.offset:
			case start > m.last+1:
				wantErr = true
			default:
				for i := max(start, m.offset+1); i <= m.last; i++ {
					delete(m.terms, i)
				}
				for _, e := range ents {
					if e.Index > m.offset {
						m.terms[e.Index] = e.Term
					}
				}
				m.last = ents[n-1].Index
			}
			if wantErr {
				require.Error(t, err, desc)
			} else {
				require.NoError(t, err, desc)
			}

		case op < 7: // Compact
			i := near()
			desc = fmt.Sprintf("Compact(%d)", i)
			err := ms.Compact(i)
			switch {
			case i <= m.offset:
				require.ErrorIs(t, err, ErrCompacted, desc)
			case i > m.last:
				require.ErrorIs(t, err, ErrUnavailable, desc)
			default:
				require.NoError(t, err, desc)
				for k := m.offset; k < i; k++ {
					delete(m.terms, k)
				}
				m.offset = i
			}

		case op < 9: // CreateSnapshot
			i := near()
			var cs *pb.ConfState
			if rng.IntN(2) == 0 {
				cs = &pb.ConfState{Voters: []uint64{uint64(step)}}
			}
			desc = fmt.Sprintf("CreateSnapshot(%d, %v)", i, cs)
			snap, err := ms.CreateSnapshot(i, cs, nil)
			switch {
			case i <= m.snapIndex:
				require.ErrorIs(t, err, ErrSnapOutOfDate, desc)
			case i < m.offset:
				require.ErrorIs(t, err, ErrCompacted, desc)
			case i > m.last:
				require.ErrorIs(t, err, ErrUnavailable, desc)
			default:
				require.NoError(t, err, desc)
				m.snapIndex, m.snapTerm = i, m.terms[i]
				if cs != nil {
					m.snapCS = cs.Voters
				}
				require.Equal(t, m.snapTerm, snap.GetMetadata().GetTerm(), desc)
			}

		default: // ApplySnapshot
			// Around the current snapshot index, up to a little past the log.
			top := max(m.last, m.snapIndex) + 5
			idx := max(m.snapIndex, 1) - 1 + rng.Uint64N(top-m.snapIndex+2)
			term := 1 + uint64(rng.IntN(9))
			voters := []uint64{uint64(step), 1000}
			desc = fmt.Sprintf("ApplySnapshot(%d, %d)", idx, term)
			err := ms.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
				Index: idx, Term: term, ConfState: &pb.ConfState{Voters: voters},
			}})
			if idx <= m.snapIndex {
				require.ErrorIs(t, err, ErrSnapOutOfDate, desc)
			} else {
				require.NoError(t, err, desc)
				m.terms = map[uint64]uint64{idx: term}
				m.offset, m.last = idx, idx
				m.snapIndex, m.snapTerm, m.snapCS = idx, term, voters
			}
		}
		memStorageCheckModel(t, rng, ms, m, fmt.Sprintf("seed %d step %d after %s", seed, step, desc))
	}
}

func memStorageCheckModel(t *testing.T, rng *rand.Rand, ms *MemoryStorage, m *memStorageModel, desc string) {
	t.Helper()
	first, last := memStorageFirstLast(t, ms)
	require.Equal(t, m.offset+1, first, desc)
	require.Equal(t, m.last, last, desc)

	for i := uint64(max(int64(m.offset)-2, 0)); i <= m.last+2; i++ {
		want, wantErr := m.term(i)
		got, err := ms.Term(i)
		require.Equal(t, wantErr, err, "%s: Term(%d)", desc, i)
		require.Equal(t, want, got, "%s: Term(%d)", desc, i)
	}

	all, err := ms.Entries(first, last+1, ^uint64(0))
	require.NoError(t, err, desc)
	require.Len(t, all, int(last+1-first), desc)
	for k, e := range all {
		require.Equal(t, first+uint64(k), e.GetIndex(), desc)
		require.Equal(t, m.terms[e.GetIndex()], e.GetTerm(), desc)
	}

	lo := uint64(max(int64(m.offset)-1+rng.Int64N(int64(m.last-m.offset)+3), 0))
	hi := lo + uint64(rng.IntN(4))
	limit := uint64(rng.IntN(20))
	ents, err := ms.Entries(lo, hi, limit)
	switch {
	case lo <= m.offset:
		require.ErrorIs(t, err, ErrCompacted, "%s: Entries(%d, %d)", desc, lo, hi)
	case hi > m.last+1:
		require.ErrorIs(t, err, ErrUnavailable, "%s: Entries(%d, %d)", desc, lo, hi)
	default:
		require.NoError(t, err, "%s: Entries(%d, %d)", desc, lo, hi)
		if lo < hi {
			require.NotEmpty(t, ents, desc)
		}
		var size uint64
		for k, e := range ents {
			require.Equal(t, lo+uint64(k), e.GetIndex(), desc)
			require.Equal(t, m.terms[e.GetIndex()], e.GetTerm(), desc)
			size += uint64(proto.Size(e))
		}
		if len(ents) > 1 {
			require.LessOrEqual(t, size, limit, desc)
		}
		if len(ents) < int(hi-lo) {
			next := &pb.Entry{Index: lo + uint64(len(ents)), Term: m.terms[lo+uint64(len(ents))]}
			require.Greater(t, size+uint64(proto.Size(next)), limit, "%s: result cut too early", desc)
		}
	}

	snap, err := ms.Snapshot()
	require.NoError(t, err, desc)
	require.Equal(t, m.snapIndex, snap.GetMetadata().GetIndex(), desc)
	require.Equal(t, m.snapTerm, snap.GetMetadata().GetTerm(), desc)
	_, cs, err := ms.InitialState()
	require.NoError(t, err, desc)
	require.Equal(t, m.snapCS, cs.GetVoters(), desc)
}
