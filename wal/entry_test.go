package wal

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/tickraft/raft/raftpb"
)

func TestEntryEncodingMatchesProto(t *testing.T) {
	withUnknown := &pb.Entry{Term: 3, Index: 9, Data: []byte("x")}
	withUnknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
	for _, e := range []*pb.Entry{
		{},
		{Term: 1, Index: 1},
		{Term: 1 << 63, Index: 1<<64 - 1, Type: pb.EntryType_EntryConfChangeV2, Data: bytes.Repeat([]byte{1}, 300)},
		{Type: -1},
		{Data: []byte{}},
		withUnknown,
	} {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEntry(nil, e); !bytes.Equal(got, want) {
			t.Errorf("%v: encoded %x, proto.Marshal %x", e, got, want)
		}
		if got := entrySize(e); got != len(want) {
			t.Errorf("%v: size %d, want %d", e, got, len(want))
		}
	}
}

// TestEntriesEtcdMatchesGeneric: the encoder with constant tags writes the
// same bytes, and counts the same size, as the one driven by the
// descriptor, for entries of every shape (unknown fields, negative types,
// large values, empty data).
func TestEntriesEtcdMatchesGeneric(t *testing.T) {
	if !entryFields.etcd {
		t.Fatal("raftpb.Entry is not numbered as etcd numbers it; appendEntriesEtcd is never used")
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(vals ...uint64) uint64 { return vals[rnd.IntN(len(vals))] }
	for round := 0; round < 1000; round++ {
		ents := make([]*pb.Entry, 1+rnd.IntN(40))
		for k := range ents {
			e := &pb.Entry{
				Term:  pick(0, 1, 127, 128, 1<<40, 1<<64-1),
				Index: pick(0, 1, 127, 128, 300, 1<<14-1, 1<<14, 1<<21-1, 1<<21, 1<<63),
				Type:  pb.EntryType(pick(0, 1, 2, 1<<32-1)), // the last is -1
				Data:  bytes.Repeat([]byte{byte(k)}, int(pick(0, 1, 31, 32, 33, 40, plainData-1, plainData, plainData+1, smallEntry-1, smallEntry, smallEntry+1, 127, 128, 5000))),
			}
			if rnd.IntN(4) == 0 {
				e.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), uint64(k)))
			}
			ents[k] = e
		}
		var etcd, generic frame
		etcd.begin(0)
		generic.begin(0)
		gotSize := appendEntriesEtcd(&etcd, ents, nil)
		wantSize := appendEntriesGeneric(&generic, ents, nil)
		got, want := etcd.bytes(), generic.bytes()
		if !bytes.Equal(got, want) || !slices.Equal(gotSize, wantSize) {
			t.Fatalf("round %d: etcd encoder %x (size %d), generic %x (size %d)", round, got, gotSize, want, wantSize)
		}
		var runs []termRun
		for k, e := range ents {
			if k == 0 || e.Term != ents[k-1].Term {
				runs = append(runs, termRun{first: ents[0].Index + uint64(k), term: e.Term})
			}
		}
		if !slices.Equal(etcd.runs, runs) || !slices.Equal(generic.runs, runs) {
			t.Fatalf("round %d: term runs %v (etcd encoder), %v (generic), want %v", round, etcd.runs, generic.runs, runs)
		}
	}
}

// bytes returns the record's bytes so far, the referred payloads in place
// (the bytes the write would write, before finish).
func (f *frame) bytes() []byte {
	var out []byte
	from := 0
	for k, p := range f.refs {
		out = append(append(out, f.buf[from:f.cuts[k]]...), p...)
		from = f.cuts[k]
	}
	return append(out, f.buf[from:]...)
}

// TestStoreHardState: storeHardState copies the fields raftpb declares (a
// field added to HardState fails here until it copies it too) and unknown
// fields, into the kept message when neither has unknown fields and into a
// new one otherwise.
func TestStoreHardState(t *testing.T) {
	fields := (&pb.HardState{}).ProtoReflect().Descriptor().Fields()
	var names []string
	for k := 0; k < fields.Len(); k++ {
		names = append(names, string(fields.Get(k).Name()))
	}
	if !slices.Equal(names, []string{"term", "vote", "commit"}) {
		t.Fatalf("HardState has fields %v; storeHardState copies term, vote and commit", names)
	}
	withUnknown := func() *pb.HardState {
		hs := &pb.HardState{Term: 1}
		hs.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
		return hs
	}
	plain := &pb.HardState{Term: 3, Vote: 2, Commit: 1 << 40}
	for _, tc := range []struct {
		old, hs *pb.HardState
		reuse   bool
	}{
		{nil, plain, false},
		{&pb.HardState{Term: 9}, plain, true},
		{&pb.HardState{Term: 9}, &pb.HardState{}, true},
		{withUnknown(), plain, false},
		{&pb.HardState{Term: 9}, withUnknown(), false},
	} {
		c := storeHardState(tc.old, tc.hs)
		if c == tc.hs || !proto.Equal(c, tc.hs) || (c == tc.old) != tc.reuse {
			t.Errorf("store of %v over %v: %v (reused: %v, want %v)", tc.hs, tc.old, c, c == tc.old, tc.reuse)
		}
	}
}
