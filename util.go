package raft

import (
	"math"

	"github.com/tickraft/raft/internal/invariants"

	pb "github.com/tickraft/raft/raftpb"
)

// noLimit is the size limit that never cuts anything: pass it as a maxSize to
// get every entry in range.
const noLimit = math.MaxUint64

// panicInvariant reports a broken internal invariant: a state the code
// around it makes impossible, so continuing would risk silently corrupting
// the log. name identifies the invariant; the formatted details give the
// values that broke it. It is never used for bad input from the network or
// from the application's storage, which are reported as errors instead.
func panicInvariant(name, format string, args ...any) {
	invariants.Fail("raft", name, format, args...)
}

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
