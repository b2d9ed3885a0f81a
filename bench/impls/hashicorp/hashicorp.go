// Package hashicorp runs github.com/hashicorp/raft clusters for the
// benchmark: the library drives itself (its own goroutines, timers and
// batching), so this adapter is a driver.System, not a driver.Node. Nodes
// talk over the library's InmemTransport and keep their log and stable
// state in its InmemStore; a put returns from Apply(...).Error(), once the
// leader's state machine has applied it.
package hashicorp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/tickraft/raft/bench/driver"
)

// Name is the target's name.
const Name = "hashicorp"

// Settings are how this target's settings differ from the driver's, for
// the benchmark's table.
const Settings = "HeartbeatTimeout and ElectionTimeout 10 ticks (heartbeats every tick), LeaderLeaseTimeout 5 ticks, " +
	"CommitTimeout 50ms (default), MaxAppendEntries 1024 (its maximum; default 64), BatchApplyCh, " +
	"snapshot every 10,000 entries keeping 5,000 (SnapshotThreshold, TrailingLogs; checked every tick); " +
	"InmemTransport (RPCs through channels), InmemStore, InmemSnapshotStore; the library's own goroutines drive it"

// Start starts a cluster of opts.Nodes voters and waits for a leader.
func Start(opts driver.Options) (driver.System, error) {
	opts = driver.WithDefaults(opts)
	s := &system{}
	s.setLeader(-1)
	servers := make([]raft.Server, opts.Nodes)
	trans := make([]*raft.InmemTransport, opts.Nodes)
	for i := range servers {
		addr, t := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i+1)))
		servers[i] = raft.Server{ID: raft.ServerID(addr), Address: addr}
		trans[i] = t
	}
	for i, a := range trans {
		for j, b := range trans {
			if i != j {
				a.Connect(servers[j].Address, b)
			}
		}
	}
	obs := make(chan raft.Observation, 64)
	for i := range servers {
		conf := raft.DefaultConfig()
		conf.LocalID = servers[i].ID
		conf.Logger = hclog.NewNullLogger()
		conf.HeartbeatTimeout = driver.ElectionTick * opts.TickInterval
		conf.ElectionTimeout = driver.ElectionTick * opts.TickInterval
		conf.LeaderLeaseTimeout = driver.ElectionTick / 2 * opts.TickInterval
		conf.MaxAppendEntries = 1024
		conf.BatchApplyCh = true
		conf.SnapshotThreshold = opts.CompactEvery
		conf.TrailingLogs = opts.CompactEvery / 2
		conf.SnapshotInterval = opts.TickInterval
		store := raft.NewInmemStore()
		snaps := raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(conf, store, store, snaps, trans[i], raft.Configuration{Servers: servers}); err != nil {
			s.Stop()
			return nil, fmt.Errorf("hashicorp: bootstrap node %d: %w", i+1, err)
		}
		f := &fsm{kv: make(map[string]string), snapshots: &s.snapshots}
		r, err := raft.NewRaft(conf, f, store, store, snaps, trans[i])
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("hashicorp: node %d: %w", i+1, err)
		}
		r.RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
			_, ok := o.Data.(raft.LeaderObservation)
			return ok
		}))
		s.nodes = append(s.nodes, r)
		s.fsms = append(s.fsms, f)
		s.ids = append(s.ids, servers[i].ID)
	}
	s.done = make(chan struct{})
	s.wg.Add(1)
	go s.watch(obs)
	deadline := time.Now().Add(10 * driver.ElectionTick * opts.TickInterval)
	for s.leader.Load() < 0 {
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("hashicorp: no leader elected in time")
		}
		time.Sleep(time.Millisecond)
	}
	return s, nil
}

type system struct {
	nodes []*raft.Raft
	fsms  []*fsm
	ids   []raft.ServerID

	// leader is the index in nodes of the leader, -1 while there is none.
	leader        atomic.Int64
	leaderChanges atomic.Uint64
	retries       atomic.Uint64
	snapshots     atomic.Uint64
	nextClient    atomic.Uint64

	done     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

func (s *system) leaderNode() int { return int(s.leader.Load()) }
func (s *system) setLeader(i int) { s.leader.Store(int64(i)) }

func (s *system) Stats() driver.Stats {
	return driver.Stats{
		LeaderChanges: s.leaderChanges.Load(),
		Retries:       s.retries.Load(),
		Snapshots:     s.snapshots.Load(),
	}
}

// watch follows leadership from the nodes' observations.
func (s *system) watch(obs chan raft.Observation) {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case o := <-obs:
			lo := o.Data.(raft.LeaderObservation)
			lead := -1
			for i, id := range s.ids {
				if id == lo.LeaderID {
					lead = i
				}
			}
			if lead >= 0 && s.nodes[lead] == o.Raft && s.leaderNode() != lead {
				s.leaderChanges.Add(1)
				s.setLeader(lead)
			} else if lead < 0 && s.leaderNode() >= 0 && s.nodes[s.leaderNode()] == o.Raft {
				s.setLeader(-1)
			}
		}
	}
}

func (s *system) ApplyLag() uint64 {
	lead := s.leaderNode()
	if lead < 0 {
		return 0
	}
	la := s.fsms[lead].applied.Load()
	var lag uint64
	for _, f := range s.fsms {
		if a := f.applied.Load(); a < la {
			lag = max(lag, la-a)
		}
	}
	return lag
}

func (s *system) Stop() {
	s.stopOnce.Do(func() {
		for _, r := range s.nodes {
			_ = r.Shutdown().Error()
		}
		if s.done != nil {
			close(s.done)
		}
		s.wg.Wait()
	})
}

func (s *system) NewPutter() (driver.Putter, error) {
	return &client{s: s, slot: int(s.nextClient.Add(1) - 1)}, nil
}

type client struct {
	s    *system
	slot int
	seq  uint64
}

// Put applies a put through the leader and returns once its state machine
// applied it. The payload is the driver's, so entries are the same size as
// the other targets'.
func (c *client) Put(key, value []byte) error {
	c.seq++
	data := driver.EncodePut(driver.RequestID(c.slot, c.seq), key, value)
	for {
		lead := c.s.leaderNode()
		if lead < 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		err := c.s.nodes[lead].Apply(data, 0).Error()
		if err == nil {
			return nil
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return err
		}
		c.s.retries.Add(1) // not the leader any more, or leadership lost
	}
}

// fsm is a node's key-value state machine, the same as the driver's: the
// map views the entries' payloads.
type fsm struct {
	kv        map[string]string
	applied   atomic.Uint64
	snapshots *atomic.Uint64
}

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand {
		_, key, value, err := driver.DecodePut(l.Data)
		if err != nil {
			return err
		}
		f.kv[driver.UnsafeString(key)] = driver.UnsafeString(value)
	}
	f.applied.Store(l.Index)
	return nil
}

// Snapshot records only the applied index, as the driver's snapshots do.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return snapshot(f.applied.Load()), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var b [8]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return err
	}
	f.applied.Store(binary.BigEndian.Uint64(b[:]))
	f.snapshots.Add(1)
	return nil
}

type snapshot uint64

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(binary.BigEndian.AppendUint64(nil, uint64(s))); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}
