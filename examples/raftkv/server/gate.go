package server

import (
	"io"
	"sync"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/transport"
)

// gate sits between the TCP transport and the replica. It lets the server
// start the transport before the replica exists (an empty node waits for
// init, or for the first message of a leader that added it), and carries
// the test-only fault hook: messages to or from chosen peers are dropped.
type gate struct {
	tcp *transport.TCP
	// start is called (once, outside mu) by the first message that arrives
	// while no replica runs: the node was added to a cluster.
	start func()

	mu      sync.Mutex
	h       transport.Handler
	dropTo  map[uint64]bool
	dropIn  map[uint64]bool
	started bool
}

var _ transport.Transport = (*gate)(nil)
var _ transport.Handler = (*gate)(nil)

func (g *gate) handler() transport.Handler {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.h
}

// deliverTo returns the replica to deliver to, starting it on the first
// message, or nil when the message must be dropped.
func (g *gate) deliverTo(from uint64) transport.Handler {
	g.mu.Lock()
	h, drop, first := g.h, g.dropIn[from], !g.started
	g.started = true
	g.mu.Unlock()
	if drop {
		return nil
	}
	if h == nil && first && g.start != nil {
		g.start()
		h = g.handler()
	}
	return h
}

// Start implements transport.Transport (the replica registers itself).
func (g *gate) Start(h transport.Handler) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.h, g.started = h, true
	return nil
}

func (g *gate) Send(msgs []*pb.Message) {
	g.mu.Lock()
	if len(g.dropTo) > 0 {
		kept := msgs[:0:0]
		for _, m := range msgs {
			if !g.dropTo[m.To] {
				kept = append(kept, m)
			}
		}
		msgs = kept
	}
	g.mu.Unlock()
	g.tcp.Send(msgs)
}

func (g *gate) SendSnapshot(m *pb.Message, data io.ReadCloser, size int64) {
	g.tcp.SendSnapshot(m, data, size)
}
func (g *gate) AddPeer(id uint64, addr string) error { return g.tcp.AddPeer(id, addr) }
func (g *gate) RemovePeer(id uint64)                 { g.tcp.RemovePeer(id) }
func (g *gate) Stats() transport.Stats               { return g.tcp.Stats() }
func (g *gate) Close() error                         { return g.tcp.Close() }

// setFaults replaces the dropped peers (test hook).
func (g *gate) setFaults(to, from []uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dropTo, g.dropIn = set(to), set(from)
}

func set(ids []uint64) map[uint64]bool {
	m := map[uint64]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// Handler side: the TCP transport delivers here.

func (g *gate) HandleMessage(m *pb.Message) {
	if h := g.deliverTo(m.From); h != nil {
		h.HandleMessage(m)
	}
}

func (g *gate) HandleSnapshot(m *pb.Message, data io.Reader, size int64) error {
	h := g.deliverTo(m.From)
	if h == nil {
		return errDropped
	}
	return h.HandleSnapshot(m, data, size)
}

func (g *gate) ReportUnreachable(id uint64) {
	if h := g.handler(); h != nil {
		h.ReportUnreachable(id)
	}
}

func (g *gate) ReportSnapshot(id uint64, err error) {
	if h := g.handler(); h != nil {
		h.ReportSnapshot(id, err)
	}
}
