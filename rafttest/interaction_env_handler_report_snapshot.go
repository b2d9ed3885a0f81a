package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"

	raft "github.com/tickraft/raft"
)

// handleReportSnapshot tells a leader how sending a snapshot to a peer
// ended, with RawNode.ReportSnapshot. Example:
//
//	report-snapshot 1 3 failed
//
// tells node 1 that its snapshot to node 3 could not be delivered; without
// failed, that it was.
func (env *InteractionEnv) handleReportSnapshot(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	id, peer, rest := env.twoIDs(t, d, "failed")
	if len(rest) > 0 {
		d.Fatalf(t, "report-snapshot takes two node IDs and optionally failed")
	}
	status := raft.SnapshotFinish
	if boolArg(t, d, "failed") {
		status = raft.SnapshotFailure
	}
	return env.Nodes[id-1].ReportSnapshot(peer, status)
}
