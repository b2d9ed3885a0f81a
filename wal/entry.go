package wal

import (
	"math/bits"

	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/tickraft/raft/raftpb"
)

// Entries are encoded by hand, exactly as proto.Marshal (deterministic)
// encodes them: the generic marshaller costs several times more per entry,
// and a Save of a thousand small entries is CPU-bound. The field numbers
// come from raftpb's descriptor, so renumbering the .proto changes nothing
// here; TestEntryEncodingMatchesProto checks the bytes agree.
var entryFields = func() (f struct {
	term, index, typ, data protowire.Number
	order                  [4]int // field kinds in ascending number order
}) {
	fd := (&pb.Entry{}).ProtoReflect().Descriptor().Fields()
	f.term = fd.ByName("term").Number()
	f.index = fd.ByName("index").Number()
	f.typ = fd.ByName("type").Number()
	f.data = fd.ByName("data").Number()
	nums := [4]protowire.Number{f.term, f.index, f.typ, f.data}
	f.order = [4]int{0, 1, 2, 3}
	for i := 1; i < 4; i++ {
		for j := i; j > 0 && nums[f.order[j]] < nums[f.order[j-1]]; j-- {
			f.order[j], f.order[j-1] = f.order[j-1], f.order[j]
		}
	}
	return f
}()

func varintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// entrySize is proto.Size(e).
func entrySize(e *pb.Entry) int {
	return knownSize(e) + len(e.ProtoReflect().GetUnknown())
}

// knownSize is the encoded size of e's known fields: proto.Size(e) unless e
// carries unknown fields (decoded from a newer version), which are costly
// to look up. The cache counts its bytes with it.
func knownSize(e *pb.Entry) int {
	f := &entryFields
	n := 0
	if e.Term != 0 {
		n += protowire.SizeTag(f.term) + varintLen(e.Term)
	}
	if e.Index != 0 {
		n += protowire.SizeTag(f.index) + varintLen(e.Index)
	}
	if e.Type != 0 {
		n += protowire.SizeTag(f.typ) + varintLen(uint64(int64(e.Type)))
	}
	if len(e.Data) != 0 {
		n += protowire.SizeTag(f.data) + varintLen(uint64(len(e.Data))) + len(e.Data)
	}
	return n
}

// appendSizedEntry appends the length of proto.Marshal(e) as a uvarint,
// then the encoding; it returns knownSize(e) too.
func appendSizedEntry(b []byte, e *pb.Entry) ([]byte, int) {
	unknown := e.ProtoReflect().GetUnknown()
	known := knownSize(e)
	b = protowire.AppendVarint(b, uint64(known+len(unknown)))
	return append(appendKnown(b, e), unknown...), known
}

// appendEntry appends proto.Marshal(e) to b.
func appendEntry(b []byte, e *pb.Entry) []byte {
	return append(appendKnown(b, e), e.ProtoReflect().GetUnknown()...)
}

// appendKnown appends the encoding of e's known fields, in field number
// order as proto.Marshal writes them.
func appendKnown(b []byte, e *pb.Entry) []byte {
	f := &entryFields
	for _, k := range f.order {
		switch k {
		case 0:
			if e.Term != 0 {
				b = protowire.AppendVarint(protowire.AppendTag(b, f.term, protowire.VarintType), e.Term)
			}
		case 1:
			if e.Index != 0 {
				b = protowire.AppendVarint(protowire.AppendTag(b, f.index, protowire.VarintType), e.Index)
			}
		case 2:
			if e.Type != 0 {
				b = protowire.AppendVarint(protowire.AppendTag(b, f.typ, protowire.VarintType), uint64(int64(e.Type)))
			}
		case 3:
			if len(e.Data) != 0 {
				b = protowire.AppendBytes(protowire.AppendTag(b, f.data, protowire.BytesType), e.Data)
			}
		}
	}
	return b
}
