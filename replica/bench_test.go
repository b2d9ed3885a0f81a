package replica

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/transport"
)

// kvSM is the benchmarks' state machine: a map from 8-byte keys to
// values, so that it costs little next to the replica.
type kvSM struct {
	mu sync.Mutex
	m  map[uint64][]byte
}

func (s *kvSM) Apply(cmds []Command, results []any) error {
	s.mu.Lock()
	for _, c := range cmds {
		if len(c.Data) >= 8 {
			s.m[binary.LittleEndian.Uint64(c.Data)] = c.Data[8:]
		}
	}
	s.mu.Unlock()
	return nil
}

type noSnap struct{}

func (noSnap) WriteTo(io.Writer) (int64, error) { return 0, nil }
func (noSnap) Release()                         {}

func (s *kvSM) Snapshot() (Snapshot, error)     { return noSnap{}, nil }
func (s *kvSM) Restore(io.Reader, uint64) error { return nil }
func (s *kvSM) AppliedIndex() uint64            { return 0 }

// directNet is a benchmark transport that hands each message to the
// receiving replica as is (raft messages are immutable once handed out),
// to measure the replica without the in-memory transport's copies.
type directNet struct {
	mu  sync.RWMutex
	eps map[uint64]*directEP
}

type directEP struct {
	net *directNet
	id  uint64
	h   transport.Handler
}

func (n *directNet) endpoint(id uint64) *directEP {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := &directEP{net: n, id: id}
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
func (e *directEP) SendSnapshot(m *pb.Message, data io.ReadCloser, size int64) {
	e.net.mu.RLock()
	to := e.net.eps[m.To]
	e.net.mu.RUnlock()
	go func() {
		defer data.Close()
		err := to.h.HandleSnapshot(m, data, size)
		e.h.ReportSnapshot(m.To, err)
	}()
}
func (e *directEP) AddPeer(uint64, string) error { return nil }
func (e *directEP) RemovePeer(uint64)            {}
func (e *directEP) Stats() transport.Stats       { return transport.Stats{} }
func (e *directEP) Close() error                 { return nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchCluster(b *testing.B, direct bool) (map[uint64]*Replica, func()) {
	var endpoints func(id uint64) transport.Transport
	if direct {
		dn := &directNet{eps: map[uint64]*directEP{}}
		endpoints = func(id uint64) transport.Transport { return dn.endpoint(id) }
	} else {
		mn := transport.NewMemNetwork()
		endpoints = func(id uint64) transport.Transport { return mn.Endpoint(id) }
	}
	nodes := map[uint64]*Replica{}
	ms := members(1, 2, 3)
	for id := uint64(1); id <= 3; id++ {
		cfg := Config{ID: id, Bootstrap: ms, TickInterval: 100 * time.Millisecond, SnapshotEntries: 10000, CompactionTail: 5000}
		r, err := Start(cfg, Memory(raft.NewMemoryStorage()), &kvSM{m: map[uint64][]byte{}}, endpoints(id))
		if err != nil {
			b.Fatal(err)
		}
		nodes[id] = r
	}
	return nodes, func() {
		for _, r := range nodes {
			_ = r.Stop(context.Background())
		}
	}
}

func benchLeader(b *testing.B, nodes map[uint64]*Replica) *Replica {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		for _, r := range nodes {
			if r.IsLeader() {
				// One put through it, so the leader committed in its term.
				if _, err := r.Propose(ctx, make([]byte, 16)); err == nil {
					return r
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatal("no leader")
	return nil
}

// BenchmarkPut measures puts through three replicas in one process: a put
// is one Propose on the leader, returning once applied there. It reports
// puts/s, latency percentiles and the process's CPU time per put (all
// three replicas, transport, state machine and the proposers).
func BenchmarkPut(b *testing.B) {
	for _, tr := range []string{"direct", "mem"} {
		for _, conc := range []int{1, 64, 256} {
			b.Run(fmt.Sprintf("transport=%s/c=%d", tr, conc), func(b *testing.B) {
				benchPut(b, tr == "direct", conc)
			})
		}
	}
}

func benchPut(b *testing.B, direct bool, conc int) {
	nodes, stop := benchCluster(b, direct)
	defer stop()
	l := benchLeader(b, nodes)
	ctx := context.Background()
	per := (b.N + conc - 1) / conc
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls := make([]time.Duration, 0, per)
			cmd := make([]byte, 16)
			for i := range per {
				binary.LittleEndian.PutUint64(cmd, uint64(w)<<32|uint64(i%1024))
				s := time.Now()
				if _, err := l.Propose(ctx, cmd); err != nil {
					b.Error(err)
					return
				}
				ls = append(ls, time.Since(s))
			}
			lat[w] = ls
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	var all []time.Duration
	for _, ls := range lat {
		all = append(all, ls...)
	}
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	n := float64(len(all))
	b.ReportMetric(n/elapsed.Seconds(), "puts/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
	b.ReportMetric(float64(cpu.Nanoseconds())/n/1000, "cpu-us/put")
}
