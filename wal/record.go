package wal

import (
	"encoding/binary"
	"fmt"

	"github.com/tickraft/raft/internal/crc32c"
)

// Record framing. Every record starts at a multiple of recordAlign within its
// segment:
//
//	0  crc32c   uint32 LE  Castagnoli CRC of bytes 4 .. 16+length
//	4  length   uint32 LE  payload length
//	8  type     uint8      recSegment or recBatch
//	9  seq      uint56 LE  record sequence number, +1 per record across segments
//	16 payload  length bytes
//	   padding  zeros up to the next multiple of recordAlign (not checksummed)
//
// A header of sixteen zero bytes marks the end of the written part of a
// segment: segments are filled with zeros before use, a real record never
// has length 0 (every payload holds at least one byte), and its CRC covers
// the length, the type and the sequence number.
const (
	headerSize  = 16
	recordAlign = 8

	recSegment = 1 // a segment's first record: format magic and a checkpoint of the state before it
	recBatch   = 2 // one Save

	// maxPayload bounds a record's payload: a length field beyond it, or
	// beyond the segment, is damage, never a reason to allocate.
	maxPayload = 1 << 30
	maxSeq     = 1<<56 - 1
)

// castagnoli is the CRC-32C table, for tests that check against hash/crc32.
var castagnoli = crc32c.Table

// alignUp rounds n up to a multiple of recordAlign.
func alignUp(n int) int { return (n + recordAlign - 1) &^ (recordAlign - 1) }

// beginRecord reserves a header at the end of buf and returns buf and the
// record's start; the caller appends the payload and calls finishRecord.
func beginRecord(buf []byte) ([]byte, int) {
	start := len(buf)
	return append(buf, make([]byte, headerSize)...), start
}

// finishRecord fills in the header of the record that starts at start and
// pads it.
func finishRecord(buf []byte, start int, typ byte, seq uint64) []byte {
	h := buf[start : start+headerSize]
	binary.LittleEndian.PutUint32(h[4:], uint32(len(buf)-start-headerSize))
	binary.LittleEndian.PutUint64(h[8:], seq<<8|uint64(typ))
	binary.LittleEndian.PutUint32(h[0:], crc32c.Checksum(buf[start+4:]))
	for pad := alignUp(len(buf)-start) - (len(buf) - start); pad > 0; pad-- {
		buf = append(buf, 0)
	}
	return buf
}

// record is a record read back: where it starts, its total size with padding,
// its type, sequence number and payload (a slice of the segment's bytes).
type record struct {
	off     int64
	size    int
	typ     byte
	seq     uint64
	payload []byte
}

// parseRecord reads the record at data[off:]. It returns ok=false, with the
// reason, when there is no valid record there; zero reports that the header
// is all zeros (nothing was written there).
func parseRecord(data []byte, off int) (r record, zero bool, reason string) {
	if off+headerSize > len(data) {
		if allZero(data[off:]) {
			return r, true, ""
		}
		return r, false, "incomplete record header"
	}
	h := data[off : off+headerSize]
	if allZero(h) {
		return r, true, ""
	}
	length := int(binary.LittleEndian.Uint32(h[4:]))
	tw := binary.LittleEndian.Uint64(h[8:])
	typ, seq := byte(tw), tw>>8
	switch {
	case length == 0 || length > maxPayload:
		return r, false, fmt.Sprintf("invalid record length %d", length)
	case off+headerSize+length > len(data):
		return r, false, fmt.Sprintf("record length %d runs past the end of the segment", length)
	case typ != recSegment && typ != recBatch:
		return r, false, fmt.Sprintf("unknown record type %d", typ)
	}
	end := off + headerSize + length
	if crc32c.Checksum(data[off+4:end]) != binary.LittleEndian.Uint32(h) {
		return r, false, "checksum mismatch"
	}
	return record{
		off:     int64(off),
		size:    min(alignUp(headerSize+length), len(data)-off),
		typ:     typ,
		seq:     seq,
		payload: data[off+headerSize : end],
	}, false, ""
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// segmentScan is what scanSegment found in one segment.
type segmentScan struct {
	records []record
	// end is the offset just past the last good record.
	end int64
	// bad describes the first damage found (nil: none): the position and
	// reason, and whether what follows proves it is not a torn tail.
	bad *damage
	// dirty reports non-zero bytes after end.
	dirty bool
}

// damage is a place where no valid record could be read.
type damage struct {
	off    int64
	reason string
	// proven reports that a valid record after off shows the damaged
	// bytes had been made durable before it was written: corruption, not
	// a crash in the middle of a write.
	proven bool
	// proof is the offset of that record.
	proof int64
}

// scanSegment reads the records of one segment's bytes. prevSeq is the
// sequence number of the record before the segment (the first record must
// follow it, unless anySeq: the oldest segment kept). A sequence number out
// of order is damage too.
func scanSegment(data []byte, prevSeq uint64, anySeq bool) segmentScan {
	var s segmentScan
	off := 0
	seq := prevSeq
	for off < len(data) {
		r, zero, reason := parseRecord(data, off)
		if zero {
			break
		}
		if reason == "" && anySeq && off == 0 {
			seq = r.seq - 1
		}
		if reason == "" && r.seq != seq+1 {
			reason = fmt.Sprintf("record sequence number %d where %d was expected", r.seq, seq+1)
		}
		if reason == "" && (r.typ == recSegment) != (off == 0) {
			reason = fmt.Sprintf("record type %d at offset %d", r.typ, off)
		}
		if reason != "" {
			s.bad = &damage{off: int64(off), reason: reason}
			break
		}
		s.records = append(s.records, r)
		seq = r.seq
		off += r.size
	}
	s.end = int64(off)
	if off < len(data) && !allZero(data[off:]) {
		s.dirty = true
		if s.bad == nil {
			s.bad = &damage{off: int64(off), reason: "data after the end of the log"}
		}
		s.bad.proof, s.bad.proven = findProof(data, off, seq)
	}
	return s
}

// findProof looks after off for a valid batch record written after the
// record that follows lastSeq, whose durable mark shows that record was
// already synced when it was written. Such a record proves the damage at off
// is not the torn tail of a crash: a crash loses only what was never synced.
// Candidates are the aligned offsets whose header carries a sequence number
// in the range the rest of the segment could hold, so random bytes rarely
// cost a checksum.
func findProof(data []byte, off int, lastSeq uint64) (int64, bool) {
	window := uint64(len(data)-off)/headerSize + 1
	for p := alignUp(off + 1); p+headerSize <= len(data); p += recordAlign {
		tw := binary.LittleEndian.Uint64(data[p+8:])
		seq := tw >> 8
		if byte(tw) != recBatch || seq <= lastSeq+1 || seq > lastSeq+1+window {
			continue
		}
		r, _, reason := parseRecord(data, p)
		if reason != "" {
			continue
		}
		if durable, err := batchDurableSeq(r.payload); err == nil && durable > lastSeq {
			return int64(p), true
		}
	}
	return 0, false
}
