package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/client"
	"github.com/tickraft/raft/examples/raftkv/internal/cluster"
)

// Config is one chaos run.
type Config struct {
	Seed     uint64
	Duration time.Duration // of the fault campaign (the final checks come after)
	Nodes    int           // 3 or 5 (default 3)
	Workers  int           // concurrent clients (default 8)
	Keys     int           // size of the key set (default 8)
	SM       string        // memory or pebble (default pebble)
	// LeaseReads starts every node with -lease-reads (reads from the
	// leader's lease); the skew fault is about this mode.
	LeaseReads bool
	Faults     []string // kinds (default AllFaults)
	// Skews are the skew fault's tick interval factors (default
	// DefaultSkews).
	Skews []float64

	// Dir is where the run's directory is made (default the temp dir).
	Dir string
	// Bin is a raftkv binary (default: built with Tags).
	Bin  string
	Tags string
	// PlantedBug sets $RAFTKV_PLANTED_BUG for the nodes (a -tags chaosbugs
	// binary turns that bug on).
	PlantedBug string

	// SnapshotEntries is the nodes' -snapshot-entries (default 500: many
	// snapshots, compactions and snapshot catch-ups).
	SnapshotEntries int
	Tick            time.Duration // default 50ms
	ElectionTicks   int           // default 10
	RecoveryBound   time.Duration // default 30s
	CheckTimeout    time.Duration // porcupine's budget (default 5m)
	Keep            bool          // keep the directory even when the run passed
	Logf            func(format string, args ...any)
}

func (c *Config) defaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Keys == 0 {
		c.Keys = 8
	}
	if c.SM == "" {
		c.SM = "pebble"
	}
	if len(c.Faults) == 0 {
		c.Faults = AllFaults
	}
	if len(c.Skews) == 0 {
		c.Skews = DefaultSkews
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 500
	}
	if c.Tick == 0 {
		c.Tick = 50 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.RecoveryBound == 0 {
		c.RecoveryBound = 30 * time.Second
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 5 * time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Result is what a run found.
type Result struct {
	Seed        uint64          `json:"seed"`
	Dir         string          `json:"dir"`
	Violations  []string        `json:"violations"`
	Ops         int             `json:"ops"`         // operations checked by porcupine (final reads included)
	Unknown     int             `json:"unknown"`     // writes with an unknown outcome
	Faults      map[string]int  `json:"faults"`      // injected, by kind
	AckVerified int             `json:"ack_checked"` // acknowledged writes verified on every node
	DupChecked  int64           `json:"dup_checked"` // duplicate sends answered from the session
	Recovery    []time.Duration `json:"recovery"`    // time to serve again after each heal
	Linear      string          `json:"linearizable"`
	CheckTime   time.Duration   `json:"check_time"`
	Nodes       []NodeState     `json:"final_states"`
}

// Failed says whether the run found a violation.
func (r *Result) Failed() bool { return len(r.Violations) > 0 }

// Summary is a one-paragraph report.
func (r *Result) Summary() string {
	kinds := make([]string, 0, len(r.Faults))
	for k, n := range r.Faults {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	p50, pmax := percentile(r.Recovery, 50), percentile(r.Recovery, 100)
	status := "PASS"
	if r.Failed() {
		status = fmt.Sprintf("FAIL (%d violations)", len(r.Violations))
	}
	return fmt.Sprintf("seed %d: %s; ops checked %d (unknown writes %d); linearizable %s in %v; acknowledged writes verified %d; duplicate sends checked %d; faults %s; recovery after heal p50 %v max %v (%d heals)",
		r.Seed, status, r.Ops, r.Unknown, r.Linear, r.CheckTime.Round(time.Millisecond), r.AckVerified, r.DupChecked,
		strings.Join(kinds, " "), p50.Round(time.Millisecond), pmax.Round(time.Millisecond), len(r.Recovery))
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s) - 1) * p / 100
	return s[i]
}

// run is the state of one run.
type run struct {
	cfg   Config
	cl    *cluster.Cluster
	rec   *Recorder
	keys  []string
	h     *httpClient
	start time.Time

	mu         sync.Mutex
	members    []uint64 // current members (voters and learners)
	voters     []uint64
	nextID     uint64
	events     []Event
	faults     map[string]int
	recovery   []time.Duration
	violations []string
	// unavailable: the cluster did not recover from a heal.
	unavailable bool
	dupChecked  atomic.Int64
}

func (r *run) logf(format string, args ...any) { r.cfg.Logf(format, args...) }

func (r *run) violation(err error) {
	r.mu.Lock()
	r.violations = append(r.violations, err.Error())
	r.mu.Unlock()
	r.logf("VIOLATION: %v", err)
}

// endpoints are the API addresses of the members.
func (r *run) endpoints() []string {
	var out []string
	for _, n := range r.memberNodes() {
		out = append(out, n.APIAddr)
	}
	return out
}

func (r *run) client() *client.Client {
	return client.New(r.endpoints(), client.Options{AttemptTimeout: time.Second})
}

// Run runs a chaos campaign against real raftkv processes and checks it.
// The error is for a run that could not be carried out; what the checks
// found is in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	base := cfg.Dir
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(base, fmt.Sprintf("raftkv-chaos-seed%d-", cfg.Seed))
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if cfg.Bin == "" {
		if cfg.Bin, err = Build(dir, cfg.Tags); err != nil {
			return nil, err
		}
	}
	if cfg.PlantedBug != "" {
		os.Setenv("RAFTKV_PLANTED_BUG", cfg.PlantedBug)
		defer os.Unsetenv("RAFTKV_PLANTED_BUG")
	}
	args := []string{"-test-hooks", "-test-disk-faults", "-tick", cfg.Tick.String(),
		"-election-ticks", fmt.Sprint(cfg.ElectionTicks), "-snapshot-entries", fmt.Sprint(cfg.SnapshotEntries),
		"-compaction-tail", fmt.Sprint(cfg.SnapshotEntries / 2)}
	if cfg.LeaseReads {
		args = append(args, "-lease-reads")
	}
	r := &run{cfg: cfg, cl: cluster.New(cfg.Bin, dir, cfg.SM, args...), rec: NewRecorder(), keys: Keys(cfg.Keys),
		h: newHTTPClient(), start: time.Now(), faults: map[string]int{}, nextID: uint64(cfg.Nodes) + 1}
	defer r.cl.KillAll()
	for id := uint64(1); id <= uint64(cfg.Nodes); id++ {
		if _, err := r.cl.Add(id); err != nil {
			return nil, err
		}
		r.members = append(r.members, id)
		r.voters = append(r.voters, id)
	}
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = r.cl.Bootstrap(bctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w (logs in %s)", err, dir)
	}
	elect := cfg.Tick * time.Duration(cfg.ElectionTicks)
	steps := Schedule(cfg.Seed, cfg.Duration, elect, cfg.Faults, cfg.Skews)
	WriteJSON(filepath.Join(dir, "schedule.json"), steps)
	r.logf("chaos seed %d: %d nodes (%s), %d clients on %d keys, %d faults scheduled over %v; directory %s",
		cfg.Seed, cfg.Nodes, cfg.SM, cfg.Workers, cfg.Keys, len(steps), cfg.Duration, dir)

	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < cfg.Workers; i++ {
		w := &worker{id: i, r: r, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+100)), h: r.h,
			client: r.rec.NewClient(), versions: map[string]uint64{}}
		wg.Add(1)
		go func() { defer wg.Done(); w.loop(wctx) }()
	}
	r.nemesis(ctx, steps, time.Now().Add(cfg.Duration))
	r.healAll(ctx)
	if !r.broken() {
		r.measureRecovery(ctx)
	}
	stopWorkers()
	wg.Wait()
	res := r.finish(ctx, dir)
	return res, nil
}

// Build compiles the raftkv binary (with build tags) into dir.
func Build(dir, tags string) (string, error) {
	bin := filepath.Join(dir, "raftkv")
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, "github.com/tickraft/raft/examples/raftkv/cmd/raftkv")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build raftkv: %v\n%s", err, b)
	}
	return bin, nil
}

// healAll undoes whatever fault may be left: messages flow, paused nodes
// run, dead members restart with healthy disks and normal ticks.
func (r *run) healAll(ctx context.Context) {
	for _, n := range r.memberNodes() {
		os.Remove(filepath.Join(n.DataDir, "chaos-disk"))
		_ = n.Signal(syscall.SIGCONT)
		if x, _ := exited(n); x || !n.Running() || n.Args != nil {
			n.Args = nil
			if err := r.restart(ctx, n); err != nil {
				r.violation(fmt.Errorf("final heal: %v", err))
			}
		}
	}
	r.healNet(ctx)
	r.event("heal", "final heal")
}

// measureRecovery times how long after a heal the cluster takes a write
// and a linearizable read of it.
func (r *run) measureRecovery(ctx context.Context) {
	start := time.Now()
	limit := start.Add(2 * r.cfg.RecoveryBound)
	for i := 0; time.Now().Before(limit) && ctx.Err() == nil; i++ {
		cl := r.client()
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v := fmt.Sprintf("probe-%d-%d", start.UnixNano(), i)
		_, err := cl.Put(pctx, "probe", v)
		if err == nil {
			var got api.GetResponse
			got, err = cl.Get(pctx, "probe", "")
			if err == nil && got.Value != v {
				err = fmt.Errorf("read %q after writing %q", got.Value, v)
			}
		}
		cancel()
		cl.Close()
		if err == nil {
			d := time.Since(start)
			r.mu.Lock()
			r.recovery = append(r.recovery, d)
			r.mu.Unlock()
			r.event("recovered", "serving again after %v", d.Round(time.Millisecond))
			return
		}
		sleep(ctx, 50*time.Millisecond)
	}
	r.mu.Lock()
	r.recovery = append(r.recovery, -1)
	r.mu.Unlock()
	r.violation(fmt.Errorf("the cluster did not serve a write and a read within %v after a heal", 2*r.cfg.RecoveryBound))
	r.mu.Lock()
	r.unavailable = true // no point in more faults: the checks come next
	r.mu.Unlock()
}

func (r *run) broken() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unavailable
}

// settle waits until every member applied the same index (no writes are
// coming any more) and returns their states.
func (r *run) settle(ctx context.Context) ([]NodeState, error) {
	deadline := time.Now().Add(min(time.Minute, 2*r.cfg.RecoveryBound))
	var last error
	for time.Now().Before(deadline) {
		r.refreshMembers(ctx)
		states, err := r.states(ctx)
		if err == nil {
			same := true
			for _, s := range states {
				same = same && s.Applied == states[0].Applied
			}
			if same {
				return states, nil
			}
			err = fmt.Errorf("applied indexes differ: %v", appliedOf(states))
		}
		last = err
		sleep(ctx, 200*time.Millisecond)
	}
	return nil, fmt.Errorf("the nodes did not settle: %v", last)
}

func appliedOf(ss []NodeState) map[uint64]uint64 {
	m := map[uint64]uint64{}
	for _, s := range ss {
		m[s.ID] = s.Applied
	}
	return m
}

// states reads every member's keys locally (stale reads), between two
// statuses with the same applied index.
func (r *run) states(ctx context.Context) ([]NodeState, error) {
	var out []NodeState
	for _, n := range r.memberNodes() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var before, after api.Status
		var scan api.ScanResponse
		var errs []error
		for _, c := range []struct {
			path string
			q    map[string][]string
			out  any
		}{
			{"/v1/admin/status", nil, &before},
			{"/v1/scan", map[string][]string{"prefix": {KeyPrefix}, "limit": {"10000"}, "consistency": {"stale"}}, &scan},
			{"/v1/admin/status", nil, &after},
		} {
			e, err := r.h.call(sctx, "GET", n.APIAddr, c.path, c.q, nil, c.out)
			if e != nil {
				err = e
			}
			errs = append(errs, err)
		}
		cancel()
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("node %d: %w", n.ID, err)
		}
		if before.Applied != after.Applied {
			return nil, fmt.Errorf("node %d still applying", n.ID)
		}
		st := NodeState{ID: n.ID, Applied: after.Applied, KVs: map[string]KV{}}
		for _, kv := range scan.KVs {
			st.KVs[kv.Key] = KV{Value: kv.Value, Version: kv.Version}
		}
		out = append(out, st)
	}
	return out, nil
}

// finish runs the checks and writes the run's directory.
func (r *run) finish(ctx context.Context, dir string) *Result {
	ops := r.rec.Ops()
	res := &Result{Seed: r.cfg.Seed, Dir: dir, Faults: r.faults}
	for _, op := range ops {
		if op.Out.Unknown {
			res.Unknown++
		}
	}
	final, err := r.settle(ctx)
	if err != nil {
		r.violation(fmt.Errorf("convergence: %v", err))
	} else {
		res.Nodes = final
		if err := CheckConverged(final); err != nil {
			r.violation(err)
		}
	}
	n, errs := CheckAcknowledged(ops, final)
	res.AckVerified = n
	for _, e := range errs {
		r.violation(fmt.Errorf("acknowledged write lost: %v", e))
	}
	for _, e := range CheckExactlyOnce(ops, final) {
		r.violation(e)
	}
	if err := CheckRecovery(r.recovery, r.cfg.RecoveryBound); err != nil {
		r.violation(err)
	}
	r.logf("checking %d operations (%d unknown writes) with porcupine", len(ops), res.Unknown)
	lin := CheckLinearizable(ops, final, r.keys, r.cfg.CheckTimeout, r.cfg.Keep)
	res.Ops, res.Linear, res.CheckTime = lin.Ops, string(lin.Result), lin.Duration
	if lin.Result != porcupine.Ok {
		r.violation(fmt.Errorf("linearizability: porcupine says %s (see %s)", lin.Result, filepath.Join(dir, "linearizability.html")))
	}
	r.mu.Lock()
	res.Violations, res.Recovery = slices.Clone(r.violations), slices.Clone(r.recovery)
	r.mu.Unlock()
	res.DupChecked = r.dupChecked.Load()
	r.cl.KillAll()
	if !res.Failed() && !r.cfg.Keep {
		os.RemoveAll(dir)
		res.Dir = ""
		return res
	}
	WriteJSON(filepath.Join(dir, "history.json"), ops)
	WriteJSON(filepath.Join(dir, "events.json"), r.events)
	WriteJSON(filepath.Join(dir, "result.json"), res)
	if lin.Result == porcupine.Illegal || r.cfg.Keep {
		if err := porcupine.VisualizePath(Model, lin.Info, filepath.Join(dir, "linearizability.html")); err != nil {
			r.logf("visualization: %v", err)
		}
	}
	replay := fmt.Sprintf("cd examples/raftkv && go run ./cmd/raftkv-chaos -seed %d -duration %v -nodes %d -workers %d -keys %d -sm %s -lease-reads=%t -snapshot-entries %d -tick %v -faults %s",
		r.cfg.Seed, r.cfg.Duration, r.cfg.Nodes, r.cfg.Workers, r.cfg.Keys, r.cfg.SM, r.cfg.LeaseReads, r.cfg.SnapshotEntries, r.cfg.Tick, strings.Join(r.cfg.Faults, ","))
	if r.cfg.Tags != "" {
		replay += " -tags " + r.cfg.Tags + " -planted-bug " + r.cfg.PlantedBug
	}
	os.WriteFile(filepath.Join(dir, "REPLAY"), []byte(replay+"\n# recheck this history without a cluster:\n# go run ./cmd/raftkv-chaos -recheck "+dir+"\n"), 0o644)
	return res
}
