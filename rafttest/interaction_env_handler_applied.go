package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleApplied prints the state machine of nodes: the index of the last
// applied entry and the data applied so far. Example:
//
//	applied 1 2
//
// prints, e.g., `1: Index:5 Data:["a" "b"]`.
func (env *InteractionEnv) handleApplied(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, true) {
		env.printf("%d: %s\n", id, env.Nodes[id-1].sm.describe())
	}
	return nil
}
