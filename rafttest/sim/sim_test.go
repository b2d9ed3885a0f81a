package sim

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickraft/raft"
)

var (
	flagSeeds = flag.Int("sim.seeds", 0, "number of seeds TestSimulation runs (seeds first..first+N-1); 0 picks a default that suits -short and -race")
	flagFirst = flag.Uint64("sim.first", 1, "first seed TestSimulation runs")
	flagSteps = flag.Int("sim.steps", DefaultSteps, "random steps per seed")
	flagSeed  = flag.Uint64("sim.seed", 0, "the seed TestReplay runs")
	flagTrace = flag.Int("sim.trace", DefaultTraceLen, "events shown with a failure")
	flagV     = flag.Bool("sim.v", false, "TestReplay prints every event as it happens")
	flagDup   = flag.Bool("sim.dupproposals", true, "let the network duplicate forwarded proposals (Options.DuplicateProposals)")

	flagDropHardState = flag.Bool("sim.bug.drophardstate", false, "TestReplay: inject the DropHardState application bug")
	flagApplyTwice    = flag.Bool("sim.bug.applytwice", false, "TestReplay: inject the ApplyTwice application bug")
)

// DefaultSteps is the number of random steps of a run.
const DefaultSteps = 1500

// Default seed counts of TestSimulation. The race detector slows the
// simulator down about tenfold, so fewer seeds run under it (make test
// uses -race); -short runs fewer still. Run many with -sim.seeds (make sim
// SEEDS=N).
const (
	defaultSeeds      = 500
	defaultSeedsRace  = 80
	defaultSeedsShort = 30
)

func seedCount() int {
	switch {
	case *flagSeeds > 0:
		return *flagSeeds
	case testing.Short():
		return defaultSeedsShort
	case raceEnabled:
		return defaultSeedsRace
	}
	return defaultSeeds
}

// runSeeds runs seeds first..first+n-1 on GOMAXPROCS workers and returns
// the results in seed order.
func runSeeds(first uint64, n int, mk func(seed uint64) Config) []Result {
	results := make([]Result, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				results[k] = Run(mk(first + uint64(k)))
			}
		}()
	}
	wg.Wait()
	return results
}

// TestSimulation runs many seeds and reports every failing one, with a
// trace and the command that replays it.
func TestSimulation(t *testing.T) {
	simulate(t, func(seed uint64) Config {
		return Config{Seed: seed, Steps: *flagSteps, TraceLen: *flagTrace}
	})
}

// TestLeaseReads runs seeds with lease-based reads (ReadOnlyLeaseBased, so
// CheckQuorum too) on every one, whatever the seed would pick, and checks
// every read served from a lease like any other.
func TestLeaseReads(t *testing.T) {
	simulate(t, func(seed uint64) Config {
		return Config{Seed: seed, Steps: *flagSteps, TraceLen: *flagTrace, Tweak: func(o *Options) {
			o.CheckQuorum, o.ReadOnly = true, raft.ReadOnlyLeaseBased
		}, Replay: func(seed uint64) string {
			return fmt.Sprintf("go test ./rafttest/sim/ -run TestLeaseReads -sim.first=%d -sim.seeds=1 -sim.steps=%d -sim.dupproposals=%t",
				seed, *flagSteps, *flagDup)
		}}
	})
}

// simulate runs seedCount seeds of the configurations mk makes and reports
// every failing one.
func simulate(t *testing.T, mk func(seed uint64) Config) {
	n := seedCount()
	start := time.Now()
	results := runSeeds(*flagFirst, n, func(seed uint64) Config { return withFlags(mk(seed)) })
	var total Stats
	var failed []Result
	for _, r := range results {
		total = addStats(total, r.Stats)
		if r.Failure != nil {
			failed = append(failed, r)
		}
	}
	t.Logf("%d seeds (%d..%d) x %d steps in %v on %d procs: %d failed; %s",
		n, *flagFirst, *flagFirst+uint64(n)-1, *flagSteps, time.Since(start).Round(time.Millisecond),
		runtime.GOMAXPROCS(0), len(failed), total)
	for k, r := range failed {
		if k == 5 {
			t.Errorf("... and %d more failing seeds", len(failed)-k)
			break
		}
		t.Errorf("%v", r.Failure)
	}
	if len(failed) > 0 {
		seeds := make([]uint64, len(failed))
		for k, r := range failed {
			seeds[k] = r.Seed
		}
		t.Errorf("failing seeds: %v", seeds)
	}
}

// TestReplay reruns one seed, given with -sim.seed, exactly as
// TestSimulation ran it. With -sim.v it prints every event.
func TestReplay(t *testing.T) {
	if *flagSeed == 0 {
		t.Skip("give the seed to replay with -sim.seed=N")
	}
	cfg := withFlags(Config{
		Seed: *flagSeed, Steps: *flagSteps, TraceLen: *flagTrace,
		Bugs: AppBugs{DropHardState: *flagDropHardState, ApplyTwice: *flagApplyTwice},
	})
	if *flagV {
		cfg.Log = os.Stdout
	}
	r := Run(cfg)
	t.Logf("seed %d: options %s; %s", r.Seed, r.Options, r.Stats)
	if r.Failure != nil {
		t.Fatalf("%v", r.Failure)
	}
}

// TestDeterminism checks that a seed replays exactly: two runs of the
// same seed log the same events.
func TestDeterminism(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		var a, b bytes.Buffer
		Run(Config{Seed: seed, Steps: 300, Log: &a})
		Run(Config{Seed: seed, Steps: 300, Log: &b})
		if a.String() != b.String() {
			t.Fatalf("seed %d: two runs differ", seed)
		}
		if a.Len() == 0 {
			t.Fatalf("seed %d: nothing logged", seed)
		}
	}
}

// withFlags applies the flags that adjust options to cfg:
// -sim.dupproposals=false turns proposal duplication off.
func withFlags(cfg Config) Config {
	if *flagDup {
		return cfg
	}
	tweak := cfg.Tweak
	cfg.Tweak = func(o *Options) {
		if tweak != nil {
			tweak(o)
		}
		o.DuplicateProposals = false
	}
	return cfg
}

func addStats(a, b Stats) Stats {
	a.Steps += b.Steps
	a.Leaders += b.Leaders
	a.MaxTerm = max(a.MaxTerm, b.MaxTerm)
	a.Committed += b.Committed
	a.Proposals += b.Proposals
	a.Crashes += b.Crashes
	a.Snapshots += b.Snapshots
	a.ConfChanges += b.ConfChanges
	a.ReadsChecked += b.ReadsChecked
	a.Delivered += b.Delivered
	a.Dropped += b.Dropped
	a.LivenessTick = max(a.LivenessTick, b.LivenessTick)
	return a
}

func (s Stats) String() string {
	return fmt.Sprintf("steps=%d leaders=%d maxterm=%d committed=%d proposals=%d crashes=%d snapshots=%d confchanges=%d reads=%d delivered=%d dropped=%d livenessticks=%d",
		s.Steps, s.Leaders, s.MaxTerm, s.Committed, s.Proposals, s.Crashes, s.Snapshots, s.ConfChanges,
		s.ReadsChecked, s.Delivered, s.Dropped, s.LivenessTick)
}
