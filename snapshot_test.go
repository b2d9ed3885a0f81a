package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of log compaction and snapshots (Raft paper §7): a leader whose
// log no longer holds the entries a follower needs sends its snapshot
// instead (InstallSnapshot), and a follower installs a snapshot only when
// it brings something new.

// mbCompactedStorage returns a MemoryStorage for voters 1..3 holding
// entries 1..10 of term 1, all committed, compacted up to a snapshot at
// index 5.
func mbCompactedStorage(t testing.TB) *MemoryStorage {
	t.Helper()
	st := storageWith(ids(3))
	var ents []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		ents = append(ents, &pb.Entry{Index: i, Term: 1})
	}
	require.NoError(t, st.Append(ents))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: 10}))
	_, err := st.CreateSnapshot(5, &pb.ConfState{Voters: ids(3)}, []byte("state at 5"))
	require.NoError(t, err)
	require.NoError(t, st.Compact(5))
	return st
}

// mbMakeLeader makes r leader of the next term without an election and
// discards what that sends. The empty entry of the term stays unstable.
func mbMakeLeader(r *raft) {
	r.becomeCandidate()
	r.becomeLeader()
	r.bcastAppend() // as after a won election: every peer is probed
	r.msgs, r.msgsAfterAppend = nil, nil
}

// mbTakeMsgs returns and clears r's outgoing messages, as the next Ready
// would hand them out (appends owed to peers included), leaving its own
// acknowledgements and what it persisted alone.
func mbTakeMsgs(r *raft) []*pb.Message {
	r.flushAppends()
	msgs := r.msgs
	r.msgs = nil
	return msgs
}

// mbAck is peer from's acknowledgement of the leader's log up to index.
func mbAck(r *raft, from, index uint64) *pb.Message {
	return &pb.Message{From: from, To: r.id, Term: r.Term, Type: pb.MsgAppResp, Index: index}
}

// mbOnlySnap requires msgs to be a single MsgSnap to peer to, and returns
// its snapshot.
func mbOnlySnap(t testing.TB, msgs []*pb.Message, to uint64) *pb.Snapshot {
	t.Helper()
	require.Len(t, msgs, 1, "%v", msgSummary(msgs))
	require.Equal(t, pb.MsgSnap, msgs[0].Type)
	require.Equal(t, to, msgs[0].To)
	return msgs[0].Snapshot
}

// A follower whose next entry the leader compacted away gets the leader's
// snapshot, and after installing it continues with appends: it ends with
// the leader's log, commit index and configuration.
func TestSnapshotSentForCompactedEntries(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	leader := nw.peers[1]
	nw.isolate(3)
	for _, d := range []string{"a", "b", "c"} {
		nw.propose(1, d)
	}
	mbApply(t, leader)
	st := leader.raftLog.storage.(*MemoryStorage)
	applied := leader.raftLog.applied
	_, err := st.CreateSnapshot(applied, leader.trk.ConfState(), []byte("abc"))
	require.NoError(t, err)
	require.NoError(t, st.Compact(applied))
	nw.propose(1, "d") // an entry after the snapshot

	nw.recover()
	var msgs []*pb.Message
	mbRecord(nw, &msgs)
	mbBeat(nw, 1)
	var snaps []*pb.Snapshot
	for _, m := range msgs {
		if m.Type == pb.MsgSnap {
			require.Equal(t, uint64(3), m.To)
			snaps = append(snaps, m.Snapshot)
		}
	}
	require.Len(t, snaps, 1)
	require.Equal(t, applied, snaps[0].Metadata.Index)
	require.Equal(t, []byte("abc"), snaps[0].Data)

	f := nw.peers[3]
	require.Equal(t, applied, f.raftLog.storage.(*MemoryStorage).snapshot.Metadata.Index)
	require.Equal(t, leader.raftLog.lastEntryID(), f.raftLog.lastEntryID())
	require.Equal(t, leader.raftLog.committed, f.raftLog.committed)
	require.Equal(t, "voters=(1 2 3)", f.trk.Config.String())
	pr := leader.trk.Progress[3]
	require.Equal(t, progress.StateReplicate, pr.State)
	require.Equal(t, leader.raftLog.lastIndex(), pr.Match)
	mbSettle(nw)
	require.Equal(t, leader.raftLog.committed, f.raftLog.applied)
}

// Installing a snapshot replaces the follower's log by the snapshot's
// position, commits it, and takes the configuration from its metadata:
// the follower has none of the entries the configuration changes were in.
// The acknowledgement waits until the snapshot is persisted, and so does
// any campaign: a node must not lead from a log it has not stored.
func TestSnapshotRestore(t *testing.T) {
	st := storageWith([]uint64{1, 2})
	require.NoError(t, st.Append([]*pb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 1}}))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: 1}))
	r := newTestRaft(t, 2, 10, 1, st)

	snap := &pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{
		Index: 11, Term: 11, ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
	}}
	require.NoError(t, r.Step(&pb.Message{From: 1, To: 2, Term: 11, Type: pb.MsgSnap, Snapshot: snap}))
	require.Equal(t, uint64(11), r.Term)
	require.Equal(t, uint64(1), r.lead)
	require.Equal(t, uint64(11), r.raftLog.lastIndex())
	require.Equal(t, uint64(11), r.raftLog.lastTerm())
	require.Equal(t, uint64(11), r.raftLog.committed)
	require.Equal(t, uint64(12), r.raftLog.firstIndex())
	require.Equal(t, "voters=(1 2 3) learners=(4)", r.trk.Config.String())
	require.True(t, r.raftLog.hasNextUnstableSnapshot())
	require.Empty(t, r.msgs, "the acknowledgement waits for the snapshot to be persisted")
	require.False(t, r.promotable(), "no campaign while the snapshot is not persisted")

	msgs := readMessages(t, r)
	require.Len(t, msgs, 1)
	require.Equal(t, pb.MsgAppResp, msgs[0].Type)
	require.Equal(t, uint64(11), msgs[0].Index)
	require.False(t, msgs[0].Reject)
	require.Equal(t, uint64(11), st.snapshot.Metadata.Index)
	require.True(t, r.promotable())
	_, err := r.raftLog.term(3)
	require.ErrorIs(t, err, ErrCompacted, "the old entries are gone")
}

// A snapshot that is not beyond the follower's commit index brings nothing
// (those entries are committed and the follower's log agrees with the
// leader's up to there); installing it would throw away the follower's
// later entries for nothing. It is ignored, and the answer tells the
// leader where to continue: the commit index.
func TestSnapshotNotBeyondCommitIgnored(t *testing.T) {
	for _, sindex := range []uint64{3, 5} {
		st := storageWith(ids(2))
		var ents []*pb.Entry
		for i := uint64(1); i <= 7; i++ {
			ents = append(ents, &pb.Entry{Index: i, Term: 1})
		}
		require.NoError(t, st.Append(ents))
		require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: 5}))
		r := newTestRaft(t, 2, 10, 1, st)

		snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: sindex, Term: 1, ConfState: &pb.ConfState{Voters: ids(2)}}}
		require.NoError(t, r.Step(&pb.Message{From: 1, To: 2, Term: 1, Type: pb.MsgSnap, Snapshot: snap}))
		require.False(t, r.raftLog.hasNextUnstableSnapshot(), "snapshot %d", sindex)
		require.Equal(t, uint64(7), r.raftLog.lastIndex())
		require.Equal(t, uint64(5), r.raftLog.committed)
		msgs := readMessages(t, r)
		require.Len(t, msgs, 1)
		require.Equal(t, pb.MsgAppResp, msgs[0].Type)
		require.Equal(t, uint64(5), msgs[0].Index, "answered at the commit index")
		require.False(t, msgs[0].Reject)
	}
}

// A snapshot whose last entry the follower already has (same index and
// term) tells it that entry is committed; since the logs agree up to
// there, the follower keeps its log, entries after the snapshot included,
// and only moves its commit index.
func TestSnapshotMatchingLastEntryCommits(t *testing.T) {
	st := storageWith(ids(2))
	require.NoError(t, st.Append([]*pb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 2}, {Index: 4, Term: 2}, {Index: 5, Term: 2}}))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 2, Commit: 1}))
	r := newTestRaft(t, 2, 10, 1, st)

	snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 4, Term: 2, ConfState: &pb.ConfState{Voters: ids(2)}}}
	require.NoError(t, r.Step(&pb.Message{From: 1, To: 2, Term: 2, Type: pb.MsgSnap, Snapshot: snap}))
	require.False(t, r.raftLog.hasNextUnstableSnapshot(), "nothing to install")
	require.Equal(t, uint64(4), r.raftLog.committed)
	require.Equal(t, "[1/1 2/1 3/2 4/2 5/2]", describeLog(logEntries(t, r)), "the log is kept")
	msgs := readMessages(t, r)
	require.Len(t, msgs, 1)
	require.Equal(t, uint64(4), msgs[0].Index)

	// A snapshot at the same index but another term is installed.
	snap = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 5, Term: 3, ConfState: &pb.ConfState{Voters: ids(2)}}}
	require.NoError(t, r.Step(&pb.Message{From: 1, To: 2, Term: 3, Type: pb.MsgSnap, Snapshot: snap}))
	require.True(t, r.raftLog.hasNextUnstableSnapshot())
	require.Equal(t, uint64(3), r.raftLog.lastTerm())
}

// A snapshot whose configuration does not include the follower is refused:
// installing it would leave the node with a configuration that does not
// name it (it was removed, or the snapshot is not meant for it).
func TestSnapshotExcludingFollowerRefused(t *testing.T) {
	st := storageWith(ids(2))
	require.NoError(t, st.Append([]*pb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}}))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: 1}))
	r := newTestRaft(t, 2, 10, 1, st)

	snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 10, Term: 1, ConfState: &pb.ConfState{Voters: []uint64{1, 3, 4}}}}
	_ = r.Step(&pb.Message{From: 1, To: 2, Term: 1, Type: pb.MsgSnap, Snapshot: snap})
	require.False(t, r.raftLog.hasNextUnstableSnapshot())
	require.Equal(t, uint64(2), r.raftLog.lastIndex())
	require.Equal(t, uint64(1), r.raftLog.committed)
	require.Equal(t, "voters=(1 2)", r.trk.Config.String())
	msgs := readMessages(t, r)
	require.Len(t, msgs, 1)
	require.Equal(t, uint64(1), msgs[0].Index, "answered at the commit index")

	// A learner of the snapshot's configuration is included.
	snap = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 10, Term: 1, ConfState: &pb.ConfState{Voters: []uint64{1}, Learners: []uint64{2}}}}
	require.NoError(t, r.Step(&pb.Message{From: 1, To: 2, Term: 1, Type: pb.MsgSnap, Snapshot: snap}))
	require.True(t, r.raftLog.hasNextUnstableSnapshot())
	require.True(t, r.isLearner)
}

// mbFlakySnapStorage is a MemoryStorage whose Snapshot fails with
// ErrSnapshotTemporarilyUnavailable a number of times, as a storage does
// while it is still generating the snapshot.
type mbFlakySnapStorage struct {
	*MemoryStorage
	failures int
	calls    int
}

func (s *mbFlakySnapStorage) Snapshot() (*pb.Snapshot, error) {
	s.calls++
	if s.failures > 0 {
		s.failures--
		return nil, ErrSnapshotTemporarilyUnavailable
	}
	return s.MemoryStorage.Snapshot()
}

// ErrSnapshotTemporarilyUnavailable is not a failure: the leader sends
// nothing for now and asks again on a later occasion (here, the follower's
// heartbeat responses), then sends the snapshot once it is ready.
func TestSnapshotTemporarilyUnavailable(t *testing.T) {
	st := &mbFlakySnapStorage{MemoryStorage: mbCompactedStorage(t), failures: 4}
	r := newTestRaft(t, 1, 10, 1, st)
	mbMakeLeader(r)

	// Peer 2 has entries up to 3; the leader's log starts at 6.
	require.NoError(t, r.Step(mbAck(r, 2, 3)))
	require.Empty(t, mbTakeMsgs(r))
	require.Positive(t, st.calls)
	require.NotEqual(t, progress.StateSnapshot, r.trk.Progress[2].State)

	hbResp := &pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgHeartbeatResp}
	for st.failures > 0 {
		calls := st.calls
		require.NoError(t, r.Step(hbResp))
		require.Greater(t, st.calls, calls, "each heartbeat response brings a new attempt")
		require.Empty(t, mbTakeMsgs(r))
	}
	calls := st.calls
	require.NoError(t, r.Step(hbResp))
	snap := mbOnlySnap(t, mbTakeMsgs(r), 2)
	require.Equal(t, uint64(5), snap.Metadata.Index)
	require.Equal(t, calls+1, st.calls)
	require.Equal(t, progress.StateSnapshot, r.trk.Progress[2].State)
	require.NoError(t, r.failed, "the node did not stop")
}

// mbSnapshotLeader returns a RawNode leading over mbCompactedStorage whose
// peer 2 acknowledged entries up to 3 and was therefore sent the snapshot
// at index 5.
func mbSnapshotLeader(t *testing.T) (*RawNode, *raft) {
	t.Helper()
	rn, err := NewRawNode(testConfig(1, 10, 1, mbCompactedStorage(t)))
	require.NoError(t, err)
	r := rn.raft
	mbMakeLeader(r)
	readMessages(t, r)
	require.NoError(t, r.Step(mbAck(r, 2, 3)))
	mbOnlySnap(t, mbTakeMsgs(r), 2)
	pr := r.trk.Progress[2]
	require.Equal(t, progress.StateSnapshot, pr.State)
	require.Equal(t, uint64(5), pr.PendingSnapshot)
	require.Equal(t, uint64(3), pr.Match)
	return rn, r
}

// Once the transport reports a snapshot delivered, the leader probes the
// peer right after the snapshot: it will have the snapshot's entries. After
// a failure it probes from what the peer is known to have, which leads to
// a new snapshot. Either way it waits for a sign of life from the peer
// before sending, so a slow install is not flooded.
func TestSnapshotReportSnapshot(t *testing.T) {
	t.Run("finish", func(t *testing.T) {
		rn, r := mbSnapshotLeader(t)
		require.NoError(t, rn.ReportSnapshot(2, SnapshotFinish))
		pr := r.trk.Progress[2]
		require.Equal(t, progress.StateProbe, pr.State)
		require.Equal(t, uint64(6), pr.Next, "PendingSnapshot+1")
		require.True(t, pr.IsPaused())
		r.bcastAppend()
		for _, m := range mbTakeMsgs(r) {
			require.NotEqual(t, uint64(2), m.To, "paused until the peer answers")
		}

		require.NoError(t, r.Step(&pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgHeartbeatResp}))
		msgs := mbTakeMsgs(r)
		require.Len(t, msgs, 1)
		require.Equal(t, pb.MsgApp, msgs[0].Type)
		require.Equal(t, uint64(5), msgs[0].Index, "the probe follows the snapshot")
	})
	t.Run("failure", func(t *testing.T) {
		rn, r := mbSnapshotLeader(t)
		require.NoError(t, rn.ReportSnapshot(2, SnapshotFailure))
		pr := r.trk.Progress[2]
		require.Equal(t, progress.StateProbe, pr.State)
		require.Equal(t, uint64(4), pr.Next, "Match+1")
		require.Zero(t, pr.PendingSnapshot)
		require.True(t, pr.IsPaused())

		require.NoError(t, r.Step(&pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgHeartbeatResp}))
		mbOnlySnap(t, mbTakeMsgs(r), 2)
		require.Equal(t, progress.StateSnapshot, pr.State, "a new snapshot is on its way")
	})
	t.Run("late report", func(t *testing.T) {
		rn, r := mbSnapshotLeader(t)
		require.NoError(t, r.Step(mbAck(r, 2, 5)))
		pr := r.trk.Progress[2]
		require.Equal(t, progress.StateReplicate, pr.State)
		next := pr.Next
		require.NoError(t, rn.ReportSnapshot(2, SnapshotFailure))
		require.Equal(t, progress.StateReplicate, pr.State, "a report after the peer caught up changes nothing")
		require.Equal(t, next, pr.Next)
	})
}

// While a peer waits for a snapshot, an acknowledgement may show that its
// log already reaches the leader's log (Match+1 >= first index): a late
// answer to an append sent before the compaction, say. The leader then
// needs no snapshot any more and replicates again at once. An
// acknowledgement that still leaves a gap changes nothing.
func TestSnapshotPeerReconnectsByAppendResp(t *testing.T) {
	_, r := mbSnapshotLeader(t)
	pr := r.trk.Progress[2]
	require.Equal(t, uint64(6), r.raftLog.firstIndex())

	require.NoError(t, r.Step(mbAck(r, 2, 4)))
	require.Equal(t, uint64(4), pr.Match)
	require.Equal(t, progress.StateSnapshot, pr.State, "entry 5 is still missing")
	require.Empty(t, mbTakeMsgs(r))

	require.NoError(t, r.Step(mbAck(r, 2, 8)))
	require.Equal(t, progress.StateReplicate, pr.State)
	require.Equal(t, uint64(8), pr.Match)
	msgs := mbTakeMsgs(r)
	require.NotEmpty(t, msgs)
	require.Equal(t, pb.MsgApp, msgs[0].Type)
	require.Equal(t, uint64(8), msgs[0].Index, "appends continue after the acknowledged entry")
	require.Equal(t, r.raftLog.lastIndex(), pr.Next-1)
}

// A leader does not send a snapshot to a peer it has not heard from
// recently: it is likely down, and a snapshot can be large. Once the peer
// answers again, the snapshot goes out.
func TestSnapshotNotSentToInactivePeer(t *testing.T) {
	st := storageWith(ids(3))
	var ents []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		ents = append(ents, &pb.Entry{Index: i, Term: 1})
	}
	require.NoError(t, st.Append(ents))
	require.NoError(t, st.SetHardState(&pb.HardState{Term: 1, Commit: 10}))
	c := testConfig(1, 10, 1, st)
	c.CheckQuorum = true
	r := newTestRaftFrom(t, c)
	mbMakeLeader(r)
	readMessages(t, r)

	require.NoError(t, r.Step(mbAck(r, 2, r.raftLog.lastIndex())))
	require.NoError(t, r.Step(mbAck(r, 3, 3))) // entries 4.. go out to 3
	require.NoError(t, r.Step(&pb.Message{From: 3, To: 1, Type: pb.MsgUnreachable}))
	mbTakeMsgs(r)
	pr := r.trk.Progress[3]
	require.Equal(t, progress.StateProbe, pr.State)
	require.Equal(t, uint64(4), pr.Next)
	// A check-quorum round finds 3 silent, and the application compacts.
	require.NoError(t, r.Step(&pb.Message{From: 1, To: 1, Type: pb.MsgCheckQuorum}))
	require.Equal(t, StateLeader, r.state)
	require.False(t, pr.RecentActive)
	_, err := st.CreateSnapshot(8, &pb.ConfState{Voters: ids(3)}, nil)
	require.NoError(t, err)
	require.NoError(t, st.Compact(8))

	require.NoError(t, r.Step(&pb.Message{From: 1, To: 1, Type: pb.MsgProp, Entries: []*pb.Entry{{Data: []byte("x")}}}))
	for _, m := range mbTakeMsgs(r) {
		require.NotEqual(t, pb.MsgSnap, m.Type, "no snapshot to an inactive peer")
	}
	require.Equal(t, progress.StateProbe, pr.State)

	require.NoError(t, r.Step(&pb.Message{From: 3, To: 1, Term: r.Term, Type: pb.MsgHeartbeatResp}))
	require.True(t, pr.RecentActive)
	mbOnlySnap(t, mbTakeMsgs(r), 3)
	require.Equal(t, uint64(8), pr.PendingSnapshot)
}

// A node restarting from storage that holds a snapshot takes its
// configuration from the snapshot, its commit index from the hard state,
// and its applied index from Config.Applied (or the snapshot's index), so
// that it hands out exactly the entries the application has not applied.
func TestSnapshotRestartFromStorage(t *testing.T) {
	mk := func() *MemoryStorage {
		st := NewMemoryStorage()
		require.NoError(t, st.ApplySnapshot(&pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{
			Index: 10, Term: 3, ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
		}}))
		require.NoError(t, st.Append([]*pb.Entry{{Index: 11, Term: 3}, {Index: 12, Term: 3, Data: []byte("x")}, {Index: 13, Term: 3}}))
		require.NoError(t, st.SetHardState(&pb.HardState{Term: 3, Vote: 2, Commit: 12}))
		return st
	}
	for _, tc := range []struct {
		applied     uint64
		wantApplied uint64
		next        []uint64
	}{
		{10, 10, []uint64{11, 12}},
		{11, 11, []uint64{12}},
		{12, 12, nil},
	} {
		c := testConfig(2, 10, 1, mk())
		c.Applied = tc.applied
		rn, err := NewRawNode(c)
		require.NoError(t, err)
		r := rn.raft
		require.Equal(t, "voters=(1 2 3) learners=(4)", r.trk.Config.String())
		require.Equal(t, uint64(12), r.raftLog.committed)
		require.Equal(t, uint64(3), r.Term)
		require.Equal(t, uint64(2), r.Vote)
		require.Equal(t, tc.wantApplied, r.raftLog.applied, "Config.Applied %d", tc.applied)
		require.Equal(t, uint64(11), r.raftLog.firstIndex())
		require.Equal(t, uint64(13), r.raftLog.lastIndex())

		var got []uint64
		if rn.HasReady() {
			rd := rn.Ready()
			require.Nil(t, rd.Snapshot, "the stored snapshot is not handed out again")
			require.Empty(t, rd.Entries)
			for _, e := range rd.CommittedEntries {
				got = append(got, e.Index)
			}
		}
		require.Equal(t, tc.next, got, "Config.Applied %d", tc.applied)
	}

	c := testConfig(2, 10, 1, mk())
	c.Applied = 14
	_, err := NewRawNode(c)
	require.ErrorIs(t, err, ErrInvalidConfig, "applied beyond the log")

	// The application says it applied nothing, but the entries up to the
	// snapshot are compacted: it must restore the snapshot first.
	c = testConfig(2, 10, 1, mk())
	c.Applied = 0
	_, err = NewRawNode(c)
	require.ErrorIs(t, err, ErrInvalidConfig, "applied below the snapshot")
}

// A snapshot taken before a peer joined does not name it, and the peer
// would refuse it (it must not adopt a configuration without itself). The
// leader does not send it: the peer stays in Probe, and once the
// application takes a snapshot that includes the peer, the next probe sends
// that one.
func TestSnapshotPredatingPeerIsHeldBack(t *testing.T) {
	st := mbCompactedStorage(t)
	r := newTestRaft(t, 1, 10, 1, st)
	mbMakeLeader(r)
	readMessages(t, r)
	// Node 4 joins (applied directly: the entry itself is not the point).
	_, err := r.applyConfChange((&pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 4}).AsV2())
	require.NoError(t, err)
	pr := r.trk.Progress[4]
	require.NotNil(t, pr)

	// Node 4 has nothing: it rejects the probe, and the entries it needs
	// are compacted into a snapshot that names voters 1..3 only.
	require.NoError(t, r.Step(&pb.Message{
		From: 4, To: 1, Term: r.Term, Type: pb.MsgAppResp, Index: pr.Next - 1, Reject: true,
	}))
	for _, m := range mbTakeMsgs(r) {
		require.NotEqual(t, pb.MsgSnap, m.Type, "a snapshot that does not name node 4 must not be sent")
	}
	require.Equal(t, progress.StateProbe, pr.State)

	// The application snapshots after the change; the next probe (here,
	// from a heartbeat response) sends it.
	_, err = st.CreateSnapshot(10, &pb.ConfState{Voters: ids(4)}, []byte("state at 10"))
	require.NoError(t, err)
	require.NoError(t, st.Compact(10))
	require.NoError(t, r.Step(&pb.Message{From: 4, To: 1, Term: r.Term, Type: pb.MsgHeartbeatResp}))
	snap := mbOnlySnap(t, mbTakeMsgs(r), 4)
	require.Equal(t, uint64(10), snap.Metadata.Index)
	require.Equal(t, progress.StateSnapshot, pr.State)
}
