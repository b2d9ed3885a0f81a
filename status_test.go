package raft

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/progress"
)

// Tests of BasicStatus, Status and WithProgress.

// BasicStatus and HasReady are meant for every iteration of an
// application's loop (metrics, routing), so they must not allocate: a
// regression would show up as garbage-collector pressure on every node.
// WithProgress promises the same for small clusters.
func TestStatusNoAllocations(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	rn := c.node(1).rn
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = rn.BasicStatus() }), "BasicStatus")
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = rn.HasReady() }), "HasReady")
	var sum uint64
	visit := func(id uint64, _ ProgressType, pr progress.Progress) { sum += id + pr.Match }
	require.Zero(t, testing.AllocsPerRun(100, func() { rn.WithProgress(visit) }), "WithProgress")
}

// A leader's Status includes a copy of every peer's progress, and renders
// as valid JSON with IDs in decimal and the progress keyed by peer.
// Followers track no progress.
func TestStatusLeader(t *testing.T) {
	c := rnNewClusterWith(t, 3, rnOptions{learners: []uint64{4}})
	c.elect(1)
	c.propose(1, "a")
	c.stabilize()
	st := c.node(1).rn.Status()
	last := c.node(1).rn.raft.raftLog.lastIndex()

	require.Len(t, st.Progress, 4)
	for id, pr := range st.Progress {
		require.Equal(t, last, pr.Match, "peer %d", id)
		require.Equal(t, id == 4, pr.IsLearner, "peer %d", id)
	}
	require.Equal(t, "voters=(1 2 3) learners=(4)", st.Config.String())

	b, err := json.Marshal(st)
	require.NoError(t, err)
	require.True(t, json.Valid(b), "%s", b)
	require.Equal(t, string(b), st.String())
	var got struct {
		ID        string `json:"id"`
		Term      uint64 `json:"term"`
		Lead      string `json:"lead"`
		RaftState string `json:"raftState"`
		Commit    uint64 `json:"commit"`
		Applied   uint64 `json:"applied"`
		Progress  map[string]struct {
			Match   uint64 `json:"match"`
			Next    uint64 `json:"next"`
			State   string `json:"state"`
			Learner bool   `json:"learner"`
		} `json:"progress"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, "1", got.ID)
	require.Equal(t, "1", got.Lead)
	require.Equal(t, "StateLeader", got.RaftState)
	require.Equal(t, st.Term, got.Term)
	require.Equal(t, last, got.Commit)
	require.Equal(t, last, got.Applied)
	require.Len(t, got.Progress, 4)
	for _, id := range []string{"1", "2", "3", "4"} {
		require.Equal(t, last, got.Progress[id].Match, id)
		require.Equal(t, last+1, got.Progress[id].Next, id)
		require.Equal(t, "StateReplicate", got.Progress[id].State, id)
		require.Equal(t, id == "4", got.Progress[id].Learner, id)
	}

	// The progress is a copy: changing it does not change the leader's.
	pr := st.Progress[2]
	pr.Match = 0
	pr.Inflights.Add(last+1, 1)
	st.Progress[2] = pr
	require.Equal(t, last, c.node(1).rn.Status().Progress[2].Match)
	require.Zero(t, c.node(1).rn.Status().Progress[2].Inflights.Count())

	require.Nil(t, c.node(2).rn.Status().Progress, "a follower reports progress")
	require.True(t, json.Valid([]byte(c.node(2).rn.Status().String())))
}

// WithProgress visits every peer, voters and learners, once, in increasing
// ID order whatever order the configuration lists them in, telling
// learners apart: output built from it is stable from call to call.
func TestWithProgressOrder(t *testing.T) {
	voters, learners := []uint64{7, 2, 5}, []uint64{9, 1}
	st := storageWith(voters, learners...)
	rn, err := NewRawNode(&Config{ID: 2, Storage: st})
	require.NoError(t, err)
	rn.raft.becomeCandidate()
	rn.raft.becomeLeader()
	var got []uint64
	var gotLearners []uint64
	rn.WithProgress(func(id uint64, typ ProgressType, _ progress.Progress) {
		got = append(got, id)
		if typ == ProgressTypeLearner {
			gotLearners = append(gotLearners, id)
		}
	})
	require.Equal(t, []uint64{1, 2, 5, 7, 9}, got)
	require.Equal(t, []uint64{1, 9}, gotLearners)
}
