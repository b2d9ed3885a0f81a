package wal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "github.com/tickraft/raft/raftpb"
)

// Payload encoding. A batch record (one Save) is
//
//	uvarint durableSeq  the sequence number of the last record known synced
//	                    when this one was written
//	item*               applied in order
//
// and a segment record is
//
//	magic [8]byte "tkrwal\x00\x01"
//	uvarint segment number (matches the file name)
//	item*               the state before the segment: tagSnapshot, tagStart, tagHardState
//
// Items start with a tag byte:
//
//	tagHardState  uvarint n, n bytes of raftpb.HardState
//	tagSnapshot   uvarint index, uvarint term, byte reset
//	              the snapshot file for (index, term) is the latest snapshot;
//	              reset=1 also empties the log, which restarts after it
//	tagCompact    uvarint index, uvarint term: entries up to index are discarded
//	tagStart      uvarint index, uvarint term: the log is empty and starts after index
//	tagEntries    uvarint first index, uvarint count, then per entry
//	              uvarint term, uvarint n, n bytes of raftpb.Entry;
//	              stored entries from the first index on are replaced
const (
	tagHardState = 1
	tagSnapshot  = 2
	tagCompact   = 3
	tagStart     = 4
	tagEntries   = 5
)

var segmentMagic = [8]byte{'t', 'k', 'r', 'w', 'a', 'l', 0, 1}

var errPayload = errors.New("malformed payload")

// marshalOpts makes the encoding of a message the same every time.
var marshalOpts = proto.MarshalOptions{Deterministic: true}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendProto(b []byte, m proto.Message) []byte {
	b = appendUvarint(b, uint64(marshalOpts.Size(m)))
	b, err := marshalOpts.MarshalAppend(b, m)
	if err != nil {
		// Only invalid UTF-8 in a string field fails, and raftpb has no
		// string fields.
		panic(fmt.Sprintf("wal: encoding %T: %v", m, err))
	}
	return b
}

// decoder reads a payload; every read checks bounds, so damaged bytes give
// errPayload, never a panic or a large allocation.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errPayload
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errPayload
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errPayload
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// batchDurableSeq returns the durable mark at the start of a batch payload.
func batchDurableSeq(payload []byte) (uint64, error) {
	d := decoder{b: payload}
	v := d.uvarint()
	return v, d.err
}

// op is one decoded item. Entries are kept encoded: terms and positions are
// all recovery needs.
type op struct {
	tag        byte
	hs         *pb.HardState
	index      uint64 // tagSnapshot, tagCompact, tagStart; first index for tagEntries
	term       uint64
	reset      bool
	terms      []uint64 // tagEntries: the term of each entry
	entryBytes [][]byte // tagEntries: each entry's encoding (decoded on demand)
}

// decodeItems decodes the items that make up the rest of a payload.
func decodeItems(d *decoder, wantEntries bool) ([]op, error) {
	var ops []op
	for len(d.b) > 0 && d.err == nil {
		o := op{tag: d.byte()}
		switch o.tag {
		case tagHardState:
			raw := d.bytes()
			if d.err == nil {
				o.hs = &pb.HardState{}
				if err := proto.Unmarshal(raw, o.hs); err != nil {
					return nil, fmt.Errorf("%w: hard state: %v", errPayload, err)
				}
			}
		case tagSnapshot:
			o.index, o.term = d.uvarint(), d.uvarint()
			switch d.byte() {
			case 0:
			case 1:
				o.reset = true
			default:
				d.err = errPayload
			}
		case tagCompact, tagStart:
			o.index, o.term = d.uvarint(), d.uvarint()
		case tagEntries:
			o.index = d.uvarint()
			count := d.uvarint()
			if d.err == nil && (count == 0 || count > uint64(len(d.b))/2 || o.index == 0 || o.index+count < o.index) {
				d.err = errPayload
			}
			for k := uint64(0); k < count && d.err == nil; k++ {
				o.terms = append(o.terms, d.uvarint())
				raw := d.bytes()
				if wantEntries {
					o.entryBytes = append(o.entryBytes, raw)
				}
			}
		default:
			return nil, fmt.Errorf("%w: unknown item tag %d", errPayload, o.tag)
		}
		if d.err != nil {
			return nil, d.err
		}
		ops = append(ops, o)
	}
	return ops, d.err
}

// decodeBatch decodes a batch record's payload.
func decodeBatch(payload []byte, wantEntries bool) (durable uint64, ops []op, err error) {
	d := decoder{b: payload}
	durable = d.uvarint()
	if d.err != nil {
		return 0, nil, d.err
	}
	ops, err = decodeItems(&d, wantEntries)
	return durable, ops, err
}

// decodeSegmentHeader decodes a segment record's payload.
func decodeSegmentHeader(payload []byte) (num uint64, ops []op, err error) {
	if len(payload) < len(segmentMagic) || [8]byte(payload[:8]) != segmentMagic {
		return 0, nil, fmt.Errorf("%w: not a tickraft wal segment of a known version", errPayload)
	}
	d := decoder{b: payload[8:]}
	num = d.uvarint()
	if d.err != nil {
		return 0, nil, d.err
	}
	ops, err = decodeItems(&d, false)
	return num, ops, err
}

// decodeEntries decodes the entries of a tagEntries item and checks that
// each matches the index and term the item gives it.
func decodeEntries(o *op) ([]*pb.Entry, error) {
	ents := make([]*pb.Entry, len(o.entryBytes))
	for k, raw := range o.entryBytes {
		e := &pb.Entry{}
		if err := proto.Unmarshal(raw, e); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", errPayload, o.index+uint64(k), err)
		}
		if e.Index != o.index+uint64(k) || e.Term != o.terms[k] {
			return nil, fmt.Errorf("%w: entry %d/%d decoded as %d/%d", errPayload,
				o.index+uint64(k), o.terms[k], e.Index, e.Term)
		}
		ents[k] = e
	}
	return ents, nil
}

// encoder builds payloads in a reused buffer.
func appendHardState(b []byte, hs *pb.HardState) []byte {
	return appendProto(append(b, tagHardState), hs)
}

func appendPosition(b []byte, tag byte, index, term uint64) []byte {
	return appendUvarint(appendUvarint(append(b, tag), index), term)
}

func appendSnapshotRef(b []byte, index, term uint64, reset bool) []byte {
	b = appendPosition(b, tagSnapshot, index, term)
	if reset {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendEntries appends a tagEntries item to f, and each entry's known
// encoded size (see knownSize) to sizes; f.runs gets the entries' term runs.
func appendEntries(f *frame, ents []*pb.Entry, sizes []uint32) []uint32 {
	f.buf = appendUvarint(appendUvarint(append(f.buf, tagEntries), ents[0].Index), uint64(len(ents)))
	f.runs = f.runs[:0]
	if entryFields.etcd {
		return appendEntriesEtcd(f, ents, sizes)
	}
	return appendEntriesGeneric(f, ents, sizes)
}

// appendEntriesGeneric is appendEntriesEtcd for any field numbering (it
// copies every payload).
func appendEntriesGeneric(f *frame, ents []*pb.Entry, sizes []uint32) []uint32 {
	for k, e := range ents {
		f.addTerm(ents[0].Index+uint64(k), e.Term)
		var n int
		f.buf, n = appendSizedEntry(appendUvarint(f.buf, e.Term), e)
		sizes = append(sizes, uint32(n))
	}
	return sizes
}

// addTerm notes that entry i, the next one appended, has term t.
func (f *frame) addTerm(i, t uint64) {
	if n := len(f.runs); n == 0 || f.runs[n-1].term != t {
		f.runs = append(f.runs, termRun{first: i, term: t})
	}
}
