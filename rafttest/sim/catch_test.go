package sim

import (
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The checkers are only worth something if they fail when they should.
// These tests inject bugs and check that the checker meant to catch each
// one does, within a bounded number of seeds. The application's bugs are
// simulator knobs and are tested here in every build; the core's bugs need
// the raftbugs build tag (catch_raftbugs_test.go).

// catch runs seeds first, first+1, ... (in parallel batches) until one
// fails, at most maxSeeds of them, and checks that the first failing seed
// was caught by one of the checkers in want.
func catch(t *testing.T, maxSeeds int, want []string, mk func(seed uint64) Config) {
	t.Helper()
	// The seeds run with options tweaked for the bug, which TestReplay
	// cannot express: rerunning this test replays them.
	cmd := "go test ./rafttest/sim/ -run '^" + t.Name() + "$'"
	if bugs := tagsForTest(t); bugs != "" {
		cmd = "go test -tags " + bugs + " ./rafttest/sim/ -run '^" + t.Name() + "$'"
	}
	withReplay := func(seed uint64) Config {
		cfg := mk(seed)
		cfg.Replay = func(uint64) string { return cmd }
		return cfg
	}
	batch := 4 * runtime.GOMAXPROCS(0)
	for first := 1; first <= maxSeeds; first += batch {
		n := min(batch, maxSeeds-first+1)
		for _, r := range runSeeds(uint64(first), n, withReplay) {
			if r.Failure == nil {
				continue
			}
			if !slices.Contains(want, r.Failure.Checker) {
				t.Fatalf("seed %d was caught by %q, want one of %q:\n%v", r.Seed, r.Failure.Checker, want, r.Failure)
			}
			t.Logf("seed %d (after %d seeds) caught by %s: %s", r.Seed, r.Seed, r.Failure.Checker, r.Failure.Message)
			return
		}
	}
	t.Fatalf("no seed of %d caught the bug (want %q)", maxSeeds, want)
}

// TestCheckersCatchAppBugs injects the application's bugs.
func TestCheckersCatchAppBugs(t *testing.T) {
	t.Run("DropHardState", func(t *testing.T) {
		// A vote that is sent but not durable lets a restarted node vote
		// twice in a term. Split votes make that matter: three voters,
		// no pre-vote, no leader stickiness.
		catch(t, 1000, []string{CheckElectionSafety}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Bugs: AppBugs{DropHardState: true}, Tweak: func(o *Options) {
				o.Voters = 3
				o.PreVote, o.CheckQuorum, o.ReadOnly = false, false, 0
			}}
		})
	})
	t.Run("ApplyTwice", func(t *testing.T) {
		catch(t, 100, []string{CheckStateMachine}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Bugs: AppBugs{ApplyTwice: true}}
		})
	})
}

// tagsForTest returns the build tags a catch test needs to run again.
func tagsForTest(t *testing.T) string {
	if strings.HasPrefix(t.Name(), "TestCheckersCatchCoreBugs") {
		return "raftbugs"
	}
	return ""
}
