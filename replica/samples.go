package replica

import "strconv"

// Sample is one metric value as an exporter publishes it: a stable name,
// its labels, and whether it is a counter (only grows) or a gauge.
type Sample struct {
	Name    string
	Labels  map[string]string
	Value   float64
	Counter bool
}

// Samples renders the metrics as samples named as documented on Metrics,
// one for one, so a Prometheus exporter only copies them (with the
// replica's ID as a label of its own choosing).
func (m Metrics) Samples() []Sample {
	var s []Sample
	g := func(name string, v float64) { s = append(s, Sample{Name: "tickraft_replica_" + name, Value: v}) }
	c := func(name string, v float64) {
		s = append(s, Sample{Name: "tickraft_replica_" + name, Value: v, Counter: true})
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	g("term", float64(m.Term))
	g("leader", float64(m.Leader))
	g("lead_transferee", float64(m.LeadTransferee))
	for _, role := range []string{"leader", "follower", "candidate", "pre-candidate"} {
		s = append(s, Sample{Name: "tickraft_replica_role", Labels: map[string]string{"role": role}, Value: b(m.Role == role)})
	}
	g("commit_index", float64(m.Commit))
	g("applied_index", float64(m.Applied))
	g("snapshot_index", float64(m.Snapshot))
	g("last_index", float64(m.LastIndex))
	g("voters", float64(len(m.Voters)))
	g("learners", float64(len(m.Learners)))
	g("joint", b(m.Joint))
	for id, p := range m.Peers {
		l := map[string]string{"peer": strconv.FormatUint(id, 10)}
		s = append(s, Sample{Name: "tickraft_replica_peer_match_index", Labels: l, Value: float64(p.Match)},
			Sample{Name: "tickraft_replica_peer_lag", Labels: l, Value: float64(p.Lag)})
	}
	c("proposals_total", float64(m.Proposals))
	c("proposals_applied_total", float64(m.ProposalsApplied))
	c("proposals_failed_total", float64(m.ProposalsFailed))
	c("proposals_forwarded_total", float64(m.ProposalsForwarded))
	c("proposal_seconds_sum", m.ProposalSeconds)
	c("proposals_timed_total", float64(m.ProposalsTimed))
	c("reads_total", float64(m.Reads))
	c("read_rounds_total", float64(m.ReadRounds))
	c("applied_entries_total", float64(m.AppliedEntries))
	c("apply_batches_total", float64(m.ApplyBatches))
	c("apply_seconds_sum", m.ApplySeconds)
	c("syncs_total", float64(m.Syncs))
	c("sync_seconds_sum", m.SyncSeconds)
	c("snapshots_taken_total", float64(m.SnapshotsTaken))
	c("snapshots_sent_total", float64(m.SnapshotsSent))
	c("snapshots_received_total", float64(m.SnapshotsReceived))
	c("snapshots_installed_total", float64(m.SnapshotsInstalled))
	c("snapshot_seconds_sum", m.SnapshotSeconds)
	c("messages_sent_total", float64(m.MessagesSent))
	c("leader_changes_total", float64(m.LeaderChanges))
	c("dropped_messages_total", float64(m.DroppedMessages))
	g("failed", b(m.Err != nil))
	return s
}
