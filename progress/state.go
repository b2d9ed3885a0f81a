package progress

import "strconv"

// StateType is the flow-control state the leader keeps for one peer. The
// zero value is StateProbe, so a freshly made Progress starts out probing.
type StateType uint64

const (
	// StateProbe: the leader does not know where the peer's log ends. It
	// sends at most one append at a time and waits for the answer (or a
	// heartbeat response) before sending the next.
	StateProbe StateType = iota
	// StateReplicate: the peer's log is known to match the leader's up to
	// Match, and appends are streamed optimistically, bounded by Inflights.
	StateReplicate
	// StateSnapshot: the entries the peer needs are gone from the leader's
	// log, a snapshot is on its way, and no appends are sent until its fate
	// is known.
	StateSnapshot
)

var stateNames = [...]string{
	StateProbe:     "StateProbe",
	StateReplicate: "StateReplicate",
	StateSnapshot:  "StateSnapshot",
}

// String returns the name of the state, e.g. "StateReplicate". Values outside
// the defined range print as "StateType(n)".
func (st StateType) String() string {
	if st < StateType(len(stateNames)) {
		return stateNames[st]
	}
	return "StateType(" + strconv.FormatUint(uint64(st), 10) + ")"
}
