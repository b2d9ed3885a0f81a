package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleReportUnreachable tells a node that its last message to a peer
// could not be delivered, with RawNode.ReportUnreachable. Example:
//
//	report-unreachable 1 3
//
// tells node 1 (typically the leader) that node 3 is unreachable.
func (env *InteractionEnv) handleReportUnreachable(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	id, peer, rest := env.twoIDs(t, d)
	if len(rest) > 0 {
		d.Fatalf(t, "report-unreachable takes two node IDs")
	}
	return env.Nodes[id-1].ReportUnreachable(peer)
}
