package confchange

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tickraft/raft/progress"
	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

// mustChanges parses changes in the test text form or fails the test.
func mustChanges(t *testing.T, s string) []*pb.ConfChangeSingle {
	t.Helper()
	ccs, err := parseChanges(s)
	require.NoError(t, err)
	return ccs
}

// build returns a tracker (MaxInflight 4, MaxInflightBytes 100) brought to
// a configuration by a sequence of operations, each "simple CHANGES",
// "enter CHANGES", "enter-auto CHANGES" or "leave".
func build(t *testing.T, ops ...string) progress.Tracker {
	t.Helper()
	tr := progress.MakeTracker(4, 100)
	for i, o := range ops {
		kind, changes, _ := strings.Cut(o, " ")
		c := Changer{Tracker: tr, LastIndex: uint64(i + 1)}
		var (
			cfg progress.Config
			prs progress.Map
			err error
		)
		switch kind {
		case "simple":
			cfg, prs, err = c.Simple(mustChanges(t, changes)...)
		case "enter":
			cfg, prs, err = c.EnterJoint(false, mustChanges(t, changes)...)
		case "enter-auto":
			cfg, prs, err = c.EnterJoint(true, mustChanges(t, changes)...)
		case "leave":
			cfg, prs, err = c.LeaveJoint()
		default:
			t.Fatalf("unknown op %q", o)
		}
		require.NoError(t, err, o)
		tr.Config, tr.Progress = cfg, prs
	}
	return tr
}

// busy puts every peer of tr in StateReplicate with entries in flight, so
// that copies of their Progress have something to get wrong.
func busy(tr *progress.Tracker) {
	for _, pr := range tr.Progress {
		pr.MaybeUpdate(3)
		pr.BecomeReplicate()
		pr.SentEntries(2, 10)
		pr.SentEntries(1, 10)
	}
}

func TestInputNotModified(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup []string
		run   func(Changer) (progress.Config, progress.Map, error)
	}{
		{"simple ok", []string{"simple v1", "simple v2", "simple l3"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.Simple(mustChanges(t, "v3 l4")...)
			}},
		{"simple error", []string{"simple v1", "simple v2", "simple l3"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.Simple(mustChanges(t, "v3 v4 r1")...)
			}},
		{"enter ok", []string{"simple v1", "simple v2", "simple l3"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.EnterJoint(true, mustChanges(t, "v3 l2 r1 v5")...)
			}},
		{"enter error", []string{"simple v1", "simple v2"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.EnterJoint(false, mustChanges(t, "v3 r1 r2 ?9:4")...)
			}},
		{"leave ok", []string{"simple v1", "simple v2", "simple v3", "enter l3 r2 v4 l5"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.LeaveJoint()
			}},
		{"leave error", []string{"simple v1"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.LeaveJoint()
			}},
		{"restore error", []string{"simple v1"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return Restore(c, &pb.ConfState{Voters: []uint64{1}})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, tc.setup...)
			busy(&tr)
			tr.RecordVote(1, true)
			before := cloneTracker(tr)

			cfg, prs, err := tc.run(Changer{Tracker: tr, LastIndex: 20})
			require.Equal(t, before, tr)
			if strings.HasSuffix(tc.name, "error") {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)

			// Writing to the result must not show in the input.
			for _, s := range []map[uint64]struct{}{cfg.Voters[0], cfg.Voters[1], cfg.Learners, cfg.LearnersNext} {
				if s != nil {
					clear(s)
				}
			}
			for _, pr := range prs {
				pr.MaybeUpdate(1000)
				pr.SentEntries(1, 1)
				pr.IsLearner = !pr.IsLearner
			}
			clear(prs)
			require.Equal(t, before, tr)
		})
	}
}

func TestErrors(t *testing.T) {
	joint := []string{"simple v1", "simple v2", "enter v3"}
	for _, tc := range []struct {
		name  string
		setup []string
		run   func(Changer) (progress.Config, progress.Map, error)
		want  error
		msg   string
	}{
		{"simple in joint", joint,
			func(c Changer) (progress.Config, progress.Map, error) { return c.Simple(mustChanges(t, "v4")...) },
			ErrJoint, "already in a joint config: can't apply a simple config change until it is left (voters=(1 2 3)&&(1 2))"},
		{"enter in joint", joint,
			func(c Changer) (progress.Config, progress.Map, error) { return c.EnterJoint(true) },
			ErrJoint, "already in a joint config: can't enter another one until it is left (voters=(1 2 3)&&(1 2))"},
		{"leave not joint", []string{"simple v1"},
			func(c Changer) (progress.Config, progress.Map, error) { return c.LeaveJoint() },
			ErrNotJoint, "not in a joint config: nothing to leave (voters=(1))"},
		{"two voters", []string{"simple v1"},
			func(c Changer) (progress.Config, progress.Map, error) { return c.Simple(mustChanges(t, "v2 v3")...) },
			ErrTooManyVoterChanges, "more than one voter changed without entering joint config: 2 voters changed, (1) -> (1 2 3)"},
		{"remove last voter", []string{"simple v1", "simple l2"},
			func(c Changer) (progress.Config, progress.Map, error) { return c.Simple(mustChanges(t, "r1")...) },
			ErrNoVoters, "no voters: removed all voters"},
		{"learner first", nil,
			func(c Changer) (progress.Config, progress.Map, error) { return c.Simple(mustChanges(t, "l1")...) },
			ErrNoVoters, "no voters: a config needs at least one voter"},
		{"simple no-op on empty", nil,
			func(c Changer) (progress.Config, progress.Map, error) { return c.Simple() },
			ErrNoVoters, "no voters: a config needs at least one voter"},
		{"enter zero voters", nil,
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.EnterJoint(false, mustChanges(t, "v1")...)
			},
			ErrNoVoters, "no voters: can't make a zero-voter config joint"},
		{"enter removes all", []string{"simple v1", "simple v2"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.EnterJoint(false, mustChanges(t, "r1 l2 v3 r3")...)
			},
			ErrNoVoters, "no voters: removed all incoming voters (outgoing (1 2))"},
		{"node 0", []string{"simple v1"},
			func(c Changer) (progress.Config, progress.Map, error) { return c.Simple(mustChanges(t, "l0")...) },
			ErrInvalidChange, "invalid config change: node ID 0 in change l0 (0 never names a node)"},
		{"unknown type", []string{"simple v1"},
			func(c Changer) (progress.Config, progress.Map, error) { return c.Simple(mustChanges(t, "?4:2")...) },
			ErrInvalidChange, "invalid config change: unknown change type 4 for node 2"},
		{"nil change", []string{"simple v1"},
			func(c Changer) (progress.Config, progress.Map, error) {
				return c.EnterJoint(false, &pb.ConfChangeSingle{Type: pb.ConfChangeAddNode, NodeId: 2}, nil)
			},
			ErrInvalidChange, "invalid config change: nil change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, tc.setup...)
			before := cloneTracker(tr)
			cfg, prs, err := tc.run(Changer{Tracker: tr, LastIndex: 9})
			require.ErrorIs(t, err, tc.want)
			require.EqualError(t, err, tc.msg)
			require.Equal(t, progress.Config{}, cfg)
			require.Nil(t, prs)
			require.Equal(t, before, tr)
		})
	}
}

func TestInvalidTracker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*progress.Tracker)
		msg    string
	}{
		{"voter without progress", func(tr *progress.Tracker) { delete(tr.Progress, 2) },
			"invalid tracker: voter 2 has no progress"},
		{"nil progress", func(tr *progress.Tracker) { tr.Progress[2] = nil },
			"invalid tracker: node 2 has a nil progress"},
		{"learner also voter", func(tr *progress.Tracker) { tr.Learners = map[uint64]struct{}{1: {}} },
			"invalid tracker: 1 is both a learner and an incoming voter"},
		{"stray progress", func(tr *progress.Tracker) { tr.Progress[7] = &progress.Progress{Next: 1} },
			"invalid tracker: 7 has a progress but is not in the configuration"},
		{"autoleave not joint", func(tr *progress.Tracker) { tr.AutoLeave = true },
			"invalid tracker: autoleave is set but the configuration is not joint"},
		{"learner mark on voter", func(tr *progress.Tracker) { tr.Progress[1].IsLearner = true },
			"invalid tracker: voter 1 has a progress marked as learner"},
		{"node 0", func(tr *progress.Tracker) {
			tr.Voters[0][0] = struct{}{}
			tr.Progress[0] = &progress.Progress{Next: 1}
		}, "invalid tracker: node ID 0 is a member"},
		{"joint without incoming", func(tr *progress.Tracker) {
			tr.Voters[1] = tr.Voters[0]
			tr.Voters[0] = nil
		}, "invalid tracker: joint config without incoming voters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, "simple v1", "simple v2")
			tc.mutate(&tr)
			before := cloneTracker(tr)
			c := Changer{Tracker: tr, LastIndex: 5}
			for _, run := range []func() (progress.Config, progress.Map, error){
				func() (progress.Config, progress.Map, error) { return c.Simple() },
				func() (progress.Config, progress.Map, error) { return c.EnterJoint(false) },
				func() (progress.Config, progress.Map, error) { return c.LeaveJoint() },
			} {
				_, _, err := run()
				require.ErrorIs(t, err, ErrInvalidTracker)
				require.EqualError(t, err, tc.msg)
			}
			require.Equal(t, before, tr)
		})
	}
}

func TestMaxInflightZero(t *testing.T) {
	tr := progress.MakeTracker(0, 0)
	_, _, err := Changer{Tracker: tr}.Simple(mustChanges(t, "v1")...)
	require.ErrorIs(t, err, ErrInvalidTracker)
	require.EqualError(t, err, "invalid tracker: MaxInflight is 0, must be positive to add node 1")

	// Only new peers need an inflight window.
	tr = build(t, "simple v1", "simple v2", "simple l3")
	tr.MaxInflight = 0
	cfg, _, err := Changer{Tracker: tr}.EnterJoint(false, mustChanges(t, "r1 v3 l2")...)
	require.NoError(t, err)
	require.Equal(t, "voters=(3)&&(1 2) learners_next=(2)", cfg.String())
}

func TestNewPeerProgress(t *testing.T) {
	tr := progress.MakeTracker(2, 0)
	cfg, prs, err := Changer{Tracker: tr, LastIndex: 41}.Simple(mustChanges(t, "v1 l2")...)
	require.NoError(t, err)
	require.Equal(t, "voters=(1) learners=(2)", cfg.String())
	requireFresh(t, prs[1], 41, false)
	requireFresh(t, prs[2], 41, true)
	require.NotSame(t, prs[1].Inflights, prs[2].Inflights)

	// The window has the tracker's limits: two messages here...
	prs[1].Inflights.Add(1, 1)
	require.False(t, prs[1].Inflights.Full())
	prs[1].Inflights.Add(2, 1)
	require.True(t, prs[1].Inflights.Full())

	// ... and a byte budget there.
	tr = progress.MakeTracker(100, 10)
	_, prs, err = Changer{Tracker: tr}.Simple(mustChanges(t, "v1")...)
	require.NoError(t, err)
	requireFresh(t, prs[1], 0, false)
	prs[1].Inflights.Add(1, 10)
	require.True(t, prs[1].Inflights.Full())
}

func TestEnterJointWithoutChanges(t *testing.T) {
	tr := build(t, "simple v1", "simple v2", "simple l3")
	cfg, prs, err := Changer{Tracker: tr}.EnterJoint(true)
	require.NoError(t, err)
	require.Equal(t, "voters=(1 2)&&(1 2) learners=(3) autoleave", cfg.String())
	requireValid(t, cfg, prs)
}

// A voter that a joint change removes and then adds back keeps its
// progress when it still votes in the outgoing half, but not in a simple
// change, where removing it drops its progress at once.
func TestRemoveThenAdd(t *testing.T) {
	tr := build(t, "simple v1", "simple v2")
	busy(&tr)
	old := *tr.Progress[2]

	cfg, prs, err := Changer{Tracker: tr, LastIndex: 30}.EnterJoint(false, mustChanges(t, "r2 v2 v3")...)
	require.NoError(t, err)
	require.Equal(t, "voters=(1 2 3)&&(1 2)", cfg.String())
	require.Equal(t, old.Match, prs[2].Match)
	require.Equal(t, old.State, prs[2].State)

	cfg, prs, err = Changer{Tracker: tr, LastIndex: 30}.Simple(mustChanges(t, "r2 v2")...)
	require.NoError(t, err)
	require.Equal(t, "voters=(1 2)", cfg.String())
	requireFresh(t, prs[2], 30, false)
}

// The demotion staged in LearnersNext can be undone before leaving, by
// adding the peer as a voter again or by removing it.
func TestLearnersNextUndone(t *testing.T) {
	tr := build(t, "simple v1", "simple v2", "simple v3")
	cfg, _, err := Changer{Tracker: tr}.EnterJoint(false, mustChanges(t, "l3 v3")...)
	require.NoError(t, err)
	require.Equal(t, "voters=(1 2 3)&&(1 2 3)", cfg.String())

	cfg, prs, err := Changer{Tracker: tr}.EnterJoint(false, mustChanges(t, "l3 r3")...)
	require.NoError(t, err)
	require.Equal(t, "voters=(1 2)&&(1 2 3)", cfg.String())
	require.Contains(t, prs, uint64(3), "3 still votes in the outgoing half")
	tr.Config, tr.Progress = cfg, prs
	cfg, prs, err = Changer{Tracker: tr}.LeaveJoint()
	require.NoError(t, err)
	require.Equal(t, "voters=(1 2)", cfg.String())
	require.NotContains(t, prs, uint64(3))
}

func TestCanonicalShape(t *testing.T) {
	tr := build(t, "simple v1", "simple v2", "enter l2 v3", "leave", "simple r2")
	require.Equal(t, "voters=(1 3)", tr.Config.String())
	require.NotNil(t, tr.Voters[0])
	require.Nil(t, tr.Voters[1])
	require.Nil(t, tr.Learners)
	require.Nil(t, tr.LearnersNext)
	require.False(t, tr.AutoLeave)

	empty, prs, err := Restore(Changer{Tracker: progress.MakeTracker(1, 0)}, &pb.ConfState{})
	require.NoError(t, err)
	require.Equal(t, progress.MakeTracker(1, 0).Config, empty)
	require.Equal(t, progress.Map{}, prs)
}

func TestDescribe(t *testing.T) {
	tr := build(t, "simple v1", "simple v2", "simple v3", "enter-auto l3 l4 v5")
	tr.Progress[2].MaybeUpdate(3)
	tr.Progress[2].BecomeReplicate()
	require.Equal(t, `voters=(1 2 5)&&(1 2 3) learners=(4) learners_next=(3) autoleave
1: StateProbe match=0 next=2
2: StateReplicate match=3 next=4
3: StateProbe match=0 next=4
4: StateProbe match=0 next=5 learner
5: StateProbe match=0 next=5
`, Describe(tr.Config, tr.Progress))

	require.Equal(t, "voters=()\n", Describe(progress.Config{}, nil))
	broken := progress.Config{Voters: quorum.JointConfig{quorum.MajorityConfig{1: {}}, nil}}
	require.Equal(t, "voters=(1)\n1: <nil>\n", Describe(broken, progress.Map{1: nil}))
}
