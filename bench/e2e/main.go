// Command e2e is the end-to-end load generator of issue 16 part 3: it
// starts a 3-process raftkv cluster (wal, fsync on, pebble) and a 3-member
// etcd server cluster on loopback with data dirs on the same disk, drives
// each through its own client library at several concurrencies, and prints
// puts/s, latency quantiles, CPU per put per process, wal fsyncs per put
// per member and linearizable gets/s, alternating the systems and taking
// medians. It also measures the disk's synchronous-commit limits in the
// same directory (see diskLimits).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	systems   []string
	clients   []int
	values    []int
	getConc   int
	warmup    time.Duration
	duration  time.Duration
	runs      int
	dir       string
	raftkvBin string
	etcdBin   string
	raftkvArg []string
	etcdArg   []string
	keys      int
	maxConns  int
	pprofDir  string
}

func main() {
	var c config
	var systems, clients, values, rArgs, eArgs string
	flag.StringVar(&systems, "systems", "raftkv,etcd", "systems to measure, in the order of the first round: raftkv (its binary client protocol), raftkv-http (its HTTP API), etcd")
	flag.StringVar(&clients, "clients", "1,16,64,256", "concurrent clients")
	flag.StringVar(&values, "values", "16,1024", "value sizes in bytes")
	flag.IntVar(&c.getConc, "get-clients", 64, "concurrency of the linearizable get workload (0: none)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before each measurement")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "measured time per workload")
	flag.IntVar(&c.runs, "runs", 3, "alternating rounds (medians are over these)")
	flag.StringVar(&c.dir, "dir", "", "parent of the data dirs (default: a temp dir under $TMPDIR); all on one disk")
	flag.StringVar(&c.raftkvBin, "raftkv", "", "raftkv binary (default: built from ../../examples/raftkv)")
	flag.StringVar(&c.etcdBin, "etcd", "etcd", "etcd server binary (Debian etcd-server 3.4)")
	flag.StringVar(&rArgs, "raftkv-args", "", "extra raftkv flags, space-separated")
	flag.StringVar(&eArgs, "etcd-args", "", "extra etcd flags, space-separated")
	flag.IntVar(&c.keys, "keys", 1_000_000, "key space (16-byte keys drawn uniformly)")
	flag.IntVar(&c.maxConns, "conns", 16, "client objects shared by the workers, at most one per worker (raftkv binary and etcd: one multiplexed connection each)")
	flag.StringVar(&c.pprofDir, "pprof-dir", "", "start raftkv with -pprof and save the leader's CPU profile of each measured window here")
	flag.Parse()
	c.systems = strings.Split(systems, ",")
	c.clients, c.values = ints(clients), ints(values)
	c.raftkvArg, c.etcdArg = strings.Fields(rArgs), strings.Fields(eArgs)
	if c.pprofDir != "" {
		c.raftkvArg = append(c.raftkvArg, "-pprof")
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}

// isRaftkv names the raftkv systems (by client protocol).
func isRaftkv(name string) bool { return name == "raftkv" || name == "raftkv-http" }

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "e2e: bad number %q\n", f)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

// workload is one measured cell: puts of a value size at a concurrency,
// or linearizable gets (value 0).
type workload struct {
	get     bool
	clients int
	value   int
}

func (w workload) String() string {
	if w.get {
		return fmt.Sprintf("get-c%d", w.clients)
	}
	return fmt.Sprintf("put%d-c%d", w.value, w.clients)
}

// result is one measured run of one workload.
type result struct {
	ops       float64 // per second
	p50       time.Duration
	p99       time.Duration
	p999      time.Duration
	errs      int
	cpuPerOp  []time.Duration // per member (leader first)
	fsyncPer  []float64       // wal fsyncs per op, per member (leader first)
	sysPerOp  float64         // the leader's read and write syscalls per op
	otherCPU  float64         // cores used by other processes during the run
	loadgenCP float64         // cores used by this generator
}

func run(c config) error {
	ctx := context.Background()
	if c.dir == "" {
		d, err := os.MkdirTemp("", "bench-e2e-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.dir = d
	}
	if slices.ContainsFunc(c.systems, isRaftkv) && c.raftkvBin == "" {
		c.raftkvBin = filepath.Join(c.dir, "raftkv")
		cmd := exec.Command("go", "build", "-o", c.raftkvBin, "./cmd/raftkv")
		cmd.Dir = filepath.Join("..", "..", "examples", "raftkv")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building raftkv: %w", err)
		}
	}
	disk, err := measureDisk(c.dir, 200)
	if err != nil {
		return err
	}
	var wls []workload
	for _, v := range c.values {
		for _, n := range c.clients {
			wls = append(wls, workload{clients: n, value: v})
		}
	}
	if c.getConc > 0 {
		wls = append(wls, workload{get: true, clients: c.getConc, value: 16})
	}
	res := map[string]map[string][]result{}
	for r := range c.runs {
		order := slices.Clone(c.systems)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, name := range order {
			if res[name] == nil {
				res[name] = map[string][]result{}
			}
			dir := filepath.Join(c.dir, fmt.Sprintf("%s-run%d", name, r))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			var s *system
			if isRaftkv(name) {
				s, err = startRaftkv(ctx, c.raftkvBin, dir, c.raftkvArg, name == "raftkv")
			} else {
				s, err = startEtcd(ctx, c.etcdBin, dir, c.etcdArg)
			}
			if err != nil {
				return fmt.Errorf("%s: %w (logs in %s)", name, err, dir)
			}
			for _, w := range wls {
				rr, err := measure(ctx, s, w, c)
				if err != nil {
					s.stop()
					return fmt.Errorf("%s %v: %w", name, w, err)
				}
				fmt.Fprintf(os.Stderr, "round %d %-6s %-12v %9.0f/s p50 %v p99 %v other CPU %.2f cores\n",
					r+1, name, w, rr.ops, rr.p50, rr.p99, rr.otherCPU)
				res[name][w.String()] = append(res[name][w.String()], rr)
			}
			s.stop()
			_ = os.RemoveAll(dir)
		}
	}
	printTable(os.Stdout, c, wls, res, disk)
	return nil
}

// measure runs one workload on a started system: warmup, then a measured
// window with CPU, fsync and machine counters read on both sides.
func measure(ctx context.Context, s *system, w workload, c config) (result, error) {
	conns := min(w.clients, c.maxConns)
	cls := make([]kvClient, conns)
	for i := range cls {
		cl, err := s.newCl()
		if err != nil {
			return result{}, err
		}
		defer cl.close()
		cls[i] = cl
	}
	value := strings.Repeat("v", w.value)
	var (
		measuring, stop atomicFlag
		wg              sync.WaitGroup
		hists           = make([]hist, w.clients)
		errs            = make([]int, w.clients)
	)
	for i := range w.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := cls[i%conns]
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for !stop.get() {
				key := fmt.Sprintf("%016d", rng.IntN(c.keys))
				start := time.Now()
				var err error
				if w.get {
					err = cl.get(ctx, key)
				} else {
					err = cl.put(ctx, key, value)
				}
				d := time.Since(start)
				if !measuring.get() {
					continue
				}
				if err != nil {
					errs[i]++
					continue
				}
				hists[i].record(d)
			}
		}()
	}
	time.Sleep(c.warmup)
	before, err := snapshot(s)
	if err != nil {
		stop.set()
		wg.Wait()
		return result{}, err
	}
	measuring.set()
	t0 := time.Now()
	prof := startProfile(s, w, c)
	time.Sleep(c.duration)
	if err := <-prof; err != nil {
		fmt.Fprintln(os.Stderr, "e2e: profile:", err)
	}
	after, err := snapshot(s)
	elapsed := time.Since(t0)
	measuring.clear()
	stop.set()
	wg.Wait()
	if err != nil {
		return result{}, err
	}
	var h hist
	var r result
	for i := range hists {
		h.merge(&hists[i])
		r.errs += errs[i]
	}
	if h.n == 0 {
		return result{}, fmt.Errorf("no request succeeded (%d errors)", r.errs)
	}
	ops := float64(h.n)
	r.ops = ops / elapsed.Seconds()
	r.p50, r.p99, r.p999 = h.quantile(0.5), h.quantile(0.99), h.quantile(0.999)
	order := append([]int{s.leader}, slices.DeleteFunc([]int{0, 1, 2}, func(i int) bool { return i == s.leader })...)
	var servers time.Duration
	for _, i := range order {
		d := after.cpu[i] - before.cpu[i]
		servers += d
		r.cpuPerOp = append(r.cpuPerOp, time.Duration(float64(d)/ops))
		r.fsyncPer = append(r.fsyncPer, (after.fsyncs[i]-before.fsyncs[i])/ops)
	}
	r.sysPerOp = float64(after.leaderSys-before.leaderSys) / ops
	self := after.self - before.self
	r.loadgenCP = self.Seconds() / elapsed.Seconds()
	r.otherCPU = (after.machine - before.machine - servers - self).Seconds() / elapsed.Seconds()
	return r, nil
}

type counters struct {
	cpu     []time.Duration
	fsyncs  []float64
	self    time.Duration
	machine time.Duration
	// leaderSys counts the leader's read and write syscalls (sockets and
	// files; not fsync).
	leaderSys uint64
}

func snapshot(s *system) (counters, error) {
	var c counters
	var err error
	for i, pid := range s.pids {
		f, err := scrapeCounter(s.metrics[i], s.fsyncKey)
		if err != nil {
			return c, fmt.Errorf("member %d metrics: %w", i+1, err)
		}
		cpu, err := procCPU(pid)
		if err != nil {
			return c, err
		}
		c.cpu, c.fsyncs = append(c.cpu, cpu), append(c.fsyncs, f)
	}
	if c.leaderSys, err = procSyscalls(s.pids[s.leader]); err != nil {
		return c, err
	}
	if c.self, err = procCPU(os.Getpid()); err != nil {
		return c, err
	}
	c.machine, err = machineCPU()
	return c, err
}

// atomicFlag is a boolean read by many goroutines.
type atomicFlag struct {
	mu sync.RWMutex
	v  bool
}

func (f *atomicFlag) get() bool { f.mu.RLock(); defer f.mu.RUnlock(); return f.v }
func (f *atomicFlag) set()      { f.mu.Lock(); f.v = true; f.mu.Unlock() }
func (f *atomicFlag) clear()    { f.mu.Lock(); f.v = false; f.mu.Unlock() }

// diskLimits are the disk's synchronous-commit limits: single is the median
// of one writer's 4 KiB write plus fdatasync, as a wal append does; quorum
// is the median time until two of three such writers, started together on
// the same disk, are done: a put's commit in a three-member cluster whose
// data dirs share the disk (leader and follower fsyncs overlap, and the
// third member's competes with them).
type diskLimits struct{ single, quorum time.Duration }

func measureDisk(dir string, n int) (diskLimits, error) {
	single, err := fsyncRounds(dir, 1, 1, n)
	if err != nil {
		return diskLimits{}, err
	}
	quorum, err := fsyncRounds(dir, 3, 2, n)
	return diskLimits{single, quorum}, err
}

// fsyncRounds runs n rounds in which writers files each get a 4 KiB write
// into preallocated space and an fdatasync, all started together, and
// returns the median time until the first need of them were done.
func fsyncRounds(dir string, writers, need, n int) (time.Duration, error) {
	if need < 1 || need > writers || n < 1 {
		return 0, fmt.Errorf("fsync probe: %d of %d writers over %d rounds", need, writers, n)
	}
	files := make([]*os.File, writers)
	for k := range files {
		f, err := os.CreateTemp(dir, "fsync-probe-")
		if err != nil {
			return 0, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := f.Write(make([]byte, n*4096)); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		files[k] = f
	}
	buf := make([]byte, 4096)
	var h hist
	for i := range n {
		done := make(chan error, writers)
		start := time.Now()
		for _, f := range files {
			go func() {
				_, err := f.WriteAt(buf, int64(i*len(buf)))
				if err == nil {
					err = syscall.Fdatasync(int(f.Fd()))
				}
				done <- err
			}()
		}
		var took time.Duration
		for k := range writers {
			if err := <-done; err != nil {
				return 0, err
			}
			if k+1 == need {
				took = time.Since(start)
			}
		}
		h.record(took)
	}
	return h.quantile(0.5), nil
}

// startProfile fetches the raftkv leader's CPU profile over the measured
// window into c.pprofDir (when set); the channel reports the outcome.
func startProfile(s *system, w workload, c config) <-chan error {
	done := make(chan error, 1)
	if c.pprofDir == "" || !isRaftkv(s.name) {
		done <- nil
		return done
	}
	url := strings.TrimSuffix(s.metrics[s.leader], "/metrics") +
		fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(c.duration/time.Second)))
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("%s: %s", url, resp.Status)
			return
		}
		f, err := os.Create(filepath.Join(c.pprofDir, fmt.Sprintf("%s-%v-%d.pb.gz", s.name, w, time.Now().Unix())))
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	return done
}
