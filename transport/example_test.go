package transport_test

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/transport"
)

// printer is a Handler that prints what it receives and signals each message.
type printer struct {
	got chan struct{}
	mu  sync.Mutex
}

func (p *printer) HandleMessage(m *raftpb.Message) {
	p.mu.Lock()
	fmt.Println("received", raftpb.DescribeMessage(m, nil))
	p.mu.Unlock()
	p.got <- struct{}{}
}
func (p *printer) HandleSnapshot(*raftpb.Message, io.Reader, int64) error { return nil }
func (p *printer) ReportUnreachable(uint64)                               {}
func (p *printer) ReportSnapshot(uint64, error)                           {}

// Two nodes on loopback TCP: node 1 sends node 2 a heartbeat. In a real
// program each node's raft loop passes every Ready's messages to Send, steps
// what HandleMessage receives, and calls AddPeer as membership changes.
func Example() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	nodes := map[uint64]*transport.TCP{}
	for _, id := range []uint64{1, 2} {
		tr, err := transport.NewTCP(transport.TCPConfig{
			ID: id, ClusterID: 0x7c, ListenAddr: "127.0.0.1:0", Logger: quiet,
		})
		if err != nil {
			panic(err)
		}
		defer tr.Close()
		nodes[id] = tr
	}
	if err := nodes[1].AddPeer(2, nodes[2].Addr().String()); err != nil {
		panic(err)
	}
	h := &printer{got: make(chan struct{}, 1)}
	if err := nodes[1].Start(&printer{got: make(chan struct{}, 1)}); err != nil {
		panic(err)
	}
	if err := nodes[2].Start(h); err != nil {
		panic(err)
	}

	nodes[1].Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: 7}})
	<-h.got
	// Output:
	// received 1->2 MsgHeartbeat Term:3 Commit:7
}
