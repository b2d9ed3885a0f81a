package replica

import "io"

// Command is one committed command handed to the state machine.
type Command struct {
	// Index and Term locate the command's entry in the log. Index is what a
	// persistent state machine stores as its applied index.
	Index, Term uint64
	// Data is the command as passed to Propose. It is shared with the log:
	// the state machine may keep it but must not modify it.
	Data []byte
}

// StateMachine is the application's replicated state. The replica calls it
// from one goroutine (its apply goroutine), never concurrently with itself,
// except that a Snapshot's WriteTo runs on a goroutine of its own while
// later commands are applied.
type StateMachine interface {
	// Apply applies committed commands in log order and stores the result
	// of cmds[i] in results[i] (len(results) == len(cmds)); the result
	// reaches the caller of Propose on the node that proposed it. An error
	// means the state machine can no longer be trusted: the replica stops
	// and reports it (it is not a way to refuse a command; put refusals in
	// the result).
	Apply(cmds []Command, results []any) error
	// Snapshot captures the state as of the last applied command (the
	// replica files it under its own applied index, which is later when
	// entries without a command followed: a new leader's empty entry, a
	// configuration change). It must
	// be cheap (a copy-on-write view, a storage snapshot); the returned
	// Snapshot is written out on another goroutine while Apply goes on.
	Snapshot() (Snapshot, error)
	// Restore replaces the whole state with the snapshot read from r, taken
	// at log index index. After Restore the state machine's applied index
	// is index.
	Restore(r io.Reader, index uint64) error
	// AppliedIndex is the index of the last command whose effect the state
	// machine has stored durably (or the index of its last Restore); an
	// in-memory state machine returns 0. On
	// restart the replica hands it only the commands after it (restoring
	// the latest snapshot first when the snapshot is newer), so a
	// persistent state machine never applies a command twice. (Entries
	// without a command after it are handed to raft again, which is
	// harmless.)
	AppliedIndex() uint64
}

// Snapshot is a point-in-time view of a state machine.
type Snapshot interface {
	// WriteTo writes the state to w as one stream that Restore reads back.
	WriteTo(w io.Writer) (int64, error)
	// Release frees the view; it is called once, after WriteTo or instead
	// of it.
	Release()
}
