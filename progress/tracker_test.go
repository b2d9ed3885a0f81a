package progress

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

func set(ids ...uint64) map[uint64]struct{} {
	s := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		s[id] = struct{}{}
	}
	return s
}

// newTracker builds a tracker with the given incoming and outgoing voters
// and learners, every member with a Progress whose Match is taken from
// match (0 if absent).
func newTracker(in, out, learners []uint64, match map[uint64]uint64) *Tracker {
	trk := MakeTracker(4, 0)
	trk.Voters = quorum.JointConfig{set(in...), nil}
	if len(out) > 0 {
		trk.Voters[1] = set(out...)
	}
	if len(learners) > 0 {
		trk.Learners = set(learners...)
	}
	add := func(id uint64, learner bool) {
		if _, ok := trk.Progress[id]; ok {
			return
		}
		m := match[id]
		trk.Progress[id] = &Progress{
			Match:     m,
			Next:      m + 1,
			Inflights: NewInflights(trk.MaxInflight, trk.MaxInflightBytes),
			IsLearner: learner,
		}
	}
	for _, id := range in {
		add(id, false)
	}
	for _, id := range out {
		add(id, false)
	}
	for _, id := range learners {
		add(id, true)
	}
	return &trk
}

func TestMakeTracker(t *testing.T) {
	trk := MakeTracker(16, 1024)
	require.Equal(t, 16, trk.MaxInflight)
	require.Equal(t, uint64(1024), trk.MaxInflightBytes)
	require.NotNil(t, trk.Progress)
	require.NotNil(t, trk.Votes)
	require.NotNil(t, trk.Voters[0])
	require.Empty(t, trk.Voters[0])
	require.Empty(t, trk.Voters[1])
	require.Equal(t, "voters=()", trk.Config.String())
	require.NoError(t, trk.Validate(trk.Progress))
	require.False(t, trk.IsSingleton())
	require.Equal(t, &pb.ConfState{}, trk.ConfState())
}

func TestCommitted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []uint64
		out   []uint64
		match map[uint64]uint64
		want  uint64
	}{
		{"one voter", []uint64{1}, nil, map[uint64]uint64{1: 7}, 7},
		{"three voters", []uint64{1, 2, 3}, nil, map[uint64]uint64{1: 10, 2: 4, 3: 8}, 8},
		{"three voters, one silent", []uint64{1, 2, 3}, nil, map[uint64]uint64{1: 10, 3: 8}, 8},
		{"three voters, two silent", []uint64{1, 2, 3}, nil, map[uint64]uint64{1: 10}, 0},
		{"five voters", []uint64{1, 2, 3, 4, 5}, nil, map[uint64]uint64{1: 10, 2: 9, 3: 3, 4: 5, 5: 7}, 7},
		{"five voters, ties", []uint64{1, 2, 3, 4, 5}, nil, map[uint64]uint64{1: 5, 2: 5, 3: 5, 4: 1, 5: 1}, 5},
		{
			name:  "joint, outgoing half holds back",
			in:    []uint64{1, 2, 3},
			out:   []uint64{1, 4, 5},
			match: map[uint64]uint64{1: 10, 2: 10, 3: 10, 4: 2, 5: 6},
			want:  6,
		},
		{
			name:  "joint, incoming half holds back",
			in:    []uint64{1, 2, 3},
			out:   []uint64{1, 4, 5},
			match: map[uint64]uint64{1: 10, 2: 1, 3: 3, 4: 9, 5: 9},
			want:  3,
		},
		{"no voters", nil, nil, nil, math.MaxUint64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trk := newTracker(tc.in, tc.out, nil, tc.match)
			require.Equal(t, tc.want, trk.Committed())
		})
	}

	t.Run("learners do not count", func(t *testing.T) {
		trk := newTracker([]uint64{1, 2, 3}, nil, []uint64{4, 5}, map[uint64]uint64{1: 9, 4: 9, 5: 9})
		require.Equal(t, uint64(0), trk.Committed())
	})

	t.Run("voter missing from the progress map counts as 0", func(t *testing.T) {
		trk := newTracker([]uint64{1, 2, 3}, nil, nil, map[uint64]uint64{1: 9, 2: 9, 3: 9})
		delete(trk.Progress, 2)
		delete(trk.Progress, 3)
		require.Equal(t, uint64(0), trk.Committed())
	})
}

func TestQuorumActive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []uint64
		out    []uint64
		learn  []uint64
		active []uint64
		want   bool
	}{
		{"singleton active", []uint64{1}, nil, nil, []uint64{1}, true},
		{"singleton inactive", []uint64{1}, nil, nil, nil, false},
		{"two of three", []uint64{1, 2, 3}, nil, nil, []uint64{1, 3}, true},
		{"one of three", []uint64{1, 2, 3}, nil, nil, []uint64{1}, false},
		{"active learners do not help", []uint64{1, 2, 3}, nil, []uint64{4, 5}, []uint64{1, 4, 5}, false},
		{"joint, both halves", []uint64{1, 2, 3}, []uint64{3, 4, 5}, nil, []uint64{1, 3, 4}, true},
		{"joint, outgoing lacks quorum", []uint64{1, 2, 3}, []uint64{3, 4, 5}, nil, []uint64{1, 2, 3}, false},
		{"joint, incoming lacks quorum", []uint64{1, 2, 3}, []uint64{3, 4, 5}, nil, []uint64{3, 4, 5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trk := newTracker(tc.in, tc.out, tc.learn, nil)
			for _, id := range tc.active {
				trk.Progress[id].RecentActive = true
			}
			require.Equal(t, tc.want, trk.QuorumActive())
		})
	}
}

func TestVotes(t *testing.T) {
	trk := newTracker([]uint64{1, 2, 3, 4, 5}, nil, []uint64{6}, nil)

	g, r, res := trk.TallyVotes()
	require.Equal(t, [3]any{0, 0, quorum.VotePending}, [3]any{g, r, res})

	trk.RecordVote(1, true)
	trk.RecordVote(2, false)
	trk.RecordVote(2, true) // duplicate: first vote wins
	trk.RecordVote(1, false)
	trk.RecordVote(6, true)  // learner: recorded, never counted
	trk.RecordVote(42, true) // unknown peer: likewise
	require.Equal(t, map[uint64]bool{1: true, 2: false, 6: true, 42: true}, trk.Votes)

	g, r, res = trk.TallyVotes()
	require.Equal(t, [3]any{1, 1, quorum.VotePending}, [3]any{g, r, res})

	trk.RecordVote(3, true)
	g, r, res = trk.TallyVotes()
	require.Equal(t, [3]any{2, 1, quorum.VotePending}, [3]any{g, r, res})

	trk.RecordVote(4, true)
	g, r, res = trk.TallyVotes()
	require.Equal(t, [3]any{3, 1, quorum.VoteWon}, [3]any{g, r, res})

	trk.ResetVotes()
	require.Empty(t, trk.Votes)
	g, r, res = trk.TallyVotes()
	require.Equal(t, [3]any{0, 0, quorum.VotePending}, [3]any{g, r, res})

	for _, id := range []uint64{1, 2, 3} {
		trk.RecordVote(id, false)
	}
	g, r, res = trk.TallyVotes()
	require.Equal(t, [3]any{0, 3, quorum.VoteLost}, [3]any{g, r, res})

	// A tracker built without MakeTracker still records votes.
	var zero Tracker
	zero.RecordVote(1, true)
	require.Equal(t, map[uint64]bool{1: true}, zero.Votes)
	zero = Tracker{}
	zero.ResetVotes()
	require.NotNil(t, zero.Votes)
}

func TestVotesJoint(t *testing.T) {
	trk := newTracker([]uint64{1, 2, 3}, []uint64{3, 4, 5}, nil, nil)
	trk.RecordVote(1, true)
	trk.RecordVote(2, true)
	g, r, res := trk.TallyVotes()
	require.Equal(t, [3]any{2, 0, quorum.VotePending}, [3]any{g, r, res}, "incoming won, outgoing open")

	trk.RecordVote(4, false)
	trk.RecordVote(5, false)
	g, r, res = trk.TallyVotes()
	require.Equal(t, [3]any{2, 2, quorum.VoteLost}, [3]any{g, r, res})

	trk.ResetVotes()
	for _, id := range []uint64{1, 3, 4} {
		trk.RecordVote(id, true)
	}
	g, r, res = trk.TallyVotes()
	require.Equal(t, [3]any{3, 0, quorum.VoteWon}, [3]any{g, r, res}, "3 counts once")
}

func TestVisitOrder(t *testing.T) {
	for _, ids := range [][]uint64{
		nil,
		{5},
		{9, 3, 7, 1, 5},
		{100, 7, 6, 5, 4, 3, 2}, // exactly the stack array
		{12, 3, 99, 1, 47, 8, 20, 5, 61, 2, 33, 14, 4}, // beyond it
	} {
		trk := newTracker(ids, nil, nil, nil)
		var got []uint64
		trk.Visit(func(id uint64, pr *Progress) {
			require.Same(t, trk.Progress[id], pr)
			got = append(got, id)
		})
		require.Equal(t, sortedIDs(set(ids...)), got)
	}

	t.Run("removal during the visit skips the removed peer", func(t *testing.T) {
		trk := newTracker([]uint64{1, 2, 3}, nil, nil, nil)
		var got []uint64
		trk.Visit(func(id uint64, pr *Progress) {
			got = append(got, id)
			if id == 1 {
				delete(trk.Progress, 2)
			}
		})
		require.Equal(t, []uint64{1, 3}, got)
	})
}

func TestVisitAndCommittedAllocateNothing(t *testing.T) {
	trk := newTracker([]uint64{1, 2, 3, 4, 5}, nil, nil, map[uint64]uint64{1: 5, 2: 6, 3: 7, 4: 8, 5: 9})
	var sum uint64
	visit := func(id uint64, pr *Progress) { sum += pr.Match }
	require.Zero(t, testing.AllocsPerRun(100, func() { trk.Visit(visit) }))
	require.Zero(t, testing.AllocsPerRun(100, func() { sum += trk.Committed() }))
	require.Equal(t, uint64(7), trk.Committed())
}

func TestNodesAndConfState(t *testing.T) {
	trk := newTracker([]uint64{9, 2, 5}, []uint64{2, 5, 7}, []uint64{8, 3, 11}, nil)
	trk.LearnersNext = set(7)
	trk.AutoLeave = true
	require.NoError(t, trk.Validate(trk.Progress))

	require.Equal(t, []uint64{2, 5, 7, 9}, trk.VoterNodes())
	require.Equal(t, []uint64{3, 8, 11}, trk.LearnerNodes())
	require.Equal(t, &pb.ConfState{
		Voters:         []uint64{2, 5, 9},
		Learners:       []uint64{3, 8, 11},
		VotersOutgoing: []uint64{2, 5, 7},
		LearnersNext:   []uint64{7},
		AutoLeave:      true,
	}, trk.ConfState())
	require.Equal(t, "voters=(2 5 9)&&(2 5 7) learners=(3 8 11) learners_next=(7) autoleave", trk.Config.String())
	require.False(t, trk.IsSingleton())

	plain := newTracker([]uint64{3, 1, 2}, nil, nil, nil)
	require.Equal(t, &pb.ConfState{Voters: []uint64{1, 2, 3}}, plain.ConfState())
	require.Nil(t, plain.LearnerNodes())
	require.Equal(t, "voters=(1 2 3)", plain.Config.String())
}

func TestIsSingleton(t *testing.T) {
	require.True(t, newTracker([]uint64{1}, nil, nil, nil).IsSingleton())
	require.True(t, newTracker([]uint64{1}, nil, []uint64{2, 3}, nil).IsSingleton(), "learners do not matter")
	require.False(t, newTracker([]uint64{1, 2}, nil, nil, nil).IsSingleton())
	require.False(t, newTracker([]uint64{1}, []uint64{1}, nil, nil).IsSingleton(), "joint")
	require.False(t, newTracker([]uint64{1}, []uint64{2}, nil, nil).IsSingleton(), "joint")
}

func TestConfigClone(t *testing.T) {
	c := Config{
		Voters:       quorum.JointConfig{set(1, 2, 3), set(1, 2, 4)},
		AutoLeave:    true,
		Learners:     set(5),
		LearnersNext: set(4),
	}
	d := c.Clone()
	require.Equal(t, c, d)

	d.Voters[0][9] = struct{}{}
	d.Voters[1][9] = struct{}{}
	d.Learners[9] = struct{}{}
	d.LearnersNext[9] = struct{}{}
	d.AutoLeave = false
	require.Equal(t, "voters=(1 2 3)&&(1 2 4) learners=(5) learners_next=(4) autoleave", c.String())

	// Nil sets stay nil.
	e := (&Config{Voters: quorum.JointConfig{set(1), nil}}).Clone()
	require.Nil(t, e.Voters[1])
	require.Nil(t, e.Learners)
	require.Nil(t, e.LearnersNext)
}

func TestValidate(t *testing.T) {
	// valid returns a joint configuration demoting 4 to a learner, with 5 a
	// learner throughout, and matching progress.
	valid := func() (*Config, Map) {
		trk := newTracker([]uint64{1, 2, 3}, []uint64{1, 2, 4}, []uint64{5}, nil)
		trk.LearnersNext = set(4)
		trk.AutoLeave = true
		return &trk.Config, trk.Progress
	}
	c, prs := valid()
	require.NoError(t, c.Validate(prs))

	for _, tc := range []struct {
		name    string
		breakIt func(c *Config, prs Map)
		err     string
	}{
		{
			name:    "autoleave outside a joint configuration",
			breakIt: func(c *Config, prs Map) { c.Voters[1] = nil; c.LearnersNext = nil; delete(prs, 4) },
			err:     "autoleave is set but the configuration is not joint",
		},
		{
			name:    "learner is an incoming voter",
			breakIt: func(c *Config, prs Map) { c.Learners[3] = struct{}{} },
			err:     "3 is both a learner and an incoming voter",
		},
		{
			name:    "learner is an outgoing voter",
			breakIt: func(c *Config, prs Map) { c.Voters[1][5] = struct{}{} },
			err:     "5 is both a learner and an outgoing voter",
		},
		{
			name:    "learners_next not an outgoing voter",
			breakIt: func(c *Config, prs Map) { c.LearnersNext[3] = struct{}{} },
			err:     "3 is in learners_next but is not an outgoing voter",
		},
		{
			name:    "learners_next is also an incoming voter",
			breakIt: func(c *Config, prs Map) { c.Voters[0][4] = struct{}{} },
			err:     "4 is in learners_next but is an incoming voter",
		},
		{
			name:    "learners_next is also a learner",
			breakIt: func(c *Config, prs Map) { c.Learners[4] = struct{}{} },
			err:     "4 is in both learners_next and learners",
		},
		{
			name:    "voter without progress",
			breakIt: func(c *Config, prs Map) { delete(prs, 2) },
			err:     "voter 2 has no progress",
		},
		{
			name:    "outgoing-only voter without progress",
			breakIt: func(c *Config, prs Map) { delete(prs, 4) },
			err:     "voter 4 has no progress",
		},
		{
			name:    "voter with a nil progress",
			breakIt: func(c *Config, prs Map) { prs[1] = nil },
			err:     "voter 1 has no progress",
		},
		{
			name:    "voter marked as learner",
			breakIt: func(c *Config, prs Map) { prs[4].IsLearner = true },
			err:     "voter 4 has a progress marked as learner",
		},
		{
			name:    "learner without progress",
			breakIt: func(c *Config, prs Map) { delete(prs, 5) },
			err:     "learner 5 has no progress",
		},
		{
			name:    "learner not marked as learner",
			breakIt: func(c *Config, prs Map) { prs[5].IsLearner = false },
			err:     "learner 5 has a progress not marked as learner",
		},
		{
			name:    "progress for a peer outside the configuration",
			breakIt: func(c *Config, prs Map) { prs[7] = &Progress{Next: 1, Inflights: NewInflights(1, 0)} },
			err:     "7 has a progress but is not in the configuration",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, prs := valid()
			tc.breakIt(c, prs)
			require.EqualError(t, c.Validate(prs), tc.err)
		})
	}

	t.Run("simple configuration", func(t *testing.T) {
		trk := newTracker([]uint64{1, 2, 3}, nil, []uint64{4}, nil)
		require.NoError(t, trk.Validate(trk.Progress))
	})
}

// TestVisitFollowsMapChanges checks that Visit's cached list of peers never
// hides a change of the exported Progress map, nor one made through a copy
// of the tracker (as confchange makes).
func TestVisitFollowsMapChanges(t *testing.T) {
	visit := func(trk *Tracker) []uint64 {
		var got []uint64
		trk.Visit(func(id uint64, pr *Progress) {
			require.Same(t, trk.Progress[id], pr)
			got = append(got, id)
		})
		return got
	}
	trk := newTracker([]uint64{1, 2, 3}, nil, nil, nil)
	require.Equal(t, []uint64{1, 2, 3}, visit(trk))

	// Same length, another key.
	delete(trk.Progress, 2)
	trk.Progress[7] = &Progress{}
	require.Equal(t, []uint64{1, 3, 7}, visit(trk))

	// A new Progress for a known key is the one visited.
	trk.Progress[3] = &Progress{Match: 9}
	trk.Visit(func(id uint64, pr *Progress) {
		if id == 3 {
			require.Equal(t, uint64(9), pr.Match)
		}
	})

	// A copy changes its own map; the original is unaffected, and both
	// keep visiting their own peers.
	cp := *trk
	cp.Progress = Map{}
	for id, pr := range trk.Progress {
		cp.Progress[id] = pr
	}
	delete(cp.Progress, 1)
	cp.Progress[0] = &Progress{}
	cp.Progress[5] = &Progress{}
	require.Equal(t, []uint64{0, 3, 5, 7}, visit(&cp))
	require.Equal(t, []uint64{1, 3, 7}, visit(trk))
	require.Equal(t, []uint64{0, 3, 5, 7}, visit(&cp))

	// Growing and shrinking, and an empty map.
	trk.Progress[2] = &Progress{}
	require.Equal(t, []uint64{1, 2, 3, 7}, visit(trk))
	trk.Progress = Map{}
	require.Empty(t, visit(trk))
}

// TestCommittedMatchesTheQuorumRule compares Committed, which takes a fast
// way for plain configurations of up to seven voters, with the quorum
// package's rule over random trackers: plain and joint, with learners,
// voters without a Progress, and configurations changed (in place and
// replaced) between calls, so that a stale cached voter list would show.
func TestCommittedMatchesTheQuorumRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := func(max int) []uint64 {
		var s []uint64
		for id := uint64(1); id <= 9; id++ {
			if len(s) < max && rng.IntN(2) == 0 {
				s = append(s, id)
			}
		}
		return s
	}
	trk := newTracker(ids(9), nil, nil, nil)
	for i := range 20000 {
		switch rng.IntN(6) {
		case 0: // a new configuration
			var out []uint64
			if rng.IntN(4) == 0 {
				out = ids(9)
			}
			match := map[uint64]uint64{}
			for id := uint64(1); id <= 9; id++ {
				if rng.IntN(8) != 0 {
					match[id] = uint64(rng.IntN(20))
				}
			}
			trk = newTracker(ids(9), out, nil, match)
		case 1: // a voter added or removed in place, same count or not
			id := uint64(1 + rng.IntN(9))
			if _, ok := trk.Voters[0][id]; ok {
				delete(trk.Voters[0], id)
			} else {
				trk.Voters[0][id] = struct{}{}
			}
			if rng.IntN(2) == 0 {
				for other := range trk.Voters[0] {
					if other != id {
						delete(trk.Voters[0], other)
						trk.Voters[0][other%9+1] = struct{}{}
						break
					}
				}
			}
		case 2: // a Progress dropped or made
			id := uint64(1 + rng.IntN(9))
			if _, ok := trk.Progress[id]; ok && rng.IntN(2) == 0 {
				delete(trk.Progress, id)
			} else {
				trk.Progress[id] = &Progress{Match: uint64(rng.IntN(20)), Inflights: NewInflights(1, 0)}
			}
		default: // acknowledgements move
			for _, pr := range trk.Progress {
				pr.Match += uint64(rng.IntN(3))
			}
		}
		want := uint64(trk.Voters.CommittedIndex(matchAcker(trk.Progress)))
		if got := trk.Committed(); got != want {
			t.Fatalf("step %d: Committed() = %d, want %d (voters %v, progress %v)", i, got, want, trk.Voters, trk.Progress)
		}
		// A copy shares the cache and must not be misled by it either.
		cp := *trk
		cp.Voters = quorum.JointConfig{quorum.MajorityConfig{}, nil}
		for id := range trk.Voters[0] {
			if rng.IntN(3) != 0 {
				cp.Voters[0][id] = struct{}{}
			}
		}
		if got, want := cp.Committed(), uint64(cp.Voters.CommittedIndex(matchAcker(cp.Progress))); got != want {
			t.Fatalf("step %d, copy: Committed() = %d, want %d", i, got, want)
		}
	}
}

// BenchmarkTrackerCommitted compares Committed with the general quorum rule
// it short-cuts, for three and five voters.
func BenchmarkTrackerCommitted(b *testing.B) {
	for _, n := range []int{3, 5} {
		var in []uint64
		match := map[uint64]uint64{}
		for id := uint64(1); id <= uint64(n); id++ {
			in = append(in, id)
			match[id] = 100 + id*7%5
		}
		trk := newTracker(in, nil, nil, match)
		var sink uint64
		b.Run(fmt.Sprintf("voters=%d/way=committed", n), func(b *testing.B) {
			for b.Loop() {
				sink += trk.Committed()
			}
		})
		b.Run(fmt.Sprintf("voters=%d/way=quorum", n), func(b *testing.B) {
			for b.Loop() {
				sink += uint64(trk.Voters.CommittedIndex(matchAcker(trk.Progress)))
			}
		})
		_ = sink
	}
}
