package nodebench

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	etcdpb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// etcdNode is one etcd raft Node with the loop an application writes
// around it: tick, persist to MemoryStorage, send, apply, advance.
type etcdNode struct {
	id      uint64
	n       etcdraft.Node
	storage *etcdraft.MemoryStorage
	inbox   chan *etcdpb.Message
	kv      *kvSM
	// waiters maps a request id (the first 8 bytes of an entry) to the
	// proposer waiting for it to be applied here.
	mu      sync.Mutex
	waiters map[uint64]chan struct{}
	nextID  atomic.Uint64
	done    chan struct{}
	wg      sync.WaitGroup
}

type etcdCluster struct {
	nodes  map[uint64]*etcdNode
	leader *etcdNode
}

func startEtcd(b *testing.B) cluster {
	c := &etcdCluster{nodes: map[uint64]*etcdNode{}}
	peers := []etcdraft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for id := uint64(1); id <= 3; id++ {
		st := etcdraft.NewMemoryStorage()
		cfg := &etcdraft.Config{
			ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, CheckQuorum: true, PreVote: true,
			Logger: &etcdraft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
		}
		c.nodes[id] = &etcdNode{id: id, n: etcdraft.StartNode(cfg, peers), storage: st,
			inbox: make(chan *etcdpb.Message, 8192), kv: newKV(), waiters: map[uint64]chan struct{}{}, done: make(chan struct{})}
	}
	for _, en := range c.nodes {
		en.wg.Add(2)
		go en.run(c)
		go en.receive()
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.leader == nil && time.Now().Before(deadline) {
		for _, en := range c.nodes {
			if en.n.Status().Lead == en.id {
				c.leader = en
			}
		}
		time.Sleep(time.Millisecond)
	}
	if c.leader == nil {
		c.stop()
		b.Fatal("etcd: no leader")
	}
	// One put, so the leader committed in its term.
	if err := c.put(make([]byte, 16)); err != nil {
		c.stop()
		b.Fatal(err)
	}
	return c
}

// send is the channel transport: each message is handed over as is (as
// replica-direct does), and dropped when the receiver's inbox is full (raft
// retransmits), so no two loops ever wait on each other.
func (c *etcdCluster) send(from *etcdNode, msgs []*etcdpb.Message) {
	for _, m := range msgs {
		select {
		case c.nodes[m.GetTo()].inbox <- m:
		default:
			from.n.ReportUnreachable(m.GetTo())
		}
	}
}

func (en *etcdNode) receive() {
	defer en.wg.Done()
	for {
		select {
		case m := <-en.inbox:
			_ = en.n.Step(context.Background(), m)
		case <-en.done:
			return
		}
	}
}

func (en *etcdNode) run(c *etcdCluster) {
	defer en.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			en.n.Tick()
		case rd := <-en.n.Ready():
			if !etcdraft.IsEmptySnap(rd.Snapshot) {
				_ = en.storage.ApplySnapshot(rd.Snapshot)
			}
			_ = en.storage.Append(rd.Entries)
			if !etcdraft.IsEmptyHardState(rd.HardState) {
				_ = en.storage.SetHardState(rd.HardState)
			}
			c.send(en, rd.Messages)
			en.apply(rd.CommittedEntries)
			en.n.Advance()
		case <-en.done:
			return
		}
	}
}

func (en *etcdNode) apply(ents []*etcdpb.Entry) {
	var ready []chan struct{}
	en.kv.mu.Lock()
	for _, e := range ents {
		switch e.GetType() {
		case etcdpb.EntryNormal:
			if len(e.Data) < 8 {
				continue
			}
			en.kv.set(e.Data[8:])
			en.mu.Lock()
			if w, ok := en.waiters[binary.LittleEndian.Uint64(e.Data)]; ok {
				ready = append(ready, w)
				delete(en.waiters, binary.LittleEndian.Uint64(e.Data))
			}
			en.mu.Unlock()
		case etcdpb.EntryConfChange:
			var cc etcdpb.ConfChange
			if err := proto.Unmarshal(e.Data, &cc); err == nil {
				en.n.ApplyConfChange(&cc)
			}
		}
	}
	en.kv.mu.Unlock()
	for _, w := range ready {
		close(w)
	}
}

var errTimeout = errors.New("etcd: put not applied within 10s")

func (c *etcdCluster) put(cmd []byte) error {
	l := c.leader
	id := l.nextID.Add(1)
	data := make([]byte, 8+len(cmd))
	binary.LittleEndian.PutUint64(data, id)
	copy(data[8:], cmd)
	w := make(chan struct{})
	l.mu.Lock()
	l.waiters[id] = w
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.n.Propose(ctx, data); err != nil {
		return err
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return errTimeout
	}
}

func (c *etcdCluster) stop() {
	for _, en := range c.nodes {
		close(en.done)
		en.n.Stop()
	}
	for _, en := range c.nodes {
		en.wg.Wait()
	}
}
