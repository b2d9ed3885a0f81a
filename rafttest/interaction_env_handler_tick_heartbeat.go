package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleTickHeartbeat ticks nodes for one heartbeat interval
// (HeartbeatTick ticks each), which makes a leader send heartbeats.
// Example:
//
//	tick-heartbeat 1
func (env *InteractionEnv) handleTickHeartbeat(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, false) {
		env.Tick(id, env.Nodes[id-1].Config.WithDefaults().HeartbeatTick)
	}
	return nil
}
