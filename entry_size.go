package raft

import (
	"math"
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

// noLimit is the size limit that never cuts anything: pass it as a maxSize to
// get every entry in range.
const noLimit = math.MaxUint64

// entrySize is the encoded size of e in bytes (proto.Size(e), computed
// without reflection by sizeEntry), the measure used for message and
// storage page limits.
func entrySize(e *pb.Entry) uint64 {
	return uint64(sizeEntry(e))
}

// entsSize is the total encoded size of ents in bytes.
func entsSize(ents []*pb.Entry) uint64 {
	var s uint64
	for _, e := range ents {
		s += entrySize(e)
	}
	return s
}

// limitSize returns the longest prefix of ents whose total encoded size is at
// most maxSize, but at least one entry when ents is not empty, so a caller
// paging through the log always makes progress. The result has no spare
// capacity: appending to it never writes into the array behind ents.
func limitSize(ents []*pb.Entry, maxSize uint64) []*pb.Entry {
	return limitEntriesSize(ents, maxSize)
}

// fitSize returns how many leading entries of ents fit in budget bytes of
// encoded size. Unlike limitSize it may return 0: it is used to extend a
// page that already holds at least one entry.
func fitSize(ents []*pb.Entry, budget uint64) int {
	var size uint64
	for n, e := range ents {
		size += entrySize(e)
		if size > budget {
			return n
		}
	}
	return len(ents)
}

// payloadSize is the size of the application data carried by e, the measure
// used for the applying budget and the leader's uncommitted-size limit.
// Unlike the encoded size it does not depend on the index and term, so an
// entry counts the same before and after the leader assigns them.
func payloadSize(e *pb.Entry) uint64 {
	return uint64(len(e.GetData()))
}

// payloadsSize is the total payload size of ents in bytes.
func payloadsSize(ents []*pb.Entry) uint64 {
	var s uint64
	for _, e := range ents {
		s += payloadSize(e)
	}
	return s
}

// applyingSize is how committed entries are measured against
// MaxCommittedSizePerReady: their payload bytes. The log cuts pages by
// encoded size, which is never smaller, so a page stays within budget.
func applyingSize(ents []*pb.Entry) uint64 { return payloadsSize(ents) }
