// Package transport carries raft messages and snapshots between the nodes of
// a cluster. It knows raftpb and nothing above it: a RawNode's loop (or the
// runtime) hands it the messages of each Ready and receives through a
// Handler what peers sent.
//
// Two implementations share the Transport interface: TCP, for real clusters
// (optionally with mutual TLS), and MemNetwork, in-process endpoints with
// seeded fault injection (drop, delay, duplicate, reorder, one-way and
// two-way partitions, slow links) for tests.
//
// # Connections
//
// A TCP transport dials one long-lived connection to each peer it sends to
// and accepts the connections of the peers that send to it, so two nodes
// talking both ways use two connections, one per direction. Each snapshot
// travels on a connection of its own, so heartbeats and votes never wait
// behind one.
//
// Messages to a peer wait in a bounded queue (TCPConfig.QueueSize) with a
// priority lane: heartbeats, votes, pre-votes, their responses, read-index
// and timeout-now messages are written before any queued append. A single
// writer per peer drains the queue into one frame per write, bounded by
// MaxBatchMsgs and MaxBatchBytes, and has one frame in flight at a time:
// while a write is in progress raft's messages accumulate and go out together
// in the next frame, rather than queuing many small writes in the kernel.
//
// # Wire format
//
// Every connection starts with the handshake below, then carries frames. A
// frame is a 9-byte header and a payload:
//
//	length uint32   payload bytes, at most TCPConfig.MaxFrameSize
//	type   uint8
//	crc    uint32   CRC-32C (Castagnoli) of the type byte and the payload
//	payload
//
// All integers are big-endian. Frame types:
//
//	1 messages    a batch: for each message a uint32 length, then the
//	              protobuf-encoded raftpb.Message
//	2 ping        8 opaque bytes (the sender's clock), echoed in a pong
//	3 pong        the ping's 8 bytes
//	4 snap-begin  uint64 data size, then the protobuf-encoded MsgSnap
//	5 snap-chunk  the next bytes of the snapshot data (TCPConfig.SnapshotChunkSize)
//	6 snap-end    uint32 CRC-32C of the chunk frames' crc fields, in order
//	7 snap-ack    empty: the receiver's Handler accepted the snapshot; else
//	              the error text
//
// A message connection carries messages and pings from the dialer, pongs from
// the acceptor. A snapshot connection carries snap-begin, the chunks and
// snap-end from the dialer, then one snap-ack from the acceptor, and closes.
//
// # Handshake
//
// The dialer writes a hello of 36 bytes plus its address:
//
//	magic "TKRT" | version uint16 | kind uint8 (1 messages, 2 snapshot) |
//	address length uint8 | cluster ID uint64 | from (dialer's node ID) uint64 |
//	to (the node ID the dialer means to reach) uint64 |
//	address (TCPConfig.AdvertiseAddr, host:port, may be empty) |
//	CRC-32C of the above uint32
//
// The address lets a node answer a peer it does not know yet: a member that
// has not applied the change that added the new leader, or a node that
// joined before learning the others' addresses. The acceptor adds such a
// peer at the address its hello gives; a peer it already knows keeps the
// address AddPeer gave it. A hello without an address is the protocol's
// original 36-byte hello, whose byte 7 was a reserved zero.
//
// and the acceptor answers with 28 bytes:
//
//	magic "TKRT" | version uint16 | status uint8 | 0 |
//	cluster ID uint64 | node ID uint64 | CRC-32C of the above uint32
//
// The acceptor refuses (a non-zero status, then closes) a hello with another
// protocol version, another cluster ID, a `to` that is not its own ID (the
// address now serves another node), an unknown kind, a `from` that is zero
// or its own, or an address that is not host:port; the dialer refuses a reply whose version, cluster ID or node ID
// is not what it asked for. Either side logs the refusal as an error naming
// both values and counts it (Stats.HandshakeRejects, per peer and in total).
// With TLS the handshake runs inside the TLS session, and
// TCPConfig.VerifyPeer can bind node IDs to certificates. Every message then
// received on the connection must have From equal to the handshake's sender
// and To equal to the acceptor; anything else closes the connection.
//
// # Failure semantics
//
// Send never blocks. A message is dropped, counted (PeerStats.Dropped) and
// reported through Handler.ReportUnreachable when its peer is unknown, its
// queue is full, the peer cannot be reached (after a failed dial, until the
// next attempt), the connection it was queued for broke (what was queued is
// stale by the time a new connection is up), or it is larger than
// MaxFrameSize. Reports for one peer coalesce while undelivered. Raft
// retransmits what matters; ReportUnreachable lets the leader probe the
// follower again instead of streaming appends into the void.
//
// Connections are redialed with exponential backoff (BackoffMin doubling to
// BackoffMax, jittered over the upper half). Pings every PingInterval measure
// the round-trip time (PeerStats.RTT); a connection on which nothing arrives
// for DeadTimeout is closed, which catches half-open connections.
//
// Bad input from a peer (bad checksum, a length beyond the limit, an
// unexpected frame type, an undecodable payload, a message whose From or To
// does not match the handshake, a snapshot longer or shorter than declared)
// closes that connection, is logged as an error and counted
// (Stats.BadFrames). The reader never allocates a frame's claimed length up
// front: its buffer grows only as the bytes arrive.
//
// A snapshot stream has a deadline of SnapshotTimeout plus its size at
// SnapshotMinRate, on both sides and for the data source too: a receiver that
// dies or stalls, a sender that vanishes, or a source that stops yielding
// bytes ends the stream, and the sender reports the failure through
// Handler.ReportSnapshot, so the leader never stays paused on a follower. The
// receiver writes the data to a temporary file in TCPConfig.SnapshotDir,
// checks its size and checksums, hands the file to Handler.HandleSnapshot,
// removes it (unless the handler renamed it) and only then acknowledges. It
// does not fsync the file: a handler that keeps it syncs it. The handler's
// error, if any, is the sender's ReportSnapshot error.
//
// Close stops everything: queued messages are dropped, snapshots in flight
// end without a report, and no Handler method is called after it returns.
package transport
