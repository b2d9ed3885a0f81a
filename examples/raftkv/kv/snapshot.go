package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/tickraft/raft/examples/raftkv/internal/decode"
)

// The snapshot stream, the same for both state machines (a node may change
// state machine and restore from a peer's snapshot):
//
//	magic "rkvsnap1"
//	records: kind byte, uvarint payload length, payload
//	  key:     uvarint key length, key, uvarint version, value
//	  session: uvarint client ID, session encoding
//	  node:    uvarint node ID, API address
//	end:     kind 0, uvarint record count, crc32c (LE) of every byte before
const snapMagic = "rkvsnap1"

const (
	recEnd     = 0
	recKey     = 1
	recSession = 2
	recNode    = 3
)

// ErrBadSnapshot is wrapped by the errors of a snapshot that cannot be read.
var ErrBadSnapshot = errors.New("kv: malformed snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapWriter writes the snapshot stream.
type snapWriter struct {
	w     *bufio.Writer
	crc   hash.Hash32
	n     int64
	count uint64
	buf   []byte
}

func newSnapWriter(w io.Writer) *snapWriter {
	sw := &snapWriter{crc: crc32.New(castagnoli)}
	sw.w = bufio.NewWriterSize(io.MultiWriter(w, sw.crc), 64<<10)
	sw.write([]byte(snapMagic))
	return sw
}

func (sw *snapWriter) write(b []byte) error {
	n, err := sw.w.Write(b)
	sw.n += int64(n)
	return err
}

func (sw *snapWriter) record(kind byte, payload []byte) error {
	hdr := binary.AppendUvarint([]byte{kind}, uint64(len(payload)))
	sw.count++
	if err := sw.write(hdr); err != nil {
		return err
	}
	return sw.write(payload)
}

func (sw *snapWriter) key(k, v []byte, version uint64) error {
	b := binary.AppendUvarint(sw.buf[:0], uint64(len(k)))
	b = append(b, k...)
	b = binary.AppendUvarint(b, version)
	b = append(b, v...)
	sw.buf = b
	return sw.record(recKey, b)
}

func (sw *snapWriter) session(id uint64, s *session) error {
	sw.buf = s.encode(binary.AppendUvarint(sw.buf[:0], id))
	return sw.record(recSession, sw.buf)
}

func (sw *snapWriter) node(id uint64, addr string) error {
	sw.buf = append(binary.AppendUvarint(sw.buf[:0], id), addr...)
	return sw.record(recNode, sw.buf)
}

// finish writes the end record and flushes; it returns the bytes written.
func (sw *snapWriter) finish() (int64, error) {
	if err := sw.w.Flush(); err != nil {
		return sw.n, err
	}
	end := binary.AppendUvarint([]byte{recEnd}, sw.count)
	end = binary.LittleEndian.AppendUint32(end, sw.crc.Sum32())
	if err := sw.write(end); err != nil {
		return sw.n, err
	}
	return sw.n, sw.w.Flush()
}

// snapHandler receives a snapshot's records as they are read. Slices are
// valid only during the call.
type snapHandler struct {
	key     func(k, v []byte, version uint64) error
	session func(id uint64, s *session) error
	node    func(id uint64, addr string) error
}

// readSnapshot reads a whole stream written by snapWriter, checking its
// count and checksum; on any error the handler's effects must be dropped.
func readSnapshot(r io.Reader, h snapHandler) error {
	crc := crc32.New(castagnoli)
	br := bufio.NewReaderSize(r, 64<<10)
	tee := &crcReader{r: br, crc: crc}
	magic := make([]byte, len(snapMagic))
	if _, err := io.ReadFull(tee, magic); err != nil || string(magic) != snapMagic {
		return fmt.Errorf("%w: bad magic", ErrBadSnapshot)
	}
	var count uint64
	var buf []byte
	for {
		sum := crc.Sum32() // before the end record
		kind, err := tee.ReadByte()
		if err != nil {
			return fmt.Errorf("%w: truncated (%v)", ErrBadSnapshot, err)
		}
		n, err := binary.ReadUvarint(tee)
		if err != nil {
			return fmt.Errorf("%w: truncated (%v)", ErrBadSnapshot, err)
		}
		if kind == recEnd {
			var c [4]byte
			if _, err := io.ReadFull(br, c[:]); err != nil {
				return fmt.Errorf("%w: truncated end", ErrBadSnapshot)
			}
			if n != count || binary.LittleEndian.Uint32(c[:]) != sum {
				return fmt.Errorf("%w: checksum or record count mismatch", ErrBadSnapshot)
			}
			return nil
		}
		if n > 1<<31 {
			return fmt.Errorf("%w: record of %d bytes", ErrBadSnapshot, n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(tee, buf); err != nil {
			return fmt.Errorf("%w: truncated record", ErrBadSnapshot)
		}
		count++
		if err := dispatch(kind, buf, h); err != nil {
			return err
		}
	}
}

func dispatch(kind byte, b []byte, h snapHandler) error {
	d := decode.New(b, ErrBadSnapshot)
	switch kind {
	case recKey:
		k := d.Bytes()
		ver := d.Uvarint()
		if d.Err != nil {
			return fmt.Errorf("%w: key record", ErrBadSnapshot)
		}
		return h.key(k, d.B, ver)
	case recSession:
		id := d.Uvarint()
		if d.Err != nil {
			return fmt.Errorf("%w: session record", ErrBadSnapshot)
		}
		s, err := decodeSession(d.B)
		if err != nil {
			return fmt.Errorf("%w: session record: %v", ErrBadSnapshot, err)
		}
		return h.session(id, s)
	case recNode:
		id := d.Uvarint()
		if d.Err != nil {
			return fmt.Errorf("%w: node record", ErrBadSnapshot)
		}
		return h.node(id, string(d.B))
	}
	return fmt.Errorf("%w: unknown record kind %d", ErrBadSnapshot, kind)
}

// crcReader checksums what is read through it.
type crcReader struct {
	r   *bufio.Reader
	crc hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.crc.Write([]byte{b})
	}
	return b, err
}
