package wal

import (
	"bytes"
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
