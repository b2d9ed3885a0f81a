package sim

import (
	"flag"
	"fmt"
	"strings"
	"testing"
)

var flagWALSeeds = flag.Int("sim.walseeds", 0, "seeds TestSimulationWAL runs (0: a default that suits -short and -race)")

// TestSimulationWAL runs seeds in WAL mode: every node persists to a wal
// on a fault-injecting file system, and every crash cuts its power, tearing
// the write in progress. The checkers hold Raft's safety properties against
// what the wals recover.
func TestSimulationWAL(t *testing.T) {
	n := *flagWALSeeds
	switch {
	case n > 0:
	case testing.Short():
		n = 5
	case raceEnabled:
		n = 12
	default:
		n = 60
	}
	old := *flagSeeds
	*flagSeeds = n
	defer func() { *flagSeeds = old }()
	simulate(t, func(seed uint64) Config {
		return Config{Seed: seed, Steps: *flagSteps, TraceLen: *flagTrace, Tweak: func(o *Options) { o.WAL = true },
			Replay: func(seed uint64) string {
				return fmt.Sprintf("go test ./rafttest/sim/ -run TestSimulationWAL -sim.first=%d -sim.walseeds=1 -sim.steps=%d", seed, *flagSteps)
			}}
	})
}

// TestWALModeTearsWrites checks that WAL mode does what it says: across a
// few seeds, power cuts strike during writes, and some torn writes land
// whole and some not at all.
func TestWALModeTearsWrites(t *testing.T) {
	var torn, survived int
	for seed := uint64(1); seed <= 10; seed++ {
		var log strings.Builder
		r := Run(Config{Seed: seed, Steps: 1500, Log: &log, Tweak: func(o *Options) { o.WAL = true }})
		if r.Failure != nil {
			t.Fatalf("%v", r.Failure)
		}
		if !r.Options.WAL {
			t.Fatal("the run did not use WAL mode")
		}
		torn += strings.Count(log.String(), "power fails while writing")
		survived += strings.Count(log.String(), "survived the power cut")
	}
	t.Logf("%d torn writes, %d of them landed whole", torn, survived)
	if torn == 0 || survived == 0 || survived == torn {
		t.Fatalf("%d torn writes, %d landed: the mode does not exercise both outcomes", torn, survived)
	}
}
