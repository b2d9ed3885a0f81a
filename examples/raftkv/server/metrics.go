package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tickraft/raft/examples/raftkv/kv"
	"github.com/tickraft/raft/transport"
)

// metrics is the node's Prometheus registry: HTTP metrics observed as
// requests go, and a collector that reads the replica, transport and
// state machine at scrape time.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "raftkv_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.duration, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &nodeCollector{s})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// instrument counts and times a route's requests.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// nodeCollector exports the replica's, transport's and state machine's
// numbers under their documented names (tickraft_replica_*, see
// replica.Metrics), etcd's names where etcd has the same metric, and
// raftkv_sm_* for the state machine. It is unchecked (no Describe).
type nodeCollector struct{ s *Server }

func (c *nodeCollector) Describe(chan<- *prometheus.Desc) {}

// emit sends one const metric.
type emit func(name, help string, t prometheus.ValueType, v float64, labels ...string)

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	e := func(name, help string, t prometheus.ValueType, v float64, labels ...string) {
		var keys, vals []string
		for i := 0; i+1 < len(labels); i += 2 {
			keys, vals = append(keys, labels[i]), append(vals, labels[i+1])
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, keys, nil), t, v, vals...)
	}
	c.collectSM(e)
	if c.s.cp != nil {
		c.s.cp.collect(e)
	}
	r := c.s.replica()
	if r == nil {
		e("etcd_server_has_leader", "Whether a leader exists (1) or not (0).", prometheus.GaugeValue, 0)
		return
	}
	m := r.Metrics()
	G, C := prometheus.GaugeValue, prometheus.CounterValue
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	// etcd's names.
	e("etcd_server_has_leader", "Whether a leader exists (1) or not (0).", G, b(m.Leader != 0))
	e("etcd_server_is_leader", "Whether this node is the leader (1) or not (0).", G, b(m.Role == "leader"))
	e("etcd_server_leader_changes_seen_total", "Leader changes seen.", C, float64(m.LeaderChanges))
	e("etcd_server_proposals_committed_total", "The commit index.", G, float64(m.Commit))
	e("etcd_server_proposals_applied_total", "The applied index.", G, float64(m.Applied))
	e("etcd_server_proposals_failed_total", "Failed proposals.", C, float64(m.ProposalsFailed))
	e("etcd_server_proposals_pending", "Proposals waiting for their outcome.", G,
		float64(m.Proposals)-float64(m.ProposalsApplied)-float64(m.ProposalsFailed))
	ch <- prometheus.MustNewConstHistogram(prometheus.NewDesc("etcd_disk_wal_fsync_duration_seconds",
		"WAL syncs (count and sum; no buckets).", nil, nil), m.Syncs, m.SyncSeconds, nil)
	// tickraft's names.
	for _, g := range []struct {
		n string
		v float64
	}{{"term", float64(m.Term)}, {"leader", float64(m.Leader)}, {"commit_index", float64(m.Commit)},
		{"applied_index", float64(m.Applied)}, {"snapshot_index", float64(m.Snapshot)}, {"last_index", float64(m.LastIndex)},
		{"voters", float64(len(m.Voters))}, {"learners", float64(len(m.Learners))}, {"joint", b(m.Joint)}, {"failed", b(m.Err != nil)}} {
		e("tickraft_replica_"+g.n, "See replica.Metrics.", G, g.v)
	}
	for _, role := range []string{"leader", "follower", "candidate", "pre-candidate"} {
		e("tickraft_replica_role", "1 for the current role.", G, b(m.Role == role), "role", role)
	}
	for _, k := range []struct {
		n string
		v float64
	}{{"proposals_total", float64(m.Proposals)}, {"proposals_applied_total", float64(m.ProposalsApplied)},
		{"proposals_failed_total", float64(m.ProposalsFailed)}, {"proposals_forwarded_total", float64(m.ProposalsForwarded)},
		{"proposal_seconds_sum", m.ProposalSeconds}, {"reads_total", float64(m.Reads)}, {"read_rounds_total", float64(m.ReadRounds)},
		{"applied_entries_total", float64(m.AppliedEntries)}, {"apply_batches_total", float64(m.ApplyBatches)}, {"apply_seconds_sum", m.ApplySeconds},
		{"syncs_total", float64(m.Syncs)}, {"sync_seconds_sum", m.SyncSeconds},
		{"snapshots_taken_total", float64(m.SnapshotsTaken)}, {"snapshots_sent_total", float64(m.SnapshotsSent)},
		{"snapshots_received_total", float64(m.SnapshotsReceived)}, {"snapshots_installed_total", float64(m.SnapshotsInstalled)},
		{"snapshot_seconds_sum", m.SnapshotSeconds}, {"messages_sent_total", float64(m.MessagesSent)},
		{"leader_changes_total", float64(m.LeaderChanges)}, {"dropped_messages_total", float64(m.DroppedMessages)}} {
		e("tickraft_replica_"+k.n, "See replica.Metrics.", C, k.v)
	}
	for id, p := range m.Peers {
		peer := strconv.FormatUint(id, 10)
		e("tickraft_replica_peer_match_index", "The leader's match index of a peer.", G, float64(p.Match), "peer", peer)
		e("tickraft_replica_peer_lag", "Entries a peer lags behind the commit index.", G, float64(p.Lag), "peer", peer)
	}
	c.collectTransport(e, m.Transport.Peers)
	e("tickraft_transport_handshake_rejects_total", "Connections refused at the handshake.", C, float64(m.Transport.HandshakeRejects))
	e("tickraft_transport_bad_frames_total", "Connections closed on a malformed frame.", C, float64(m.Transport.BadFrames))
}

func (c *nodeCollector) collectTransport(e emit, peers map[uint64]transport.PeerStats) {
	G, C := prometheus.GaugeValue, prometheus.CounterValue
	for id, p := range peers {
		peer := strconv.FormatUint(id, 10)
		e("etcd_network_peer_sent_bytes_total", "Bytes sent to a peer.", C, float64(p.BytesSent), "To", peer)
		e("etcd_network_peer_received_bytes_total", "Bytes received from a peer.", C, float64(p.BytesReceived), "From", peer)
		e("etcd_network_peer_sent_failures_total", "Messages to a peer dropped.", C, float64(p.Dropped), "To", peer)
		e("tickraft_transport_peer_messages_sent_total", "Messages sent to a peer.", C, float64(p.MsgsSent), "peer", peer)
		e("tickraft_transport_peer_messages_received_total", "Messages received from a peer.", C, float64(p.MsgsReceived), "peer", peer)
		e("tickraft_transport_peer_queue_length", "Messages waiting to be sent.", G, float64(p.QueueLen), "peer", peer)
		e("tickraft_transport_peer_connected", "An outbound connection is up.", G, boolf(p.Connected), "peer", peer)
		e("tickraft_transport_peer_rtt_seconds", "Last measured round trip.", G, p.RTT.Seconds(), "peer", peer)
		e("tickraft_transport_peer_reconnects_total", "Reconnections.", C, float64(p.Reconnects), "peer", peer)
		e("tickraft_transport_peer_snapshots_sent_total", "Snapshots delivered.", C, float64(p.SnapshotsSent), "peer", peer)
		e("tickraft_transport_peer_snapshots_failed_total", "Snapshots that failed.", C, float64(p.SnapshotsFailed), "peer", peer)
	}
}

func boolf(x bool) float64 {
	if x {
		return 1
	}
	return 0
}

func (c *nodeCollector) collectSM(e emit) {
	st := c.s.sm.Stats()
	G, C := prometheus.GaugeValue, prometheus.CounterValue
	if st.Keys >= 0 {
		e("raftkv_sm_keys", "Keys in the state machine.", G, float64(st.Keys))
	}
	e("raftkv_sm_sessions", "Open client sessions.", G, float64(st.Sessions))
	e("raftkv_sm_applied_index", "The state machine's last applied index.", G, float64(st.Applied))
	e("raftkv_sm_commands_total", "Commands applied since start.", C, float64(st.Commands))
	e("raftkv_sm_restores_total", "Snapshots restored since start.", C, float64(st.Restores))
	if p, ok := c.s.sm.(*kv.Pebble); ok {
		e("raftkv_sm_disk_bytes", "Pebble's disk usage.", G, float64(p.DiskUsage()))
	}
}
