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
	for round := 0; round < 200; round++ {
		ents := make([]*pb.Entry, 1+rnd.IntN(40))
		for k := range ents {
			e := &pb.Entry{
				Term:  pick(0, 1, 127, 128, 1<<40, 1<<64-1),
				Index: pick(0, 1, 300, 1<<63),
				Type:  pb.EntryType(pick(0, 1, 2, 1<<32-1)), // the last is -1
				Data:  bytes.Repeat([]byte{byte(k)}, int(pick(0, 1, 127, 128, 5000))),
			}
			if rnd.IntN(4) == 0 {
				e.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), uint64(k)))
			}
			ents[k] = e
		}
		prefix := []byte("prefix")
		got, gotSize := appendEntriesEtcd(append([]byte(nil), prefix...), ents, nil)
		want, wantSize := appendEntriesGeneric(append([]byte(nil), prefix...), ents, nil)
		if !bytes.Equal(got, want) || !slices.Equal(gotSize, wantSize) {
			t.Fatalf("round %d: etcd encoder %x (size %d), generic %x (size %d)", round, got, gotSize, want, wantSize)
		}
	}
}
