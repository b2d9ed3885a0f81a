// Command raftkv-bench measures puts/s of a raftkv cluster of real
// processes on loopback: it builds the server, starts a 3-node cluster
// (pebble, fsync on, unless told otherwise), and runs closed-loop clients,
// each with its own client (session, connection), putting 16-byte keys.
// Each configuration is run -runs times on a fresh cluster; the median and
// the spread are printed.
//
//	go run ./cmd/raftkv-bench -clients 1,64 -duration 10s -runs 3
//
// Or against a running cluster: -endpoints host:port,...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickraft/raft/examples/raftkv/client"
	"github.com/tickraft/raft/examples/raftkv/internal/cluster"
)

func main() {
	clients := flag.String("clients", "1,64", "comma-separated client counts")
	duration := flag.Duration("duration", 10*time.Second, "measured time per run")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured time before each run")
	runs := flag.Int("runs", 3, "runs per client count (fresh cluster each)")
	valueSize := flag.Int("value-size", 16, "value size in bytes")
	sm := flag.String("sm", "pebble", "state machine: pebble or memory")
	noSync := flag.Bool("unsafe-no-sync", false, "turn fsync off on the servers")
	endpoints := flag.String("endpoints", "", "use this running cluster instead of starting one")
	flag.Parse()

	var counts []int
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fail(fmt.Errorf("-clients: %q", s))
		}
		counts = append(counts, n)
	}
	dir, err := os.MkdirTemp("", "raftkv-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	var bin string
	if *endpoints == "" {
		bins, err := cluster.Build(dir, "raftkv")
		if err != nil {
			fail(err)
		}
		bin = bins["raftkv"]
	}
	fmt.Printf("raftkv-bench: %s, fsync %v, %d-byte values, %v per run, %d runs\n", *sm, !*noSync, *valueSize, *duration, *runs)
	for _, n := range counts {
		var rates []float64
		var p50s, p99s []time.Duration
		for r := range *runs {
			eps := strings.Split(*endpoints, ",")
			var c *cluster.Cluster
			if *endpoints == "" {
				args := []string{"-log-level", "warn"}
				if *noSync {
					args = append(args, "-unsafe-no-sync")
				}
				c = cluster.New(bin, fmt.Sprintf("%s/run-%d-%d", dir, n, r), *sm, args...)
				for id := uint64(1); id <= 3; id++ {
					if _, err := c.Add(id); err != nil {
						fail(err)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if err := c.Bootstrap(ctx); err != nil {
					c.KillAll()
					fail(err)
				}
				cancel()
				eps = c.Endpoints()
			}
			res := run(c, eps, n, *valueSize, *warmup, *duration)
			if c != nil {
				_ = c.StopAll(10 * time.Second)
			}
			rate, p50, p99 := res.rate, res.p50, res.p99
			fmt.Printf("  clients=%-4d run %d: %8.0f puts/s  p50 %-9v p99 %-9v errors %d  CPU/put: servers %v, load generator %v\n",
				n, r+1, rate, p50.Round(time.Microsecond), p99.Round(time.Microsecond), res.errs, res.serverCPU.Round(time.Microsecond), res.benchCPU.Round(time.Microsecond))
			rates, p50s, p99s = append(rates, rate), append(p50s, p50), append(p99s, p99)
		}
		slices.Sort(rates)
		slices.Sort(p50s)
		slices.Sort(p99s)
		fmt.Printf("clients=%d: median %.0f puts/s (min %.0f, max %.0f), median p50 %v, median p99 %v\n",
			n, rates[len(rates)/2], rates[0], rates[len(rates)-1], p50s[len(p50s)/2].Round(time.Microsecond), p99s[len(p99s)/2].Round(time.Microsecond))
	}
}

// result is one run's figures; CPU is per put, summed over the server
// processes (when this program started them) and for this process.
type result struct {
	rate                float64
	p50, p99            time.Duration
	errs                int64
	serverCPU, benchCPU time.Duration
}

// serverCPU sums the CPU time of the cluster's processes.
func serverCPU(c *cluster.Cluster) time.Duration {
	var t time.Duration
	if c != nil {
		for _, n := range c.Nodes() {
			t += n.CPU()
		}
	}
	return t
}

// run drives n closed-loop clients and returns puts/s and latencies.
func run(c *cluster.Cluster, eps []string, n, valueSize int, warmup, d time.Duration) result {
	value := strings.Repeat("v", valueSize)
	var measuring atomic.Bool
	var errs atomic.Int64
	stop := time.Now().Add(warmup + d)
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := client.New(eps, client.Options{})
			defer cl.Close()
			ctx := context.Background()
			for j := 0; time.Now().Before(stop); j++ {
				key := fmt.Sprintf("c%04d-%010d", i, j%1000)[:16]
				t0 := time.Now()
				_, err := cl.Put(ctx, key, value)
				if err != nil {
					errs.Add(1)
					continue
				}
				if measuring.Load() {
					lat[i] = append(lat[i], time.Since(t0))
				}
			}
		}()
	}
	time.Sleep(warmup)
	measuring.Store(true)
	start := time.Now()
	srv0, me0 := serverCPU(c), cluster.ProcessCPU(os.Getpid())
	wg.Wait()
	elapsed := time.Since(start)
	srv1, me1 := serverCPU(c), cluster.ProcessCPU(os.Getpid())
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return result{errs: errs.Load()}
	}
	slices.Sort(all)
	puts := time.Duration(len(all))
	return result{rate: float64(len(all)) / elapsed.Seconds(), p50: all[len(all)/2], p99: all[len(all)*99/100], errs: errs.Load(),
		serverCPU: (srv1 - srv0) / puts, benchCPU: (me1 - me0) / puts}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "raftkv-bench:", err)
	os.Exit(1)
}
