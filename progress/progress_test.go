package progress

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/internal/invariants"
)

// view is the observable state of a Progress, for table comparisons.
type view struct {
	State      StateType
	Match      uint64
	Next       uint64
	SentCommit uint64
	Pending    uint64
	FlowPaused bool     // MsgAppFlowPaused
	Inflight   []uint64 // indexes in the window, oldest first
}

// requireViolation checks that f panics with the invariant violation name.
func requireViolation(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		v, ok := recover().(*invariants.Violation)
		require.True(t, ok, "no invariant violation")
		require.Equal(t, "progress", v.Pkg)
		require.Equal(t, name, v.Name)
	}()
	f()
}

func viewOf(pr *Progress) view {
	return view{
		State:      pr.State,
		Match:      pr.Match,
		Next:       pr.Next,
		SentCommit: pr.LastSentCommit(),
		Pending:    pr.PendingSnapshot,
		FlowPaused: pr.MsgAppFlowPaused,
		Inflight:   indexes(pr.Inflights),
	}
}

// setup builds a Progress in the state described by v, with an Inflights
// window of 3 messages (no byte limit) holding v.Inflight.
func setup(v view) *Progress {
	pr := &Progress{
		State:            v.State,
		Match:            v.Match,
		Next:             v.Next,
		sentCommit:       v.SentCommit,
		PendingSnapshot:  v.Pending,
		MsgAppFlowPaused: v.FlowPaused,
		Inflights:        NewInflights(3, 0),
	}
	for _, idx := range v.Inflight {
		pr.Inflights.Add(idx, 10)
	}
	return pr
}

func TestBecomeProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		from view
		want view
	}{
		{
			name: "from probe, paused probe outstanding",
			from: view{State: StateProbe, Match: 3, Next: 7, SentCommit: 6, FlowPaused: true},
			want: view{State: StateProbe, Match: 3, Next: 4, SentCommit: 3},
		},
		{
			name: "from replicate with messages in flight",
			from: view{State: StateReplicate, Match: 3, Next: 10, SentCommit: 9, FlowPaused: true, Inflight: []uint64{5, 7, 9}},
			want: view{State: StateProbe, Match: 3, Next: 4, SentCommit: 3},
		},
		{
			name: "sent commit already below next-1 stays",
			from: view{State: StateReplicate, Match: 8, Next: 12, SentCommit: 2, Inflight: []uint64{11}},
			want: view{State: StateProbe, Match: 8, Next: 9, SentCommit: 2},
		},
		{
			name: "from snapshot, pending snapshot ahead of match",
			from: view{State: StateSnapshot, Match: 3, Next: 11, SentCommit: 10, Pending: 10},
			want: view{State: StateProbe, Match: 3, Next: 11, SentCommit: 10},
		},
		{
			name: "from snapshot, match caught up beyond pending snapshot",
			from: view{State: StateSnapshot, Match: 12, Next: 13, SentCommit: 10, Pending: 10},
			want: view{State: StateProbe, Match: 12, Next: 13, SentCommit: 10},
		},
		{
			name: "from snapshot, match equal to pending snapshot",
			from: view{State: StateSnapshot, Match: 10, Next: 11, SentCommit: 10, Pending: 10},
			want: view{State: StateProbe, Match: 10, Next: 11, SentCommit: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := setup(tc.from)
			pr.BecomeProbe()
			require.Equal(t, tc.want, viewOf(pr))
			require.False(t, pr.IsPaused())
		})
	}
}

func TestBecomeReplicate(t *testing.T) {
	for _, tc := range []struct {
		name string
		from view
		want view
	}{
		{
			name: "from probe after an ack",
			from: view{State: StateProbe, Match: 5, Next: 9, SentCommit: 4, FlowPaused: true},
			want: view{State: StateReplicate, Match: 5, Next: 6, SentCommit: 4},
		},
		{
			name: "from replicate restarts the window",
			from: view{State: StateReplicate, Match: 5, Next: 9, SentCommit: 8, FlowPaused: true, Inflight: []uint64{6, 7, 8}},
			want: view{State: StateReplicate, Match: 5, Next: 6, SentCommit: 8},
		},
		{
			name: "from snapshot clears the pending snapshot",
			from: view{State: StateSnapshot, Match: 10, Next: 11, SentCommit: 10, Pending: 10},
			want: view{State: StateReplicate, Match: 10, Next: 11, SentCommit: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := setup(tc.from)
			pr.BecomeReplicate()
			require.Equal(t, tc.want, viewOf(pr))
			require.False(t, pr.IsPaused())
		})
	}
}

func TestBecomeSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name string
		from view
		snap uint64
		want view
	}{
		{
			name: "from probe",
			from: view{State: StateProbe, Match: 2, Next: 3, SentCommit: 2, FlowPaused: true},
			snap: 20,
			want: view{State: StateSnapshot, Match: 2, Next: 21, SentCommit: 20, Pending: 20},
		},
		{
			name: "from replicate with messages in flight",
			from: view{State: StateReplicate, Match: 2, Next: 6, SentCommit: 5, Inflight: []uint64{4, 5}},
			snap: 30,
			want: view{State: StateSnapshot, Match: 2, Next: 31, SentCommit: 30, Pending: 30},
		},
		{
			name: "snapshot at match",
			from: view{State: StateProbe, Match: 7, Next: 8},
			snap: 7,
			want: view{State: StateSnapshot, Match: 7, Next: 8, SentCommit: 7, Pending: 7},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := setup(tc.from)
			pr.BecomeSnapshot(tc.snap)
			require.Equal(t, tc.want, viewOf(pr))
			require.True(t, pr.IsPaused())
		})
	}

	t.Run("broken preconditions panic", func(t *testing.T) {
		pr := setup(view{State: StateProbe, Match: 7, Next: 8})
		require.Panics(t, func() { pr.BecomeSnapshot(6) })
		pr = setup(view{State: StateProbe, Match: 0, Next: 1})
		require.Panics(t, func() { pr.BecomeSnapshot(0) })
	})
}

func TestSentEntries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    view
		entries int
		bytes   uint64
		want    view
	}{
		{
			name:    "replicate advances next and fills the window",
			from:    view{State: StateReplicate, Match: 5, Next: 6},
			entries: 3, bytes: 30,
			want: view{State: StateReplicate, Match: 5, Next: 9, Inflight: []uint64{8}},
		},
		{
			name:    "replicate pauses when the window becomes full",
			from:    view{State: StateReplicate, Match: 5, Next: 9, Inflight: []uint64{7, 8}},
			entries: 1, bytes: 10,
			want: view{State: StateReplicate, Match: 5, Next: 10, FlowPaused: true, Inflight: []uint64{7, 8, 9}},
		},
		{
			name:    "replicate empty append changes nothing",
			from:    view{State: StateReplicate, Match: 5, Next: 9, Inflight: []uint64{8}},
			entries: 0,
			want:    view{State: StateReplicate, Match: 5, Next: 9, Inflight: []uint64{8}},
		},
		{
			name:    "replicate empty append after Resume on a full window pauses again",
			from:    view{State: StateReplicate, Match: 5, Next: 9, Inflight: []uint64{6, 7, 8}},
			entries: 0,
			want:    view{State: StateReplicate, Match: 5, Next: 9, FlowPaused: true, Inflight: []uint64{6, 7, 8}},
		},
		{
			name:    "probe with entries pauses and keeps next",
			from:    view{State: StateProbe, Match: 5, Next: 9},
			entries: 4, bytes: 40,
			want: view{State: StateProbe, Match: 5, Next: 9, FlowPaused: true},
		},
		{
			name:    "probe empty append does not pause",
			from:    view{State: StateProbe, Match: 5, Next: 9},
			entries: 0,
			want:    view{State: StateProbe, Match: 5, Next: 9},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := setup(tc.from)
			pr.SentEntries(tc.entries, tc.bytes)
			require.Equal(t, tc.want, viewOf(pr))
			require.Equal(t, tc.want.FlowPaused, pr.IsPaused())
		})
	}

	t.Run("replicate with a byte limit", func(t *testing.T) {
		pr := setup(view{State: StateReplicate, Match: 1, Next: 2})
		pr.Inflights = NewInflights(10, 100)
		pr.SentEntries(2, 60)
		require.False(t, pr.IsPaused())
		pr.SentEntries(1, 40)
		require.True(t, pr.IsPaused())
		require.Equal(t, uint64(100), pr.Inflights.Bytes())
	})

	t.Run("snapshot panics", func(t *testing.T) {
		pr := setup(view{State: StateSnapshot, Match: 1, Next: 11, Pending: 10, SentCommit: 10})
		requireViolation(t, "nothing is sent in StateSnapshot", func() { pr.SentEntries(1, 10) })
		require.Panics(t, func() { pr.SentEntries(0, 0) })
	})

	t.Run("negative count panics", func(t *testing.T) {
		pr := setup(view{State: StateReplicate, Match: 1, Next: 2})
		require.Panics(t, func() { pr.SentEntries(-1, 0) })
	})

	t.Run("replicate on a full window panics", func(t *testing.T) {
		pr := setup(view{State: StateReplicate, Match: 1, Next: 5, Inflight: []uint64{2, 3, 4}})
		require.Panics(t, func() { pr.SentEntries(1, 10) })
	})
}

func TestMaybeUpdate(t *testing.T) {
	for _, tc := range []struct {
		name string
		from view
		n    uint64
		ok   bool
		want view
	}{
		{
			name: "probe stale ack stays paused",
			from: view{State: StateProbe, Match: 5, Next: 8, FlowPaused: true},
			n:    4,
			want: view{State: StateProbe, Match: 5, Next: 8, FlowPaused: true},
		},
		{
			name: "probe ack of match itself is stale",
			from: view{State: StateProbe, Match: 5, Next: 6, FlowPaused: true},
			n:    5,
			want: view{State: StateProbe, Match: 5, Next: 6, FlowPaused: true},
		},
		{
			name: "probe fresh ack resumes",
			from: view{State: StateProbe, Match: 5, Next: 8, FlowPaused: true},
			n:    7,
			ok:   true,
			want: view{State: StateProbe, Match: 7, Next: 8},
		},
		{
			name: "probe fresh ack beyond next moves next",
			from: view{State: StateProbe, Match: 5, Next: 6, FlowPaused: true},
			n:    9,
			ok:   true,
			want: view{State: StateProbe, Match: 9, Next: 10},
		},
		{
			name: "replicate frees acknowledged messages and resumes",
			from: view{State: StateReplicate, Match: 5, Next: 12, FlowPaused: true, Inflight: []uint64{7, 9, 11}},
			n:    9,
			ok:   true,
			want: view{State: StateReplicate, Match: 9, Next: 12, Inflight: []uint64{11}},
		},
		{
			name: "replicate ack inside the first message frees nothing and stays paused",
			from: view{State: StateReplicate, Match: 5, Next: 12, FlowPaused: true, Inflight: []uint64{7, 9, 11}},
			n:    6,
			ok:   true,
			want: view{State: StateReplicate, Match: 6, Next: 12, FlowPaused: true, Inflight: []uint64{7, 9, 11}},
		},
		{
			name: "replicate stale ack",
			from: view{State: StateReplicate, Match: 9, Next: 12, Inflight: []uint64{11}},
			n:    8,
			want: view{State: StateReplicate, Match: 9, Next: 12, Inflight: []uint64{11}},
		},
		{
			name: "snapshot ack past pending snapshot",
			from: view{State: StateSnapshot, Match: 3, Next: 11, SentCommit: 10, Pending: 10},
			n:    12,
			ok:   true,
			want: view{State: StateSnapshot, Match: 12, Next: 13, SentCommit: 10, Pending: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := setup(tc.from)
			require.Equal(t, tc.ok, pr.MaybeUpdate(tc.n))
			require.Equal(t, tc.want, viewOf(pr))
		})
	}
}

func TestMaybeDecrTo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from     view
		rejected uint64
		hint     uint64
		ok       bool
		want     view
	}{
		{
			name:     "replicate stale: rejected below match",
			from:     view{State: StateReplicate, Match: 5, Next: 10, SentCommit: 9, Inflight: []uint64{9}},
			rejected: 4, hint: 4,
			want: view{State: StateReplicate, Match: 5, Next: 10, SentCommit: 9, Inflight: []uint64{9}},
		},
		{
			name:     "replicate stale: rejected equal to match",
			from:     view{State: StateReplicate, Match: 5, Next: 10, Inflight: []uint64{9}},
			rejected: 5, hint: 5,
			want: view{State: StateReplicate, Match: 5, Next: 10, Inflight: []uint64{9}},
		},
		{
			name:     "replicate valid: probe from the hint",
			from:     view{State: StateReplicate, Match: 5, Next: 10, SentCommit: 9, Inflight: []uint64{9}},
			rejected: 7, hint: 6,
			ok:   true,
			want: view{State: StateProbe, Match: 5, Next: 7, SentCommit: 5},
		},
		{
			name:     "replicate valid: hint at match, probe from match+1",
			from:     view{State: StateReplicate, Match: 5, Next: 10, SentCommit: 9, Inflight: []uint64{9}},
			rejected: 7, hint: 5,
			ok:   true,
			want: view{State: StateProbe, Match: 5, Next: 6, SentCommit: 5},
		},
		{
			name:     "replicate valid: hint beyond rejected is capped",
			from:     view{State: StateReplicate, Match: 5, Next: 10, SentCommit: 9, Inflight: []uint64{9}},
			rejected: 7, hint: 30,
			ok:   true,
			want: view{State: StateProbe, Match: 5, Next: 7, SentCommit: 5},
		},
		{
			name:     "replicate stale: hint below match",
			from:     view{State: StateReplicate, Match: 5, Next: 10, SentCommit: 9, Inflight: []uint64{9}},
			rejected: 7, hint: 4,
			want: view{State: StateReplicate, Match: 5, Next: 10, SentCommit: 9, Inflight: []uint64{9}},
		},
		{
			name:     "probe stale: not the outstanding probe",
			from:     view{State: StateProbe, Match: 5, Next: 10, FlowPaused: true},
			rejected: 8, hint: 6,
			want: view{State: StateProbe, Match: 5, Next: 10, FlowPaused: true},
		},
		{
			name:     "probe hint between match and rejected",
			from:     view{State: StateProbe, Match: 5, Next: 10, SentCommit: 9, FlowPaused: true},
			rejected: 9, hint: 7,
			ok:   true,
			want: view{State: StateProbe, Match: 5, Next: 8, SentCommit: 7},
		},
		{
			name:     "probe stale: hint lower than match",
			from:     view{State: StateProbe, Match: 5, Next: 10, FlowPaused: true},
			rejected: 9, hint: 2,
			want: view{State: StateProbe, Match: 5, Next: 10, FlowPaused: true},
		},
		{
			name:     "probe hint at match",
			from:     view{State: StateProbe, Match: 5, Next: 10, FlowPaused: true},
			rejected: 9, hint: 5,
			ok:   true,
			want: view{State: StateProbe, Match: 5, Next: 6},
		},
		{
			name:     "probe hint higher than rejected",
			from:     view{State: StateProbe, Match: 5, Next: 10, FlowPaused: true},
			rejected: 9, hint: 50,
			ok:   true,
			want: view{State: StateProbe, Match: 5, Next: 9},
		},
		{
			name:     "probe from scratch with no match",
			from:     view{State: StateProbe, Match: 0, Next: 10, FlowPaused: true},
			rejected: 9, hint: 0,
			ok:   true,
			want: view{State: StateProbe, Match: 0, Next: 1},
		},
		{
			name:     "snapshot ignores rejections",
			from:     view{State: StateSnapshot, Match: 3, Next: 11, SentCommit: 10, Pending: 10},
			rejected: 10, hint: 4,
			want: view{State: StateSnapshot, Match: 3, Next: 11, SentCommit: 10, Pending: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := setup(tc.from)
			require.Equal(t, tc.ok, pr.MaybeDecrTo(tc.rejected, tc.hint))
			require.Equal(t, tc.want, viewOf(pr))
			require.Less(t, pr.Match, pr.Next)
		})
	}
}

func TestIsPausedAndCanSendEntries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from     view
		paused   bool
		canSend  bool
		resumed  bool // IsPaused after Resume
		canSend2 bool // CanSendEntries after Resume
	}{
		{"probe", view{State: StateProbe, Match: 1, Next: 2}, false, true, false, true},
		{"probe paused", view{State: StateProbe, Match: 1, Next: 2, FlowPaused: true}, true, false, false, true},
		{"replicate", view{State: StateReplicate, Match: 1, Next: 3, Inflight: []uint64{2}}, false, true, false, true},
		{"replicate full", view{State: StateReplicate, Match: 1, Next: 5, FlowPaused: true, Inflight: []uint64{2, 3, 4}}, true, false, false, false},
		{"snapshot", view{State: StateSnapshot, Match: 1, Next: 11, Pending: 10}, true, false, true, false},
		{"snapshot flag set", view{State: StateSnapshot, Match: 1, Next: 11, Pending: 10, FlowPaused: true}, true, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := setup(tc.from)
			require.Equal(t, tc.paused, pr.IsPaused())
			require.Equal(t, tc.canSend, pr.CanSendEntries())
			pr.Resume()
			require.Equal(t, tc.resumed, pr.IsPaused())
			require.Equal(t, tc.canSend2, pr.CanSendEntries())
		})
	}
}

func TestCommitTracking(t *testing.T) {
	pr := setup(view{State: StateReplicate, Match: 5, Next: 6})
	require.True(t, pr.CanBumpCommit(5), "no commit index sent yet")
	pr.SentCommit(5)
	require.False(t, pr.CanBumpCommit(6), "the peer holds nothing beyond the sent commit index")

	pr.SentEntries(4, 40) // entries 6..9
	pr.SentCommit(5)
	require.Equal(t, uint64(5), pr.LastSentCommit())
	require.False(t, pr.CanBumpCommit(5), "not newer than what was sent")
	require.True(t, pr.CanBumpCommit(7))

	pr.SentCommit(9)
	require.False(t, pr.CanBumpCommit(10), "peer already told all it can use")

	// A rejection lowers the sent commit index to what the peer can be
	// assumed to hold, so the commit index will be sent again.
	require.True(t, pr.MaybeDecrTo(9, 5))
	require.Equal(t, uint64(5), pr.LastSentCommit())
	pr.BecomeProbe()
	require.Equal(t, uint64(5), pr.LastSentCommit())
}

func TestSnapshotDoneAndFailed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   view
		done   bool // OnSnapshotDone, else OnSnapshotFailed
		ok     bool
		want   view
		paused bool
	}{
		{
			name: "done: probe after the snapshot",
			from: view{State: StateSnapshot, Match: 3, Next: 11, SentCommit: 10, Pending: 10},
			done: true, ok: true,
			want:   view{State: StateProbe, Match: 3, Next: 11, SentCommit: 10, FlowPaused: true},
			paused: true,
		},
		{
			name: "done after match moved past the snapshot",
			from: view{State: StateSnapshot, Match: 14, Next: 15, SentCommit: 10, Pending: 10},
			done: true, ok: true,
			want:   view{State: StateProbe, Match: 14, Next: 15, SentCommit: 10, FlowPaused: true},
			paused: true,
		},
		{
			name: "failed: probe from match",
			from: view{State: StateSnapshot, Match: 3, Next: 11, SentCommit: 10, Pending: 10},
			done: false, ok: true,
			want:   view{State: StateProbe, Match: 3, Next: 4, SentCommit: 3, FlowPaused: true},
			paused: true,
		},
		{
			name: "done outside snapshot is ignored",
			from: view{State: StateReplicate, Match: 3, Next: 5, Inflight: []uint64{4}},
			done: true,
			want: view{State: StateReplicate, Match: 3, Next: 5, Inflight: []uint64{4}},
		},
		{
			name: "failed outside snapshot is ignored",
			from: view{State: StateProbe, Match: 3, Next: 4},
			done: false,
			want: view{State: StateProbe, Match: 3, Next: 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := setup(tc.from)
			var ok bool
			if tc.done {
				ok = pr.OnSnapshotDone()
			} else {
				ok = pr.OnSnapshotFailed()
			}
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, viewOf(pr))
			require.Equal(t, tc.paused, pr.IsPaused())
		})
	}
}

func TestResetState(t *testing.T) {
	pr := setup(view{State: StateReplicate, Match: 3, Next: 7, SentCommit: 6, FlowPaused: true, Inflight: []uint64{4, 5, 6}})
	pr.ResetState(StateProbe)
	require.Equal(t, view{State: StateProbe, Match: 3, Next: 7, SentCommit: 6}, viewOf(pr))
	require.Zero(t, pr.Inflights.Bytes())
}

func TestStateTypeString(t *testing.T) {
	require.Equal(t, "StateProbe", StateProbe.String())
	require.Equal(t, "StateReplicate", StateReplicate.String())
	require.Equal(t, "StateSnapshot", StateSnapshot.String())
	require.Equal(t, "StateType(7)", StateType(7).String())
	require.Equal(t, StateProbe, Progress{}.State, "the zero Progress probes")
}

func TestProgressString(t *testing.T) {
	pr := setup(view{State: StateReplicate, Match: 5, Next: 9, SentCommit: 4, FlowPaused: true, Inflight: []uint64{6, 7, 8}})
	pr.IsLearner = true
	require.Equal(t, "StateReplicate match=5 next=9 sentCommit=4 learner paused inflight=3[full]", pr.String())

	pr = setup(view{State: StateReplicate, Match: 5, Next: 8, Inflight: []uint64{6, 7}})
	require.Equal(t, "StateReplicate match=5 next=8 inflight=2", pr.String())

	pr = setup(view{State: StateSnapshot, Match: 2, Next: 11, SentCommit: 10, Pending: 10})
	require.Equal(t, "StateSnapshot match=2 next=11 sentCommit=10 paused pendingSnap=10", pr.String())

	pr = setup(view{State: StateProbe, Match: 0, Next: 1})
	require.Equal(t, "StateProbe match=0 next=1", pr.String())

	require.Equal(t, "StateProbe match=0 next=0", (&Progress{}).String(), "nil Inflights prints")
}

func TestMapString(t *testing.T) {
	m := Map{
		3: setup(view{State: StateProbe, Match: 1, Next: 2, FlowPaused: true}),
		1: setup(view{State: StateReplicate, Match: 9, Next: 10}),
		2: setup(view{State: StateSnapshot, Match: 0, Next: 6, SentCommit: 5, Pending: 5}),
	}
	require.Equal(t, `1: StateReplicate match=9 next=10
2: StateSnapshot match=0 next=6 sentCommit=5 paused pendingSnap=5
3: StateProbe match=1 next=2 paused
`, m.String())
	require.Empty(t, Map{}.String())
}

// Validate names each invariant of the package documentation that a
// progress breaks, and accepts the states the methods produce.
func TestProgressValidate(t *testing.T) {
	ok := func() *Progress {
		return &Progress{Match: 3, Next: 4, Inflights: NewInflights(2, 0)}
	}
	require.NoError(t, ok().Validate())
	for _, tc := range []struct {
		want  string
		spoil func(pr *Progress)
	}{
		{"Match < Next", func(pr *Progress) { pr.Next = 3 }},
		{"Inflights is non-nil", func(pr *Progress) { pr.Inflights = nil }},
		{"Inflights is empty outside StateReplicate", func(pr *Progress) { pr.Inflights.Add(5, 1) }},
		{"PendingSnapshot > 0 exactly in StateSnapshot", func(pr *Progress) { pr.PendingSnapshot = 9 }},
		{"PendingSnapshot > 0 exactly in StateSnapshot", func(pr *Progress) { pr.State = StateSnapshot }},
		{"in StateSnapshot, Next > PendingSnapshot", func(pr *Progress) {
			pr.State, pr.PendingSnapshot = StateSnapshot, 9
		}},
		{"the flow is paused only when Inflights is full", func(pr *Progress) {
			pr.State, pr.MsgAppFlowPaused = StateReplicate, true
		}},
		{"every message in Inflights ends in (Match, Next-1]", func(pr *Progress) {
			pr.State = StateReplicate
			pr.Inflights.Add(4, 1)
		}},
	} {
		pr := ok()
		tc.spoil(pr)
		err := pr.Validate()
		require.ErrorContains(t, err, tc.want)
	}
	pr := ok()
	pr.BecomeReplicate()
	pr.SentEntries(1, 1)
	pr.SentEntries(1, 1)
	require.NoError(t, pr.Validate())
	pr.BecomeSnapshot(10)
	require.NoError(t, pr.Validate())
}
