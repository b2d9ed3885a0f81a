package replica

import (
	"strconv"

	"github.com/tickraft/raft/transport"
)

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
	return append(s, transportSamples(m.Transport)...)
}

// transportSamples renders the transport's statistics as documented on
// Metrics.Transport.
func transportSamples(st transport.Stats) []Sample {
	s := []Sample{
		{Name: "tickraft_replica_transport_handshake_rejects_total", Value: float64(st.HandshakeRejects), Counter: true},
		{Name: "tickraft_replica_transport_bad_frames_total", Value: float64(st.BadFrames), Counter: true},
	}
	for id, p := range st.Peers {
		l := map[string]string{"peer": strconv.FormatUint(id, 10)}
		add := func(name string, v float64, counter bool) {
			s = append(s, Sample{Name: "tickraft_replica_transport_" + name, Labels: l, Value: v, Counter: counter})
		}
		for _, c := range []struct {
			name string
			v    uint64
		}{
			{"messages_sent_total", p.MsgsSent}, {"messages_received_total", p.MsgsReceived},
			{"frames_sent_total", p.FramesSent}, {"bytes_sent_total", p.BytesSent},
			{"bytes_received_total", p.BytesReceived}, {"dropped_total", p.Dropped},
			{"dials_total", p.Dials}, {"reconnects_total", p.Reconnects},
			{"peer_handshake_rejects_total", p.HandshakeRejects},
			{"snapshots_sent_total", p.SnapshotsSent}, {"snapshots_failed_total", p.SnapshotsFailed},
			{"snapshots_received_total", p.SnapshotsReceived}, {"snapshot_bytes_sent_total", p.SnapshotBytesSent},
		} {
			add(c.name, float64(c.v), true)
		}
		add("snapshot_send_seconds_sum", p.SnapshotSendTotal.Seconds(), true)
		connected := 0.0
		if p.Connected {
			connected = 1
		}
		add("connected", connected, false)
		add("queue_length", float64(p.QueueLen), false)
		add("rtt_seconds", p.RTT.Seconds(), false)
	}
	return s
}
