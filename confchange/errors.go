package confchange

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (test with errors.Is) and adds the details after a colon. The only
// exceptions report a result that fails the package's own final checks,
// which would be a bug here rather than a problem with the input.
var (
	// ErrJoint is returned by Simple and EnterJoint when the configuration
	// is already joint: it must be left (LeaveJoint) first.
	ErrJoint = errors.New("already in a joint config")

	// ErrNotJoint is returned by LeaveJoint when the configuration is not
	// joint.
	ErrNotJoint = errors.New("not in a joint config")

	// ErrTooManyVoterChanges is returned by Simple when its changes would
	// add or remove more than one voter; such changes need a joint
	// configuration.
	ErrTooManyVoterChanges = errors.New("more than one voter changed without entering joint config")

	// ErrNoVoters is returned when the result would have no voters (in its
	// incoming half), and by EnterJoint when the configuration it starts
	// from has none.
	ErrNoVoters = errors.New("no voters")

	// ErrInvalidChange is returned for a change that names node 0, has a
	// change type this package does not know, or is nil.
	ErrInvalidChange = errors.New("invalid config change")

	// ErrInvalidTracker is returned when the Changer's Tracker breaks the
	// configuration invariants (see the package documentation), or when a
	// new peer is needed and Tracker.MaxInflight is not positive.
	ErrInvalidTracker = errors.New("invalid tracker")

	// ErrTrackerNotEmpty is returned by Restore when the Changer's Tracker
	// already has members.
	ErrTrackerNotEmpty = errors.New("tracker is not empty")

	// ErrInvalidConfState is returned by Restore for a ConfState that no
	// sequence of changes can produce: a zero node ID, a peer that is both a
	// voter and a learner, learners_next outside the outgoing voters,
	// auto_leave outside a joint configuration, or members without voters.
	ErrInvalidConfState = errors.New("invalid conf state")
)
