package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleTick advances the logical clock of nodes by single ticks. Example:
//
//	tick 1 2 count=3
//
// ticks node 1 three times, then node 2 three times (count defaults to 1).
// Nothing is printed: what the ticks caused shows in the next Ready.
func (env *InteractionEnv) handleTick(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d, "count")
	count := int(uintArg(t, d, "count", 1))
	for _, id := range env.nodeIDs(t, d, false) {
		env.Tick(id, count)
	}
	return nil
}

// Tick ticks a node count times.
func (env *InteractionEnv) Tick(id uint64, count int) {
	for range count {
		env.Nodes[id-1].Tick()
	}
}
