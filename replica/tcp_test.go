package replica

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/transport"
	"github.com/tickraft/raft/wal"
)

// tcpNode is a replica on loopback TCP with a wal and snapshot directory
// on disk (fsyncs on).
type tcpNode struct {
	id   uint64
	dir  string
	addr string
	sm   *setSM
	w    *wal.WAL
	r    *Replica
}

func startTCPNode(t *testing.T, n *tcpNode, clock Clock, bootstrap []Member, join ...Member) {
	t.Helper()
	ln, err := net.Listen("tcp", n.addr)
	if err != nil {
		t.Fatalf("node %d: listen: %v", n.id, err)
	}
	n.addr = ln.Addr().String()
	incoming := filepath.Join(n.dir, "incoming")
	if err := os.MkdirAll(incoming, 0o755); err != nil {
		t.Fatal(err)
	}
	logger := testLogger()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tr, err := transport.NewTCP(transport.TCPConfig{ID: n.id, ClusterID: 7, Listener: ln, SnapshotDir: incoming, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	n.w, err = wal.Open(filepath.Join(n.dir, "wal"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := NewDirSnapshots(nil, filepath.Join(n.dir, "snap"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ID: n.id, Bootstrap: bootstrap, Join: join, Clock: clock, Snapshots: snaps, Logger: testLogger(),
		ElectionTicks: 20, HeartbeatTicks: 2, SnapshotEntries: 40, CompactionTail: 10}
	n.r, err = Start(cfg, WAL(n.w), n.sm, tr)
	if err != nil {
		t.Fatalf("node %d: %v", n.id, err)
	}
}

func TestTCPWithWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("loopback TCP and disk")
	}
	clock := NewManualClock()
	stopTicks := make(chan struct{})
	var tickWG sync.WaitGroup
	tickWG.Add(1)
	go func() {
		defer tickWG.Done()
		for {
			select {
			case <-stopTicks:
				return
			case <-time.After(2 * time.Millisecond):
				clock.Tick()
			}
		}
	}()
	nodes := map[uint64]*tcpNode{}
	// Listen first: the founders need each other's addresses.
	var ms []Member
	for id := uint64(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().String()
		ln.Close()
		nodes[id] = &tcpNode{id: id, dir: t.TempDir(), addr: a, sm: newSetSM()}
		ms = append(ms, Member{ID: id, Addr: a})
	}
	defer func() {
		close(stopTicks)
		tickWG.Wait()
		for _, n := range nodes {
			if n.r != nil {
				_ = n.r.Stop(context.Background())
				_ = n.w.Close()
				n.sm.check(t)
			}
		}
	}()
	for _, n := range nodes {
		startTCPNode(t, n, clock, ms)
	}
	ctx := ctxT(t)
	leader := func() *tcpNode {
		for ctx.Err() == nil {
			for _, n := range nodes {
				if n.r != nil && n.r.IsLeader() {
					return n
				}
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatal("no leader")
		return nil
	}
	var acked []string
	write := func(prefix string, k int) uint64 {
		var last uint64
		for i := range k {
			key := fmt.Sprintf("%s%d", prefix, i)
			for {
				res, err := leader().r.Propose(ctx, []byte(key))
				if err == nil {
					acked = append(acked, key)
					last = indexOf(res.(string))
					break
				}
				key += "'" // a new key per attempt
			}
		}
		return last
	}
	write("a", 60)
	// Kill the leader: a new one takes over, writes go on.
	old := leader()
	old.r.kill()
	old.r = nil
	_ = old.w.Close()
	write("b", 60)
	// Restart it on its data and address: it catches up.
	old.sm = newSetSM()
	startTCPNode(t, old, clock, nil)
	last := write("c", 20)
	if err := old.r.WaitFor(ctx, func(m Metrics) bool { return m.Applied >= last }); err != nil {
		t.Fatal(err)
	}
	// A new node joins after the log was compacted: it gets a snapshot
	// over TCP.
	n4 := &tcpNode{id: 4, dir: t.TempDir(), addr: "127.0.0.1:0", sm: newSetSM()}
	startTCPNode(t, n4, clock, nil, ms...)
	nodes[4] = n4
	l := leader()
	if err := l.r.ChangeMembership(ctx, Member{ID: 1}, Member{ID: 2}, Member{ID: 3}, Member{ID: 4, Addr: n4.addr}); err != nil {
		t.Fatal(err)
	}
	last = write("d", 20)
	for _, n := range nodes {
		if err := n.r.WaitFor(ctx, func(m Metrics) bool { return m.Applied >= last }); err != nil {
			t.Fatal(err)
		}
		for _, k := range acked {
			if !n.sm.has(k) {
				t.Fatalf("node %d misses acknowledged write %s", n.id, k)
			}
		}
	}
	if m := n4.r.Metrics(); m.SnapshotsInstalled == 0 {
		t.Fatalf("node 4 caught up without a snapshot")
	}
	if m := l.r.Metrics(); m.Syncs == 0 || m.Transport.Peers[4].MsgsSent == 0 {
		t.Fatalf("leader metrics: %d syncs, %d messages to node 4", m.Syncs, m.Transport.Peers[4].MsgsSent)
	}
}
