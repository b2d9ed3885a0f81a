package raftnode

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// hangGuard bounds every wait in these tests. It is not a timing
// assertion: a healthy run meets each condition in milliseconds, and the
// guard only turns a hang into a failure that says what was awaited.
const hangGuard = 60 * time.Second

// network is an in-process transport: one unbounded mailbox per node, so
// a sender never blocks (two nodes sending to each other cannot deadlock).
// Messages are cloned, as a wire would, so nodes share nothing.
type network struct {
	mu    sync.Mutex
	boxes map[uint64]*mailbox
	// cut holds the directed links that drop every message.
	cut map[[2]uint64]bool
}

type mailbox struct {
	mu     sync.Mutex
	msgs   []*pb.Message
	notify chan struct{} // capacity 1: "msgs is not empty"
}

func newNetwork() *network {
	return &network{boxes: map[uint64]*mailbox{}, cut: map[[2]uint64]bool{}}
}

func (nw *network) register(id uint64) *mailbox {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	b := &mailbox{notify: make(chan struct{}, 1)}
	nw.boxes[id] = b
	return b
}

// send delivers m to its node's mailbox, and reports whether it did.
func (nw *network) send(m *pb.Message) bool {
	nw.mu.Lock()
	b := nw.boxes[m.To]
	drop := nw.cut[[2]uint64{m.From, m.To}]
	nw.mu.Unlock()
	if b == nil || drop {
		return false
	}
	c := proto.Clone(m).(*pb.Message)
	b.mu.Lock()
	b.msgs = append(b.msgs, c)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return true
}

// setCut cuts (or restores) the link from one node to another.
func (nw *network) setCut(from, to uint64, cut bool) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut[[2]uint64{from, to}] = cut
}

func (b *mailbox) take() []*pb.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	msgs := b.msgs
	b.msgs = nil
	return msgs
}

// app is the application around one Node: it runs the classic loop
// (persist to a MemoryStorage, send, apply, Advance) and, in
// AsyncStorageWrites mode, an append and an apply goroutine. What it
// applied is recorded for the test to wait on.
type app struct {
	t       testing.TB
	id      uint64
	n       Node
	storage *raft.MemoryStorage
	net     *network
	box     *mailbox
	async   bool

	appendc, applyc chan *pb.Message
	quit            chan struct{}
	wg              sync.WaitGroup

	mu sync.Mutex
	// changed is closed and replaced whenever anything below changes.
	changed chan struct{}
	data    []string // the data of the normal entries applied, in order
	applied uint64
	conf    *pb.ConfState
	reads   []raft.ReadState
	lead    uint64
	state   raft.StateType
	// snapshots counts the snapshots installed.
	snapshots int
	// stepErrs are errors Step returned for delivered messages.
	stepErrs []error
}

// testConfig is the configuration of node id in these tests: small timeouts
// that only matter when a test ticks. Most tests never tick, so the leader
// must tell followers about a new commit index at once rather than with the
// next heartbeat: EagerCommitPropagation.
func testConfig(id uint64, storage *raft.MemoryStorage) *raft.Config {
	return &raft.Config{
		ID: id, Storage: storage, ElectionTick: 10, HeartbeatTick: 1, Seed: id,
		EagerCommitPropagation: true,
	}
}

// startApp runs the application loop for n. net may be nil for a single
// node.
func startApp(t testing.TB, id uint64, n Node, storage *raft.MemoryStorage, net *network, async bool) *app {
	a := &app{
		t: t, id: id, n: n, storage: storage, net: net, async: async,
		appendc: make(chan *pb.Message, 64), applyc: make(chan *pb.Message, 64),
		quit: make(chan struct{}), changed: make(chan struct{}),
	}
	if net != nil {
		a.box = net.register(id)
	} else {
		a.box = &mailbox{notify: make(chan struct{}, 1)}
	}
	a.wg.Add(1)
	go a.loop()
	if async {
		a.wg.Add(2)
		go a.appendThread()
		go a.applyThread()
	}
	return a
}

// stop stops the loop, then the node.
func (a *app) stop() {
	select {
	case <-a.quit:
		return
	default:
	}
	close(a.quit)
	a.wg.Wait()
	a.n.Stop()
}

func (a *app) loop() {
	defer a.wg.Done()
	for {
		select {
		case <-a.quit:
			return
		case rd := <-a.n.Ready():
			a.handle(rd)
		case <-a.box.notify:
			a.deliver(a.box.take())
		}
	}
}

func (a *app) deliver(msgs []*pb.Message) {
	for _, m := range msgs {
		if err := a.n.Step(context.Background(), m); err != nil {
			if errors.Is(err, ErrStopped) {
				return
			}
			a.update(func() { a.stepErrs = append(a.stepErrs, err) })
		}
	}
}

// handle does a Ready's work in the documented order.
func (a *app) handle(rd raft.Ready) {
	a.update(func() {
		if rd.SoftState != nil {
			a.lead, a.state = rd.Lead, rd.RaftState
		}
		a.reads = append(a.reads, rd.ReadStates...)
	})
	if a.async {
		for _, m := range rd.Messages {
			switch m.To {
			case raft.LocalAppendThread:
				a.queue(a.appendc, m)
			case raft.LocalApplyThread:
				a.queue(a.applyc, m)
			default:
				a.send(m)
			}
		}
		return
	}
	a.persist(rd.HardState, rd.Entries, rd.Snapshot)
	for _, m := range rd.Messages {
		a.send(m)
	}
	a.apply(rd.Snapshot, rd.CommittedEntries)
	if err := a.n.Advance(); err != nil && !errors.Is(err, ErrStopped) {
		a.t.Errorf("node %d: Advance: %v", a.id, err)
	}
}

func (a *app) queue(c chan *pb.Message, m *pb.Message) {
	select {
	case c <- m:
	case <-a.quit:
	}
}

// send hands m to the network. A snapshot's sender reports how the send
// ended, as the Node's contract asks.
func (a *app) send(m *pb.Message) {
	if a.net == nil {
		return
	}
	delivered := a.net.send(m)
	if m.Type != pb.MsgSnap {
		return
	}
	status := raft.SnapshotFinish
	if !delivered {
		status = raft.SnapshotFailure
	}
	if err := a.n.ReportSnapshot(m.To, status); err != nil && !errors.Is(err, ErrStopped) {
		a.t.Errorf("node %d: ReportSnapshot: %v", a.id, err)
	}
}

func (a *app) persist(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot) {
	if snap != nil {
		if err := a.storage.ApplySnapshot(snap); err != nil {
			a.t.Errorf("node %d: ApplySnapshot: %v", a.id, err)
		}
	}
	if hs != nil {
		if err := a.storage.SetHardState(hs); err != nil {
			a.t.Errorf("node %d: SetHardState: %v", a.id, err)
		}
	}
	if err := a.storage.Append(ents); err != nil {
		a.t.Errorf("node %d: Append: %v", a.id, err)
	}
}

func (a *app) apply(snap *pb.Snapshot, ents []*pb.Entry) {
	if snap != nil {
		a.update(func() {
			a.applied, a.conf = snap.Metadata.Index, proto.Clone(snap.Metadata.ConfState).(*pb.ConfState)
			a.data = decodeState(snap.Data)
			a.snapshots++
		})
	}
	for _, e := range ents {
		var cs *pb.ConfState
		switch e.Type {
		case pb.EntryConfChange, pb.EntryConfChangeV2:
			cc, err := pb.UnmarshalConfChange(e)
			if err != nil {
				a.t.Errorf("node %d: entry %d: %v", a.id, e.Index, err)
				continue
			}
			if cs, err = a.n.ApplyConfChange(cc); err != nil && !errors.Is(err, ErrStopped) {
				a.t.Errorf("node %d: ApplyConfChange at %d: %v", a.id, e.Index, err)
			}
		}
		a.update(func() {
			if e.Type == pb.EntryNormal && len(e.Data) > 0 {
				a.data = append(a.data, string(e.Data))
			}
			if cs != nil {
				a.conf = cs
			}
			a.applied = e.Index
		})
	}
}

// appendThread is the LocalAppendThread of AsyncStorageWrites mode: it
// persists each MsgStorageAppend in order, then delivers its responses.
func (a *app) appendThread() {
	defer a.wg.Done()
	for {
		select {
		case <-a.quit:
			return
		case m := <-a.appendc:
			var hs *pb.HardState
			if m.Term != 0 || m.Vote != 0 || m.Commit != 0 {
				hs = &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
			}
			a.persist(hs, m.Entries, m.Snapshot)
			a.respond(m.Responses)
		}
	}
}

// applyThread is the LocalApplyThread: it applies each MsgStorageApply in
// order, then delivers its responses.
func (a *app) applyThread() {
	defer a.wg.Done()
	for {
		select {
		case <-a.quit:
			return
		case m := <-a.applyc:
			a.apply(nil, m.Entries)
			a.respond(m.Responses)
		}
	}
}

func (a *app) respond(msgs []*pb.Message) {
	for _, r := range msgs {
		if r.To != a.id {
			a.send(r)
			continue
		}
		if err := a.n.Step(context.Background(), r); err != nil && !errors.Is(err, ErrStopped) {
			a.t.Errorf("node %d: stepping local response %s: %v", a.id, r.Type, err)
		}
	}
}

func (a *app) update(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f()
	close(a.changed)
	a.changed = make(chan struct{})
}

// waitFor waits until cond, called with the app's lock held, holds.
func (a *app) waitFor(what string, cond func(a *app) bool) {
	a.t.Helper()
	guard := time.NewTimer(hangGuard)
	defer guard.Stop()
	for {
		a.mu.Lock()
		ok, changed := cond(a), a.changed
		a.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-guard.C:
			a.t.Fatalf("node %d: still waiting for %s after %v", a.id, what, hangGuard)
		}
	}
}

func (a *app) waitApplied(index uint64) {
	a.t.Helper()
	a.waitFor("applied index", func(a *app) bool { return a.applied >= index })
}

func (a *app) waitLeader(lead uint64) {
	a.t.Helper()
	a.waitFor("the leader", func(a *app) bool { return a.lead == lead })
}

func (a *app) appliedData() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.data...)
}

// cluster is a set of nodes, each in its own app, over one network.
type cluster struct {
	t     testing.TB
	net   *network
	apps  map[uint64]*app
	async bool
}

// newCluster starts a brand-new cluster of the given voters. mod, when not
// nil, adjusts each node's configuration.
func newCluster(t testing.TB, async bool, mod func(*raft.Config), ids ...uint64) *cluster {
	c := &cluster{t: t, net: newNetwork(), apps: map[uint64]*app{}, async: async}
	peers := make([]raft.Peer, len(ids))
	for i, id := range ids {
		peers[i] = raft.Peer{ID: id}
	}
	for _, id := range ids {
		c.start(id, peers, mod)
	}
	t.Cleanup(c.stop)
	return c
}

// start runs node id: bootstrapped with peers, or joining when peers is nil.
func (c *cluster) start(id uint64, peers []raft.Peer, mod func(*raft.Config)) *app {
	storage := raft.NewMemoryStorage()
	cfg := testConfig(id, storage)
	cfg.AsyncStorageWrites = c.async
	if mod != nil {
		mod(cfg)
	}
	var n Node
	var err error
	if peers != nil {
		n, err = StartNode(cfg, peers)
	} else {
		n, err = RestartNode(cfg)
	}
	if err != nil {
		c.t.Fatalf("starting node %d: %v", id, err)
	}
	a := startApp(c.t, id, n, storage, c.net, c.async)
	c.apps[id] = a
	return a
}

func (c *cluster) stop() {
	for _, a := range c.apps {
		a.stop()
	}
}

// each calls f for every node.
func (c *cluster) each(f func(a *app)) {
	for _, a := range c.apps {
		f(a)
	}
}

// The state machine's snapshot is its applied data, one entry a line.
func encodeState(data []string) []byte { return []byte(strings.Join(data, "\n")) }

func decodeState(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\n")
}

// snapshot makes the app's storage take a snapshot of what it applied and
// compact the log up to it.
func (a *app) snapshot() uint64 {
	a.t.Helper()
	a.mu.Lock()
	index, data, cs := a.applied, encodeState(a.data), a.conf
	a.mu.Unlock()
	if _, err := a.storage.CreateSnapshot(index, cs, data); err != nil {
		a.t.Fatalf("node %d: CreateSnapshot(%d): %v", a.id, index, err)
	}
	if err := a.storage.Compact(index); err != nil {
		a.t.Fatalf("node %d: Compact(%d): %v", a.id, index, err)
	}
	return index
}

// tickUntil ticks ticker's node, pacing itself on waiter's changes, until
// cond holds on waiter. The pause between ticks only paces the loop; the
// outcome does not depend on it.
func tickUntil(ticker, waiter *app, what string, cond func(a *app) bool) {
	waiter.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		waiter.mu.Lock()
		ok, changed := cond(waiter), waiter.changed
		waiter.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			waiter.t.Fatalf("node %d: still waiting for %s after %v of ticks", waiter.id, what, hangGuard)
		}
		ticker.n.Tick()
		select {
		case <-changed:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// settle waits until each node knows its application applied everything
// the application has applied so far. The application records an entry as
// applied before it tells the node (Advance, or the apply thread's
// response); a node with a configuration change it does not know applied
// refuses to campaign, so elections and transfers wait for this.
func (c *cluster) settle() {
	c.t.Helper()
	for _, a := range c.apps {
		want := a.appliedIndex()
		deadline := time.Now().Add(hangGuard)
		for a.n.Status().Applied < want {
			if time.Now().After(deadline) {
				c.t.Fatalf("node %d: its node still has not seen index %d applied after %v", a.id, want, hangGuard)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// elect makes node id the leader of a brand-new cluster: once every node
// applied the bootstrap entries (and knows it), id campaigns.
func (c *cluster) elect(id uint64) {
	c.t.Helper()
	bootstrap := uint64(len(c.apps))
	c.each(func(a *app) { a.waitApplied(bootstrap) })
	c.settle()
	if err := c.apps[id].n.Campaign(context.Background()); err != nil {
		c.t.Fatalf("node %d: Campaign: %v", id, err)
	}
	c.each(func(a *app) { a.waitLeader(id) })
}

func (a *app) appliedIndex() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}
