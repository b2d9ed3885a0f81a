// Package bugs holds deliberate faults that tests can switch on inside the
// raft core, to prove that the fault simulator (rafttest/sim) notices when
// the core breaks a Raft guarantee.
//
// The faults exist only in builds with the "raftbugs" build tag, where
// Enabled is true. In every other build Enabled is the constant false, so
// the guarded code in the core compiles away and setting a knob has no
// effect. The knobs are plain variables: a test sets one before it starts
// the runs that should catch the fault and resets it afterwards, and must
// not run other simulations concurrently meanwhile.
//
// Like the core, this package must stay deterministic: it imports nothing.
package bugs

// CommitOldTermByCounting makes a leader commit the index a quorum has
// acknowledged even when that entry is from an earlier term, breaking the
// rule of Raft §5.4.2 (Figure 8 of the paper): such an entry can still be
// overwritten by a later leader.
var CommitOldTermByCounting bool

// FollowerLocalReads makes a follower answer a ReadIndex request with its
// own commit index instead of asking the leader, which can return stale
// reads.
var FollowerLocalReads bool

// AppendIgnoresPrevTerm makes a follower accept an append whose previous
// entry it has at a different term: it checks that it has an entry at the
// previous index, not that the terms match (Raft §5.3), so logs that
// share an entry can differ before it.
var AppendIgnoresPrevTerm bool

// TruncateOnStaleAppend makes a follower cut its log after the last entry
// of an append it already holds in full (a delayed or duplicated one), as
// a naive reading of "delete the existing entries that follow" would: it
// loses entries it acknowledged, which the leader may have counted for a
// commit.
var TruncateOnStaleAppend bool

// SelfAckBeforePersist makes a leader count its own new entries for
// commitment as soon as it appends them, before they are durable: a commit
// can then rest on a disk that does not hold the entry.
var SelfAckBeforePersist bool

// RemovedNodeCampaigns makes a node that applied its own removal still
// believe it may lead: it campaigns at every election timeout, disturbing
// the cluster it left.
var RemovedNodeCampaigns bool

// VoteTwice makes a node grant its vote to any up-to-date candidate of its
// current term, even after voting for another one: two candidates can win
// the same term.
var VoteTwice bool
