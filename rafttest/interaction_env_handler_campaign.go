package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleCampaign makes a node start an election now (a pre-election with
// PreVote), through RawNode.Campaign. Example:
//
//	campaign 1
func (env *InteractionEnv) handleCampaign(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	id, rest := env.oneID(t, d)
	if len(rest) > 0 {
		d.Fatalf(t, "campaign takes one node ID")
	}
	return env.Nodes[id-1].Campaign()
}
