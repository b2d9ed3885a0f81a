package nodebench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/replica"
	"github.com/tickraft/raft/transport"
)

// kvSM maps 8-byte keys to values, so it costs little next to the runtime.
type kvSM struct {
	mu sync.Mutex
	m  map[uint64][]byte
}

func newKV() *kvSM { return &kvSM{m: make(map[uint64][]byte, keysPerProposer*256)} }

func (s *kvSM) set(data []byte) {
	if len(data) >= 8 {
		s.m[binary.LittleEndian.Uint64(data)] = data[8:]
	}
}

func (s *kvSM) Apply(cmds []replica.Command, _ []any) error {
	s.mu.Lock()
	for _, c := range cmds {
		s.set(c.Data)
	}
	s.mu.Unlock()
	return nil
}

type noSnap struct{}

func (noSnap) WriteTo(io.Writer) (int64, error) { return 0, nil }
func (noSnap) Release()                         {}

func (s *kvSM) Snapshot() (replica.Snapshot, error) { return noSnap{}, nil }
func (s *kvSM) Restore(io.Reader, uint64) error     { return nil }
func (s *kvSM) AppliedIndex() uint64                { return 0 }

// directNet hands each message to the receiving replica as is (raft
// messages are immutable once handed out): no copies, as etcd's channels.
type directNet struct {
	mu  sync.RWMutex
	eps map[uint64]*directEP
}

type directEP struct {
	net *directNet
	h   transport.Handler
}

func (n *directNet) endpoint(id uint64) *directEP {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := &directEP{net: n}
	n.eps[id] = e
	return e
}

func (e *directEP) Start(h transport.Handler) error { e.h = h; return nil }
func (e *directEP) Send(msgs []*pb.Message) {
	e.net.mu.RLock()
	defer e.net.mu.RUnlock()
	for _, m := range msgs {
		if to := e.net.eps[m.To]; to != nil && to.h != nil {
			to.h.HandleMessage(m)
		}
	}
}
func (e *directEP) SendSnapshot(m *pb.Message, data io.ReadCloser, _ int64) {
	_ = data.Close()
	e.h.ReportSnapshot(m.To, fmt.Errorf("nodebench: no snapshots"))
}
func (e *directEP) AddPeer(uint64, string) error { return nil }
func (e *directEP) RemovePeer(uint64)            {}
func (e *directEP) Stats() transport.Stats       { return transport.Stats{} }
func (e *directEP) Close() error                 { return nil }

type replicas struct {
	nodes  []*replica.Replica
	leader *replica.Replica
}

func startReplicas(b *testing.B, direct bool) cluster {
	var endpoint func(id uint64) transport.Transport
	if direct {
		dn := &directNet{eps: map[uint64]*directEP{}}
		endpoint = func(id uint64) transport.Transport { return dn.endpoint(id) }
	} else {
		mn := transport.NewMemNetwork()
		endpoint = func(id uint64) transport.Transport { return mn.Endpoint(id) }
	}
	ms := []replica.Member{{ID: 1, Addr: "n1"}, {ID: 2, Addr: "n2"}, {ID: 3, Addr: "n3"}}
	c := &replicas{}
	for id := uint64(1); id <= 3; id++ {
		cfg := replica.Config{ID: id, Bootstrap: ms, TickInterval: 100 * time.Millisecond, SnapshotEntries: 10000, CompactionTail: 5000}
		r, err := replica.Start(cfg, replica.Memory(raft.NewMemoryStorage()), newKV(), endpoint(id))
		if err != nil {
			b.Fatal(err)
		}
		c.nodes = append(c.nodes, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for c.leader == nil && ctx.Err() == nil {
		for _, r := range c.nodes {
			// One put through it, so the leader committed in its term.
			if _, err := r.Propose(ctx, make([]byte, 16)); r.IsLeader() && err == nil {
				c.leader = r
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	if c.leader == nil {
		c.stop()
		b.Fatal("replica: no leader")
	}
	return c
}

func (c *replicas) put(cmd []byte) error {
	_, err := c.leader.Propose(context.Background(), cmd)
	return err
}

func (c *replicas) stop() {
	for _, r := range c.nodes {
		_ = r.Stop(context.Background())
	}
}
