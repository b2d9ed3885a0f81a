package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/tickraft/raft"
)

// Options are the choices a run makes once, from its seed, before the first
// step: the cluster's size, the raft configuration every node gets, and how
// often faults strike.
type Options struct {
	// Voters is the size of the founding cluster: 3, 5 or 7.
	Voters int

	PreVote            bool
	CheckQuorum        bool
	AsyncStorageWrites bool
	// ReadOnly is ReadOnlyLeaseBased only when CheckQuorum is on.
	ReadOnly          raft.ReadOnlyOption
	StepDownOnRemoval bool

	ElectionTick  int
	HeartbeatTick int
	// Flow control: small values make appends page and pipelines stall.
	MaxSizePerMsg            uint64
	MaxInflightMsgs          int
	MaxCommittedSizePerReady uint64

	// Chaos scales the weight of every fault action (drop, duplicate,
	// partition, crash...) against the benign ones (tick, deliver, work).
	Chaos float64
	// LeaderCrashes is the chance that a crash picks the leader rather
	// than a random node: crashed leaders leave uncommitted tails behind.
	LeaderCrashes float64

	// Bugs are faults injected into the simulated application, to show the
	// checkers catch them. They are off in normal runs.
	Bugs AppBugs

	// WAL stores each node's disk in a wal on a fault-injecting file
	// system instead of a MemoryStorage: crashes cut power to it, tearing
	// writes in progress (walmode.go). Never chosen by the seed.
	WAL bool
}

// AppBugs are deliberate mistakes of the simulated application. Each one
// breaks the Ready contract in a way one of the checkers must notice.
type AppBugs struct {
	// DropHardState skips MemoryStorage.SetHardState for some Readies
	// that carry a vote (one in two), so the vote is sent but not
	// durable, and crashes the node right after that Ready: it restarts
	// without remembering its vote.
	DropHardState bool
	// ApplyTwice makes the application apply some committed entries a
	// second time.
	ApplyTwice bool
}

// chooseOptions draws the options of a run.
func chooseOptions(rng *rand.Rand) Options {
	o := Options{
		Voters:             []int{3, 5, 7}[rng.IntN(3)],
		PreVote:            rng.IntN(2) == 0,
		CheckQuorum:        rng.IntN(2) == 0,
		AsyncStorageWrites: rng.IntN(2) == 0,
		StepDownOnRemoval:  rng.IntN(2) == 0,
		ElectionTick:       []int{3, 5, 10, 10}[rng.IntN(4)],
		Chaos:              []float64{0.3, 1, 1, 2, 4}[rng.IntN(5)],
		LeaderCrashes:      []float64{0, 0, 0.5}[rng.IntN(3)],
	}
	o.HeartbeatTick = 1 + rng.IntN(min(3, o.ElectionTick-1))
	if o.CheckQuorum && rng.IntN(2) == 0 {
		o.ReadOnly = raft.ReadOnlyLeaseBased
	}
	if rng.IntN(3) == 0 {
		// An entry with an 8-byte payload is about 14 bytes encoded: these
		// limits let one to a handful of entries through per message.
		o.MaxSizePerMsg = uint64(16 << rng.IntN(3))
		o.MaxCommittedSizePerReady = o.MaxSizePerMsg * uint64(1+rng.IntN(4))
	}
	if rng.IntN(3) == 0 {
		o.MaxInflightMsgs = 1 + rng.IntN(4)
	}
	return o
}

// String prints the options in one line, for failure reports.
func (o Options) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "voters=%d prevote=%t checkquorum=%t async=%t readonly=%s stepdownonremoval=%t",
		o.Voters, o.PreVote, o.CheckQuorum, o.AsyncStorageWrites, o.ReadOnly, o.StepDownOnRemoval)
	fmt.Fprintf(&b, " electiontick=%d heartbeattick=%d", o.ElectionTick, o.HeartbeatTick)
	if o.MaxSizePerMsg != 0 {
		fmt.Fprintf(&b, " maxsizepermsg=%d maxcommittedsizeperready=%d", o.MaxSizePerMsg, o.MaxCommittedSizePerReady)
	}
	if o.MaxInflightMsgs != 0 {
		fmt.Fprintf(&b, " maxinflightmsgs=%d", o.MaxInflightMsgs)
	}
	fmt.Fprintf(&b, " chaos=%g leadercrashes=%g", o.Chaos, o.LeaderCrashes)
	if o.WAL {
		b.WriteString(" wal")
	}
	if o.Bugs.DropHardState {
		b.WriteString(" BUG:drop-hard-state")
	}
	if o.Bugs.ApplyTwice {
		b.WriteString(" BUG:apply-twice")
	}
	return b.String()
}

// raftConfig is the configuration of one incarnation of a node.
func (o Options) raftConfig(id uint64, storage raft.Storage, applied, seed uint64) *raft.Config {
	return &raft.Config{
		ID:                       id,
		ElectionTick:             o.ElectionTick,
		HeartbeatTick:            o.HeartbeatTick,
		Storage:                  storage,
		Applied:                  applied,
		AsyncStorageWrites:       o.AsyncStorageWrites,
		MaxSizePerMsg:            o.MaxSizePerMsg,
		MaxCommittedSizePerReady: o.MaxCommittedSizePerReady,
		MaxInflightMsgs:          o.MaxInflightMsgs,
		CheckQuorum:              o.CheckQuorum,
		PreVote:                  o.PreVote,
		ReadOnlyOption:           o.ReadOnly,
		StepDownOnRemoval:        o.StepDownOnRemoval,
		Seed:                     seed,
	}
}
