package transport

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// ProtocolVersion is the wire protocol this package speaks. A node refuses a
// connection from another version.
const ProtocolVersion = 1

// magic opens every connection, so that a stray client (or another
// protocol) is recognized at once.
var magic = [4]byte{'T', 'K', 'R', 'T'}

// Connection kinds, chosen by the dialer in its hello.
const (
	kindMessages byte = 1 // a long-lived stream of message frames (and pings)
	kindSnapshot byte = 2 // one snapshot, then the receiver's ack
)

// hello is the first thing a dialer writes:
//
//	magic "TKRT" | version uint16 | kind uint8 | address length uint8 |
//	cluster uint64 | from uint64 | to uint64 | address |
//	CRC-32C of everything before it uint32
//
// all big-endian, 36 bytes plus the address. An empty address makes the
// 36-byte hello of the first version of this protocol, whose byte 7 was
// reserved as zero.
type hello struct {
	version uint16
	kind    byte
	cluster uint64
	from    uint64 // the dialer's node ID
	to      uint64 // the node ID the dialer means to reach
	// addr is where the dialer can be reached (TCPConfig.AdvertiseAddr), so
	// that a node that does not know it yet can answer; may be empty.
	addr string
}

const (
	helloFixed   = 32  // the hello up to the address
	helloSize    = 36  // a hello without an address
	maxHelloAddr = 255 // the address length must fit in one byte
)

func (h hello) marshal() []byte {
	if len(h.addr) > maxHelloAddr {
		// TCPConfig validation refuses longer addresses.
		panic("transport: hello address longer than 255 bytes")
	}
	b := make([]byte, helloSize+len(h.addr))
	copy(b, magic[:])
	binary.BigEndian.PutUint16(b[4:], h.version)
	b[6] = h.kind
	b[7] = byte(len(h.addr))
	binary.BigEndian.PutUint64(b[8:], h.cluster)
	binary.BigEndian.PutUint64(b[16:], h.from)
	binary.BigEndian.PutUint64(b[24:], h.to)
	n := helloFixed + copy(b[helloFixed:], h.addr)
	binary.BigEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	return b
}

func readHello(r io.Reader) (hello, error) {
	var b [helloSize + maxHelloAddr]byte
	if _, err := io.ReadFull(r, b[:helloSize]); err != nil {
		return hello{}, fmt.Errorf("reading hello: %w", err)
	}
	if [4]byte(b[:4]) != magic {
		return hello{}, fmt.Errorf("not a tickraft transport connection (bad magic %q)", b[:4])
	}
	n := helloFixed + int(b[7])
	if _, err := io.ReadFull(r, b[helloSize:n+4]); err != nil {
		return hello{}, fmt.Errorf("reading hello: %w", err)
	}
	if crc32.Checksum(b[:n], castagnoli) != binary.BigEndian.Uint32(b[n:]) {
		return hello{}, fmt.Errorf("hello: %w", errBadChecksum)
	}
	return hello{
		version: binary.BigEndian.Uint16(b[4:]),
		kind:    b[6],
		cluster: binary.BigEndian.Uint64(b[8:]),
		from:    binary.BigEndian.Uint64(b[16:]),
		to:      binary.BigEndian.Uint64(b[24:]),
		addr:    string(b[helloFixed:n]),
	}, nil
}

// Handshake statuses, in the acceptor's reply.
const (
	statusOK             byte = 0
	statusWrongVersion   byte = 1
	statusWrongCluster   byte = 2
	statusWrongNode      byte = 3 // the dialer meant to reach another node
	statusBadHello       byte = 4 // unknown kind, zero or own node ID as sender
	statusNotAuthorized  byte = 5 // TLS identity refused by VerifyPeer
	statusShuttingDown   byte = 6
	numHandshakeStatuses      = 7
)

var statusText = [numHandshakeStatuses]string{
	"ok", "protocol version mismatch", "cluster ID mismatch", "node ID mismatch",
	"malformed hello", "peer identity refused", "shutting down",
}

// reply is the acceptor's answer to a hello:
//
//	magic "TKRT" | version uint16 | status uint8 | reserved uint8 |
//	cluster uint64 | node uint64 | CRC-32C of the preceding 24 bytes uint32
//
// 28 bytes. It carries the acceptor's own version, cluster and node ID, so the
// dialer can check them too and log both sides of a mismatch.
type reply struct {
	version uint16
	status  byte
	cluster uint64
	node    uint64
}

const replySize = 28

func (r reply) marshal() []byte {
	b := make([]byte, replySize)
	copy(b, magic[:])
	binary.BigEndian.PutUint16(b[4:], r.version)
	b[6] = r.status
	binary.BigEndian.PutUint64(b[8:], r.cluster)
	binary.BigEndian.PutUint64(b[16:], r.node)
	binary.BigEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	return b
}

func readReply(rd io.Reader) (reply, error) {
	var b [replySize]byte
	if _, err := io.ReadFull(rd, b[:]); err != nil {
		return reply{}, fmt.Errorf("reading handshake reply: %w", err)
	}
	if [4]byte(b[:4]) != magic {
		return reply{}, fmt.Errorf("not a tickraft transport (bad magic %q)", b[:4])
	}
	if crc32.Checksum(b[:24], castagnoli) != binary.BigEndian.Uint32(b[24:]) {
		return reply{}, fmt.Errorf("handshake reply: %w", errBadChecksum)
	}
	r := reply{
		version: binary.BigEndian.Uint16(b[4:]),
		status:  b[6],
		cluster: binary.BigEndian.Uint64(b[8:]),
		node:    binary.BigEndian.Uint64(b[16:]),
	}
	if r.status >= numHandshakeStatuses {
		return reply{}, fmt.Errorf("handshake reply: unknown status %d", r.status)
	}
	return r, nil
}

// HandshakeError is a handshake refused by either side.
type HandshakeError struct {
	Reason string // what did not match
	Local  string // our side's value
	Remote string // the other side's value
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("transport handshake refused: %s (ours %s, theirs %s)", e.Reason, e.Local, e.Remote)
}

// check is the acceptor's verdict on a hello.
func (h hello) check(version uint16, cluster, self uint64) (byte, *HandshakeError) {
	switch {
	case h.version != version:
		return statusWrongVersion, &HandshakeError{statusText[statusWrongVersion], fmt.Sprint(version), fmt.Sprint(h.version)}
	case h.cluster != cluster:
		return statusWrongCluster, &HandshakeError{statusText[statusWrongCluster], fmt.Sprintf("%x", cluster), fmt.Sprintf("%x", h.cluster)}
	case h.to != self:
		return statusWrongNode, &HandshakeError{"dialer meant another node", fmt.Sprint(self), fmt.Sprint(h.to)}
	case h.kind != kindMessages && h.kind != kindSnapshot:
		return statusBadHello, &HandshakeError{"unknown connection kind", "1 or 2", fmt.Sprint(h.kind)}
	case h.from == 0 || h.from == self:
		return statusBadHello, &HandshakeError{"bad sender node ID", fmt.Sprintf("not 0 or %d", self), fmt.Sprint(h.from)}
	case h.addr != "" && !validAddr(h.addr):
		return statusBadHello, &HandshakeError{"bad sender address", "host:port", fmt.Sprintf("%q", h.addr)}
	}
	return statusOK, nil
}

// check is the dialer's verdict on a reply to a hello it sent.
func (r reply) check(h hello) *HandshakeError {
	switch {
	case r.version != h.version:
		return &HandshakeError{statusText[statusWrongVersion], fmt.Sprint(h.version), fmt.Sprint(r.version)}
	case r.status == statusOK && r.cluster != h.cluster:
		return &HandshakeError{statusText[statusWrongCluster], fmt.Sprintf("%x", h.cluster), fmt.Sprintf("%x", r.cluster)}
	case r.status == statusOK && r.node != h.to:
		return &HandshakeError{"address serves another node", fmt.Sprint(h.to), fmt.Sprint(r.node)}
	case r.status == statusWrongCluster:
		return &HandshakeError{statusText[r.status], fmt.Sprintf("%x", h.cluster), fmt.Sprintf("%x", r.cluster)}
	case r.status == statusWrongNode:
		return &HandshakeError{"address serves another node", fmt.Sprint(h.to), fmt.Sprint(r.node)}
	case r.status != statusOK:
		return &HandshakeError{statusText[r.status], "-", "-"}
	}
	return nil
}
