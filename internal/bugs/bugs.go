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
