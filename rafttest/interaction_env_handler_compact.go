package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleCompact makes a node snapshot its state machine and compact its
// log, as an application does to bound its storage. Example:
//
//	compact 1 index=5
//
// creates in node 1's storage a snapshot at index 5 (default: the applied
// index), with the state machine's data and configuration as of that
// index, then discards the entries up to it. The resulting log is printed.
func (env *InteractionEnv) handleCompact(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d, "index")
	id, rest := env.oneID(t, d)
	if len(rest) > 0 {
		d.Fatalf(t, "compact takes one node ID")
	}
	nd := env.Nodes[id-1]
	index := uintArg(t, d, "index", nd.sm.index)
	if err := env.Compact(id, index); err != nil {
		return err
	}
	return env.RaftLog(id)
}

// Compact creates a snapshot at index in a node's storage and compacts the
// log up to it.
func (env *InteractionEnv) Compact(id, index uint64) error {
	nd, err := env.node(id)
	if err != nil {
		return err
	}
	data, cs, err := nd.sm.snapshotAt(index)
	if err != nil {
		return err
	}
	if _, err := nd.Storage.CreateSnapshot(index, cs, data); err != nil {
		return err
	}
	return nd.Storage.Compact(index)
}
