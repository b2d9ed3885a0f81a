package nodebench

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// keysPerProposer bounds each proposer's key space; the state machines'
// maps are sized for 256 proposers up front, as in replica's benchmarks.
const keysPerProposer = 1024

// putFunc proposes cmd on the leader and returns once it is applied there.
type putFunc func(cmd []byte) error

// cluster is one implementation's three nodes, ready for puts.
type cluster interface {
	put(cmd []byte) error
	stop()
}

var impls = []struct {
	name  string
	start func(b *testing.B) cluster
}{
	{"replica-mem", func(b *testing.B) cluster { return startReplicas(b, false) }},
	{"replica-direct", func(b *testing.B) cluster { return startReplicas(b, true) }},
	{"etcdnode", startEtcd},
}

// BenchmarkPut runs the same puts through each implementation. Sub-benchmark
// names carry impl= and c= (concurrent proposers) for benchstat. Metrics:
// puts/s, p50-us and p99-us (one put in 8 timed), cpu-us/put (the process's
// user+system CPU from getrusage over the measured run, all three nodes and
// the proposers included).
func BenchmarkPut(b *testing.B) {
	for _, conc := range []int{1, 64, 256} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("impl=%s/c=%d", im.name, conc), func(b *testing.B) {
				c := im.start(b)
				defer c.stop()
				run(b, c.put, conc)
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func proposeAll(conc, per int, put putFunc, lat [][]time.Duration, fail func(error)) {
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := make([]byte, 16)
			for i := range per {
				binary.LittleEndian.PutUint64(cmd, uint64(w)<<32|uint64(i%keysPerProposer))
				var s time.Time
				if lat != nil && i%8 == 0 {
					s = time.Now()
				}
				if err := put(cmd); err != nil {
					fail(err)
					return
				}
				if lat != nil && i%8 == 0 {
					lat[w] = append(lat[w], time.Since(s))
				}
			}
		}()
	}
	wg.Wait()
}

func run(b *testing.B, put putFunc, conc int) {
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	proposeAll(conc, 2000/conc+1, put, nil, fail) // warm up
	per := (b.N + conc - 1) / conc
	lat := make([][]time.Duration, conc)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	proposeAll(conc, per, put, lat, fail)
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	var all []time.Duration
	for _, ls := range lat {
		all = append(all, ls...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	n := float64(per * conc)
	b.ReportMetric(n/elapsed.Seconds(), "puts/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
	b.ReportMetric(float64(cpu.Nanoseconds())/n/1000, "cpu-us/put")
}
