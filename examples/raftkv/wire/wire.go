// Package wire is raftkv's binary client protocol: a handshake, then
// length-prefixed frames carrying requests and responses tagged with a
// request ID, so that one connection carries many calls at once and their
// answers come back in any order. It only encodes and decodes; the server
// and the client own the connections.
//
// The handshake: the client sends Hello (magic and version); the server
// answers with its own Hello followed by its maximum request frame size (4
// bytes, big-endian). A server that refuses the connection (bad handshake,
// too many connections) then sends one error frame with request ID 0 and
// closes.
//
// A frame is a 4-byte big-endian length and that many bytes of body. A
// request body is the request ID (8 bytes, big-endian), the op (1 byte),
// flags (1 byte: bits 0-1 the read consistency, bit 2 "Key is a scan
// prefix"), then uvarints timeout in ms, client ID, seq, ack-below,
// version, limit, then three byte strings (uvarint length and bytes): key,
// value, end. A response body is the request ID, a status byte (0 OK, 1
// error), then for OK: uvarints version, flags (bit 0 existed, bit 1 more),
// read index, the consistency served (1 byte), a count and that many
// (key, value, uvarint version) entries; for an error: uvarint HTTP-style
// status, code, message, uvarint leader ID, leader API address, leader
// client address (byte strings) and uvarint version.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tickraft/raft/examples/raftkv/internal/decode"
)

// Magic and Version open the handshake.
const (
	Magic   = "RAFTKV"
	Version = 1
	// HelloSize is the size of Hello's output.
	HelloSize = len(Magic) + 2
	// DefaultMaxFrame bounds a response frame the client accepts.
	DefaultMaxFrame = 64 << 20
)

// Hello returns the handshake's greeting.
func Hello() []byte {
	return binary.BigEndian.AppendUint16([]byte(Magic), Version)
}

// CheckHello checks a peer's greeting.
func CheckHello(b []byte) error {
	if len(b) != HelloSize || string(b[:len(Magic)]) != Magic {
		return fmt.Errorf("%w: not a raftkv client protocol greeting (%q)", ErrMalformed, b)
	}
	if v := binary.BigEndian.Uint16(b[len(Magic):]); v != Version {
		return fmt.Errorf("%w: protocol version %d, want %d", ErrMalformed, v, Version)
	}
	return nil
}

// Op is what a request asks.
type Op uint8

// The ops. Cancel asks the server to give up on request ID (the answer to
// that request, if any, is then a timeout error or its outcome).
const (
	OpPut         Op = 1
	OpDelete      Op = 2
	OpCAS         Op = 3
	OpPutIfAbsent Op = 4
	OpGet         Op = 5
	OpScan        Op = 6
	OpRegister    Op = 7
	OpCancel      Op = 8
)

var opNames = [...]string{OpPut: "put", OpDelete: "delete", OpCAS: "cas", OpPutIfAbsent: "put-if-absent",
	OpGet: "get", OpScan: "scan", OpRegister: "register", OpCancel: "cancel"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Valid reports whether o is a known op.
func (o Op) Valid() bool { return o >= OpPut && o <= OpCancel }

// Consistency of a read, as the HTTP API's ?consistency=.
type Consistency uint8

// The consistencies.
const (
	Linearizable Consistency = 0
	Lease        Consistency = 1
	Stale        Consistency = 2
)

var consNames = [...]string{"linearizable", "lease", "stale"}

func (c Consistency) String() string {
	if int(c) < len(consNames) {
		return consNames[c]
	}
	return fmt.Sprintf("consistency(%d)", uint8(c))
}

// ParseConsistency maps a name ("" is linearizable).
func ParseConsistency(s string) (Consistency, bool) {
	if s == "" {
		return Linearizable, true
	}
	for i, n := range consNames {
		if n == s {
			return Consistency(i), true
		}
	}
	return 0, false
}

const (
	flagConsMask = 0x3
	flagPrefix   = 0x4
	flagExisted  = 0x1
	flagMore     = 0x2
)

// Request is one call. Key, Value and End alias the decoded frame.
type Request struct {
	ID          uint64
	Op          Op
	Consistency Consistency
	Prefix      bool   // scan: Key is a prefix (End must be empty)
	TimeoutMS   uint64 // 0: the server's default (5s); at most 1m
	// The exactly-once session of a write (all zero: none).
	ClientID, Seq, AckBelow uint64
	// Version is the expected version of a cas (0: absent); for a cancel,
	// the ID of the request to cancel.
	Version uint64
	Limit   uint64 // scan: at most this many keys (0: 100)
	// Key is the key (scan: the start or the prefix); End the scan's end
	// (empty: no end).
	Key, Value, End []byte
}

// KV is one key of an answer.
type KV struct {
	Key, Value []byte
	Version    uint64
}

// Response answers request ID: Err when it failed.
type Response struct {
	ID uint64
	// Version is a write's new version (or the client ID of a register).
	Version   uint64
	Existed   bool // delete: the key existed
	More      bool // scan: the limit cut it short
	ReadIndex uint64
	// Consistency is the consistency a read was served at.
	Consistency Consistency
	KVs         []KV
	Err         *Error
}

// Error is a failed call, as the HTTP API's error body.
type Error struct {
	Status       uint64 // the HTTP API's status for the same error
	Code         string
	Message      string
	LeaderID     uint64
	LeaderAPI    string
	LeaderClient string
	Version      uint64
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("wire: malformed frame")

// ErrFrameTooLarge is wrapped when a frame exceeds the reader's limit.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// AppendRequest appends req's frame (length prefix included) to b.
func AppendRequest(b []byte, req *Request) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, req.ID)
	flags := byte(req.Consistency) & flagConsMask
	if req.Prefix {
		flags |= flagPrefix
	}
	b = append(b, byte(req.Op), flags)
	for _, v := range [...]uint64{req.TimeoutMS, req.ClientID, req.Seq, req.AckBelow, req.Version, req.Limit} {
		b = binary.AppendUvarint(b, v)
	}
	b = appendBytes(b, req.Key)
	b = appendBytes(b, req.Value)
	b = appendBytes(b, req.End)
	return finish(b, start)
}

// AppendResponse appends resp's frame (length prefix included) to b.
func AppendResponse(b []byte, resp *Response) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, resp.ID)
	if e := resp.Err; e != nil {
		b = append(b, 1)
		b = binary.AppendUvarint(b, e.Status)
		b = appendString(b, e.Code)
		b = appendString(b, e.Message)
		b = binary.AppendUvarint(b, e.LeaderID)
		b = appendString(b, e.LeaderAPI)
		b = appendString(b, e.LeaderClient)
		b = binary.AppendUvarint(b, e.Version)
		return finish(b, start)
	}
	var flags byte
	if resp.Existed {
		flags |= flagExisted
	}
	if resp.More {
		flags |= flagMore
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, resp.Version)
	b = append(b, flags)
	b = binary.AppendUvarint(b, resp.ReadIndex)
	b = append(b, byte(resp.Consistency))
	b = binary.AppendUvarint(b, uint64(len(resp.KVs)))
	for _, kv := range resp.KVs {
		b = appendBytes(b, kv.Key)
		b = appendBytes(b, kv.Value)
		b = binary.AppendUvarint(b, kv.Version)
	}
	return finish(b, start)
}

func finish(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ReadFrame reads one frame's body into buf (grown as needed, never beyond
// max) and returns it. A length over max is ErrFrameTooLarge, before any
// of the body is read or allocated.
func ReadFrame(r *bufio.Reader, buf []byte, max int) ([]byte, error) {
	hdr, err := r.Peek(4)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	n := binary.BigEndian.Uint32(hdr)
	if uint64(n) > uint64(max) {
		return buf, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, n, max)
	}
	_, _ = r.Discard(4)
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	return buf, nil
}

// PeekID returns the request ID of a frame body (0 when it is too short).
func PeekID(body []byte) uint64 {
	if len(body) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(body)
}

// DecodeRequest parses a request body (without its length prefix).
func DecodeRequest(body []byte, req *Request) error {
	d := decode.New(body, ErrMalformed)
	req.ID = d.U64()
	req.Op = Op(d.Byte())
	flags := d.Byte()
	req.Consistency, req.Prefix = Consistency(flags&flagConsMask), flags&flagPrefix != 0
	req.TimeoutMS = d.Uvarint()
	req.ClientID = d.Uvarint()
	req.Seq = d.Uvarint()
	req.AckBelow = d.Uvarint()
	req.Version = d.Uvarint()
	req.Limit = d.Uvarint()
	req.Key = d.Bytes()
	req.Value = d.Bytes()
	req.End = d.Bytes()
	switch {
	case d.Err != nil:
	case len(d.B) != 0:
		d.Fail("%d trailing bytes", len(d.B))
	case flags&^(flagConsMask|flagPrefix) != 0:
		d.Fail("unknown flags %#x", flags)
	case int(req.Consistency) >= len(consNames):
		d.Fail("unknown consistency %d", req.Consistency)
	case !req.Op.Valid():
		d.Fail("unknown op %d", req.Op)
	}
	return d.Err
}

// DecodeResponse parses a response body. Keys, values and strings are
// copies: body may be reused.
func DecodeResponse(body []byte, resp *Response) error {
	d := decode.New(body, ErrMalformed)
	*resp = Response{ID: d.U64()}
	switch status := d.Byte(); {
	case d.Err != nil:
	case status == 1:
		e := &Error{Status: d.Uvarint()}
		e.Code = string(d.Bytes())
		e.Message = string(d.Bytes())
		e.LeaderID = d.Uvarint()
		e.LeaderAPI = string(d.Bytes())
		e.LeaderClient = string(d.Bytes())
		e.Version = d.Uvarint()
		resp.Err = e
	case status == 0:
		resp.Version = d.Uvarint()
		flags := d.Byte()
		resp.Existed, resp.More = flags&flagExisted != 0, flags&flagMore != 0
		resp.ReadIndex = d.Uvarint()
		resp.Consistency = Consistency(d.Byte())
		n := d.Uvarint()
		// Each entry takes at least 3 bytes: no count can make us
		// allocate more than the frame holds.
		if n > uint64(len(d.B)/3) {
			d.Fail("%d entries in %d bytes", n, len(d.B))
			break
		}
		if n > 0 {
			resp.KVs = make([]KV, 0, n)
		}
		for i := uint64(0); i < n && d.Err == nil; i++ {
			k := copyBytes(d.Bytes())
			v := copyBytes(d.Bytes())
			resp.KVs = append(resp.KVs, KV{Key: k, Value: v, Version: d.Uvarint()})
		}
		if d.Err == nil && (flags&^(flagExisted|flagMore) != 0 || int(resp.Consistency) >= len(consNames)) {
			d.Fail("bad flags %#x or consistency %d", flags, resp.Consistency)
		}
	default:
		d.Fail("unknown status %d", status)
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Fail("%d trailing bytes", len(d.B))
	}
	return d.Err
}

func copyBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
