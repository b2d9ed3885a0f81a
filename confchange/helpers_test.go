package confchange

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

// parseChanges reads changes in the compact text form of
// pb.ConfChangesFromString ("v1 l2 r3 u4"), extended so that tests can write
// the changes that form rejects: node ID 0 ("v0") and unknown change types,
// written "?type:node" as pb.ConfChangesToString prints them ("?9:3").
func parseChanges(s string) ([]*pb.ConfChangeSingle, error) {
	var ccs []*pb.ConfChangeSingle
	for _, tok := range strings.Fields(s) {
		var typ pb.ConfChangeType
		num := tok[1:]
		switch tok[0] {
		case 'v':
			typ = pb.ConfChangeAddNode
		case 'l':
			typ = pb.ConfChangeAddLearnerNode
		case 'r':
			typ = pb.ConfChangeRemoveNode
		case 'u':
			typ = pb.ConfChangeUpdateNode
		case '?':
			t, n, ok := strings.Cut(num, ":")
			if !ok {
				return nil, fmt.Errorf("change %q: want ?type:node", tok)
			}
			v, err := strconv.ParseInt(t, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("change %q: %v", tok, err)
			}
			typ, num = pb.ConfChangeType(v), n
		default:
			return nil, fmt.Errorf("change %q: unknown prefix", tok)
		}
		id, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("change %q: %v", tok, err)
		}
		ccs = append(ccs, &pb.ConfChangeSingle{Type: typ, NodeId: id})
	}
	return ccs, nil
}

func TestParseChanges(t *testing.T) {
	ccs, err := parseChanges("v1 l2 r3 u4 v0 ?9:5")
	require.NoError(t, err)
	require.Equal(t, "v1 l2 r3 u4 v0 ?9:5", pb.ConfChangesToString(ccs))
	for _, bad := range []string{"x1", "v", "vx", "?9", "?x:1"} {
		_, err := parseChanges(bad)
		require.Error(t, err, bad)
	}
}

// cloneTracker returns a deep copy of the parts of tr this package reads,
// built independently of the code under test so that it can serve as the
// reference in "the input was not modified" checks.
func cloneTracker(tr progress.Tracker) progress.Tracker {
	c := tr
	c.Config = tr.Config.Clone()
	if tr.Progress != nil {
		c.Progress = make(progress.Map, len(tr.Progress))
		for id, pr := range tr.Progress {
			if pr == nil {
				c.Progress[id] = nil
				continue
			}
			cp := *pr
			if pr.Inflights != nil {
				cp.Inflights = pr.Inflights.Clone()
			}
			c.Progress[id] = &cp
		}
	}
	if tr.Votes != nil {
		c.Votes = make(map[uint64]bool, len(tr.Votes))
		for id, v := range tr.Votes {
			c.Votes[id] = v
		}
	}
	return c
}

// requireValid checks every invariant a result of this package must keep:
// progress.Config.Validate, the package's own checks, and the canonical
// shape of the sets, with checks written out here independently.
func requireValid(t *testing.T, cfg progress.Config, prs progress.Map) {
	t.Helper()
	require.NoError(t, cfg.Validate(prs))
	require.NoError(t, checkInvariants(&cfg, prs))

	require.NotNil(t, cfg.Voters[0], "incoming voters must be a non-nil set")
	for name, s := range map[string]map[uint64]struct{}{
		"outgoing": cfg.Voters[1], "learners": cfg.Learners, "learners_next": cfg.LearnersNext,
	} {
		if s != nil {
			require.NotEmpty(t, s, "%s must be nil when empty", name)
		}
	}

	joint := len(cfg.Voters[1]) > 0
	if joint {
		require.NotEmpty(t, cfg.Voters[0], "joint config without incoming voters")
	} else {
		require.False(t, cfg.AutoLeave, "autoleave outside a joint config")
		require.Empty(t, cfg.LearnersNext, "learners_next outside a joint config")
	}
	members := 0
	for id := range cfg.Voters.IDs() {
		require.NotZero(t, id)
		members++
		require.NotNil(t, prs[id], "voter %d", id)
		require.False(t, prs[id].IsLearner, "voter %d", id)
		_, learner := cfg.Learners[id]
		require.False(t, learner, "voter %d is also a learner", id)
	}
	for id := range cfg.Learners {
		require.NotZero(t, id)
		members++
		require.NotNil(t, prs[id], "learner %d", id)
		require.True(t, prs[id].IsLearner, "learner %d", id)
	}
	for id := range cfg.LearnersNext {
		_, out := cfg.Voters[1][id]
		_, in := cfg.Voters[0][id]
		require.True(t, out && !in, "learner-next %d must be an outgoing voter only", id)
	}
	require.Len(t, prs, members, "progress map must hold exactly the members")
	for id, pr := range prs {
		require.NotNil(t, pr.Inflights, "progress of %d", id)
	}
}

// requireRestores checks that restoring the ConfState of the configuration
// (cfg, prs) into an empty tracker gives the same configuration, in the
// same canonical shape, and the same members with the same learner marks.
func requireRestores(t *testing.T, cfg progress.Config, prs progress.Map, lastIndex uint64) {
	t.Helper()
	tr := progress.MakeTracker(4, 0)
	tr.Config, tr.Progress = cfg, prs
	cs := tr.ConfState()

	got, gotPrs, err := Restore(Changer{Tracker: progress.MakeTracker(4, 0), LastIndex: lastIndex}, cs)
	require.NoError(t, err, "restoring %v", cs)
	require.Equal(t, cfg, got, "restoring %s", cfg.String())
	require.Equal(t, cfg.String(), got.String())
	require.Len(t, gotPrs, len(prs))
	for id, pr := range prs {
		require.NotNil(t, gotPrs[id], "restored progress of %d", id)
		require.Equal(t, pr.IsLearner, gotPrs[id].IsLearner, "restored progress of %d", id)
	}
	requireValid(t, got, gotPrs)
}

// requireFresh checks that pr is the Progress of a peer just added with
// the given LastIndex.
func requireFresh(t *testing.T, pr *progress.Progress, lastIndex uint64, learner bool) {
	t.Helper()
	require.NotNil(t, pr)
	require.Equal(t, progress.StateProbe, pr.State)
	require.Zero(t, pr.Match)
	require.Equal(t, lastIndex+1, pr.Next)
	require.True(t, pr.RecentActive, "a new peer must count as recently active")
	require.Equal(t, learner, pr.IsLearner)
	require.Zero(t, pr.PendingSnapshot)
	require.False(t, pr.MsgAppFlowPaused)
	require.NotNil(t, pr.Inflights)
	require.Zero(t, pr.Inflights.Count())
}
