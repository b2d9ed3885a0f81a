package driver

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Options shape a Cluster. Zero fields take the defaults below.
type Options struct {
	// Nodes is the number of voters.
	Nodes int
	// TickInterval is the real time between two ticks of each node. With
	// ElectionTick 10 and HeartbeatTick 1, the default 100ms gives a
	// heartbeat every 100ms and an election timeout of 1-2s, as etcd's
	// defaults (and most deployments) run raft.
	TickInterval time.Duration
	// CompactEvery is the number of applied entries between two log
	// compactions on each node.
	CompactEvery uint64
	// MaxClients is the number of clients the cluster can serve.
	MaxClients int
	// RetryAfter is how long a client waits for its put to be applied
	// before it proposes it again (the proposal may have been lost with a
	// leader change).
	RetryAfter time.Duration
	// Seed seeds the nodes' election timeouts.
	Seed uint64
}

// Defaults for Options.
const (
	DefaultNodes        = 3
	DefaultTickInterval = 100 * time.Millisecond
	DefaultMaxClients   = 1024
	DefaultRetryAfter   = time.Second
)

func (o Options) withDefaults() Options {
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	}
	if o.TickInterval == 0 {
		o.TickInterval = DefaultTickInterval
	}
	if o.CompactEvery == 0 {
		o.CompactEvery = DefaultCompactEvery
	}
	if o.MaxClients == 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	return o
}

// Cluster is a raft cluster of one implementation inside this process: one
// goroutine per node and no network. Messages go from node to node through
// in-memory queues, by pointer, without encoding.
type Cluster struct {
	opts  Options
	nodes []*clusterNode

	// leader is the ID of the node that last became leader, 0 while there
	// is none.
	leader        atomic.Uint64
	leaderChanges atomic.Uint64
	retries       atomic.Uint64

	// waits holds the clients' pending puts, as an application's request
	// registry does (etcd's wait.Wait): a channel per put, registered
	// under a lock in a map sharded by client.
	waits      [waitShards]waitShard
	clientsMu  sync.Mutex
	nextClient int

	// epoch counts the retry sweeps (see sweep).
	epoch atomic.Uint64

	failed atomic.Bool
	errMu  sync.Mutex
	err    error

	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopped  bool
}

// waitShards is the number of locks the request registry is split over.
const waitShards = 16

// waitShard is one part of the request registry.
type waitShard struct {
	mu sync.Mutex
	// m maps a pending request's ID to its waiter. Whoever removes an
	// entry (the leader that applied it, a node that dropped it, the retry
	// sweeper) is the only one to send on its channel.
	m map[uint64]waiter
	_ [40]byte // keep shards on separate cache lines
}

type waiter struct {
	// ch receives true when the put was applied on the leader, false when
	// its proposal was dropped or timed out. It has room for one value.
	ch chan bool
	// since is the sweep epoch in which the client proposed the put.
	since uint64
}

// clusterNode is a node of a Cluster: its replica and its inbound queue.
type clusterNode struct {
	replica
	c *Cluster

	mu       sync.Mutex
	msgs     []Message // inbound messages
	props    [][]byte  // inbound proposals
	notify   chan struct{}
	spareMsg []Message
	spareP   [][]byte

	sent       atomic.Uint64
	stepErrors atomic.Uint64
}

// StartCluster creates and starts a cluster of impl: every node is
// bootstrapped with all the others, node 1 campaigns, and the node loops
// start. Use WaitLeader before proposing.
func StartCluster(impl Impl, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	c := &Cluster{
		opts: opts,
		stop: make(chan struct{}),
	}
	for i := range c.waits {
		c.waits[i].m = make(map[uint64]waiter)
	}
	peers := make([]uint64, opts.Nodes)
	for i := range peers {
		peers[i] = uint64(i + 1)
	}
	for _, id := range peers {
		rn, err := impl.NewNode(Config{
			ID:              id,
			Peers:           peers,
			ElectionTick:    ElectionTick,
			HeartbeatTick:   HeartbeatTick,
			MaxSizePerMsg:   MaxSizePerMsg,
			MaxInflightMsgs: MaxInflightMsgs,
			Seed:            opts.Seed + id,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: node %d: %w", impl.Name(), id, err)
		}
		n := &clusterNode{
			replica: newReplica(rn, id, opts.CompactEvery),
			c:       c,
			notify:  make(chan struct{}, 1),
		}
		n.send = n.route
		n.softState = n.onSoftState
		n.done = c.complete
		c.nodes = append(c.nodes, n)
	}
	// Carry out the bootstrap Readies (persist and apply the initial
	// configuration) first: etcd raft ignores a campaign while committed
	// configuration changes are not applied.
	for _, n := range c.nodes {
		for n.rn.HasReady() {
			if err := n.handleReady(); err != nil {
				return nil, fmt.Errorf("%s: %w", impl.Name(), err)
			}
		}
	}
	if err := c.nodes[0].rn.Campaign(); err != nil {
		return nil, fmt.Errorf("%s: node 1 campaign: %w", impl.Name(), err)
	}
	for _, n := range c.nodes {
		c.wg.Add(1)
		go n.run()
	}
	c.wg.Add(1)
	go c.sweep()
	return c, nil
}

// WaitLeader waits until a leader is elected, and returns its ID.
func (c *Cluster) WaitLeader(timeout time.Duration) (uint64, error) {
	deadline := time.Now().Add(timeout)
	for {
		if err := c.Err(); err != nil {
			return 0, err
		}
		if id := c.leader.Load(); id != 0 {
			return id, nil
		}
		if time.Now().After(deadline) {
			return 0, errors.New("driver: no leader elected in time")
		}
		time.Sleep(time.Millisecond)
	}
}

// WaitApplied waits until every node has applied the same index, at least
// index.
func (c *Cluster) WaitApplied(index uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := c.Err(); err != nil {
			return err
		}
		first := c.nodes[0].appliedIdx.Load()
		same := first >= index
		for _, n := range c.nodes[1:] {
			same = same && n.appliedIdx.Load() == first
		}
		if same {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("driver: nodes did not converge on an applied index >= %d in time", index)
		}
		time.Sleep(time.Millisecond)
	}
}

// Stop stops the node loops and waits for them. After Stop the per-node
// accessors (KV, Applied, ...) may be used.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		close(c.stop)
		c.wg.Wait()
		c.stopped = true
	})
}

// Err returns the first error a node failed with, if any.
func (c *Cluster) Err() error {
	if !c.failed.Load() {
		return nil
	}
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

func (c *Cluster) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
	c.failed.Store(true)
}

// Leader returns the ID of the current leader, 0 if none is known.
func (c *Cluster) Leader() uint64 { return c.leader.Load() }

// Stats counts what happened in the cluster since it started.
type Stats struct {
	// Messages is the number of messages nodes sent each other.
	Messages uint64
	// LeaderChanges counts nodes becoming leader (the first election
	// included).
	LeaderChanges uint64
	// Retries counts puts proposed again, after a drop or a timeout.
	Retries uint64
	// Compactions counts log compactions over all nodes.
	Compactions uint64
	// Snapshots counts snapshots nodes received from a leader.
	Snapshots uint64
	// StepErrors counts messages a node refused.
	StepErrors uint64
}

// Stats returns the cluster's counters; it may be called at any time.
func (c *Cluster) Stats() Stats {
	s := Stats{
		LeaderChanges: c.leaderChanges.Load(),
		Retries:       c.retries.Load(),
	}
	for _, n := range c.nodes {
		s.Messages += n.sent.Load()
		s.Compactions += n.compactions.Load()
		s.Snapshots += n.snapshots.Load()
		s.StepErrors += n.stepErrors.Load()
	}
	return s
}

// Nodes returns the number of nodes.
func (c *Cluster) Nodes() int { return len(c.nodes) }

// Applied returns the index node i (from 0) has applied.
func (c *Cluster) Applied(i int) uint64 { return c.nodes[i].appliedIdx.Load() }

// KV returns node i's key-value map. Call it only after Stop.
func (c *Cluster) KV(i int) map[string]string {
	c.mustBeStopped()
	return c.nodes[i].kv
}

// FirstIndex returns the first index in node i's log storage. Call it only
// after Stop.
func (c *Cluster) FirstIndex(i int) uint64 {
	c.mustBeStopped()
	return c.nodes[i].rn.FirstIndex()
}

func (c *Cluster) mustBeStopped() {
	if !c.stopped {
		panic("driver: node state read while the cluster runs")
	}
}

// complete wakes the client waiting for request id, once it is applied on
// the leader.
func (c *Cluster) complete(id uint64) { c.wake(id, true) }

func (c *Cluster) wake(id uint64, applied bool) {
	slot := requestSlot(id)
	if slot < 0 {
		return
	}
	sh := &c.waits[slot%waitShards]
	sh.mu.Lock()
	w, ok := sh.m[id]
	if ok {
		delete(sh.m, id)
	}
	sh.mu.Unlock()
	if ok {
		w.ch <- applied
	}
}

// register records that the client waits for request id, proposed in sweep
// epoch since, and returns the channel it will be told on.
func (c *Cluster) register(id, since uint64) chan bool {
	ch := make(chan bool, 1)
	sh := &c.waits[requestSlot(id)%waitShards]
	sh.mu.Lock()
	sh.m[id] = waiter{ch: ch, since: since}
	sh.mu.Unlock()
	return ch
}

// retrySweeps is the number of sweeps per Options.RetryAfter.
const retrySweeps = 4

// sweep is the clients' retry timer, one for all of them: every
// RetryAfter/retrySweeps it wakes, as if its proposal had been dropped, each
// client whose put has waited for RetryAfter (at most RetryAfter/retrySweeps
// more), so that it proposes the put again. A timer per put would cost
// every put a timer reset and stop and a two-way select, for a retry that
// only a leader change makes happen.
func (c *Cluster) sweep() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.RetryAfter / retrySweeps)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		e := c.epoch.Add(1)
		for i := range c.waits {
			sh := &c.waits[i]
			sh.mu.Lock()
			for id, w := range sh.m {
				if e-w.since > retrySweeps {
					delete(sh.m, id)
					w.ch <- false
				}
			}
			sh.mu.Unlock()
		}
	}
}

// run is the node's loop. It wakes on a tick, an inbound message or a
// proposal, takes everything queued so the work is batched into one Ready,
// and handles Readies until there is none.
func (n *clusterNode) run() {
	defer n.c.wg.Done()
	ticker := time.NewTicker(n.c.opts.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-n.c.stop:
			return
		case <-ticker.C:
			n.rn.Tick()
		case <-n.notify:
		}
		msgs, props := n.take()
		for i := range msgs {
			if err := n.rn.Step(msgs[i]); err != nil {
				n.stepErrors.Add(1)
			}
		}
		clear(msgs)
		for _, p := range props {
			if err := n.rn.Propose(p); err != nil {
				if id, _, _, derr := decodePut(p); derr == nil {
					n.c.wake(id, false)
				}
			}
		}
		clear(props)
		n.spareMsg, n.spareP = msgs[:0], props[:0]
		for n.rn.HasReady() {
			if err := n.handleReady(); err != nil {
				n.c.fail(err)
				return
			}
		}
	}
}

// take swaps the inbound queues for the spare (empty) ones and returns
// what was queued.
func (n *clusterNode) take() ([]Message, [][]byte) {
	n.mu.Lock()
	msgs, props := n.msgs, n.props
	n.msgs, n.props = n.spareMsg, n.spareP
	n.mu.Unlock()
	n.spareMsg, n.spareP = nil, nil
	return msgs, props
}

func (n *clusterNode) wakeUp() {
	select {
	case n.notify <- struct{}{}:
	default:
	}
}

func (n *clusterNode) propose(data []byte) {
	n.mu.Lock()
	n.props = append(n.props, data)
	n.mu.Unlock()
	n.wakeUp()
}

// route hands a Ready's messages to their nodes' queues, one lock per
// destination.
func (n *clusterNode) route(msgs []Message) {
	for _, to := range n.c.nodes {
		k := 0
		for i := range msgs {
			if msgs[i].To == to.id {
				k++
			}
		}
		if k == 0 {
			continue
		}
		to.mu.Lock()
		for i := range msgs {
			if msgs[i].To == to.id {
				to.msgs = append(to.msgs, msgs[i])
			}
		}
		to.mu.Unlock()
		to.wakeUp()
		n.sent.Add(uint64(k))
	}
	for i := range msgs {
		if msgs[i].Snap {
			// Handing the message over is all the sending there is.
			n.rn.ReportSnapshot(msgs[i].To, true)
		}
	}
}

func (n *clusterNode) onSoftState(_ uint64, leader bool) {
	if leader {
		n.c.leader.Store(n.id)
		n.c.leaderChanges.Add(1)
	} else {
		n.c.leader.CompareAndSwap(n.id, 0)
	}
}

// Client issues puts to a cluster, one at a time. Each concurrent client
// goroutine needs its own.
type Client struct {
	c    *Cluster
	slot int
	seq  uint64
}

// NewClient returns a new client of the cluster.
func (c *Cluster) NewClient() (*Client, error) {
	c.clientsMu.Lock()
	defer c.clientsMu.Unlock()
	if c.nextClient >= c.opts.MaxClients {
		return nil, fmt.Errorf("driver: more than %d clients", c.opts.MaxClients)
	}
	slot := c.nextClient
	c.nextClient++
	return &Client{c: c, slot: slot}, nil
}

// Put proposes a put of key and value to the leader and returns once it is
// applied there. It retries a put whose proposal was dropped or not applied
// within Options.RetryAfter (give or take a quarter, see sweep).
func (cl *Client) Put(key, value []byte) error {
	cl.seq++
	id := requestID(cl.slot, cl.seq)
	data := EncodePut(id, key, value)
	for {
		if err := cl.c.Err(); err != nil {
			return err
		}
		lead := cl.c.leader.Load()
		if lead == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		ch := cl.c.register(id, cl.c.epoch.Load())
		cl.c.nodes[lead-1].propose(data)
		// Only the goroutine that removes the request from the registry
		// sends: the leader that applied the put (true), a node that
		// dropped the proposal or the retry sweeper (false).
		if <-ch {
			return nil
		}
		cl.c.retries.Add(1) // dropped or timed out: propose it again
	}
}

// WithDefaults returns opts with the defaults in its zero fields.
func WithDefaults(opts Options) Options { return opts.withDefaults() }
