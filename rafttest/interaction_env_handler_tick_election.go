package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"

	raft "github.com/tickraft/raft"
)

// handleTickElection ticks nodes through one election timeout. Example:
//
//	tick-election 3
//
// A leader ticks ElectionTick times: one check-quorum round (and the
// heartbeats that fall in it). Any other node ticks until it starts an
// election or a pre-election, and at most 2*ElectionTick-1 times, the
// longest randomized election timeout; a node that cannot campaign (a
// learner, a node with committed but unapplied configuration changes) ticks
// that long and does nothing. The public API does not expose the randomized
// timeout, so the harness recognizes the campaign by the Ready it creates:
// the node must not have one pending when the command starts.
func (env *InteractionEnv) handleTickElection(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, false) {
		nd := env.Nodes[id-1]
		if nd.HasReady() {
			d.Fatalf(t, "tick-election: node %d has a pending Ready; process it first", id)
		}
		env.TickElection(id)
	}
	return nil
}

// TickElection ticks a node through one election timeout; see
// handleTickElection.
func (env *InteractionEnv) TickElection(id uint64) {
	nd := env.Nodes[id-1]
	et := nd.Config.WithDefaults().ElectionTick
	if nd.BasicStatus().RaftState == raft.StateLeader {
		env.Tick(id, et)
		return
	}
	for range 2*et - 1 {
		nd.Tick()
		if nd.HasReady() {
			return
		}
	}
}
