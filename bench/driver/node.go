// Package driver runs raft clusters in one process for benchmarking, the
// same way for every raft implementation.
//
// An implementation plugs in through Impl and Node: a thin adapter that
// translates the library's Ready, messages and entries into the small
// library-neutral types below and back. Everything else (the per-node loop,
// message passing, batching, applying to the key-value state machine, log
// compaction, client waiters) is code in this package, shared by every
// implementation, so a difference in the numbers is a difference between
// the libraries.
package driver

// EntryKind tells the driver what a committed entry holds.
type EntryKind uint8

// The kinds of committed entries.
const (
	// EntryNormal carries application data (possibly empty: a new leader's
	// no-op entry).
	EntryNormal EntryKind = iota
	// EntryConfChange carries an encoded ConfChange (V1).
	EntryConfChange
	// EntryConfChangeV2 carries an encoded ConfChangeV2.
	EntryConfChangeV2
)

// Entry is a committed log entry, as the driver sees it.
type Entry struct {
	Index uint64
	Kind  EntryKind
	// Data is the entry's payload. It belongs to the library and must not
	// be modified.
	Data []byte
}

// Message is an outbound message. Raw is the library's own message value
// (a pointer); the driver only routes it, to the node named by To, and
// hands it back to that node's Step unchanged.
type Message struct {
	To uint64
	// Snap is set for snapshot messages: the sender must report the
	// outcome with Node.ReportSnapshot.
	Snap bool
	Raw  any
}

// Ready is a library's Ready translated for the driver. The adapter fills
// it in Node.Ready and reuses its slices on the next call.
type Ready struct {
	// SoftState is set when the node's leader or role changed; Lead and
	// Leader are meaningful only then.
	SoftState bool
	// Lead is the ID of the leader the node knows of (0 for none).
	Lead uint64
	// Leader says whether this node is the leader.
	Leader bool

	// Messages are to be sent once the Ready is persisted.
	Messages []Message
	// Committed are to be applied, in order, after the Ready is persisted.
	Committed []Entry
	// SnapshotIndex is the index of a snapshot received from the leader
	// that replaces the log, 0 when there is none.
	SnapshotIndex uint64
}

// Config is what the driver asks of every node. The adapters pass the same
// values to their library.
type Config struct {
	// ID is the node's ID, from 1.
	ID uint64
	// Peers are the IDs of the founding members (this node included): the
	// adapter bootstraps the node with them.
	Peers []uint64

	ElectionTick    int
	HeartbeatTick   int
	MaxSizePerMsg   uint64
	MaxInflightMsgs int
	// Seed seeds the node's election timeout randomization where the
	// library takes a seed.
	Seed uint64
}

// The raft parameters every benchmark uses, for both implementations.
const (
	ElectionTick    = 10
	HeartbeatTick   = 1
	MaxSizePerMsg   = 1 << 20
	MaxInflightMsgs = 256
)

// Impl makes nodes of one raft implementation.
type Impl interface {
	// Name is a short name for tables and benchmark names ("tickraft",
	// "etcd").
	Name() string
	// NewNode creates a bootstrapped node with its own MemoryStorage.
	NewNode(cfg Config) (Node, error)
}

// Node is one raft node, seen through the operations the driver needs. It
// wraps the library's RawNode and MemoryStorage. It is used by one
// goroutine at a time.
type Node interface {
	Tick()
	Campaign() error
	// Propose proposes data. An error means the proposal was dropped.
	Propose(data []byte) error
	// Step hands the node a message another node sent it.
	Step(m Message) error
	HasReady() bool
	// Ready takes the next Ready from the library and translates it into
	// rd. The adapter keeps the library's Ready for Persist and Advance.
	Ready(rd *Ready)
	// Persist writes the pending Ready's snapshot, entries and hard state
	// to the node's MemoryStorage.
	Persist() error
	// ApplyConfChange decodes a committed configuration change entry and
	// applies it to the node, remembering the resulting configuration for
	// snapshots.
	ApplyConfChange(e Entry) error
	// ReportSnapshot reports the outcome of sending a snapshot to a peer.
	ReportSnapshot(to uint64, ok bool)
	// Advance tells the library the pending Ready was handled.
	Advance() error
	// Snapshot records a snapshot at index (which the node has applied)
	// with the given data and the current configuration, then, if
	// compactIndex is not zero, discards the log up to compactIndex.
	Snapshot(index, compactIndex uint64, data []byte) error
	// FirstIndex is the first index still in the node's log storage.
	FirstIndex() uint64
}
