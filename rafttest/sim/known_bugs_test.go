package sim

import (
	"flag"
	"fmt"
	"testing"

	"github.com/tickraft/raft"
)

var flagKnownBugs = flag.Bool("sim.knownbugs", false, "run the tests of known, unfixed core bugs (they fail)")

// TestKnownBugStaleLeaseReads shows that reads answered from a leader's
// lease (ReadOnlyLeaseBased) can miss writes committed before they were
// issued, even though every node's clock advances in lockstep here. The
// lease is CheckQuorum's: a leader keeps leading, and answering reads from
// its commit index, until a check finds that a quorum was silent for a
// whole election timeout. That outlives the followers' promise not to vote
// for anyone else:
//
//   - any message from a follower counts as recent activity, including a
//     response that arrives late, so the lease can run up to an election
//     timeout past the moment the followers last heard from the leader
//     (and may vote for another candidate one election timeout later);
//   - a follower that restarted, or that began a pre-election, has
//     forgotten the leader and grants votes at once;
//   - a leader transfer request resets the leader's election timer
//     (leaderTransfer sets electionElapsed to 0), which postpones the next
//     quorum check by a whole election timeout, even on a leader that is
//     cut off.
//
// (A leader that sent MsgTimeoutNow already stops answering from its
// lease.) A safe lease is counted from when the heartbeats a quorum
// acknowledged were sent (thesis §6.4.1), and needs voters that restarted
// to wait an election timeout before voting. Until then the simulator does
// not check lease-based reads (see Config.StrictLeaseReads). This test
// runs lease-based seeds with the check on and fails on every stale read
// it finds.
func TestKnownBugStaleLeaseReads(t *testing.T) {
	if !*flagKnownBugs {
		t.Skip("known bug: lease-based reads (ReadOnlyLeaseBased) can be stale; run with -sim.knownbugs")
	}
	n := *flagSeeds
	if n == 0 {
		n = 3000
	}
	results := runSeeds(*flagFirst, n, func(seed uint64) Config {
		return Config{Seed: seed, Steps: *flagSteps, TraceLen: *flagTrace, StrictLeaseReads: true, Tweak: func(o *Options) {
			o.CheckQuorum, o.ReadOnly = true, raft.ReadOnlyLeaseBased
		}, Replay: func(seed uint64) string {
			return fmt.Sprintf("go test ./rafttest/sim/ -run TestKnownBugStaleLeaseReads -sim.knownbugs -sim.first=%d -sim.seeds=1 -sim.steps=%d",
				seed, *flagSteps)
		}}
	})
	shown := 0
	for _, r := range results {
		if r.Failure == nil {
			continue
		}
		if shown++; shown <= 3 {
			t.Errorf("%v", r.Failure)
		} else {
			t.Errorf("seed %d: %s at step %d: %s", r.Seed, r.Failure.Checker, r.Failure.Step, r.Failure.Message)
		}
	}
}
