package transport

import (
	"errors"
	"io"
	"time"

	"github.com/tickraft/raft/raftpb"
)

// Handler is what a Transport delivers to: the runtime, or a user's loop.
//
// A Transport calls its Handler from its own goroutines, possibly several at
// once (one per peer connection), never from inside Send, SendSnapshot,
// AddPeer or RemovePeer, so a Handler may take locks its caller holds while
// calling the Transport.
type Handler interface {
	// HandleMessage delivers one message from a peer. Messages from one peer
	// arrive in the order the peer sent them, except that heartbeats, votes
	// and their responses (the priority lane) may overtake appends queued
	// before them; raft tolerates any reordering. It must not block for long
	// (queue and return). It is never called with a message whose From is not
	// the connection's authenticated peer. The handler owns m.
	HandleMessage(m *raftpb.Message)
	// HandleSnapshot is called once a snapshot streamed from a peer was
	// received whole (checksummed). m is the MsgSnap; data reads its size
	// bytes and is valid only until HandleSnapshot returns (copy it, or, if
	// data is an *os.File, the handler may rename it). nil acknowledges
	// success to the sender; an error reports failure to the sender.
	HandleSnapshot(m *raftpb.Message, data io.Reader, size int64) error
	// ReportUnreachable says a message to id was dropped (full queue, no
	// connection). The raft loop should pass it to RawNode.ReportUnreachable.
	ReportUnreachable(id uint64)
	// ReportSnapshot says how a snapshot sent to id ended (nil: delivered and
	// acknowledged). Every SendSnapshot ends in exactly one ReportSnapshot,
	// unless the transport is closed first.
	ReportSnapshot(id uint64, err error)
}

// Transport carries raft messages between the nodes of one cluster.
type Transport interface {
	// Start begins delivering to h. It may be called once.
	Start(h Handler) error
	// Send queues each message for m.To. It never blocks: a message that
	// cannot be queued (full queue, unknown peer, no connection) is dropped,
	// counted, and reported through Handler.ReportUnreachable. The transport
	// does not modify the messages but may read them after Send returns, so
	// the caller must not modify them either (raft never does). Snapshots
	// go through SendSnapshot: a MsgSnap given to Send travels as a plain
	// message, its data inline, only if it fits one frame.
	Send(msgs []*raftpb.Message)
	// SendSnapshot streams a snapshot's data to m.To. The outcome arrives
	// through Handler.ReportSnapshot; data is closed when the stream ends.
	SendSnapshot(m *raftpb.Message, data io.ReadCloser, size int64)
	// AddPeer adds a peer or updates an existing peer's address.
	AddPeer(id uint64, addr string) error
	// RemovePeer forgets a peer and closes its connections.
	RemovePeer(id uint64)
	// Stats returns a snapshot of the per-peer counters and gauges.
	Stats() Stats
	// Close stops the transport: connections are closed, snapshots in
	// flight fail, and no Handler method is called after Close returns.
	Close() error
}

// Errors reported through Handler.ReportSnapshot and returned by methods.
var (
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("transport: closed")
	// ErrUnknownPeer: no address is known for the destination.
	ErrUnknownPeer = errors.New("transport: unknown peer")
	// ErrUnreachable: the peer could not be reached (partition, no connection).
	ErrUnreachable = errors.New("transport: peer unreachable")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("transport: already started")
	// ErrNotStarted: the transport has no handler yet.
	ErrNotStarted = errors.New("transport: not started")
)

// Stats holds a transport's counters and gauges, by peer. Counters only grow
// over the life of the transport (also across a peer's reconnections); they
// are reset only when the peer is removed.
type Stats struct {
	// Peers holds one entry per known peer, and one for each node ID that
	// connected to us without being a known peer.
	Peers map[uint64]PeerStats
	// HandshakeRejects counts connections refused because their handshake
	// was wrong (cluster ID, protocol version, node ID, or garbage), in
	// either direction.
	HandshakeRejects uint64
	// BadFrames counts connections closed because a frame was malformed
	// (bad checksum, oversized length, unknown type, undecodable message, or
	// a message whose From is not the connection's peer).
	BadFrames uint64
}

// PeerStats is one peer's counters and gauges.
type PeerStats struct {
	Addr      string // current address (empty for inbound-only peers)
	Connected bool   // an outbound message connection is established

	MsgsSent      uint64 // messages written to the peer's connection
	FramesSent    uint64 // message frames written (MsgsSent/FramesSent is the batching factor)
	BytesSent     uint64 // bytes written on the message connection (frames included)
	MsgsReceived  uint64 // messages delivered to the Handler from this peer
	BytesReceived uint64 // bytes read on message connections from this peer
	Dropped       uint64 // messages to this peer dropped (full queue, no connection, write failure)
	QueueLen      int    // messages waiting in the send queue

	Dials            uint64        // outbound connection attempts
	Reconnects       uint64        // outbound connections established after the first
	HandshakeRejects uint64        // handshakes with this peer refused, either direction
	RTT              time.Duration // last measured round-trip time (ping/pong); 0 if none yet

	SnapshotsSent       uint64        // snapshots delivered and acknowledged
	SnapshotsFailed     uint64        // snapshots to this peer that failed
	SnapshotsReceived   uint64        // snapshots received whole and handed to the Handler
	SnapshotBytesSent   uint64        // snapshot data bytes written
	SnapshotLastSend    time.Duration // duration of the last successful snapshot send
	SnapshotSendTotal   time.Duration // total duration of successful snapshot sends
	SnapshotLastReceive time.Duration // duration of the last snapshot receive
}
