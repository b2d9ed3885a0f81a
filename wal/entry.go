package wal

import (
	"encoding/binary"
	"math/bits"
	"slices"

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
	// The encoded sizes of their tags.
	termTag, indexTag, typTag, dataTag int
	order                              [4]int // field kinds in ascending number order
	// etcd: the numbers are etcd's (type 1, term 2, index 3, data 4), so
	// appendEntries may write the tags as constants.
	etcd bool
}) {
	fd := (&pb.Entry{}).ProtoReflect().Descriptor().Fields()
	f.term = fd.ByName("term").Number()
	f.index = fd.ByName("index").Number()
	f.typ = fd.ByName("type").Number()
	f.data = fd.ByName("data").Number()
	f.termTag, f.indexTag = protowire.SizeTag(f.term), protowire.SizeTag(f.index)
	f.typTag, f.dataTag = protowire.SizeTag(f.typ), protowire.SizeTag(f.data)
	nums := [4]protowire.Number{f.term, f.index, f.typ, f.data}
	f.order = [4]int{0, 1, 2, 3}
	for i := 1; i < 4; i++ {
		for j := i; j > 0 && nums[f.order[j]] < nums[f.order[j-1]]; j-- {
			f.order[j], f.order[j-1] = f.order[j-1], f.order[j]
		}
	}
	f.etcd = f.typ == 1 && f.term == 2 && f.index == 3 && f.data == 4
	return f
}()

// The tags of Entry's fields as etcd numbers them (see entryFields.etcd).
const (
	etcdTagType  = 1<<3 | byte(protowire.VarintType)
	etcdTagTerm  = 2<<3 | byte(protowire.VarintType)
	etcdTagIndex = 3<<3 | byte(protowire.VarintType)
	etcdTagData  = 4<<3 | byte(protowire.BytesType)
)

// putUvarint writes v at the start of b, which has room, and returns its
// length: binary.PutUvarint with the one-byte case (terms, small lengths)
// inline.
func putUvarint(b []byte, v uint64) int {
	if v < 0x80 {
		b[0] = byte(v)
		return 1
	}
	return binary.PutUvarint(b, v)
}

// maxEntryPrefix bounds what precedes an entry's payload: its term and
// length, and the tags and values of its other fields and of the payload's
// length.
const maxEntryPrefix = 2*binary.MaxVarintLen64 + 4*(1+binary.MaxVarintLen64)

// appendEntriesEtcd appends to f, for each entry, its term, the length of
// its encoding and the encoding (exactly proto.Marshal's), with the field
// tags as constants (entryFields.etcd) into room reserved once per entry: a
// Save of a thousand small entries spends most of its CPU here. Payloads of
// refMin bytes or more are referred to, not copied (see frame). It appends
// each entry's known encoded size (see knownSize) to sizes.
//
// The length goes before the encoding but is known only after it: an entry
// whose encoding cannot reach 128 bytes (smallEntry) gets one byte for it,
// filled in afterwards, so small entries are sized by writing them; larger
// ones are sized first (knownSize), which their payload's copy dwarfs. The
// commonest small entries take a shorter path still (appendPlainEntry).
// The record's running checksum is brought up to date every sumChunk bytes.
func appendEntriesEtcd(f *frame, ents []*pb.Entry, sizes []uint32) []uint32 {
	if len(ents) == 0 {
		return sizes
	}
	b := f.buf
	base := ents[0].Index
	runTerm := ents[0].Term
	f.addTerm(base, runTerm)
	for k, e := range ents {
		if e.Term != runTerm {
			// Tracked here, not by addTerm per entry: loading the last
			// run each time was a tenth of the encoding.
			runTerm = e.Term
			f.runs = append(f.runs, termRun{first: base + uint64(k), term: runTerm})
		}
		var known int
		if plainEntry(e) {
			b, known = appendPlainEntry(b, e)
		} else {
			b, known = appendEntryEtcd(f, b, e)
		}
		sizes = append(sizes, uint32(known))
		if len(b)-f.sumAt >= sumChunk {
			f.sumTo(b, len(b))
		}
	}
	f.buf = b
	return sizes
}

// appendEntryEtcd appends e as appendEntriesEtcd does to b, f's buffer,
// referring to a large payload through f, and returns b and e's known
// encoded size.
func appendEntryEtcd(f *frame, b []byte, e *pb.Entry) ([]byte, int) {
	unknown := unknownFields(e)
	copied := len(e.Data) < refMin
	need := maxEntryPrefix + len(unknown)
	if copied {
		need += len(e.Data)
	}
	if cap(b)-len(b) < need {
		b = slices.Grow(b, need)
	}
	p := b[len(b) : len(b)+need]
	k := putUvarint(p, e.Term)
	lenAt, known := k, 0
	small := len(e.Data)+len(unknown) <= smallEntry
	if small {
		k++
	} else {
		known = knownSize(e)
		k += putUvarint(p[k:], uint64(known+len(unknown)))
	}
	from := k
	if e.Type != 0 {
		p[k] = etcdTagType
		k += 1 + putUvarint(p[k+1:], uint64(int64(e.Type)))
	}
	if e.Term != 0 {
		p[k] = etcdTagTerm
		k += 1 + putUvarint(p[k+1:], e.Term)
	}
	if e.Index != 0 {
		p[k] = etcdTagIndex
		k += 1 + putUvarint(p[k+1:], e.Index)
	}
	if len(e.Data) != 0 {
		p[k] = etcdTagData
		k += 1 + putUvarint(p[k+1:], uint64(len(e.Data)))
		if copied {
			k += copy(p[k:], e.Data)
		} else {
			f.ref(len(b)+k, e.Data)
		}
	}
	if small {
		// Sized by writing (its payload was copied): the byte reserved
		// holds the length.
		known = k - from
		p[lenAt] = byte(known + len(unknown))
	}
	if len(unknown) != 0 {
		k += copy(p[k:], unknown)
	}
	return b[:len(b)+k], known
}

// plainEntry reports whether e takes appendPlainEntry's path: the usual
// small entry of a busy log (a normal entry with a term below 128, an index
// below 2^21 and at most plainData bytes of payload, no unknown fields).
func plainEntry(e *pb.Entry) bool {
	return e.Type == 0 && e.Term-1 < 127 && e.Index-1 < 1<<21-1 && len(e.Data) <= plainData && len(unknownFields(e)) == 0
}

const (
	// plainData bounds a plain entry's payload.
	plainData = 64
	// plainRoom is room for a plain entry: term, length, the term and
	// index fields (a 3-byte index at most), the payload's tag and length.
	plainRoom = 2 + 2 + 4 + 2 + plainData
)

// appendPlainEntry appends what appendEntryEtcd appends for a plain entry e
// (plainEntry) to b and returns b and e's known encoded size: the same
// bytes, with every length known to fit one byte and the payload copied
// inline, a few nanoseconds less per entry than the general path, which a
// Save of a thousand small entries adds up to microseconds.
func appendPlainEntry(b []byte, e *pb.Entry) ([]byte, int) {
	if cap(b)-len(b) < plainRoom {
		b = slices.Grow(b, plainRoom)
	}
	p := b[len(b) : len(b)+plainRoom]
	p[0] = byte(e.Term)
	p[2] = etcdTagTerm
	p[3] = byte(e.Term)
	p[4] = etcdTagIndex
	i := 6
	switch x := e.Index; {
	case x < 1<<7:
		p[5] = byte(x)
	case x < 1<<14:
		p[5], p[6] = byte(x)|0x80, byte(x>>7)
		i = 7
	default:
		p[5], p[6], p[7] = byte(x)|0x80, byte(x>>7)|0x80, byte(x>>14)
		i = 8
	}
	if d := e.Data; len(d) > 0 {
		p[i], p[i+1] = etcdTagData, byte(len(d))
		i += 2
		if n := len(d); n >= 32 {
			// Two overlapping 32-byte moves, inline: no call.
			*(*[32]byte)(p[i:]) = *(*[32]byte)(d)
			*(*[32]byte)(p[i+n-32:]) = *(*[32]byte)(d[n-32:])
		} else {
			copy(p[i:], d)
		}
		i += len(d)
	}
	p[1] = byte(i - 2)
	return b[:len(b)+i], i - 2
}

// smallEntry bounds the payload and unknown fields of an entry whose
// encoding is sure to be shorter than 128 bytes (a one-byte length): the
// tags and varints of type, term, index and the payload length take at most
// 4*(1+binary.MaxVarintLen64) = 44 bytes.
const smallEntry = 127 - 4*(1+binary.MaxVarintLen64)

// unknownFields returns e's unknown fields (those a newer version wrote).
func unknownFields(e *pb.Entry) []byte { return e.UnknownBytes() }

func varintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// entrySize is proto.Size(e).
func entrySize(e *pb.Entry) int {
	return knownSize(e) + len(unknownFields(e))
}

// knownSize is the encoded size of e's known fields: proto.Size(e) unless e
// carries unknown fields (decoded from a newer version), which are costly
// to look up. The cache counts its bytes with it.
func knownSize(e *pb.Entry) int {
	f := &entryFields
	n := 0
	if e.Term != 0 {
		n += f.termTag + varintLen(e.Term)
	}
	if e.Index != 0 {
		n += f.indexTag + varintLen(e.Index)
	}
	if e.Type != 0 {
		n += f.typTag + varintLen(uint64(int64(e.Type)))
	}
	if len(e.Data) != 0 {
		n += f.dataTag + varintLen(uint64(len(e.Data))) + len(e.Data)
	}
	return n
}

// appendSizedEntry appends the length of proto.Marshal(e) as a uvarint,
// then the encoding; it returns knownSize(e) too.
func appendSizedEntry(b []byte, e *pb.Entry) ([]byte, int) {
	unknown := unknownFields(e)
	known := knownSize(e)
	b = protowire.AppendVarint(b, uint64(known+len(unknown)))
	return append(appendKnown(b, e), unknown...), known
}

// appendEntry appends proto.Marshal(e) to b.
func appendEntry(b []byte, e *pb.Entry) []byte {
	return append(appendKnown(b, e), unknownFields(e)...)
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
