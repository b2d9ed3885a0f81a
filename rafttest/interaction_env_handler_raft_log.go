package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"

	pb "github.com/tickraft/raft/raftpb"
)

// handleRaftLog prints what nodes persisted: the hard state, the snapshot
// the log starts after (when there is one) and the entries. Example:
//
//	raft-log 1
//
// Entries a node has not persisted yet (not handed out in a Ready, or
// waiting for its append thread) are not shown: they are not in storage.
func (env *InteractionEnv) handleRaftLog(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, false) {
		if err := env.RaftLog(id); err != nil {
			return err
		}
	}
	return nil
}

// RaftLog prints a node's persisted state.
func (env *InteractionEnv) RaftLog(id uint64) error {
	env.printf("> %d persisted\n", id)
	return env.describeStorage(id, "  ")
}

// describeStorage prints a node's storage at the given indentation.
func (env *InteractionEnv) describeStorage(id uint64, indent string) error {
	nd, err := env.node(id)
	if err != nil {
		return err
	}
	st := nd.Storage
	hs, _, err := st.InitialState()
	if err != nil {
		return err
	}
	env.printf("%sHardState: %s\n", indent, pb.DescribeHardState(hs))
	snap, err := st.Snapshot()
	if err != nil {
		return err
	}
	if !pb.IsEmptySnap(snap) {
		env.printf("%sSnapshot: %s\n", indent, pb.DescribeSnapshot(snap))
	}
	first, err := st.FirstIndex()
	if err != nil {
		return err
	}
	last, err := st.LastIndex()
	if err != nil {
		return err
	}
	if last < first {
		env.printf("%sno entries\n", indent)
		return nil
	}
	ents, err := st.Entries(first, last+1, ^uint64(0))
	if err != nil {
		return err
	}
	env.printf("%sEntries:\n", indent)
	for _, e := range ents {
		env.printf("%s  %s\n", indent, pb.DescribeEntry(e, nil))
	}
	return nil
}
