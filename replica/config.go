package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	raft "github.com/tickraft/raft"
)

// Member names a node of the cluster and the address its transport
// reaches it at.
type Member struct {
	ID   uint64
	Addr string
}

// ReadMode chooses how linearizable reads confirm leadership.
type ReadMode int

const (
	// ReadSafe confirms leadership with a heartbeat round per batch of
	// reads (raft.ReadOnlySafe). Always linearizable.
	ReadSafe ReadMode = iota
	// ReadLeaseBased answers from the leader's lease when it is valid
	// (raft.ReadOnlyLeaseBased): no message round, but it relies on ticks
	// coming at the same rate on every node. It requires CheckQuorum,
	// which the replica always enables. With the real clock the replica
	// counts ticks from elapsed monotonic time, so a process resumed after
	// a pause (SIGSTOP, a frozen VM) first counts the ticks it missed and
	// finds its lease over. What no clock-based lease survives is a pause
	// longer than one tick between reading the clock and answering, or
	// tick rates that differ by more than the lease's one-tick margin.
	ReadLeaseBased
)

// ForwardFunc sends a command to the leader (for instance over the
// application's RPC) and returns the leader's result or error, which
// Propose returns to its caller unchanged. The leader's side serves it with
// ProposeLocal, which never forwards again.
type ForwardFunc func(ctx context.Context, leader Member, cmd []byte) (any, error)

// Config configures a replica. Zero fields get the defaults named.
type Config struct {
	// ID is this node's ID, not zero.
	ID uint64
	// Bootstrap, when the log store is empty, founds a new cluster with
	// these members (this node among them, all started with the same
	// list). Leave it empty to restart from the log store, or to join an
	// existing cluster (an empty store: the node waits until a member adds
	// it with AddLearner and the leader sends it the log).
	Bootstrap []Member
	// Join is for a node that starts empty to join an existing cluster:
	// the addresses of (some of) its members, so this node can answer the
	// leader before it learned the configuration from the log. The
	// replicated configuration's addresses replace them once it arrives.
	Join []Member

	// TickInterval is the raft clock's period (default 100ms).
	TickInterval time.Duration
	// ElectionTicks (default 10) and HeartbeatTicks (default 1) are in
	// ticks.
	ElectionTicks, HeartbeatTicks int
	// Clock makes the ticker (default: the real clock).
	Clock Clock
	// Seed seeds the randomized election timeouts (default: the ID).
	Seed uint64

	// ReadMode picks how ReadIndex confirms leadership.
	ReadMode ReadMode
	// Forward, when set, makes Propose on a follower forward the command to
	// the leader instead of failing with a *NotLeaderError.
	Forward ForwardFunc

	// SnapshotEntries is how many applied entries pass between two
	// snapshots (default 10000; negative: never snapshot).
	SnapshotEntries int64
	// SnapshotBytes, when positive, also takes a snapshot once this many
	// bytes of entries were applied since the last one.
	SnapshotBytes int64
	// CompactionTail is how many entries before a snapshot's index stay in
	// the log for followers that lag a little (default 5000).
	CompactionTail uint64
	// Snapshots stores the state machine's snapshots (default: in memory).
	// A replica with a persistent log store needs a persistent one
	// (DirSnapshots).
	Snapshots SnapshotStore

	// CatchUpLag is how many entries behind the leader's commit index a
	// learner may be and still count as caught up (default 1000).
	CatchUpLag uint64

	// MaxSizePerMsg, MaxInflightMsgs and MaxUncommittedEntriesSize are
	// passed to raft.Config (zero: raft's defaults).
	MaxSizePerMsg             uint64
	MaxInflightMsgs           int
	MaxUncommittedEntriesSize uint64
	// DisablePreVote turns pre-vote off (it is on by default).
	DisablePreVote bool

	// Logger receives the replica's and raft's logs (default: discard).
	Logger *slog.Logger
}

// ErrInvalidConfig wraps every configuration problem Start reports.
var ErrInvalidConfig = errors.New("replica: invalid config")

func (c Config) withDefaults() Config {
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Seed == 0 {
		c.Seed = c.ID
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.CompactionTail == 0 {
		c.CompactionTail = 5000
	}
	if c.Snapshots == nil {
		c.Snapshots = NewMemorySnapshots()
	}
	if c.CatchUpLag == 0 {
		c.CatchUpLag = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ID == 0 || c.ID == raft.LocalAppendThread || c.ID == raft.LocalApplyThread:
		return bad("ID %d is not a valid node ID", c.ID)
	case c.TickInterval < 0:
		return bad("TickInterval must be positive")
	case c.ReadMode != ReadSafe && c.ReadMode != ReadLeaseBased:
		return bad("unknown ReadMode %d", c.ReadMode)
	}
	seen := map[uint64]bool{}
	for _, m := range c.Bootstrap {
		if m.ID == 0 || seen[m.ID] {
			return bad("Bootstrap members need distinct non-zero IDs (got %d twice or zero)", m.ID)
		}
		seen[m.ID] = true
	}
	if len(c.Bootstrap) > 0 && !seen[c.ID] {
		return bad("Bootstrap does not list this node (%d)", c.ID)
	}
	if len(c.Bootstrap) > 0 && len(c.Join) > 0 {
		return bad("a node either founds a cluster (Bootstrap) or joins one (Join)")
	}
	return nil
}

func (c *Config) raftConfig(store LogStore, applied uint64) *raft.Config {
	ro := raft.ReadOnlySafe
	if c.ReadMode == ReadLeaseBased {
		ro = raft.ReadOnlyLeaseBased
	}
	return &raft.Config{
		ID:                        c.ID,
		ElectionTick:              c.ElectionTicks,
		HeartbeatTick:             c.HeartbeatTicks,
		Storage:                   store,
		Applied:                   applied,
		AsyncStorageWrites:        true,
		MaxSizePerMsg:             c.MaxSizePerMsg,
		MaxInflightMsgs:           c.MaxInflightMsgs,
		MaxUncommittedEntriesSize: c.MaxUncommittedEntriesSize,
		CheckQuorum:               true,
		PreVote:                   !c.DisablePreVote,
		ReadOnlyOption:            ro,
		// The replica forwards proposals itself (Config.Forward), so that
		// the leader's answer reaches the caller.
		DisableProposalForwarding: true,
		StepDownOnRemoval:         true,
		Seed:                      c.Seed,
		Logger:                    c.Logger,
	}
}
