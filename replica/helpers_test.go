package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	raft "github.com/tickraft/raft"
	"github.com/tickraft/raft/transport"
	"github.com/tickraft/raft/vfs/faultfs"
	"github.com/tickraft/raft/wal"
)

// setSM is a test state machine: each command is a unique key, applied
// once. It records how often each key was applied and fails the test's
// checks if an index is applied twice or out of order. Its result is
// "<key>@<index>", so a test can tell whose result it received.
type setSM struct {
	mu      sync.Mutex
	applied uint64
	keys    map[string]int
	// durable makes AppliedIndex report applied: the state machine
	// survives a crash (the test reuses the object).
	durable bool
	errs    []string
	// failAt, when set, makes Apply fail at that index.
	failAt uint64
}

func newSetSM() *setSM { return &setSM{keys: map[string]int{}} }

func (s *setSM) Apply(cmds []Command, results []any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range cmds {
		if c.Index <= s.applied {
			s.errs = append(s.errs, fmt.Sprintf("index %d applied after %d", c.Index, s.applied))
		}
		if s.failAt != 0 && c.Index >= s.failAt {
			return fmt.Errorf("setSM: injected failure at %d", c.Index)
		}
		s.applied = c.Index
		k := string(c.Data)
		s.keys[k]++
		if s.keys[k] > 1 {
			s.errs = append(s.errs, fmt.Sprintf("key %q applied %d times", k, s.keys[k]))
		}
		results[i] = fmt.Sprintf("%s@%d", k, c.Index)
	}
	return nil
}

type setSnap struct {
	Applied uint64
	Keys    map[string]int
}

func (s *setSM) Snapshot() (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := setSnap{Applied: s.applied, Keys: make(map[string]int, len(s.keys))}
	for k, v := range s.keys {
		c.Keys[k] = v
	}
	return &c, nil
}

func (c *setSnap) WriteTo(w io.Writer) (int64, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

func (c *setSnap) Release() {}

func (s *setSM) Restore(r io.Reader, index uint64) error {
	var c setSnap
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return err
	}
	if c.Applied > index {
		return fmt.Errorf("setSM: snapshot applied %d, restored as %d", c.Applied, index)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied, s.keys = index, c.Keys
	return nil
}

func (s *setSM) AppliedIndex() uint64 {
	if !s.durable {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

func (s *setSM) has(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[k] > 0
}

func (s *setSM) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func (s *setSM) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		t.Error(e)
	}
}

// testNode is one replica of a test cluster with what survives its crash:
// its log store and snapshot store (and, when durable, its state machine).
type testNode struct {
	id    uint64
	store *raft.MemoryStorage
	log   LogStore
	snaps SnapshotStore
	// With a wal: its file system (crashed by crash) and the open wal.
	fs  *faultfs.FS
	wal *wal.WAL
	sm  *setSM
	r   *Replica
}

type cluster struct {
	t     *testing.T
	net   *transport.MemNetwork
	clock *ManualClock
	nodes map[uint64]*testNode
	cfg   func(*Config)
	// useWAL puts every node on a wal and a snapshot directory in a
	// faultfs file system, with fsyncs.
	useWAL    bool
	stopTicks chan struct{}
	tickWG    sync.WaitGroup
}

func addr(id uint64) string { return fmt.Sprintf("node-%d", id) }

func members(ids ...uint64) []Member {
	var ms []Member
	for _, id := range ids {
		ms = append(ms, Member{ID: id, Addr: addr(id)})
	}
	return ms
}

// newCluster starts n founding replicas and a goroutine that ticks their
// clock every millisecond (the raft clock runs only on those ticks).
func newCluster(t *testing.T, n int, cfg func(*Config)) *cluster {
	return newClusterOpts(t, n, false, cfg)
}

func newClusterOpts(t *testing.T, n int, useWAL bool, cfg func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, net: transport.NewMemNetwork(), clock: NewManualClock(), nodes: map[uint64]*testNode{}, cfg: cfg, useWAL: useWAL}
	var ids []uint64
	for i := 1; i <= n; i++ {
		ids = append(ids, uint64(i))
	}
	for _, id := range ids {
		c.start(id, members(ids...), nil)
	}
	c.startTicking(time.Millisecond)
	t.Cleanup(c.close)
	return c
}

func (c *cluster) startTicking(d time.Duration) {
	c.stopTicks = make(chan struct{})
	c.tickWG.Add(1)
	go func() {
		defer c.tickWG.Done()
		for {
			select {
			case <-c.stopTicks:
				return
			case <-time.After(d):
				c.clock.Tick()
			}
		}
	}()
}

func (c *cluster) close() {
	if c.stopTicks != nil {
		close(c.stopTicks)
		c.tickWG.Wait()
	}
	for _, n := range c.nodes {
		if n.r != nil {
			_ = n.r.Stop(context.Background())
			n.sm.check(c.t)
		}
	}
}

// start starts (or restarts) node id. A nil n makes a new node.
func (c *cluster) start(id uint64, bootstrap []Member, n *testNode) *testNode {
	c.t.Helper()
	switch {
	case n == nil && c.useWAL:
		n = &testNode{id: id, sm: newSetSM(), fs: faultfs.New()}
		c.openWAL(n)
	case n == nil:
		n = &testNode{id: id, store: raft.NewMemoryStorage(), snaps: NewMemorySnapshots(), sm: newSetSM()}
		n.log = Memory(n.store)
	case n.wal != nil:
		c.openWAL(n)
	}
	cfg := Config{ID: id, Bootstrap: bootstrap, Logger: testLogger(), Clock: c.clock, TickInterval: time.Millisecond, Snapshots: n.snaps, ElectionTicks: 20, HeartbeatTicks: 2}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	r, err := Start(cfg, n.log, n.sm, c.net.Endpoint(id))
	if err != nil {
		c.t.Fatalf("starting node %d: %v", id, err)
	}
	n.r = r
	c.nodes[id] = n
	return n
}

// openWAL opens node n's wal and snapshot directory on its file system.
func (c *cluster) openWAL(n *testNode) {
	c.t.Helper()
	w, err := wal.Open("/data/wal", wal.Options{FS: n.fs, PreallocateInline: true, SegmentSize: 64 << 10})
	if err != nil {
		c.t.Fatalf("node %d: opening the wal: %v", n.id, err)
	}
	snaps, err := NewDirSnapshots(n.fs, "/data/snap")
	if err != nil {
		c.t.Fatal(err)
	}
	n.wal, n.log, n.snaps = w, WAL(w), snaps
}

// crash kills node n as a power failure would: its replica stops, and
// whatever its file system had not synced is lost.
func (c *cluster) crash(n *testNode) {
	n.r.kill()
	n.r = nil
	if n.fs != nil {
		n.fs.Crash(faultfs.DropUnsynced)
		_ = n.wal.Close()
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// leader waits until every live replica in ids agrees on one leader among
// them, and returns it.
func (c *cluster) leader(ids ...uint64) *testNode {
	c.t.Helper()
	if len(ids) == 0 {
		for id, n := range c.nodes {
			if n.r != nil && !stopped(n.r) {
				ids = append(ids, id)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		for _, id := range ids {
			l := c.nodes[id].r.Leader().ID
			if l == 0 || (lead != 0 && l != lead) {
				agree = false
				break
			}
			lead = l
		}
		if agree {
			for _, id := range ids {
				if id == lead && c.nodes[id].r.IsLeader() {
					return c.nodes[id]
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	c.t.Fatalf("no leader agreed among %v", ids)
	return nil
}

func (c *cluster) follower(lead uint64) *testNode {
	for id, n := range c.nodes {
		if id != lead && n.r != nil {
			return n
		}
	}
	c.t.Fatal("no follower")
	return nil
}

func stopped(r *Replica) bool {
	select {
	case <-r.Done():
		return true
	default:
		return false
	}
}

// propose proposes key on the leader until it is acknowledged (retrying
// across leader changes) and returns the result, "<key>@<index>". After a
// failure whose outcome is unknown (the command may have been applied) it
// retries with a new key, key', so that nothing is applied twice: the
// result names the key that was acknowledged.
func (c *cluster) propose(ctx context.Context, key string) string {
	c.t.Helper()
	for {
		l := c.leader()
		res, err := l.r.Propose(ctx, []byte(key))
		if err == nil {
			return res.(string)
		}
		if ctx.Err() != nil {
			c.t.Fatalf("propose %q: %v", key, err)
		}
		var nl *NotLeaderError
		if !errors.As(err, &nl) && !errors.Is(err, ErrProposalLost) && !errors.Is(err, ErrProposalDropped) {
			key += "'"
		}
	}
}

// keyOf returns the key a result of propose names.
func keyOf(res string) string { return res[:strings.LastIndexByte(res, '@')] }

// waitApplied waits until every live replica applied index.
func (c *cluster) waitApplied(ctx context.Context, index uint64) {
	c.t.Helper()
	for _, n := range c.nodes {
		if n.r == nil {
			continue
		}
		if err := n.r.WaitFor(ctx, func(m Metrics) bool { return m.Applied >= index }); err != nil {
			c.t.Fatalf("node %d waiting for applied %d: %v", n.id, index, err)
		}
	}
}

func indexOf(res string) uint64 {
	i := bytes.LastIndexByte([]byte(res), '@')
	var idx uint64
	fmt.Sscanf(res[i+1:], "%d", &idx)
	return idx
}

func newNet() *transport.MemNetwork { return transport.NewMemNetwork() }
