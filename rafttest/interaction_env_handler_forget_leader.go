package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleForgetLeader makes followers forget their leader, with
// RawNode.ForgetLeader, as an application does when it learns that the
// leader is gone. Example:
//
//	forget-leader 2 3
func (env *InteractionEnv) handleForgetLeader(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, false) {
		if err := env.Nodes[id-1].ForgetLeader(); err != nil {
			env.printf("%d: error: %v\n", id, err)
		}
	}
	return nil
}
