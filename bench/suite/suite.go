// Package suite defines the benchmark workloads and runs them against a
// raft implementation through the driver, measuring throughput, latency,
// allocations, messages and heap.
package suite

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickraft/raft/bench/driver"
	"github.com/tickraft/raft/bench/internal/hist"
)

// Target is one implementation under test: a RawNode-style library driven
// by this module's driver (Impl), or a library or runtime that runs its own
// cluster (Start).
type Target struct {
	Name string
	// Impl, when set, is driven by driver.Cluster (and driver.Single for
	// the single-node workload).
	Impl driver.Impl
	// Start, when Impl is nil, starts a cluster of Options.Nodes voters
	// and returns once it has a leader.
	Start func(driver.Options) (driver.System, error)
	// Settings says how this target's settings differ from the common
	// ones (the README's table lists them).
	Settings string
}

func (t Target) start(opts driver.Options) (driver.System, error) {
	if t.Impl != nil {
		return driver.StartSystem(t.Impl, opts)
	}
	return t.Start(opts)
}

// Workload is one benchmark scenario.
type Workload struct {
	Name string
	// Clients is the number of concurrent client goroutines, each issuing
	// one put at a time (closed loop).
	Clients int
	// ValueSize is the size of each put's value; keys are 16 bytes.
	ValueSize int
	// Single runs a one-voter RawNode inline instead of a cluster.
	Single bool
	// Doc says what the workload measures.
	Doc string
}

// Workloads are all the workloads, in the order they are reported.
var Workloads = []Workload{
	{Name: "put-c1", Clients: 1, ValueSize: 16,
		Doc: "one client, sequential 16 B puts: the latency of one replication round trip"},
	{Name: "put-c16", Clients: 16, ValueSize: 16,
		Doc: "16 concurrent clients: batching of proposals into Readies and appends"},
	{Name: "put-c64", Clients: 64, ValueSize: 16,
		Doc: "64 concurrent clients: throughput under load"},
	{Name: "put-c256", Clients: 256, ValueSize: 16,
		Doc: "256 concurrent clients: throughput when batches are large"},
	{Name: "put1k-c1", Clients: 1, ValueSize: 1024,
		Doc: "one client, 1 KiB values: per-byte costs on the latency path"},
	{Name: "put1k-c64", Clients: 64, ValueSize: 1024,
		Doc: "64 clients, 1 KiB values: bandwidth, entry size accounting"},
	{Name: "rawnode-1node", Single: true, ValueSize: 16,
		Doc: "one voter driven inline, no goroutines: Propose then Ready/persist/apply/Advance until applied; the library's own cost per op"},
}

// Select returns the workloads whose names match the regular expression
// expr (all for an empty expr).
func Select(expr string) ([]Workload, error) {
	if expr == "" {
		return Workloads, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	var ws []Workload
	for _, w := range Workloads {
		if re.MatchString(w.Name) {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("no workload matches %q", expr)
	}
	return ws, nil
}

// Options control a run.
type Options struct {
	// Duration is how long the measured part runs, when Ops is 0.
	Duration time.Duration
	// Ops, if not 0, is the number of puts measured (go test's b.N).
	Ops int
	// Warmup is how long puts run before measuring.
	Warmup time.Duration
	// Cluster shapes the cluster.
	Cluster driver.Options
	// Start and Stop, if set, are called right before and right after the
	// measured part (testing.B's ResetTimer and StopTimer).
	Start, Stop func()
	// Profile, when set, takes a CPU profile of the measured part to split
	// the CPU time per put into library, driver and Go runtime
	// (Result.CPU). Only one profile can run in a process at a time, so
	// go test's -cpuprofile and Profile exclude each other.
	Profile bool
	// ProfileFile, if set with Profile, is where the profile is written.
	ProfileFile string
	// HeapWindow, if not 0, splits the measured part into windows of this
	// length and records the peak live heap of each (Result.HeapPeaks), to
	// show whether memory stays bounded over a long run. OnHeapWindow, if
	// set, is called at the end of each window.
	HeapWindow   time.Duration
	OnHeapWindow func(end time.Duration, peak uint64)
}

// Result is the outcome of one run.
type Result struct {
	Impl     string `json:"impl"`
	Workload string `json:"workload"`
	Run      int    `json:"run"`

	Ops     uint64  `json:"ops"`
	Seconds float64 `json:"seconds"`
	// PutsPerSec is Ops / Seconds; NsPerOp its inverse.
	PutsPerSec float64 `json:"puts_per_sec"`
	NsPerOp    float64 `json:"ns_per_op"`
	// Latencies of single puts, from the client's call to its return.
	P50Ns  int64 `json:"p50_ns"`
	P99Ns  int64 `json:"p99_ns"`
	P999Ns int64 `json:"p999_ns"`
	// Allocations of the whole process during the measured part, per put.
	AllocsPerOp float64 `json:"allocs_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	// MsgsPerOp is the number of messages nodes sent each other per put.
	MsgsPerOp float64 `json:"msgs_per_op"`
	// PeakHeapBytes is the largest live heap (runtime/metrics
	// /memory/classes/heap/objects:bytes) sampled every 10ms.
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	// HeapPeaks are the peak live heaps of successive windows of
	// Options.HeapWindow (the last one may be shorter).
	HeapPeaks []uint64 `json:"heap_peaks,omitempty"`

	// CPU is the process's CPU time per put and its split, when measured.
	CPU *CPU `json:"cpu,omitempty"`
	// OtherCPU is the CPU other processes used during the measured part,
	// in cores (from /proc/stat minus this process's /proc/self/stat); -1
	// where it cannot be read. A run that shares the machine is slower.
	OtherCPU float64 `json:"other_cpu"`
	// ApplyLagMean and ApplyLagMax are how many entries the furthest
	// follower had still to apply behind the leader, sampled every 10ms.
	ApplyLagMean float64 `json:"apply_lag_mean"`
	ApplyLagMax  uint64  `json:"apply_lag_max"`

	// Counters over the measured part. More than 0 leader changes,
	// retries or snapshots mean the run was disturbed.
	LeaderChanges uint64 `json:"leader_changes"`
	Retries       uint64 `json:"retries"`
	Snapshots     uint64 `json:"snapshots"`
	Compactions   uint64 `json:"compactions"`
	StepErrors    uint64 `json:"step_errors"`
}

// KeySpace is the number of distinct keys, split evenly between the
// clients: each client cycles through keys of its own, as clients of a real
// store write different keys. It is large enough that a run never fills it,
// so the state machine's map (and the entries it views) grows through the
// run as a real store's does, and the heap is not artificially small.
const KeySpace = 1 << 20

// keyLen is the length of every key: "k", 5 digits of client, "-", 9
// digits of the client's key number.
const keyLen = 16

// keyGen makes a client's keys in turn, in place.
type keyGen struct {
	buf  [keyLen]byte
	n, m int // key number and keys per client
}

func newKeyGen(client, clients int) *keyGen {
	g := &keyGen{m: max(1, KeySpace/clients)}
	copy(g.buf[:], fmt.Appendf(nil, "k%05d-%09d", client%100000, 0))
	return g
}

// next returns the client's next key; it is valid until the next call.
func (g *keyGen) next() []byte {
	n := g.n
	g.n = (g.n + 1) % g.m
	for i := keyLen - 1; i >= keyLen-9; i-- {
		g.buf[i] = byte('0' + n%10)
		n /= 10
	}
	return g.buf[:]
}

// Run runs workload w against target t once.
func Run(t Target, w Workload, opts Options) (Result, error) {
	if opts.Ops == 0 && opts.Duration <= 0 {
		return Result{}, errors.New("suite: set Options.Duration or Options.Ops")
	}
	res := Result{Impl: t.Name, Workload: w.Name}
	var (
		putters []driver.Putter
		stats   func() driver.Stats
		lag     func() uint64
	)
	if w.Single {
		if t.Impl == nil {
			return res, fmt.Errorf("suite: %s has no single-node form", t.Name)
		}
		s, err := driver.NewSingle(t.Impl, opts.Cluster.CompactEvery)
		if err != nil {
			return res, err
		}
		putters = []driver.Putter{s}
		stats = func() driver.Stats { return driver.Stats{Compactions: s.Compactions()} }
	} else {
		sys, err := t.start(opts.Cluster)
		if err != nil {
			return res, err
		}
		defer sys.Stop()
		for range w.Clients {
			cl, err := sys.NewPutter()
			if err != nil {
				return res, err
			}
			putters = append(putters, cl)
		}
		stats, lag = sys.Stats, sys.ApplyLag
	}
	gens := make([]*keyGen, len(putters))
	for i := range gens {
		gens[i] = newKeyGen(i, len(putters))
	}
	values := make([][]byte, len(putters))
	for i := range values {
		values[i] = make([]byte, w.ValueSize)
		for j := range values[i] {
			values[i][j] = byte('a' + (i+j)%26)
		}
	}

	if opts.Warmup > 0 {
		if _, err := runPhase(putters, gens, values, nil, 0, opts.Warmup); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}

	var h hist.Hist
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st0 := stats()
	sampler := startHeapSampler(10*time.Millisecond, opts.HeapWindow, opts.OnHeapWindow, lag)
	var prof *profiler
	if opts.Profile {
		var err error
		if prof, err = startProfile(); err != nil {
			sampler.stop()
			return res, err
		}
	}
	if opts.Start != nil {
		opts.Start()
	}
	cpu0 := readCPU()
	t0 := time.Now()
	ops, err := runPhase(putters, gens, values, &h, opts.Ops, opts.Duration)
	elapsed := time.Since(t0)
	cpu1 := readCPU()
	if opts.Stop != nil {
		opts.Stop()
	}
	var split *CPU
	if prof != nil {
		split, err = prof.stop(opts.ProfileFile)
		if err != nil {
			sampler.stop()
			return res, err
		}
	}
	peak, windows, lagMean, lagMax := sampler.stop()
	runtime.ReadMemStats(&after)
	st1 := stats()
	if err != nil {
		return res, err
	}
	if ops == 0 {
		return res, errors.New("suite: no put completed")
	}

	n := float64(ops)
	res.Ops = ops
	res.Seconds = elapsed.Seconds()
	res.PutsPerSec = n / elapsed.Seconds()
	res.NsPerOp = float64(elapsed.Nanoseconds()) / n
	res.P50Ns = int64(h.Quantile(0.50))
	res.P99Ns = int64(h.Quantile(0.99))
	res.P999Ns = int64(h.Quantile(0.999))
	res.AllocsPerOp = float64(after.Mallocs-before.Mallocs) / n
	res.BytesPerOp = float64(after.TotalAlloc-before.TotalAlloc) / n
	res.MsgsPerOp = float64(st1.Messages-st0.Messages) / n
	res.PeakHeapBytes = peak
	res.HeapPeaks = windows
	res.ApplyLagMean, res.ApplyLagMax = lagMean, lagMax
	res.OtherCPU = cpu1.otherCores(cpu0, elapsed)
	if self := cpu1.self - cpu0.self; self > 0 {
		if split == nil {
			split = &CPU{}
		}
		split.setTotal(float64(self.Nanoseconds()) / n)
		res.CPU = split
	}
	res.LeaderChanges = st1.LeaderChanges - st0.LeaderChanges
	res.Retries = st1.Retries - st0.Retries
	res.Snapshots = st1.Snapshots - st0.Snapshots
	res.Compactions = st1.Compactions - st0.Compactions
	res.StepErrors = st1.StepErrors - st0.StepErrors
	return res, nil
}

// runPhase runs the putters, each in a closed loop, until ops puts are done
// (ops > 0) or for d, and returns the number of puts done. Latencies go to
// h when it is not nil. The first putter runs on the calling goroutine, so
// a single putter runs with no goroutine of its own.
func runPhase(putters []driver.Putter, gens []*keyGen, values [][]byte, h *hist.Hist, ops int, d time.Duration) (uint64, error) {
	var (
		remaining atomic.Int64
		stop      atomic.Bool
		done      atomic.Uint64
		errOnce   sync.Once
		firstErr  error
		wg        sync.WaitGroup
	)
	remaining.Store(math.MaxInt64)
	if ops > 0 {
		remaining.Store(int64(ops))
	} else {
		t := time.AfterFunc(d, func() { stop.Store(true) })
		defer t.Stop()
	}
	loop := func(i int) {
		p, g, v := putters[i], gens[i], values[i]
		var n uint64
		for !stop.Load() && remaining.Add(-1) >= 0 {
			key := g.next()
			t := time.Now()
			if err := p.Put(key, v); err != nil {
				errOnce.Do(func() { firstErr = err })
				stop.Store(true)
				break
			}
			if h != nil {
				h.Record(time.Since(t))
			}
			n++
		}
		done.Add(n)
	}
	for i := 1; i < len(putters); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(i)
		}()
	}
	loop(0)
	wg.Wait()
	return done.Load(), firstErr
}

const heapMetric = "/memory/classes/heap/objects:bytes"

// heapSampler records the peak live heap, read every interval from
// runtime/metrics (which, unlike ReadMemStats, does not stop the world),
// overall and per window when window is not 0.
//
// It also samples the followers' apply lag, when lag is not nil.
type heapSampler struct {
	done    chan struct{}
	peak    chan uint64
	windows []uint64 // written by the sampling goroutine, read after peak
	// lagSum, lagN and lagMax are written by the sampling goroutine and
	// read after peak.
	lagSum, lagN, lagMax uint64
}

func startHeapSampler(every, window time.Duration, onWindow func(time.Duration, uint64), lag func() uint64) *heapSampler {
	s := &heapSampler{done: make(chan struct{}), peak: make(chan uint64)}
	go func() {
		sample := []metrics.Sample{{Name: heapMetric}}
		read := func() uint64 {
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return 0
			}
			return sample[0].Value.Uint64()
		}
		start := time.Now()
		peak := read()
		windowPeak, windowEnd := peak, window
		closeWindow := func() {
			s.windows = append(s.windows, windowPeak)
			if onWindow != nil {
				onWindow(time.Since(start).Round(time.Second), windowPeak)
			}
			windowPeak, windowEnd = 0, windowEnd+window
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				v := read()
				peak, windowPeak = max(peak, v), max(windowPeak, v)
				if lag != nil {
					l := lag()
					s.lagSum += l
					s.lagN++
					s.lagMax = max(s.lagMax, l)
				}
				if window > 0 && time.Since(start) >= windowEnd {
					closeWindow()
				}
			case <-s.done:
				v := read()
				peak, windowPeak = max(peak, v), max(windowPeak, v)
				if window > 0 && windowPeak > 0 {
					closeWindow()
				}
				s.peak <- peak
				return
			}
		}
	}()
	return s
}

func (s *heapSampler) stop() (peak uint64, windows []uint64, lagMean float64, lagMax uint64) {
	close(s.done)
	peak = <-s.peak
	if s.lagN > 0 {
		lagMean = float64(s.lagSum) / float64(s.lagN)
	}
	return peak, s.windows, lagMean, s.lagMax
}
