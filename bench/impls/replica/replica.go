// Package replica runs tickraft's runtime (package
// github.com/tickraft/raft/replica) for the benchmark: three replicas in one
// process over the in-memory transport (transport.MemNetwork, which copies
// every message) with MemoryStorage. The runtime drives raft itself, so this
// adapter is a driver.System; a put is one Propose on the leader, returning
// once applied there.
package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	raft "github.com/tickraft/raft"
	"github.com/tickraft/raft/replica"
	"github.com/tickraft/raft/transport"

	"github.com/tickraft/raft/bench/driver"
)

// Name is the target's name.
const Name = "tickraft-replica"

// Settings are how this target's settings differ from the driver's.
const Settings = "tickraft's runtime (package replica): its own loop, apply goroutine and proposal registry; " +
	"transport.MemNetwork (messages copied), MemoryStorage; SnapshotEntries 10,000, CompactionTail 5,000; " +
	"default (lazy) commit propagation"

// Start starts opts.Nodes replicas and waits for a leader.
func Start(opts driver.Options) (driver.System, error) {
	opts = driver.WithDefaults(opts)
	net := transport.NewMemNetwork()
	var members []replica.Member
	for i := range opts.Nodes {
		members = append(members, replica.Member{ID: uint64(i + 1), Addr: fmt.Sprintf("node%d", i+1)})
	}
	s := &system{done: make(chan struct{})}
	for _, m := range members {
		ep := net.Endpoint(m.ID)
		s.eps = append(s.eps, ep)
		sm := &kv{m: make(map[string]string)}
		r, err := replica.Start(replica.Config{
			ID:              m.ID,
			Bootstrap:       members,
			TickInterval:    opts.TickInterval,
			ElectionTicks:   driver.ElectionTick,
			HeartbeatTicks:  driver.HeartbeatTick,
			Seed:            opts.Seed + m.ID,
			SnapshotEntries: int64(opts.CompactEvery),
			CompactionTail:  opts.CompactEvery / 2,
			MaxSizePerMsg:   driver.MaxSizePerMsg,
			MaxInflightMsgs: driver.MaxInflightMsgs,
		}, replica.Memory(raft.NewMemoryStorage()), sm, ep)
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("replica %d: %w", m.ID, err)
		}
		s.nodes = append(s.nodes, r)
		s.sms = append(s.sms, sm)
	}
	deadline := time.Now().Add(10 * driver.ElectionTick * opts.TickInterval)
	for s.findLeader() == nil {
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("replica: no leader elected in time")
		}
		time.Sleep(time.Millisecond)
	}
	s.wg.Add(1)
	go s.watch()
	return s, nil
}

type system struct {
	nodes []*replica.Replica
	sms   []*kv
	eps   []*transport.MemEndpoint

	leader        atomic.Pointer[replica.Replica]
	leaderChanges atomic.Uint64
	retries       atomic.Uint64
	nextClient    atomic.Uint64

	done     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

func (s *system) findLeader() *replica.Replica {
	for _, r := range s.nodes {
		if r.IsLeader() {
			if s.leader.Swap(r) != r {
				s.leaderChanges.Add(1)
			}
			return r
		}
	}
	return nil
}

// watch follows leadership every 10ms.
func (s *system) watch() {
	defer s.wg.Done()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.findLeader()
		}
	}
}

func (s *system) Stats() driver.Stats {
	st := driver.Stats{LeaderChanges: s.leaderChanges.Load(), Retries: s.retries.Load()}
	for _, ep := range s.eps {
		for _, p := range ep.Stats().Peers {
			st.Messages += p.MsgsSent
		}
	}
	return st
}

func (s *system) ApplyLag() uint64 {
	l := s.leader.Load()
	if l == nil {
		return 0
	}
	la := l.AppliedIndex()
	var lag uint64
	for _, r := range s.nodes {
		if a := r.AppliedIndex(); a < la {
			lag = max(lag, la-a)
		}
	}
	return lag
}

func (s *system) Stop() {
	s.stopOnce.Do(func() {
		close(s.done)
		s.wg.Wait()
		for _, r := range s.nodes {
			_ = r.Stop(context.Background())
		}
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

// Put proposes the driver's payload on the leader and returns once the
// leader applied it.
func (c *client) Put(key, value []byte) error {
	c.seq++
	data := driver.EncodePut(driver.RequestID(c.slot, c.seq), key, value)
	for {
		l := c.s.leader.Load()
		if l == nil {
			time.Sleep(time.Millisecond)
			continue
		}
		_, err := l.Propose(context.Background(), data)
		if err == nil {
			return nil
		}
		if l.Err() != nil {
			return err
		}
		c.s.retries.Add(1)
		time.Sleep(time.Millisecond)
		c.s.findLeader()
	}
}

// kv is the driver's key-value state machine: the map views the commands'
// payloads.
type kv struct {
	m map[string]string
}

func (k *kv) Apply(cmds []replica.Command, results []any) error {
	for i := range cmds {
		_, key, value, err := driver.DecodePut(cmds[i].Data)
		if err != nil {
			return err
		}
		k.m[driver.UnsafeString(key)] = driver.UnsafeString(value)
		results[i] = nil
	}
	return nil
}

// Snapshot writes nothing, as the driver's snapshots carry only an index.
func (k *kv) Snapshot() (replica.Snapshot, error) { return emptySnap{}, nil }
func (k *kv) Restore(io.Reader, uint64) error     { return nil }
func (k *kv) AppliedIndex() uint64                { return 0 }

type emptySnap struct{}

func (emptySnap) WriteTo(io.Writer) (int64, error) { return 0, nil }
func (emptySnap) Release()                         {}
