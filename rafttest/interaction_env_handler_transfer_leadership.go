package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleTransferLeadership asks a node to hand leadership to another, with
// RawNode.TransferLeader. Example:
//
//	transfer-leadership from=1 to=3
//
// from is normally the leader; a follower forwards the request to the
// leader it knows. A refusal prints its error.
func (env *InteractionEnv) handleTransferLeadership(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d, "from", "to")
	var from, to uint64
	d.ScanArgs(t, "from", &from)
	d.ScanArgs(t, "to", &to)
	nd, err := env.node(from)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return nd.TransferLeader(to)
}
