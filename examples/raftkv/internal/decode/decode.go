// Package decode reads the fields of raftkv's binary encodings (the raft
// commands of package kv and the client protocol's frames of package wire):
// fixed-width integers, varints and length-prefixed strings, keeping the
// first error so that a decoder reads a whole record and checks once.
package decode

import (
	"encoding/binary"
	"fmt"
)

// Reader reads fields from B until the first error, after which every read
// returns zero. Strings alias B.
type Reader struct {
	B   []byte
	Err error
	bad error // every failure wraps it
}

// New reads b; failures wrap bad (the caller's sentinel error).
func New(b []byte, bad error) *Reader { return &Reader{B: b, bad: bad} }

// Fail records a failure unless one is recorded already.
func (d *Reader) Fail(format string, args ...any) {
	if d.Err == nil {
		d.Err = fmt.Errorf("%w: %s", d.bad, fmt.Sprintf(format, args...))
	}
}

// Byte reads one byte.
func (d *Reader) Byte() byte {
	if d.Err != nil || len(d.B) < 1 {
		d.Fail("truncated")
		return 0
	}
	v := d.B[0]
	d.B = d.B[1:]
	return v
}

// U64 reads a big-endian uint64.
func (d *Reader) U64() uint64 {
	if d.Err != nil || len(d.B) < 8 {
		d.Fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.B)
	d.B = d.B[8:]
	return v
}

// Uvarint reads an unsigned varint.
func (d *Reader) Uvarint() uint64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Bytes reads a varint length and that many bytes, never more than remain.
func (d *Reader) Bytes() []byte {
	n := d.Uvarint()
	if d.Err != nil {
		return nil
	}
	if n > uint64(len(d.B)) {
		d.Fail("a %d-byte string in %d bytes", n, len(d.B))
		return nil
	}
	v := d.B[:n:n]
	d.B = d.B[n:]
	return v
}
