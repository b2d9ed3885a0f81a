package raftpb

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestUnknownBytesIsGetUnknown checks the shortcut returns what reflection
// does, for entries with and without fields from a newer version.
func TestUnknownBytesIsGetUnknown(t *testing.T) {
	known, err := proto.Marshal(&Entry{Term: 3, Index: 9, Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	extra := protowire.AppendTag(nil, 99, protowire.BytesType)
	extra = protowire.AppendBytes(extra, []byte("from the future"))
	for _, tc := range []struct {
		name string
		wire []byte
	}{{"known fields only", known}, {"with an unknown field", append(append([]byte(nil), known...), extra...)}} {
		var e Entry
		if err := proto.Unmarshal(tc.wire, &e); err != nil {
			t.Fatal(err)
		}
		if got, want := e.UnknownBytes(), e.ProtoReflect().GetUnknown(); !bytes.Equal(got, want) {
			t.Errorf("%s: UnknownBytes() = %x, GetUnknown() = %x", tc.name, got, want)
		}
	}
	var e Entry
	if err := proto.Unmarshal(append(append([]byte(nil), known...), extra...), &e); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.UnknownBytes(), extra) {
		t.Errorf("UnknownBytes() = %x, want the unknown field %x", e.UnknownBytes(), extra)
	}
	if (*Entry)(nil).UnknownBytes() != nil {
		t.Error("a nil entry has unknown fields")
	}
}
