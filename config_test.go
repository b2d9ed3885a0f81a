package raft

import (
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of Config: validation, defaults, and how a node starts from what
// its storage holds.

// Every mistake Validate knows about is reported, as an error wrapping
// ErrInvalidConfig so callers can tell a configuration problem from a
// storage failure, and NewRawNode refuses to build a node from it.
func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		return Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: NewMemoryStorage()}.WithDefaults()
	}
	require.NoError(t, func() error { c := valid(); return c.Validate() }())

	for _, tc := range []struct {
		name   string
		change func(*Config)
		// defaulted: NewRawNode applies WithDefaults first, which fixes
		// the zero value.
		defaulted bool
	}{
		{"zero ID", func(c *Config) { c.ID = None }, false},
		{"ID of the append thread", func(c *Config) { c.ID = LocalAppendThread }, false},
		{"ID of the apply thread", func(c *Config) { c.ID = LocalApplyThread }, false},
		{"ElectionTick equal to HeartbeatTick", func(c *Config) { c.ElectionTick, c.HeartbeatTick = 3, 3 }, false},
		{"ElectionTick below HeartbeatTick", func(c *Config) { c.ElectionTick, c.HeartbeatTick = 2, 3 }, false},
		{"zero HeartbeatTick", func(c *Config) { c.HeartbeatTick = 0 }, true},
		{"negative HeartbeatTick", func(c *Config) { c.HeartbeatTick = -1 }, false},
		{"nil Storage", func(c *Config) { c.Storage = nil }, false},
		{"negative MaxInflightMsgs", func(c *Config) { c.MaxInflightMsgs = -1 }, false},
		{"zero MaxInflightMsgs", func(c *Config) { c.MaxInflightMsgs = 0 }, true},
		{"MaxInflightBytes below MaxSizePerMsg", func(c *Config) { c.MaxSizePerMsg, c.MaxInflightBytes = 1024, 1023 }, false},
		{"unknown ReadOnlyOption", func(c *Config) { c.ReadOnlyOption = ReadOnlyOption(7) }, false},
		{"lease-based reads without CheckQuorum", func(c *Config) { c.ReadOnlyOption = ReadOnlyLeaseBased }, false},
		{"nil Logger", func(c *Config) { c.Logger = nil }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			err := c.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			rn, err := NewRawNode(&c)
			if tc.defaulted {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Nil(t, rn)
		})
	}

	// The limits themselves are fine: equal inflight bytes and message
	// size, lease-based reads with CheckQuorum.
	c := valid()
	c.MaxSizePerMsg, c.MaxInflightBytes = 1024, 1024
	c.ReadOnlyOption, c.CheckQuorum = ReadOnlyLeaseBased, true
	require.NoError(t, c.Validate())
}

// NewRawNode with no configuration at all is a configuration error, not a
// nil dereference.
func TestNewRawNodeNilConfig(t *testing.T) {
	rn, err := NewRawNode(nil)
	require.Nil(t, rn)
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// WithDefaults fills in exactly the zero fields, keeps every field that
// was set, and works on a copy: the caller's Config is not modified, so one
// template can serve several nodes.
func TestConfigWithDefaults(t *testing.T) {
	zero := Config{ID: 1}
	d := zero.WithDefaults()
	require.Equal(t, Config{ID: 1}, zero, "the receiver was modified")
	require.Equal(t, DefaultElectionTick, d.ElectionTick)
	require.Equal(t, DefaultHeartbeatTick, d.HeartbeatTick)
	require.Equal(t, uint64(DefaultMaxSizePerMsg), d.MaxSizePerMsg)
	require.Equal(t, uint64(DefaultMaxSizePerMsg), d.MaxCommittedSizePerReady)
	require.Equal(t, DefaultMaxInflightMsgs, d.MaxInflightMsgs)
	require.NotNil(t, d.Logger)
	require.Equal(t, uint64(0), d.MaxInflightBytes, "zero means no limit and stays zero")
	require.Equal(t, uint64(0), d.MaxUncommittedEntriesSize, "zero means no limit and stays zero")

	logger := slog.New(slog.DiscardHandler)
	set := Config{
		ID: 2, ElectionTick: 20, HeartbeatTick: 2, MaxSizePerMsg: 100, MaxCommittedSizePerReady: 300,
		MaxInflightMsgs: 5, MaxInflightBytes: 1000, MaxUncommittedEntriesSize: 7, Logger: logger,
	}
	require.Equal(t, set, set.WithDefaults())

	// MaxCommittedSizePerReady follows a MaxSizePerMsg that was set.
	require.Equal(t, uint64(100), Config{MaxSizePerMsg: 100}.WithDefaults().MaxCommittedSizePerReady)
}

// rnRestartStorage returns storage holding entries 1..5 of term 2 (the
// first a configuration of voters 1..3), committed up to 4, with a vote
// for 3 in term 2, as a node leaves it when it stops.
func rnRestartStorage(t *testing.T) *MemoryStorage {
	t.Helper()
	st := storageWith([]uint64{1, 2, 3})
	var ents []*pb.Entry
	for i := uint64(1); i <= 5; i++ {
		ents = append(ents, &pb.Entry{Index: i, Term: 2, Data: []byte{byte('a' + i)}})
	}
	require.NoError(t, st.Append(ents))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 2, Vote: 3, Commit: 4}))
	return st
}

// A restarted node takes its term, vote and commit index from storage: a
// node that forgot its vote could vote twice in the same term, one that
// forgot its term could accept a deposed leader. It comes back as a
// follower that knows no leader, and hands out the committed entries the
// application has not applied (Config.Applied says how far it got).
func TestRawNodeRestartKeepsHardState(t *testing.T) {
	rn, err := NewRawNode(&Config{ID: 1, Storage: rnRestartStorage(t), Applied: 2})
	require.NoError(t, err)
	st := rn.BasicStatus()
	require.Equal(t, uint64(2), st.Term)
	require.Equal(t, uint64(3), st.Vote)
	require.Equal(t, uint64(4), st.Commit)
	require.Equal(t, uint64(2), st.Applied)
	require.Equal(t, SoftState{Lead: None, RaftState: StateFollower}, st.SoftState)

	rd := rn.Ready()
	require.Nil(t, rd.HardState, "the hard state came from storage: nothing to write")
	require.Empty(t, rd.Entries, "the entries came from storage: nothing to write")
	require.Equal(t, []string{"3/2:d", "4/2:e"}, rnDescribe(rd.CommittedEntries))
	require.NoError(t, rn.Advance(rd))
	require.False(t, rn.HasReady())

	// Having voted for 3 in term 2, the node refuses 2 in the same term.
	require.NoError(t, rn.Step(&pb.Message{Type: pb.MsgVote, From: 2, To: 1, Term: 2, Index: 5, LogTerm: 2}))
	rd = rn.Ready()
	require.Equal(t, []string{"1->2 MsgVoteResp Term:2 Rejected Hint:0"}, msgSummary(rd.Messages))
}

// Config.Applied beyond the persisted log means the application applied
// entries the storage lost: an error wrapping ErrInvalidConfig, not a node
// that would hand out or skip the wrong entries. Applied beyond the
// persisted commit index but within the log is a legitimate crash state (a
// commit-only hard state need not be synced, the application's state may
// be): the entries up to Applied were committed, so the node takes its
// commit index from Applied and hands out only what follows.
func TestRawNodeAppliedBeyondCommit(t *testing.T) {
	rn, err := NewRawNode(&Config{ID: 1, Storage: rnRestartStorage(t), Applied: 6})
	require.Nil(t, rn)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "Applied (6) is beyond the last index of the persisted log (5)")

	rn, err = NewRawNode(&Config{ID: 1, Storage: rnRestartStorage(t), Applied: 5})
	require.NoError(t, err)
	require.Equal(t, uint64(5), rn.BasicStatus().Commit)
	require.Equal(t, uint64(5), rn.BasicStatus().Applied)
	require.Empty(t, rn.Ready().CommittedEntries)

	_, err = NewRawNode(&Config{ID: 1, Storage: rnRestartStorage(t), Applied: 4})
	require.NoError(t, err)
}

// Config.Rand replaces the seeded source: two nodes with sources that
// return the same numbers time out after the same number of ticks, and
// Seed is then ignored.
func TestConfigRandOverridesSeed(t *testing.T) {
	timeout := func(c *Config) int {
		rn, err := NewRawNode(c)
		require.NoError(t, err)
		for i := 1; i <= 100; i++ {
			rn.Tick()
			if rn.BasicStatus().RaftState != StateFollower {
				return i
			}
		}
		t.Fatal("no election")
		return 0
	}
	mk := func(seed uint64) *Config {
		return &Config{ID: 1, Storage: storageWith([]uint64{1, 2}), Seed: seed, Rand: rand.NewPCG(42, 42)}
	}
	want := timeout(mk(1))
	for seed := uint64(2); seed < 10; seed++ {
		require.Equal(t, want, timeout(mk(seed)), "Seed %d changed the timeout although Rand is set", seed)
	}
}
