package transport

// The integration test runs three RawNodes over loopback TCP: the transport
// carries real raft traffic, including streamed snapshots, through a killed
// connection, a restart, and a node that fell behind the leader's log.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickraft/raft"
	"github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// kvState is a node's state machine: the set of keys applied.
type kvState struct {
	mu      sync.Mutex
	keys    map[uint64]bool
	applied uint64            // index of the last applied entry
	byIndex map[uint64]uint64 // key applied at each index (log entries only), to compare nodes
}

func (s *kvState) encode() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := make([]uint64, 0, len(s.keys))
	for k := range s.keys {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	b := make([]byte, 0, 8*len(ks))
	for _, k := range ks {
		b = binary.BigEndian.AppendUint64(b, k)
	}
	return b
}

func (s *kvState) restore(data []byte, index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = map[uint64]bool{}
	for ; len(data) >= 8; data = data[8:] {
		s.keys[binary.BigEndian.Uint64(data)] = true
	}
	s.applied = index
}

func (s *kvState) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func (s *kvState) has(k uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[k]
}

// rnode is one cluster member: a RawNode driven by one goroutine, its
// MemoryStorage and state machine (which survive a restart, standing in for
// disk), and its TCP transport.
type rnode struct {
	t       *testing.T
	id      uint64
	addr    string
	storage *raft.MemoryStorage
	sm      *kvState
	cs      *raftpb.ConfState

	rn      *raft.RawNode
	tr      *TCP
	recvc   chan *raftpb.Message
	reportc chan func(*raft.RawNode)
	propc   chan [][]byte
	stop    chan struct{}
	done    chan struct{}
	leader  atomic.Bool
	term    atomic.Uint64 // from the last HardState, to tell a deposed leader from the current one
	failure atomic.Value  // first unexpected error of the loop
}

// rnode is the transport's Handler.
func (n *rnode) HandleMessage(m *raftpb.Message) {
	select {
	case n.recvc <- m:
	default: // full: drop, as a network would; raft retries
	}
}

func (n *rnode) HandleSnapshot(m *raftpb.Message, data io.Reader, size int64) error {
	buf := make([]byte, size)
	if _, err := io.ReadFull(data, buf); err != nil {
		return err
	}
	m.Snapshot.Data = buf
	select {
	case n.recvc <- m:
		return nil
	case <-n.stop:
		return errors.New("node stopping")
	}
}

func (n *rnode) ReportUnreachable(id uint64) {
	n.report(func(rn *raft.RawNode) { rn.ReportUnreachable(id) })
}

func (n *rnode) ReportSnapshot(id uint64, err error) {
	status := raft.SnapshotFinish
	if err != nil {
		status = raft.SnapshotFailure
	}
	n.report(func(rn *raft.RawNode) { rn.ReportSnapshot(id, status) })
}

func (n *rnode) report(f func(*raft.RawNode)) {
	select {
	case n.reportc <- f:
	case <-n.stop:
	}
}

// start (re)creates the RawNode over the surviving storage and the
// transport on the node's address, and runs the loop.
func (n *rnode) start(peers map[uint64]string, bootstrap bool) {
	t := n.t
	rn, err := raft.NewRawNode(&raft.Config{
		// 10 ms ticks: an election timeout of 500 ms to 1 s. Much shorter
		// (100 ms was used) and a -race build on a loaded machine, whose
		// node loops stall for longer than that, changes leaders every few
		// seconds, losing proposals each time.
		ID: n.id, ElectionTick: 50, HeartbeatTick: 5, Storage: n.storage, Applied: n.sm.applied,
		PreVote: true, CheckQuorum: true, MaxSizePerMsg: 256 << 10, MaxInflightMsgs: 64, Seed: n.id,
	})
	must(t, err)
	if bootstrap {
		must(t, rn.Bootstrap([]raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}))
	}
	tr, err := NewTCP(TCPConfig{ID: n.id, ClusterID: 42, ListenAddr: n.addr, Logger: quietLogger(t), SnapshotDir: t.TempDir()})
	must(t, err)
	n.addr = tr.Addr().String()
	n.rn, n.tr = rn, tr
	n.recvc = make(chan *raftpb.Message, 4096)
	n.reportc = make(chan func(*raft.RawNode), 1024)
	n.propc = make(chan [][]byte, 16)
	n.stop, n.done = make(chan struct{}), make(chan struct{})
	n.leader.Store(false)
	for id, addr := range peers {
		if id != n.id && addr != "" {
			must(t, tr.AddPeer(id, addr))
		}
	}
	must(t, tr.Start(n))
	go n.loop()
}

// shutdown stops the loop and closes the transport (a crash, as far as the
// others can tell; the storage survives).
func (n *rnode) shutdown() {
	close(n.stop)
	<-n.done
	must(n.t, n.tr.Close())
}

func (n *rnode) fail(err error) {
	n.failure.CompareAndSwap(nil, err)
}

func (n *rnode) loop() {
	defer close(n.done)
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-ticker.C:
			n.rn.Tick()
		case m := <-n.recvc:
			n.rn.Step(m) // errors are stale or unknown-peer messages: ignored, as raft does
		case f := <-n.reportc:
			f(n.rn)
		case props := <-n.propc:
			for _, p := range props {
				n.rn.Propose(p) // a dropped proposal is proposed again by the test
			}
		}
		if err := n.handleReady(); err != nil {
			n.fail(err)
			return
		}
	}
}

func (n *rnode) handleReady() error {
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		if rd.SoftState != nil {
			n.leader.Store(rd.RaftState == raft.StateLeader)
		}
		// 1. Persist.
		if rd.Snapshot != nil {
			if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
				return fmt.Errorf("node %d: apply snapshot: %w", n.id, err)
			}
		}
		if rd.HardState != nil {
			n.term.Store(rd.HardState.Term)
			if err := n.storage.SetHardState(rd.HardState); err != nil {
				return err
			}
		}
		if err := n.storage.Append(rd.Entries); err != nil {
			return fmt.Errorf("node %d: append: %w", n.id, err)
		}
		// 2. Send; snapshots stream their data beside the message.
		var msgs []*raftpb.Message
		for _, m := range rd.Messages {
			if m.Type != raftpb.MsgSnap {
				msgs = append(msgs, m)
				continue
			}
			sm := proto.Clone(m).(*raftpb.Message)
			data := sm.Snapshot.Data
			sm.Snapshot.Data = nil
			n.tr.SendSnapshot(sm, io.NopCloser(bytes.NewReader(data)), int64(len(data)))
		}
		n.tr.Send(msgs)
		// 3. Apply.
		if rd.Snapshot != nil {
			n.sm.restore(rd.Snapshot.Data, rd.Snapshot.Metadata.Index)
			n.cs = rd.Snapshot.Metadata.ConfState
		}
		for _, e := range rd.CommittedEntries {
			if err := n.apply(e); err != nil {
				return err
			}
		}
		if err := n.rn.Advance(rd); err != nil {
			return err
		}
		n.maybeCompact()
	}
	return nil
}

func (n *rnode) apply(e *raftpb.Entry) error {
	switch e.Type {
	case raftpb.EntryNormal:
		n.sm.mu.Lock()
		if len(e.Data) == 8 {
			k := binary.BigEndian.Uint64(e.Data)
			n.sm.keys[k] = true
			n.sm.byIndex[e.Index] = k
		}
		n.sm.applied = e.Index
		n.sm.mu.Unlock()
	case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
		cc, err := raftpb.UnmarshalConfChange(e)
		if err != nil {
			return err
		}
		if n.cs, err = n.rn.ApplyConfChange(cc); err != nil {
			return err
		}
		n.sm.mu.Lock()
		n.sm.applied = e.Index
		n.sm.mu.Unlock()
	}
	return nil
}

// maybeCompact snapshots the state machine and drops most of the log every
// 2000 entries, so that a node that falls far behind needs a snapshot.
func (n *rnode) maybeCompact() {
	first, _ := n.storage.FirstIndex()
	applied := n.sm.applied
	if applied < first+2000 || n.cs == nil {
		return
	}
	if _, err := n.storage.CreateSnapshot(applied, n.cs, n.sm.encode()); err != nil {
		n.fail(err)
		return
	}
	if err := n.storage.Compact(applied - 500); err != nil {
		n.fail(err)
	}
}

type cluster struct {
	t     *testing.T
	nodes map[uint64]*rnode
	// deadline bounds the whole test: every wait fails at it, saying what it
	// waited for and where each node stands, rather than hanging. It only
	// bounds a hang: on an idle machine the test takes seconds.
	deadline time.Time
}

// state describes each node, for failure messages.
func (c *cluster) state() string {
	var b []byte
	for id := uint64(1); id <= 3; id++ {
		n := c.nodes[id]
		b = fmt.Appendf(b, "; node %d: term %d leader %v keys %d", id, n.term.Load(), n.leader.Load(), n.sm.count())
	}
	return string(b)
}

// waitFor polls cond until it holds, failing at the cluster's deadline.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	for {
		c.check()
		if cond() {
			return
		}
		if time.Now().After(c.deadline) {
			c.t.Fatalf("gave up waiting for %s at the test's deadline%s", what, c.state())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *cluster) addrs() map[uint64]string {
	m := map[uint64]string{}
	for id, n := range c.nodes {
		m[id] = n.addr
	}
	return m
}

func (c *cluster) check() {
	for _, n := range c.nodes {
		if err := n.failure.Load(); err != nil {
			c.t.Fatalf("node %d: %v", n.id, err)
		}
	}
}

// leader waits for a node that believes it leads; of two (a deposed leader
// that has not heard yet), the one of the higher term.
func (c *cluster) leader(up ...uint64) *rnode {
	c.t.Helper()
	var l *rnode
	c.waitFor("a leader", func() bool {
		l = nil
		for _, id := range up {
			n := c.nodes[id]
			if n.leader.Load() && (l == nil || n.term.Load() > l.term.Load()) {
				l = n
			}
		}
		return l != nil
	})
	return l
}

// replicate proposes keys [from, to) until every node in up applied them all.
// A proposal can be lost without an error (a leader deposed before it
// commits, a message dropped), so the keys still missing on the current
// leader are proposed again, batch by batch, until none is.
func (c *cluster) replicate(from, to uint64, up ...uint64) {
	c.t.Helper()
	for {
		l := c.leader(up...)
		var batch [][]byte
		for k := from; k < to && len(batch) < 500; k++ {
			if !l.sm.has(k) {
				batch = append(batch, binary.BigEndian.AppendUint64(nil, k))
			}
		}
		if len(batch) == 0 {
			break
		}
		select {
		case l.propc <- batch:
		case <-l.done: // failed: check reports why
		case <-time.After(time.Until(c.deadline)): // stuck: waitFor reports it
		}
		// Let the batch commit before the next, so proposals do not pile up
		// beyond what a leader change would drop. A batch lost meanwhile
		// is proposed again once the wait ends: the leader changed, or a
		// while passed (a leader deposed and re-elected in between).
		last := binary.BigEndian.Uint64(batch[len(batch)-1])
		term, until := l.term.Load(), time.Now().Add(2*time.Second)
		c.waitFor(fmt.Sprintf("keys [%d, %d) to be replicated", from, to), func() bool {
			return l.sm.has(last) || !l.leader.Load() || l.term.Load() != term || time.Now().After(until)
		})
	}
	// Every node in up converges on the leader's state.
	c.waitFor(fmt.Sprintf("nodes %v to apply keys [%d, %d)", up, from, to), func() bool {
		for _, id := range up {
			for k := from; k < to; k++ {
				if !c.nodes[id].sm.has(k) {
					return false
				}
			}
		}
		return true
	})
}

// agree checks that the nodes applied the same key at every index they both
// applied from their logs (State Machine Safety, as seen through the
// transport).
func (c *cluster) agree() {
	for a := uint64(1); a <= 3; a++ {
		for b := a + 1; b <= 3; b++ {
			na, nb := c.nodes[a].sm, c.nodes[b].sm
			na.mu.Lock()
			nb.mu.Lock()
			for i, k := range na.byIndex {
				if kb, ok := nb.byIndex[i]; ok && kb != k {
					c.t.Errorf("index %d: node %d applied key %d, node %d key %d", i, a, k, b, kb)
				}
			}
			nb.mu.Unlock()
			na.mu.Unlock()
		}
	}
}

func TestIntegrationThreeRawNodes(t *testing.T) {
	c := &cluster{t: t, nodes: map[uint64]*rnode{}, deadline: time.Now().Add(4 * time.Minute)}
	for id := uint64(1); id <= 3; id++ {
		c.nodes[id] = &rnode{t: t, id: id, addr: "127.0.0.1:0", storage: raft.NewMemoryStorage(),
			sm: &kvState{keys: map[uint64]bool{}, byIndex: map[uint64]uint64{}}}
	}
	// Listen first, so each node knows the others' addresses.
	for _, n := range c.nodes {
		n.start(nil, true)
	}
	for _, n := range c.nodes {
		for id, addr := range c.addrs() {
			if id != n.id {
				must(t, n.tr.AddPeer(id, addr))
			}
		}
	}
	defer func() {
		for _, n := range c.nodes {
			if n.done != nil {
				select {
				case <-n.done:
				default:
					n.shutdown()
				}
			}
		}
	}()

	// Elect, replicate 10,000 entries.
	c.replicate(0, 10000, 1, 2, 3)
	for id, n := range c.nodes {
		if got := n.sm.count(); got != 10000 {
			t.Fatalf("node %d applied %d keys, want 10000", id, got)
		}
	}

	// Kill every connection of the leader: the transports redial.
	l := c.leader(1, 2, 3)
	l.tr.killConnections()
	c.replicate(10000, 11000, 1, 2, 3)
	if l.tr.Stats().Peers[otherThan(l.id)].Reconnects == 0 {
		t.Fatal("the leader never reconnected after its connections were killed")
	}

	// Restart a follower on its address: it rejoins and catches up.
	f := c.nodes[otherThan(c.leader(1, 2, 3).id)]
	f.shutdown()
	f.start(c.addrs(), false)
	c.replicate(11000, 12000, 1, 2, 3)

	// A follower down while the leader compacts its log comes back behind
	// the leader's first index: it is caught up by a streamed snapshot.
	l = c.leader(1, 2, 3)
	lag := c.nodes[otherThan(l.id)]
	lag.shutdown()
	up := []uint64{}
	for id := range c.nodes {
		if id != lag.id {
			up = append(up, id)
		}
	}
	c.replicate(12000, 16000, up...)
	lag.start(c.addrs(), false)
	c.waitFor("the lagging node to catch up", func() bool { return lag.sm.count() == 16000 })
	// From whichever node led when it came back (the leader may have
	// changed since).
	var snaps uint64
	for _, ps := range lag.tr.Stats().Peers {
		snaps += ps.SnapshotsReceived
	}
	if snaps == 0 {
		t.Fatal("the lagging node caught up without a snapshot: the test no longer covers snapshots")
	}
	c.replicate(16000, 16100, 1, 2, 3)
	c.agree()
}

// otherThan returns a node ID of 1..3 other than id.
func otherThan(id uint64) uint64 { return id%3 + 1 }
