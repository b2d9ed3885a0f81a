package raft

import (
	"errors"
	"fmt"

	"github.com/tickraft/raft/internal/invariants"
)

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

// ErrConfChangePending is the ErrConfChangeRejected of a change proposed
// while an earlier one may not be applied yet (the node's applied index has
// not reached it). Unlike the other rejections it is transient: the same
// change proposed again once the earlier one is applied may succeed.
var ErrConfChangePending = errors.New("raft: an earlier configuration change may not be applied yet")

// pendingConfChangeError is ErrConfChangePending with the indexes; it is
// also an ErrConfChangeRejected.
type pendingConfChangeError struct{ index, applied uint64 }

func (e *pendingConfChangeError) Error() string {
	return fmt.Sprintf("%v: a configuration change at index %d may not be applied yet (applied %d)", ErrConfChangeRejected, e.index, e.applied)
}

func (e *pendingConfChangeError) Is(target error) bool {
	return target == ErrConfChangeRejected || target == ErrConfChangePending
}

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

// ErrReadIndexDropped is returned by ReadIndex on a leader that already
// holds Config.MaxPendingReadIndex reads waiting to be confirmed. Retry
// later.
var ErrReadIndexDropped = errors.New("raft: read request dropped: too many pending")

// ErrCompacted is returned by Storage.Entries and Storage.Term when the
// requested index is older than the storage's first index: the entries were
// compacted into a snapshot.
var ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")

// ErrSnapOutOfDate is returned by MemoryStorage.ApplySnapshot and
// MemoryStorage.CreateSnapshot when the snapshot is older than the one the
// storage already holds.
var ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")

// ErrUnavailable is returned by Storage.Entries and Storage.Term when the
// requested index is beyond the storage's last index. The node never asks
// for such an index, so from a Storage it stops the node like any other
// failure (see Storage).
var ErrUnavailable = errors.New("raft: requested entry at index is unavailable")

// ErrSnapshotTemporarilyUnavailable is returned by Storage.Snapshot when the
// snapshot is being built and cannot be handed out yet. The leader retries
// later instead of treating it as a failure.
var ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")

// ErrInvalidConfig wraps every error returned by Config.Validate, so callers
// can tell a configuration mistake from other failures with errors.Is.
var ErrInvalidConfig = errors.New("raft: invalid config")

// ErrAsyncAdvance is returned by Advance in AsyncStorageWrites mode, where
// progress is reported by stepping the storage responses instead.
var ErrAsyncAdvance = errors.New("raft: Advance is not used with AsyncStorageWrites")

// ErrBootstrapNotEmpty is returned by Bootstrap on a node whose storage
// already holds state.
var ErrBootstrapNotEmpty = errors.New("raft: cannot bootstrap a node with non-empty storage")

// Errors the raftLog reports for bad input from peers. They are wrapped with
// the offending values; test with errors.Is.
var (
	// errCommitBeyondLast: a commit index larger than the last index of the
	// log, which no correct leader sends.
	errCommitBeyondLast = errors.New("raft: commit index beyond the last log index")
	// errTruncateCommitted: an append whose entries conflict with a
	// committed entry, which would break the safety of the log.
	errTruncateCommitted = errors.New("raft: append conflicts with a committed entry")
	// errMalformedAppend: entries that do not directly follow the previous
	// entry with contiguous indexes and non-decreasing terms.
	errMalformedAppend = errors.New("raft: malformed append")
)

// errStopScan ends a log scan early without reporting a failure.
var errStopScan = errors.New("stop scan")

// panicInvariant reports a broken internal invariant: a state the code
// around it makes impossible, so continuing would risk silently corrupting
// the log. name identifies the invariant; the formatted details give the
// values that broke it. It is never used for bad input from the network or
// from the application's storage, which are reported as errors instead.
func panicInvariant(name, format string, args ...any) {
	invariants.Fail("raft", name, format, args...)
}
