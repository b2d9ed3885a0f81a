package wal

import (
	"encoding/binary"
	"unsafe"

	"github.com/tickraft/raft/internal/crc32c"
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
	// mem is the array buf lies in, from its start; buf starts pad bytes
	// into it (see begin).
	mem []byte
	pad int
	// refs are the payloads referred to; refs[k] goes after buf[:cuts[k]],
	// and cuts ascend. refBytes is their total length.
	refs     [][]byte
	cuts     []int
	refBytes int
	// sum is the CRC-32C of the payload up to sumAt in buf, the first
	// sumRefs refs included. The checksum is taken while encoding, every
	// sumChunk bytes while they are still in the CPU's cache, not in a
	// second pass over a record that may have left it (1 MiB does), and
	// finish joins it to the header's, which is known last (crc32c.Combine).
	sum     uint32
	sumAt   int
	sumRefs int
	// vec holds the buffers of the last write.
	vec [][]byte
	// runs are the term runs of the entries appended (appendEntries),
	// recorded while each entry is at hand so that the index update after
	// the sync, when the entries have left the CPU cache, need not visit
	// them again.
	runs []termRun
}

// lineSize is the span of the address alignment begin matches.
const lineSize = 64

// begin starts a record, to be written at file offset off, with a header
// to be filled in by finish. The record starts at an address congruent to
// off modulo lineSize: the kernel copies a write into the page cache
// fastest when source and destination are equally aligned, and a 1 MiB
// record written at an 8-byte-aligned offset from a misaligned buffer cost
// 20-30 µs more in the write call (an AMD EPYC, Linux 6.x).
func (f *frame) begin(off int64) {
	if cap(f.mem) < lineSize+headerSize {
		f.mem = make([]byte, 0, 4096)
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(f.mem)))
	f.pad = int((uintptr(off) - start) % lineSize)
	f.buf = append(f.mem[f.pad:f.pad], make([]byte, headerSize)...)
	f.refs, f.cuts, f.refBytes = f.refs[:0], f.cuts[:0], 0
	f.sum, f.sumAt, f.sumRefs = 0, headerSize, 0
}

// sumChunk is how much encoded payload waits for the running checksum:
// enough for crc32c to fold it at full speed (twice hash/crc32's from
// 64 KiB), little enough to be still in the CPU's cache.
const sumChunk = 64 << 10

// sumTo extends the running checksum to end in b, which is buf as the
// encoder holds it (buf's array, possibly longer), over the refs cut
// before end too.
func (f *frame) sumTo(b []byte, end int) {
	for ; f.sumRefs < len(f.refs) && f.cuts[f.sumRefs] <= end; f.sumRefs++ {
		cut := f.cuts[f.sumRefs]
		f.sum = crc32c.Update(f.sum, b[f.sumAt:cut])
		f.sum = crc32c.Update(f.sum, f.refs[f.sumRefs])
		f.sumAt = cut
	}
	f.sum = crc32c.Update(f.sum, b[f.sumAt:end])
	f.sumAt = end
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
	f.sumTo(f.buf, len(f.buf))
	binary.LittleEndian.PutUint32(h, crc32c.Combine(crc32c.Checksum(h[4:]), f.sum, n))
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
	if cap(f.buf)+f.pad != cap(f.mem) {
		// buf grew into a new array, which starts with it: keep that.
		f.mem, f.pad = f.buf[:0], 0
	}
	clear(f.refs)
	clear(f.vec)
	f.refs, f.vec = f.refs[:0], f.vec[:0]
}
