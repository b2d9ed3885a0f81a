package replica

import (
	"errors"
	"fmt"
)

var (
	// ErrStopped is returned by calls on a replica that stopped (Stop, or
	// a failure; Err says which).
	ErrStopped = errors.New("replica: stopped")
	// ErrProposalLost means the proposal's entry was not committed and
	// never will be: another term's entry took its place in the log (the
	// leader changed before it committed). It was not applied; retrying
	// is safe.
	ErrProposalLost = errors.New("replica: proposal lost to a leader change")
	// ErrProposalDropped means raft refused the proposal (a leader transfer
	// is in progress, the uncommitted-size limit is reached). Nothing was
	// appended; retrying later is safe.
	ErrProposalDropped = errors.New("replica: proposal dropped")
	// ErrNoLeader means no leader is known right now.
	ErrNoLeader = errors.New("replica: no leader")
	// ErrNotMember means the replica is not (or not yet) in the cluster's
	// configuration.
	ErrNotMember = errors.New("replica: not a member")
)

// NotLeaderError is returned by calls that only the leader serves when this
// replica is not the leader. LeaderID is 0 when no leader is known.
type NotLeaderError struct {
	LeaderID   uint64
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == 0 {
		return "replica: not the leader, and no leader is known"
	}
	return fmt.Sprintf("replica: not the leader; the leader is %d at %q", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNoLeader) true when no leader is known.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNoLeader && e.LeaderID == 0
}
