package confchange

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

// sortedUnique returns ids sorted, without repetitions, nil when empty: the
// form progress.Tracker.ConfState produces.
func sortedUnique(ids []uint64) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}

func TestRestore(t *testing.T) {
	for _, tc := range []struct {
		name string
		cs   *pb.ConfState
		want string
	}{
		{"nil", nil, "voters=()"},
		{"empty", &pb.ConfState{}, "voters=()"},
		{"one voter", &pb.ConfState{Voters: []uint64{1}}, "voters=(1)"},
		{"voters", &pb.ConfState{Voters: []uint64{3, 1, 2}}, "voters=(1 2 3)"},
		{"voters and learners", &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{5, 4}},
			"voters=(1 2 3) learners=(4 5)"},
		{"repeated ids", &pb.ConfState{Voters: []uint64{2, 1, 2}, Learners: []uint64{4, 4}},
			"voters=(1 2) learners=(4)"},
		{"joint", &pb.ConfState{Voters: []uint64{1, 2, 4}, VotersOutgoing: []uint64{1, 2, 3}},
			"voters=(1 2 4)&&(1 2 3)"},
		{"joint autoleave", &pb.ConfState{Voters: []uint64{1, 2, 4}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true},
			"voters=(1 2 4)&&(1 2 3) autoleave"},
		{"joint learners", &pb.ConfState{
			Voters: []uint64{1, 2, 6}, VotersOutgoing: []uint64{1, 2, 3, 4},
			Learners: []uint64{5, 7}, LearnersNext: []uint64{3},
		}, "voters=(1 2 6)&&(1 2 3 4) learners=(5 7) learners_next=(3)"},
		{"joint learners autoleave", &pb.ConfState{
			Voters: []uint64{1, 2, 6}, VotersOutgoing: []uint64{1, 2, 3, 4},
			Learners: []uint64{5, 7}, LearnersNext: []uint64{3, 4}, AutoLeave: true,
		}, "voters=(1 2 6)&&(1 2 3 4) learners=(5 7) learners_next=(3 4) autoleave"},
		{"joint disjoint halves", &pb.ConfState{Voters: []uint64{4, 5, 6}, VotersOutgoing: []uint64{1, 2, 3}},
			"voters=(4 5 6)&&(1 2 3)"},
		{"joint identical halves", &pb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{2, 1}},
			"voters=(1 2)&&(1 2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := progress.MakeTracker(5, 50)
			before := cloneTracker(tr)
			const lastIndex = 17

			cfg, prs, err := Restore(Changer{Tracker: tr, LastIndex: lastIndex}, tc.cs)
			require.NoError(t, err)
			require.Equal(t, before, tr)
			require.Equal(t, tc.want, cfg.String())
			requireValid(t, cfg, prs)
			for id, pr := range prs {
				requireFresh(t, pr, lastIndex, hasID(cfg.Learners, id))
			}

			// The restored configuration describes itself with cs.
			tr.Config, tr.Progress = cfg, prs
			got := tr.ConfState()
			require.Equal(t, sortedUnique(tc.cs.GetVoters()), got.GetVoters())
			require.Equal(t, sortedUnique(tc.cs.GetVotersOutgoing()), got.GetVotersOutgoing())
			require.Equal(t, sortedUnique(tc.cs.GetLearners()), got.GetLearners())
			require.Equal(t, sortedUnique(tc.cs.GetLearnersNext()), got.GetLearnersNext())
			require.Equal(t, tc.cs.GetAutoLeave(), got.GetAutoLeave())

			// Leaving a restored joint configuration works like leaving one
			// built change by change.
			if len(tc.cs.GetVotersOutgoing()) > 0 {
				cfg, prs, err := Changer{Tracker: tr, LastIndex: lastIndex}.LeaveJoint()
				require.NoError(t, err)
				requireValid(t, cfg, prs)
			}
		})
	}
}

// Restoring the ConfState of a configuration built change by change gives
// back the same configuration.
func TestRestoreRoundTrip(t *testing.T) {
	for _, ops := range [][]string{
		{"simple v1"},
		{"simple v1", "simple v2", "simple l3"},
		{"simple v1", "simple v2", "simple v3", "enter l3 v4 l5 r2"},
		{"simple v1", "simple v2", "simple v3", "enter-auto l3 v4 l5 r2"},
		{"simple v1", "simple v2", "simple v3", "enter-auto l3 v4 l5 r2", "leave"},
		{"simple v1", "enter-auto v2 v3 v4 r1"},
	} {
		tr := build(t, ops...)
		requireRestores(t, tr.Config, tr.Progress, 3)
	}
}

func TestRestoreNonEmptyTracker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tr     progress.Tracker
		mutate func(*progress.Tracker)
		msg    string
	}{
		{"voter", build(t, "simple v1"), nil,
			"tracker is not empty: can't restore into voters=(1) with 1 progress entries"},
		{"learner", build(t, "simple v1", "simple l2"), func(tr *progress.Tracker) {
			// Leave only the learner, an invalid tracker but not an empty one.
			delete(tr.Voters[0], 1)
			delete(tr.Progress, 1)
		}, "tracker is not empty: can't restore into voters=() learners=(2) with 1 progress entries"},
		{"progress only", progress.MakeTracker(3, 0), func(tr *progress.Tracker) {
			tr.Progress[4] = &progress.Progress{Next: 1}
		}, "tracker is not empty: can't restore into voters=() with 1 progress entries"},
		{"autoleave only", progress.MakeTracker(3, 0), func(tr *progress.Tracker) { tr.AutoLeave = true },
			"tracker is not empty: can't restore into voters=() autoleave with 0 progress entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := tc.tr
			if tc.mutate != nil {
				tc.mutate(&tr)
			}
			before := cloneTracker(tr)
			_, _, err := Restore(Changer{Tracker: tr}, &pb.ConfState{Voters: []uint64{1}})
			require.ErrorIs(t, err, ErrTrackerNotEmpty)
			require.EqualError(t, err, tc.msg)
			require.Equal(t, before, tr)
		})
	}
}

func TestRestoreInvalidConfState(t *testing.T) {
	for _, tc := range []struct {
		name string
		cs   *pb.ConfState
		msg  string
	}{
		{"zero voter", &pb.ConfState{Voters: []uint64{1, 0}}, "node ID 0 in voters"},
		{"zero learner next", &pb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1}, LearnersNext: []uint64{0}},
			"node ID 0 in learners_next"},
		{"voter and learner", &pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{2}},
			"2 is both a voter and a learner"},
		{"outgoing voter and learner", &pb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1, 2}, Learners: []uint64{2}},
			"2 is both an outgoing voter and a learner"},
		{"learner next not outgoing", &pb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1}, LearnersNext: []uint64{2}},
			"2 is in learners_next but is not an outgoing voter"},
		{"learner next not joint", &pb.ConfState{Voters: []uint64{1}, LearnersNext: []uint64{2}},
			"2 is in learners_next but is not an outgoing voter"},
		{"learner next incoming", &pb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1}, LearnersNext: []uint64{1}},
			"1 is in learners_next but is a voter"},
		{"autoleave not joint", &pb.ConfState{Voters: []uint64{1}, AutoLeave: true},
			"auto_leave is set but the config is not joint"},
		{"joint without incoming", &pb.ConfState{VotersOutgoing: []uint64{1}},
			"joint config without incoming voters"},
		{"learners without voters", &pb.ConfState{Learners: []uint64{1}},
			"learners without voters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := progress.MakeTracker(3, 0)
			before := cloneTracker(tr)
			_, _, err := Restore(Changer{Tracker: tr}, tc.cs)
			require.ErrorIs(t, err, ErrInvalidConfState)
			require.EqualError(t, err, "invalid conf state: "+tc.msg)
			require.Equal(t, before, tr)
		})
	}
}

func TestRestoreMaxInflightZero(t *testing.T) {
	tr := progress.MakeTracker(0, 0)
	cfg, prs, err := Restore(Changer{Tracker: tr}, &pb.ConfState{})
	require.NoError(t, err)
	require.Equal(t, "voters=()", cfg.String())
	require.Empty(t, prs)

	_, _, err = Restore(Changer{Tracker: tr}, &pb.ConfState{Voters: []uint64{1}})
	require.ErrorIs(t, err, ErrInvalidTracker)
	require.EqualError(t, err, "restoring voters=(1): invalid tracker: MaxInflight is 0, must be positive to add node 1")
}
