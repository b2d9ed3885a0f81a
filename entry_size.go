package raft

import (
	"math/bits"

	pb "github.com/tickraft/raft/raftpb"
)

// sizeEntry returns the protobuf-encoded size of e in bytes, exactly what
// proto.Size(e) returns, computed by hand: the log's page and message
// limits sum it over every entry they consider, and proto.Size goes through
// the reflection-driven generic sizer for each one.
//
// The encoding of Entry (raftpb/raft.proto, proto3, numbered as etcd raft
// numbers it) writes a field only when it is not its zero value; each field
// number is below 16, so its tag takes one byte:
//
//	type  = 1 (enum)    1 + varintLen(int64(type)), 10 bytes when negative
//	term  = 2 (varint)  1 + varintLen(term)
//	index = 3 (varint)  1 + varintLen(index)
//	data  = 4 (bytes)   1 + varintLen(len(data)) + len(data)
//
// plus any unknown fields kept from decoding, copied as they are.
// TestSizeEntryMatchesProtoSize checks the two agree, and
// TestSizeEntryKnowsEveryField that Entry has no field this does not size.
func sizeEntry(e *pb.Entry) int {
	if e == nil {
		return 0
	}
	n := 0
	if e.Term != 0 {
		n += 1 + varintLen(e.Term)
	}
	if e.Index != 0 {
		n += 1 + varintLen(e.Index)
	}
	if e.Type != 0 {
		// Enums are int32 values encoded as sign-extended 64-bit varints.
		n += 1 + varintLen(uint64(int64(e.Type)))
	}
	if l := len(e.Data); l != 0 {
		n += 1 + varintLen(uint64(l)) + l
	}
	return n + len(e.ProtoReflect().GetUnknown())
}

// varintLen is the number of bytes of the base-128 varint encoding of v.
func varintLen(v uint64) int {
	// (bits+6)/7 for v > 0, 1 for v == 0; 9/64 is the usual
	// multiply-shift form of division by 7 over this range.
	return int(9*uint32(bits.Len64(v))+64) / 64
}
