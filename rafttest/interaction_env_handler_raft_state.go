package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleRaftState prints the volatile state of nodes, one line each: role,
// membership in the node's own view of the configuration, term, vote,
// leader, commit and applied indexes. Example:
//
//	raft-state
//
// prints every node; node IDs restrict it.
func (env *InteractionEnv) handleRaftState(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, true) {
		s := env.Nodes[id-1].Status()
		env.printf("%d: %s (%s)\n", id, describeBasic(s.BasicStatus), membership(s))
	}
	return nil
}
