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
	"github.com/tickraft/raft/wal"
)

// benchKeysPerProposer is the key space of each proposer: 262,144 keys at
// 256 proposers. The state machine's map is sized for them up front.
const benchKeysPerProposer = 1024

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

// cpuTime returns the process's user and system CPU time.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func benchCluster(b *testing.B, direct, onWAL bool) (map[uint64]*Replica, func()) {
	var endpoints func(id uint64) transport.Transport
	if direct {
		dn := &directNet{eps: map[uint64]*directEP{}}
		endpoints = func(id uint64) transport.Transport { return dn.endpoint(id) }
	} else {
		mn := transport.NewMemNetwork()
		endpoints = func(id uint64) transport.Transport { return mn.Endpoint(id) }
	}
	nodes := map[uint64]*Replica{}
	var wals []*wal.WAL
	ms := members(1, 2, 3)
	for id := uint64(1); id <= 3; id++ {
		cfg := Config{ID: id, Bootstrap: ms, TickInterval: 100 * time.Millisecond, SnapshotEntries: 10000, CompactionTail: 5000}
		store := Memory(raft.NewMemoryStorage())
		if onWAL {
			// 16 MiB segments: preparing 64 MiB ones (zeros written
			// ahead) would be a large part of a short run's CPU.
			w, err := wal.Open(b.TempDir(), wal.Options{SegmentSize: 16 << 20})
			if err != nil {
				b.Fatal(err)
			}
			wals = append(wals, w)
			store = WAL(w)
		}
		r, err := Start(cfg, store, &kvSM{m: make(map[uint64][]byte, benchKeysPerProposer*256)}, endpoints(id))
		if err != nil {
			b.Fatal(err)
		}
		nodes[id] = r
	}
	return nodes, func() {
		for _, r := range nodes {
			_ = r.Stop(context.Background())
		}
		for _, w := range wals {
			_ = w.Close()
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
				benchPut(b, tr == "direct", false, conc)
			})
		}
	}
}

// BenchmarkPutWAL is BenchmarkPut with every replica on a wal in a
// temporary directory, fsyncs on (the three share one disk).
func BenchmarkPutWAL(b *testing.B) {
	for _, conc := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("transport=direct/c=%d", conc), func(b *testing.B) {
			benchPut(b, true, true, conc)
		})
	}
}

func benchPut(b *testing.B, direct, onWAL bool, conc int) {
	nodes, stop := benchCluster(b, direct, onWAL)
	defer stop()
	l := benchLeader(b, nodes)
	ctx := context.Background()
	// Warm up: maps, pools and the log grow to their working size.
	var wwg sync.WaitGroup
	for w := range conc {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			cmd := make([]byte, 16)
			for i := range 2000/conc + 1 {
				binary.LittleEndian.PutUint64(cmd, uint64(w)<<32|uint64(i%benchKeysPerProposer))
				_, _ = l.Propose(ctx, cmd)
			}
		}()
	}
	wwg.Wait()
	per := (b.N + conc - 1) / conc
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	user0, sys0 := cpuTime()
	t0 := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls := make([]time.Duration, 0, per)
			cmd := make([]byte, 16)
			for i := range per {
				binary.LittleEndian.PutUint64(cmd, uint64(w)<<32|uint64(i%benchKeysPerProposer))
				// Latency is sampled (one put in 8): reading the clock
				// twice per put would be a visible part of its CPU.
				var s time.Time
				if i%8 == 0 {
					s = time.Now()
				}
				if _, err := l.Propose(ctx, cmd); err != nil {
					b.Error(err)
					return
				}
				if i%8 == 0 {
					ls = append(ls, time.Since(s))
				}
			}
			lat[w] = ls
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	user1, sys1 := cpuTime()
	user, sys := user1-user0, sys1-sys0
	b.StopTimer()
	var all []time.Duration
	for _, ls := range lat {
		all = append(all, ls...)
	}
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	n := float64(per * conc)
	b.ReportMetric(n/elapsed.Seconds(), "puts/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
	b.ReportMetric(float64((user+sys).Nanoseconds())/n/1000, "cpu-us/put")
	b.ReportMetric(float64(sys.Nanoseconds())/n/1000, "sys-us/put")
}
