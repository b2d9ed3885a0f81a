package raft

import "errors"

// ErrProposalDropped is returned when a proposal cannot be accepted now: no
// leader is known, proposal forwarding is disabled, a leader transfer is in
// progress, the uncommitted-size limit is reached, or this node is not a
// member of the configuration. The caller may retry later.
var ErrProposalDropped = errors.New("raft: proposal dropped")

// ErrStepLocalMsg is returned by RawNode.Step for a message type that only
// the node itself may generate (MsgHup, MsgBeat, storage responses, ...).
var ErrStepLocalMsg = errors.New("raft: cannot step raft local message")

// ErrStepPeerNotFound is returned by RawNode.Step for a response message
// from a peer that is not in the configuration.
var ErrStepPeerNotFound = errors.New("raft: cannot step as peer not found")

// ErrNoLeader is returned by RawNode.ReadIndex when no leader is known, so
// the request could not be served or forwarded. Retry after an election.
var ErrNoLeader = errors.New("raft: no leader is known")

// ErrConfChangeRejected wraps the reason a proposed configuration change
// was refused by the leader (another change pending, invalid in the current
// joint state, ...). Nothing was appended to the log.
var ErrConfChangeRejected = errors.New("raft: configuration change rejected")

// ErrInvalidMessage wraps the description of a message that is inconsistent
// with the node's state (a commit index beyond the log, an append that would
// overwrite committed entries, an empty proposal, a nil entry, a storage
// response for work the node never handed out). The message was dropped.
// Its only effect may have been a move to a higher term it carried, which
// Raft makes on every message before looking at its content.
var ErrInvalidMessage = errors.New("raft: invalid message")

// ErrStorageFailed wraps the error of a Storage call that failed with
// anything but the two errors tolerated where they can happen (ErrCompacted
// from Entries and Term, ErrSnapshotTemporarilyUnavailable from Snapshot;
// see Storage), or the discovery that storage lost entries the node had
// acknowledged as durable. After it the node stops
// taking part in the cluster: it does not vote, campaign or append, and
// every call that steps the state machine returns this error.
var ErrStorageFailed = errors.New("raft: storage failed, node stopped")

// ErrTransferRejected wraps the reason a leader refused a leadership
// transfer request (the transferee is a learner).
var ErrTransferRejected = errors.New("raft: leader transfer rejected")

// ErrInvalidCall is returned when the application calls the API in a way
// its contract rules out (Advance without a Ready handed out, an unknown
// SnapshotStatus). The call changed nothing.
var ErrInvalidCall = errors.New("raft: invalid call")

// errStorageLost is why a node stops when its log lacks entries it
// acknowledged to the leader: its storage lost writes it reported durable.
// It is wrapped in ErrStorageFailed, with the indexes lost.
var errStorageLost = errors.New("raft: storage lost acknowledged entries")
