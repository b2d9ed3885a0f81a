//go:build raftbugs

package sim

import (
	"testing"

	"github.com/tickraft/raft"
	"github.com/tickraft/raft/internal/bugs"
)

// TestCheckersCatchCoreBugs switches on the bugs planted in the raft core
// (internal/bugs, only in builds with the raftbugs tag) one at a time and
// checks that the right checker catches each within a bounded number of
// seeds. The knobs are global: the seeds of one bug run before the next
// bug is switched on, and no other simulation runs meanwhile.
func TestCheckersCatchCoreBugs(t *testing.T) {
	inject := func(t *testing.T, knob *bool) {
		*knob = true
		t.Cleanup(func() { *knob = false })
	}
	t.Run("CommitOldTermByCounting", func(t *testing.T) {
		inject(t, &bugs.CommitOldTermByCounting)
		// Figure 8 of the Raft paper needs a leader to collect
		// acknowledgements for an entry of an older term before any for
		// its own, then to crash before its own entry spreads, and a node
		// with a conflicting entry to win next. One entry per message,
		// crashes that favour the leader and short election timeouts make
		// that common; pre-votes and leader stickiness only slow it down.
		// The ghost commit sees the commit the moment the leader makes it.
		catch(t, 2000, []string{CheckPrematureCommit}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Tweak: func(o *Options) {
				o.Voters = 3
				o.MaxSizePerMsg, o.MaxCommittedSizePerReady = 16, 16
				o.PreVote, o.CheckQuorum, o.ReadOnly = false, false, raft.ReadOnlySafe
				o.Chaos, o.LeaderCrashes = 4, 0.9
				o.ElectionTick, o.HeartbeatTick = 3, 1
			}}
		})
	})
	t.Run("SelfAckBeforePersist", func(t *testing.T) {
		inject(t, &bugs.SelfAckBeforePersist)
		// Asynchronous writes let followers answer before the leader's own
		// write is done.
		catch(t, 200, []string{CheckPrematureCommit}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Tweak: func(o *Options) {
				o.AsyncStorageWrites = true
			}}
		})
	})
	t.Run("AppendIgnoresPrevTerm", func(t *testing.T) {
		inject(t, &bugs.AppendIgnoresPrevTerm)
		// Conflicting tails need leaders that crash with entries not yet
		// replicated.
		catch(t, 500, []string{CheckLogMatching}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Tweak: func(o *Options) {
				o.Chaos, o.LeaderCrashes = 4, 0.9
			}}
		})
	})
	t.Run("TruncateOnStaleAppend", func(t *testing.T) {
		inject(t, &bugs.TruncateOnStaleAppend)
		// Stale appends need a leader sending many (small ones, a deep
		// pipeline) and a network that reorders and duplicates them.
		catch(t, 500, []string{CheckDurability}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Tweak: func(o *Options) {
				o.Voters = 3
				o.LongLog = true
			}}
		})
	})
	t.Run("RemovedNodeCampaigns", func(t *testing.T) {
		inject(t, &bugs.RemovedNodeCampaigns)
		// Removed nodes must keep running for a while, and configuration
		// changes be frequent.
		catch(t, 500, []string{CheckRemoved}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Tweak: func(o *Options) {
				o.RemovedLinger = 1000
				o.Chaos = 4
			}}
		})
	})
	t.Run("VoteTwice", func(t *testing.T) {
		inject(t, &bugs.VoteTwice)
		catch(t, 500, []string{CheckElectionSafety}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Tweak: func(o *Options) {
				o.PreVote, o.CheckQuorum, o.ReadOnly = false, false, raft.ReadOnlySafe
			}}
		})
	})
	t.Run("FollowerLocalReads", func(t *testing.T) {
		inject(t, &bugs.FollowerLocalReads)
		catch(t, 100, []string{CheckReads}, func(seed uint64) Config {
			return Config{Seed: seed, Steps: DefaultSteps, Tweak: func(o *Options) {
				o.ReadOnly = raft.ReadOnlySafe
			}}
		})
	})
}
