package transport

import (
	"bytes"
	"container/heap"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// MemNetwork connects in-process endpoints, for tests. Messages are copied
// (never shared between sender and receiver) and delivered by one goroutine
// per receiving endpoint; by default at once and in order. Fault injection
// (see Faults) can drop, delay, duplicate and reorder messages, cut links in
// one or both directions, and slow links down. Every random choice is drawn
// from one source seeded by WithSeed, in the order Send is called, so a test
// that sends in a fixed order sees the same faults on every run.
type MemNetwork struct {
	mu        sync.Mutex
	rng       *rand.Rand              // seeded; guarded by mu
	endpoints map[uint64]*MemEndpoint // by node ID; the latest endpoint of each node
	queueSize int                     // inbox bound per endpoint, in messages
	faults    Faults                  // default for every link
	links     map[link]*linkState     // per directed link: faults and FIFO state
	cut       map[link]bool           // directed links that deliver nothing
	seq       uint64                  // delivery tie-breaker: keeps equal times in send order
}

// link is a directed link between two nodes.
type link struct{ from, to uint64 }

// linkState holds one directed link's fault overrides and the times that keep
// its deliveries in order.
type linkState struct {
	faults    *Faults   // nil: the network's default
	lastAt    time.Time // delivery time of the last in-order message (FIFO floor)
	busyUntil time.Time // when the link finishes transmitting (slow links)
}

// MemOption configures a MemNetwork.
type MemOption func(*MemNetwork)

// WithSeed seeds the network's fault decisions (default 1).
func WithSeed(seed uint64) MemOption {
	return func(n *MemNetwork) { n.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// WithQueueSize bounds each endpoint's inbox (default 10000 messages).
// Messages sent to a full inbox are dropped and the sender is told the peer
// is unreachable.
func WithQueueSize(n int) MemOption {
	return func(net *MemNetwork) { net.queueSize = n }
}

// NewMemNetwork returns an empty in-memory network.
func NewMemNetwork(opts ...MemOption) *MemNetwork {
	n := &MemNetwork{
		endpoints: map[uint64]*MemEndpoint{},
		queueSize: 10000,
		links:     map[link]*linkState{},
		cut:       map[link]bool{},
	}
	WithSeed(1)(n)
	for _, o := range opts {
		o(n)
	}
	return n
}

// Endpoint returns node id's endpoint, creating it if the node has none or its
// last one was closed (a restarted node gets a fresh endpoint).
func (n *MemNetwork) Endpoint(id uint64) *MemEndpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.endpoints[id]; ok && !e.isClosed() {
		return e
	}
	e := &MemEndpoint{
		net:     n,
		id:      id,
		removed: map[uint64]bool{},
		stats:   map[uint64]*PeerStats{},
		rep:     newReporter(),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	n.endpoints[id] = e
	return e
}

// MemEndpoint is one node's Transport on a MemNetwork.
type MemEndpoint struct {
	net *MemNetwork
	id  uint64

	mu      sync.Mutex
	h       Handler               // set by Start
	closed  bool                  // set by Close
	removed map[uint64]bool       // peers removed with RemovePeer (and not added again)
	stats   map[uint64]*PeerStats // by peer
	inbox   itemHeap              // pending deliveries, by time then send order
	active  sync.WaitGroup        // delivery goroutines and snapshot handlers

	rep  *reporter
	done chan struct{} // closed by Close
	wake chan struct{} // capacity 1: the inbox changed
}

var _ Transport = (*MemEndpoint)(nil)

// delivery is one message (or snapshot) on its way to an endpoint.
type delivery struct {
	at   time.Time
	seq  uint64
	from uint64
	m    *raftpb.Message
	// snapshot deliveries only:
	snap   []byte
	finish func(error) // reports the outcome to the sender, once
}

type itemHeap []*delivery

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(*delivery)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

func (e *MemEndpoint) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// Start begins delivering to h.
func (e *MemEndpoint) Start(h Handler) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return ErrClosed
	case e.h != nil:
		return ErrStarted
	case h == nil:
		return fmt.Errorf("transport: nil handler")
	}
	e.h = h
	e.active.Add(2)
	go func() { defer e.active.Done(); e.rep.run(h, e.done) }()
	go func() { defer e.active.Done(); e.deliverLoop(h) }()
	return nil
}

// Send queues each message for m.To.
func (e *MemEndpoint) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		e.net.send(e, m)
	}
}

// SendSnapshot delivers the snapshot to m.To. Its fate (faults, cuts) is
// decided at once, in Send order; the data is read into memory on a goroutine
// of its own, so SendSnapshot does not block.
func (e *MemEndpoint) SendSnapshot(m *raftpb.Message, data io.ReadCloser, size int64) {
	var once sync.Once
	finish := func(err error) {
		once.Do(func() {
			e.peerStat(m.To, func(s *PeerStats) {
				if err == nil {
					s.SnapshotsSent++
					s.SnapshotBytesSent += uint64(size)
				} else {
					s.SnapshotsFailed++
				}
			})
			e.rep.addSnapshot(m.To, err)
		})
	}
	to, at, seq, ok := e.net.planSnapshot(e, m.To, size)
	if !ok {
		data.Close()
		finish(ErrUnreachable)
		return
	}
	m = proto.Clone(m).(*raftpb.Message)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		data.Close()
		return
	}
	e.active.Add(1) // under mu, so never after Close began waiting
	e.mu.Unlock()
	go func() {
		defer e.active.Done()
		buf := make([]byte, size)
		_, err := io.ReadFull(data, buf)
		data.Close()
		if err != nil {
			finish(fmt.Errorf("transport: reading snapshot data: %w", err))
			return
		}
		d := &delivery{at: at, seq: seq, from: e.id, m: m, snap: buf, finish: finish}
		if !to.enqueue(d, 0) {
			finish(ErrUnreachable)
		}
	}()
}

// AddPeer records the peer; the address is ignored (routing is by ID).
func (e *MemEndpoint) AddPeer(id uint64, addr string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	delete(e.removed, id)
	if _, ok := e.stats[id]; !ok {
		e.stats[id] = &PeerStats{}
	}
	e.stats[id].Addr = addr
	return nil
}

// RemovePeer makes messages to id drop from now on.
func (e *MemEndpoint) RemovePeer(id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.removed[id] = true
	delete(e.stats, id)
}

// Stats returns the endpoint's per-peer counters.
func (e *MemEndpoint) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Stats{Peers: make(map[uint64]PeerStats, len(e.stats))}
	for id, s := range e.stats {
		st.Peers[id] = *s
	}
	return st
}

// Close stops delivery. Messages still in the inbox are discarded; snapshots
// sent to this endpoint and not yet handled fail.
func (e *MemEndpoint) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	pending := e.inbox
	e.inbox = nil
	close(e.done)
	e.mu.Unlock()
	for _, d := range pending {
		if d.finish != nil {
			d.finish(ErrUnreachable)
		}
	}
	e.active.Wait()
	return nil
}

// peerStat updates the stats of peer id under the endpoint's lock.
func (e *MemEndpoint) peerStat(id uint64, f func(*PeerStats)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.stats[id]
	if !ok {
		s = &PeerStats{}
		e.stats[id] = s
	}
	f(s)
}

// drop counts a message to id that was not delivered and, when report is
// set, tells the sender's handler the peer is unreachable.
func (e *MemEndpoint) drop(id uint64, report bool) {
	e.peerStat(id, func(s *PeerStats) { s.Dropped++ })
	if report {
		e.rep.addUnreachable(id)
	}
}

// enqueue adds d to the inbox; false if the endpoint is closed, not started
// or full.
func (e *MemEndpoint) enqueue(d *delivery, limit int) bool {
	e.mu.Lock()
	if e.closed || e.h == nil || (d.finish == nil && len(e.inbox) >= limit) {
		e.mu.Unlock()
		return false
	}
	heap.Push(&e.inbox, d)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return true
}

// deliverLoop hands due deliveries to h until Close.
func (e *MemEndpoint) deliverLoop(h Handler) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		var due []*delivery
		now := time.Now()
		for len(e.inbox) > 0 && !e.inbox[0].at.After(now) {
			due = append(due, heap.Pop(&e.inbox).(*delivery))
		}
		var wait time.Duration = -1
		if len(e.inbox) > 0 {
			wait = e.inbox[0].at.Sub(now)
		}
		e.mu.Unlock()
		for _, d := range due {
			e.deliver(h, d)
		}
		if len(due) > 0 {
			continue
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-e.done:
			return
		case <-e.wake:
		case <-tc:
		}
	}
}

func (e *MemEndpoint) deliver(h Handler, d *delivery) {
	select {
	case <-e.done:
		if d.finish != nil {
			d.finish(ErrUnreachable)
		}
		return
	default:
	}
	if d.finish == nil {
		e.peerStat(d.from, func(s *PeerStats) { s.MsgsReceived++ })
		h.HandleMessage(d.m)
		return
	}
	// Snapshots are handled on their own goroutine, as over TCP, so that
	// messages keep flowing while the handler stores the snapshot.
	e.active.Add(1)
	go func() {
		defer e.active.Done()
		start := time.Now()
		err := h.HandleSnapshot(d.m, bytes.NewReader(d.snap), int64(len(d.snap)))
		e.peerStat(d.from, func(s *PeerStats) {
			s.SnapshotsReceived++
			s.SnapshotLastReceive = time.Since(start)
		})
		d.finish(err)
	}()
}

// send routes one message from e through the network's faults.
func (n *MemNetwork) send(e *MemEndpoint, m *raftpb.Message) {
	e.mu.Lock()
	removed := e.removed[m.To]
	e.mu.Unlock()
	if removed {
		e.drop(m.To, true)
		return
	}
	n.mu.Lock()
	to := n.endpoints[m.To]
	plan := n.plan(link{e.id, m.To}, proto.Size(m))
	limit := n.queueSize
	n.mu.Unlock()
	if plan.cut || to == nil {
		e.drop(m.To, true)
		return
	}
	if len(plan.at) == 0 { // lost
		e.drop(m.To, false)
		return
	}
	for i, at := range plan.at {
		d := &delivery{at: at, seq: plan.seq + uint64(i), from: e.id, m: proto.Clone(m).(*raftpb.Message)}
		if !to.enqueue(d, limit) {
			e.drop(m.To, true)
			return
		}
	}
	e.peerStat(m.To, func(s *PeerStats) { s.MsgsSent++ })
}

// planSnapshot decides the fate of a snapshot of size bytes from e to id. A
// lost snapshot fails at once (a real stream would time out).
func (n *MemNetwork) planSnapshot(e *MemEndpoint, id uint64, size int64) (*MemEndpoint, time.Time, uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	to := n.endpoints[id]
	plan := n.plan(link{e.id, id}, int(size))
	if plan.cut || to == nil || len(plan.at) == 0 {
		return nil, time.Time{}, 0, false
	}
	return to, plan.at[0], plan.seq, true
}
