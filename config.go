package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
)

// ReadOnlyOption chooses how the leader confirms it is still the leader
// before it answers a ReadIndex request.
type ReadOnlyOption int

const (
	// ReadOnlySafe confirms leadership with a heartbeat round acknowledged by
	// a quorum for every batch of read requests. It is always linearizable.
	ReadOnlySafe ReadOnlyOption = iota
	// ReadOnlyLeaseBased answers from the leader's lease, without a
	// message, and requires CheckQuorum (thesis §6.4.1). The lease is two
	// promises. Every voter grants no vote, not even to itself, for an
	// election timeout after it heard from the leader or restarted, so
	// Campaign and ForgetLeader do nothing meanwhile; only a leader
	// transfer overrides it, and the transferring leader gives up its
	// lease. The leader answers from its lease for ElectionTick-1 of its
	// ticks after sending a heartbeat round that a quorum of voters
	// answered; otherwise it confirms the read with a heartbeat round, as
	// ReadOnlySafe does. The lease assumes that every node's ticks come at
	// the same rate (clock drift below one tick per election timeout), and
	// every voter must run with ReadOnlyLeaseBased.
	ReadOnlyLeaseBased
)

// String returns the option's name.
func (o ReadOnlyOption) String() string {
	switch o {
	case ReadOnlySafe:
		return "ReadOnlySafe"
	case ReadOnlyLeaseBased:
		return "ReadOnlyLeaseBased"
	}
	return fmt.Sprintf("ReadOnlyOption(%d)", int(o))
}

// Defaults applied by Config.WithDefaults to fields left zero.
const (
	DefaultElectionTick    = 10
	DefaultHeartbeatTick   = 1
	DefaultMaxSizePerMsg   = 1 << 20
	DefaultMaxInflightMsgs = 256
)

// ErrInvalidConfig wraps every error returned by Config.Validate, so callers
// can tell a configuration mistake from other failures with errors.Is.
var ErrInvalidConfig = errors.New("raft: invalid config")

// Config holds the parameters of one raft node. Fill it in, then pass it to
// NewRawNode, which applies WithDefaults and Validate.
type Config struct {
	// ID is the node's identity in the cluster. It must not be zero (None).
	ID uint64

	// ElectionTick is the number of Ticks a follower waits without hearing
	// from a leader before it campaigns. The actual timeout is drawn at
	// random from [ElectionTick, 2*ElectionTick) to make split votes rare.
	// It must be greater than HeartbeatTick; ten times is customary.
	ElectionTick int
	// HeartbeatTick is the number of Ticks between a leader's heartbeats.
	HeartbeatTick int

	// Storage is the node's persisted state. The node reads from it; the
	// application writes to it while handling a Ready. Required.
	Storage Storage
	// Applied is the index of the last entry the application's state
	// machine holds at this restart: entries up to Applied are not handed
	// out again, and the node's configuration is rebuilt up to it. It must
	// be at least the storage's snapshot index (restore the state machine
	// from Storage.Snapshot() if need be) and at most its last index.
	// Zero on a fresh start. See "Restarting a node" in the package
	// documentation.
	Applied uint64

	// AsyncStorageWrites hands persistence and application to the caller as
	// local messages (MsgStorageAppend to LocalAppendThread, MsgStorageApply
	// to LocalApplyThread) whose responses the caller steps back in when the
	// work is done, so that disk writes and applying can run concurrently
	// with the raft loop. See the package documentation.
	AsyncStorageWrites bool

	// MaxSizePerMsg limits the bytes of entries in one append message. Zero
	// means DefaultMaxSizePerMsg; math.MaxUint64 means no limit. A message
	// always carries at least one entry when there is one to send.
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady limits the bytes of committed entries handed
	// out for applying and not yet acknowledged. Zero means MaxSizePerMsg.
	MaxCommittedSizePerReady uint64
	// MaxUncommittedEntriesSize limits the payload bytes of entries a leader
	// holds uncommitted; proposals beyond it are dropped with
	// ErrProposalDropped. Zero means no limit. Empty entries are never
	// refused.
	MaxUncommittedEntriesSize uint64
	// MaxInflightMsgs limits the number of append messages in flight to one
	// follower in the Replicate state. Zero means DefaultMaxInflightMsgs.
	MaxInflightMsgs int
	// MaxInflightBytes limits the payload bytes in flight to one follower.
	// Zero means no limit. When set it must be at least MaxSizePerMsg.
	MaxInflightBytes uint64

	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum within an election timeout, and makes followers that hear from
	// a leader ignore vote requests (leader stickiness).
	CheckQuorum bool
	// PreVote runs a pre-election that does not change terms before a real
	// election, so a node that was partitioned away cannot disrupt a healthy
	// cluster when it returns.
	PreVote bool
	// ReadOnlyOption chooses how ReadIndex confirms leadership.
	ReadOnlyOption ReadOnlyOption
	// DisableProposalForwarding makes followers drop proposals instead of
	// forwarding them to the leader.
	DisableProposalForwarding bool
	// DisableConfChangeValidation skips the leader's checks of a proposed
	// configuration change (one pending change at a time, joint state). Only
	// for applications that validate changes themselves.
	DisableConfChangeValidation bool
	// StepDownOnRemoval makes a leader step down when a configuration change
	// that removes it (or demotes it to learner) is applied.
	StepDownOnRemoval bool
	// EagerCommitPropagation makes the leader tell followers that already
	// have every entry about a new commit index at once, with an append of
	// its own: one more message, and one more Ready on the follower, per
	// follower and commit. By default the new commit index travels with the
	// next append that carries entries, or with the next heartbeat, so an
	// idle follower applies up to a heartbeat interval later. A follower's
	// ReadIndex answer, a leader transfer and a commit index that covers a
	// configuration change (which every added, removed or promoted node
	// must learn of within a round trip) go out at once either way.
	EagerCommitPropagation bool

	// Seed seeds the source of randomized election timeouts when Rand is nil.
	// Two nodes with the same Config, Seed included, behave identically.
	Seed uint64
	// Rand, when set, is the source of randomness and Seed is ignored. It is
	// used only by this node and must not be shared between nodes.
	Rand rand.Source

	// Logger receives the node's structured log records. Nil means a logger
	// that discards everything. Each node has its own; there is no global
	// logger.
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with zero fields replaced by defaults.
func (c Config) WithDefaults() Config {
	if c.ElectionTick == 0 {
		c.ElectionTick = DefaultElectionTick
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = DefaultHeartbeatTick
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = DefaultMaxSizePerMsg
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = c.MaxSizePerMsg
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig. It does not apply defaults: call WithDefaults first.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ID == None:
		return bad("ID must not be zero (None)")
	case c.ID == LocalAppendThread || c.ID == LocalApplyThread:
		return bad("ID %d is reserved for the local storage threads", c.ID)
	case c.HeartbeatTick <= 0:
		return bad("HeartbeatTick must be positive, got %d", c.HeartbeatTick)
	case c.ElectionTick <= c.HeartbeatTick:
		return bad("ElectionTick (%d) must be greater than HeartbeatTick (%d)", c.ElectionTick, c.HeartbeatTick)
	case c.Storage == nil:
		return bad("Storage must be set")
	case c.MaxInflightMsgs <= 0:
		return bad("MaxInflightMsgs must be positive, got %d", c.MaxInflightMsgs)
	case c.MaxInflightBytes != 0 && c.MaxInflightBytes < c.MaxSizePerMsg:
		return bad("MaxInflightBytes (%d) must be at least MaxSizePerMsg (%d)", c.MaxInflightBytes, c.MaxSizePerMsg)
	case c.ReadOnlyOption != ReadOnlySafe && c.ReadOnlyOption != ReadOnlyLeaseBased:
		return bad("unknown ReadOnlyOption %d", int(c.ReadOnlyOption))
	case c.ReadOnlyOption == ReadOnlyLeaseBased && !c.CheckQuorum:
		return bad("ReadOnlyLeaseBased requires CheckQuorum")
	case c.Logger == nil:
		return bad("Logger must be set (WithDefaults sets a discarding one)")
	}
	return nil
}

// newRand returns the node's source of randomness.
func (c *Config) newRand() *rand.Rand {
	if c.Rand != nil {
		return rand.New(c.Rand)
	}
	return rand.New(rand.NewPCG(c.Seed, c.ID))
}
