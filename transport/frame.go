package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// Frame types. A frame is a 9-byte header, then the payload:
//
//	length  uint32, big-endian: payload bytes (at most the configured maximum)
//	type    uint8: one of the frame types below
//	crc     uint32, big-endian: CRC-32C (Castagnoli) of the type byte and the payload
const (
	frameMsgs      byte = 1 // payload: messages, each a uint32 length then the marshaled raftpb.Message
	framePing      byte = 2 // payload: 8 bytes the receiver echoes in a pong
	framePong      byte = 3 // payload: the ping's 8 bytes
	frameSnapBegin byte = 4 // payload: uint64 data size, then the marshaled MsgSnap
	frameSnapChunk byte = 5 // payload: the next bytes of the snapshot data
	frameSnapEnd   byte = 6 // payload: uint32 CRC-32C of the chunk frames' checksums, in order
	frameSnapAck   byte = 7 // payload: empty on success, else the receiver's error text
)

const frameHeaderSize = 9

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors that close a connection: bad input from the peer.
var (
	errBadChecksum = errors.New("frame checksum mismatch")
	errFrameSize   = errors.New("frame length exceeds the limit")
	errFrameType   = errors.New("unexpected frame type")
	errBadPayload  = errors.New("malformed frame payload")
)

// appendFrameHeader reserves a frame header at the end of buf; endFrame fills
// it in once the payload follows it.
func appendFrameHeader(buf []byte) []byte {
	return append(buf, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

// endFrame completes the frame whose header starts at buf[start:].
func endFrame(buf []byte, start int, typ byte) {
	h := buf[start : start+frameHeaderSize]
	payload := buf[start+frameHeaderSize:]
	binary.BigEndian.PutUint32(h[0:4], uint32(len(payload)))
	h[4] = typ
	crc := crc32.Update(0, castagnoli, h[4:5])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.BigEndian.PutUint32(h[5:9], crc)
}

// appendFrame appends one whole frame.
func appendFrame(buf []byte, typ byte, payload []byte) []byte {
	start := len(buf)
	buf = appendFrameHeader(buf)
	buf = append(buf, payload...)
	endFrame(buf, start, typ)
	return buf
}

// appendMessage appends m to a frameMsgs payload: its length, then its bytes.
// It allocates nothing when buf has room.
func appendMessage(buf []byte, m *raftpb.Message) ([]byte, error) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return buf[:start], err
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
	return buf, nil
}

// frameReader reads frames from a connection. It reuses one buffer for
// payloads and never allocates more than the bytes that actually arrived
// (plus slack), whatever length a header claims.
type frameReader struct {
	r       io.Reader
	max     int // largest payload accepted
	hdr     [frameHeaderSize]byte
	buf     []byte // payload buffer, reused
	allowed uint16 // bit t set: frame type t is accepted on this connection
	n       uint64 // bytes read so far
}

func allow(types ...byte) uint16 {
	var a uint16
	for _, t := range types {
		a |= 1 << t
	}
	return a
}

// next reads one frame. The payload is valid until the next call.
func (fr *frameReader) next() (typ byte, payload []byte, err error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, nil, err
	}
	fr.n += frameHeaderSize
	n := binary.BigEndian.Uint32(fr.hdr[0:4])
	typ = fr.hdr[4]
	if typ >= 16 || fr.allowed&(1<<typ) == 0 {
		return 0, nil, fmt.Errorf("%w %d", errFrameType, typ)
	}
	if uint64(n) > uint64(fr.max) {
		return 0, nil, fmt.Errorf("%w: %d > %d bytes", errFrameSize, n, fr.max)
	}
	if err := fr.readPayload(int(n)); err != nil {
		return 0, nil, err
	}
	fr.n += uint64(n)
	crc := crc32.Update(0, castagnoli, fr.hdr[4:5])
	crc = crc32.Update(crc, castagnoli, fr.buf)
	if crc != binary.BigEndian.Uint32(fr.hdr[5:9]) {
		return 0, nil, errBadChecksum
	}
	return typ, fr.buf, nil
}

// readPayload reads n bytes into fr.buf, growing it only as bytes arrive: a
// header claiming a huge length costs memory only if the bytes follow.
func (fr *frameReader) readPayload(n int) error {
	const step = 64 << 10
	if n <= cap(fr.buf) {
		fr.buf = fr.buf[:n]
		_, err := io.ReadFull(fr.r, fr.buf)
		return noEOF(err)
	}
	fr.buf = fr.buf[:0]
	for len(fr.buf) < n {
		want := min(n, max(2*len(fr.buf), step))
		if want > cap(fr.buf) {
			grown := make([]byte, len(fr.buf), want)
			copy(grown, fr.buf)
			fr.buf = grown
		}
		got, err := io.ReadFull(fr.r, fr.buf[len(fr.buf):want])
		fr.buf = fr.buf[:len(fr.buf)+got]
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

// noEOF turns a clean EOF inside a frame into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// forEachMessage decodes a frameMsgs payload, calling f with each message
// (a new one, owned by f).
func forEachMessage(payload []byte, f func(*raftpb.Message) error) error {
	for len(payload) > 0 {
		if len(payload) < 4 {
			return fmt.Errorf("%w: truncated message length", errBadPayload)
		}
		n := binary.BigEndian.Uint32(payload)
		payload = payload[4:]
		if uint64(n) > uint64(len(payload)) {
			return fmt.Errorf("%w: message of %d bytes in %d", errBadPayload, n, len(payload))
		}
		m := new(raftpb.Message)
		if err := proto.Unmarshal(payload[:n], m); err != nil {
			return fmt.Errorf("%w: %v", errBadPayload, err)
		}
		payload = payload[n:]
		if err := f(m); err != nil {
			return err
		}
	}
	return nil
}
