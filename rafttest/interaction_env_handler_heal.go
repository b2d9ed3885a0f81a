package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleHeal removes the partition: every node can reach every other
// again. Messages dropped while it was in place stay lost. Example:
//
//	heal
func (env *InteractionEnv) handleHeal(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	env.side = nil
	env.printf("%s\n", env.describePartition())
	return nil
}
