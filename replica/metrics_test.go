package replica

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickraft/raft/transport"
)

// Every metric name the Metrics comments promise is one Samples produces,
// and the other way round, so the documented names are the real ones.
func TestSampleNamesMatchTheDocumentation(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "metrics.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	word := regexp.MustCompile(`tickraft_replica_\w+|_\w+`)
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Metrics" {
			return true
		}
		for _, fld := range ts.Type.(*ast.StructType).Fields.List {
			if fld.Doc == nil {
				continue
			}
			prefix := ""
			for _, w := range word.FindAllString(fld.Doc.Text(), -1) {
				if strings.HasPrefix(w, "tickraft_replica_") {
					prefix = "tickraft_replica_"
					documented[w] = true
				} else if prefix != "" && strings.HasPrefix(w, "_") {
					documented[prefix+w[1:]] = true // "_applied_index" after a full name
				}
			}
		}
		return false
	})
	produced := map[string]bool{}
	m := Metrics{Peers: map[uint64]PeerMetrics{2: {}}, Transport: transport.Stats{Peers: map[uint64]transport.PeerStats{2: {}}}}
	for _, s := range m.Samples() {
		produced[s.Name] = true
	}
	for n := range produced {
		if !documented[n] {
			t.Errorf("sample %s is not documented on Metrics", n)
		}
	}
	for n := range documented {
		if !produced[n] {
			t.Errorf("documented metric %s is not produced by Samples", n)
		}
	}
}

func TestMetricsOfALiveCluster(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxT(t)
	res := c.propose(ctx, "m")
	c.waitApplied(ctx, indexOf(res))
	l := c.leader()
	m := l.r.Metrics()
	if m.Role != "leader" || m.Leader != l.id || m.Term == 0 || m.Applied < indexOf(res) || m.Commit < m.Applied {
		t.Fatalf("leader metrics: %+v", m)
	}
	if len(m.Voters) != 3 || len(m.Peers) != 3 || m.Syncs == 0 || m.ProposalsApplied == 0 || m.ApplyBatches == 0 {
		t.Fatalf("leader metrics: %+v", m)
	}
	for id, p := range m.Peers {
		if p.Addr != addr(id) {
			t.Errorf("peer %d at %q", id, p.Addr)
		}
	}
	if len(m.Transport.Peers) != 2 {
		t.Errorf("transport stats for %d peers, want 2", len(m.Transport.Peers))
	}
	var role float64
	byPeer := map[string]map[string]float64{}
	for _, s := range m.Samples() {
		if s.Name == "tickraft_replica_role" && s.Labels["role"] == "leader" {
			role = s.Value
		}
		if p, ok := s.Labels["peer"]; ok && strings.HasPrefix(s.Name, "tickraft_replica_transport_") {
			if byPeer[p] == nil {
				byPeer[p] = map[string]float64{}
			}
			byPeer[p][s.Name] = s.Value
		}
	}
	if role != 1 {
		t.Error("the role sample does not say leader")
	}
	// The leader has sent appends and heartbeats to each follower and heard
	// back from each: the samples carry the transport's real counts.
	for _, id := range []uint64{1, 2, 3} {
		if id == l.id {
			continue
		}
		p := byPeer[strconv.FormatUint(id, 10)]
		ps := m.Transport.Peers[id]
		if p["tickraft_replica_transport_messages_sent_total"] != float64(ps.MsgsSent) || ps.MsgsSent == 0 {
			t.Errorf("peer %d: messages sent sample %v, transport says %d", id, p["tickraft_replica_transport_messages_sent_total"], ps.MsgsSent)
		}
		if p["tickraft_replica_transport_messages_received_total"] != float64(ps.MsgsReceived) || ps.MsgsReceived == 0 {
			t.Errorf("peer %d: messages received sample %v, transport says %d", id, p["tickraft_replica_transport_messages_received_total"], ps.MsgsReceived)
		}
	}
}

// Each transport field lands in the sample of its name, per peer.
func TestTransportSamples(t *testing.T) {
	ps := transport.PeerStats{
		Connected: true, MsgsSent: 1, FramesSent: 2, BytesSent: 3, MsgsReceived: 4, BytesReceived: 5,
		Dropped: 6, QueueLen: 7, Dials: 8, Reconnects: 9, HandshakeRejects: 10, RTT: 11 * time.Millisecond,
		SnapshotsSent: 12, SnapshotsFailed: 13, SnapshotsReceived: 14, SnapshotBytesSent: 15,
		SnapshotSendTotal: 16 * time.Second,
	}
	m := Metrics{Transport: transport.Stats{Peers: map[uint64]transport.PeerStats{7: ps}, HandshakeRejects: 17, BadFrames: 18}}
	want := map[string]float64{
		"connected": 1, "messages_sent_total": 1, "frames_sent_total": 2, "bytes_sent_total": 3,
		"messages_received_total": 4, "bytes_received_total": 5, "dropped_total": 6, "queue_length": 7,
		"dials_total": 8, "reconnects_total": 9, "peer_handshake_rejects_total": 10, "rtt_seconds": 0.011,
		"snapshots_sent_total": 12, "snapshots_failed_total": 13, "snapshots_received_total": 14,
		"snapshot_bytes_sent_total": 15, "snapshot_send_seconds_sum": 16,
		"handshake_rejects_total": 17, "bad_frames_total": 18,
	}
	got := map[string]float64{}
	for _, s := range m.Samples() {
		name, ok := strings.CutPrefix(s.Name, "tickraft_replica_transport_")
		if !ok {
			continue
		}
		if p, labelled := s.Labels["peer"]; labelled && p != "7" {
			t.Errorf("%s labelled peer %q, want 7", s.Name, p)
		}
		gauge := name == "connected" || name == "queue_length" || name == "rtt_seconds"
		if s.Counter == gauge {
			t.Errorf("%s: counter %v", s.Name, s.Counter)
		}
		got[name] = s.Value
	}
	for n, v := range want {
		if got[n] != v {
			t.Errorf("tickraft_replica_transport_%s = %v, want %v", n, got[n], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d transport samples, want %d: %v", len(got), len(want), got)
	}
}
