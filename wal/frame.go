package wal

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/tickraft/raft/vfs"
)

// refMin is the smallest entry payload a frame refers to instead of copying.
// Below it, copying into the buffer costs less than another buffer for the
// write and another checksum call.
const refMin = 4096

// frame builds one record for one write: the header and the payload in a
// reused buffer, except that large entry payloads are not copied: the frame
// refers to them where they lie and the write gathers them (vfs.WriteVAt),
// so their bytes are read twice (checksum, write) instead of four times (a
// copy in, the checksum, the write). The record's bytes are buf[:cuts[0]],
// refs[0], buf[cuts[0]:cuts[1]], refs[1], ..., buf[cuts[len-1]:].
type frame struct {
	buf []byte
	// refs are the payloads referred to; refs[k] goes after buf[:cuts[k]],
	// and cuts ascend. refBytes is their total length.
	refs     [][]byte
	cuts     []int
	refBytes int
	// vec holds the buffers of the last write.
	vec [][]byte
	// runs are the term runs of the entries appended (appendEntries),
	// recorded while each entry is at hand so that the index update after
	// the sync, when the entries have left the CPU cache, need not visit
	// them again.
	runs []termRun
}

// begin starts a record with a header to be filled in by finish.
func (f *frame) begin() {
	f.buf = append(f.buf[:0], make([]byte, headerSize)...)
	f.refs, f.cuts, f.refBytes = f.refs[:0], f.cuts[:0], 0
}

// ref appends p to the record by reference, after buf[:cut] (cut is at or
// past the previous cut). p must not change until the write.
func (f *frame) ref(cut int, p []byte) {
	f.cuts = append(f.cuts, cut)
	f.refs = append(f.refs, p)
	f.refBytes += len(p)
}

// payloadLen is the length of the payload appended so far.
func (f *frame) payloadLen() int { return len(f.buf) - headerSize + f.refBytes }

// finish fills in the header (type, sequence number, length, checksum) and
// pads the record.
func (f *frame) finish(typ byte, seq uint64) {
	n := f.payloadLen()
	h := f.buf[:headerSize]
	binary.LittleEndian.PutUint32(h[4:], uint32(n))
	binary.LittleEndian.PutUint64(h[8:], seq<<8|uint64(typ))
	crc, from := uint32(0), 4
	for k, p := range f.refs {
		crc = crc32.Update(crc, castagnoli, f.buf[from:f.cuts[k]])
		crc = crc32.Update(crc, castagnoli, p)
		from = f.cuts[k]
	}
	binary.LittleEndian.PutUint32(h, crc32.Update(crc, castagnoli, f.buf[from:]))
	for pad := alignUp(headerSize+n) - headerSize - n; pad > 0; pad-- {
		f.buf = append(f.buf, 0)
	}
}

// write writes the finished record at off in file with one write.
func (f *frame) write(file vfs.File, off int64) (int, error) {
	if len(f.refs) == 0 {
		return file.WriteAt(f.buf, off)
	}
	vec, from := f.vec[:0], 0
	for k, p := range f.refs {
		vec = append(vec, f.buf[from:f.cuts[k]], p)
		from = f.cuts[k]
	}
	vec = append(vec, f.buf[from:])
	f.vec = vec
	return vfs.WriteVAt(file, vec, off)
}

// release drops the references to the caller's payloads, so that none is
// kept alive past its Save.
func (f *frame) release() {
	clear(f.refs)
	clear(f.vec)
	f.refs, f.vec = f.refs[:0], f.vec[:0]
}
