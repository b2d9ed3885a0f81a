package raft

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of log replication (Raft §5.3), heartbeats, proposal forwarding and
// the rejection of inconsistent replication messages. They drive *raft
// directly: a leader built with rpNewLeader or rpStableLeader is handed
// hand-made follower responses, so every message it sends can be checked.

// ---------------------------------------------------------------------------
// Helpers shared by replication_test.go, safety_test.go and
// flowcontrol_test.go.

// rpLog returns a log whose entry at index i+1 has term terms[i].
func rpLog(terms ...uint64) []*pb.Entry {
	ents := make([]*pb.Entry, len(terms))
	for i, term := range terms {
		ents[i] = &pb.Entry{Index: uint64(i + 1), Term: term}
	}
	return ents
}

// rpStorage returns the storage of a member of the voters 1..n that holds
// ents as its persisted log and hs (if not nil) as its hard state.
func rpStorage(t testing.TB, n int, hs *pb.HardState, ents []*pb.Entry) *MemoryStorage {
	t.Helper()
	st := storageWith(ids(n))
	require.NoError(t, st.Append(ents))
	if hs != nil {
		require.NoError(t, st.SetHardState(hs))
	}
	return st
}

// rpNode builds node id over st with the test configuration, changed by
// adjust if it is not nil.
func rpNode(t testing.TB, id uint64, st *MemoryStorage, adjust func(*Config)) *raft {
	t.Helper()
	c := testConfig(id, 10, 1, st)
	if adjust != nil {
		adjust(c)
	}
	return newTestRaftFrom(t, c)
}

// rpNewLeader makes node 1 of the voters 1..n (over st, or a fresh storage
// when st is nil) leader of the next term the way a won election does: it
// becomes leader, appends its empty entry and broadcasts. The leader's own
// write is persisted and acknowledged; the returned messages are those it
// sent to its followers, whose progress is still in StateProbe.
func rpNewLeader(t testing.TB, n int, st *MemoryStorage, adjust func(*Config)) (*raft, []*pb.Message) {
	t.Helper()
	if st == nil {
		st = storageWith(ids(n))
	}
	r := rpNode(t, 1, st, adjust)
	r.becomeCandidate()
	r.becomeLeader()
	r.bcastAppend()
	return r, readMessages(t, r)
}

// rpStableLeader returns the leader of term 1 of a fresh n-node cluster
// whose followers have all acknowledged its first (empty) entry: entry 1 is
// committed, every follower is in StateReplicate with Match 1, and no
// message is pending.
func rpStableLeader(t testing.TB, n int, adjust func(*Config)) *raft {
	t.Helper()
	r, _ := rpNewLeader(t, n, nil, adjust)
	for id := uint64(2); id <= uint64(n); id++ {
		require.NoError(t, r.Step(rpAppResp(r, id, 1)))
	}
	readMessages(t, r)
	require.EqualValues(t, 1, r.raftLog.committed)
	for id := uint64(2); id <= uint64(n); id++ {
		require.Equal(t, progress.StateReplicate, r.trk.Progress[id].State)
	}
	return r
}

// rpAppResp is follower from's acknowledgement of the leader's log up to
// index, in the leader's term.
func rpAppResp(r *raft, from, index uint64) *pb.Message {
	return &pb.Message{From: from, To: r.id, Term: r.Term, Type: pb.MsgAppResp, Index: index}
}

// rpProp is a local proposal of one entry per datum.
func rpProp(data ...string) *pb.Message {
	ents := make([]*pb.Entry, len(data))
	for i, d := range data {
		ents[i] = &pb.Entry{Data: []byte(d)}
	}
	return &pb.Message{Type: pb.MsgProp, Entries: ents}
}

// rpPropSize is a local proposal of one entry carrying size bytes.
func rpPropSize(size int) *pb.Message {
	return &pb.Message{Type: pb.MsgProp, Entries: []*pb.Entry{{Data: make([]byte, size)}}}
}

// rpTo returns the messages of type typ addressed to to.
func rpTo(msgs []*pb.Message, to uint64, typ pb.MessageType) []*pb.Message {
	var out []*pb.Message
	for _, m := range msgs {
		if m.To == to && m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// rpIndexes returns the indexes of ents.
func rpIndexes(ents []*pb.Entry) []uint64 {
	out := make([]uint64, len(ents))
	for i, e := range ents {
		out[i] = e.Index
	}
	return out
}

// rpDeliver steps msgs into the node each is addressed to (errors are the
// receiver's business and ignored, as a transport would) and returns what
// the receivers sent in turn.
func rpDeliver(t testing.TB, nodes map[uint64]*raft, msgs []*pb.Message) []*pb.Message {
	t.Helper()
	var out []*pb.Message
	for _, m := range msgs {
		if p, ok := nodes[m.To]; ok {
			_ = p.Step(m)
			out = append(out, readMessages(t, p)...)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// §5.3 Log replication: the leader side.

// §5.3: the leader appends a client's command to its own log, stamped with
// its term, and then sends AppendEntries to every follower. If the leader
// did not broadcast, a proposal would sit in its log until the next
// heartbeat round; if it did not stamp the current term, the commit rule of
// §5.4.2 could never commit it.
func TestSec53LeaderAppendsProposalAndBroadcasts(t *testing.T) {
	r := rpStableLeader(t, 3, nil)
	require.NoError(t, r.Step(rpProp("a")))

	ents := logEntries(t, r)
	require.Len(t, ents, 2)
	require.Equal(t, uint64(2), ents[1].Index)
	require.Equal(t, r.Term, ents[1].Term)
	require.Equal(t, []byte("a"), ents[1].Data)

	msgs := readMessages(t, r)
	for _, id := range []uint64{2, 3} {
		apps := rpTo(msgs, id, pb.MsgApp)
		require.Len(t, apps, 1, "follower %d", id)
		m := apps[0]
		require.Equal(t, r.Term, m.Term)
		// The previous entry is what the follower is known to hold.
		require.Equal(t, uint64(1), m.Index)
		require.Equal(t, r.Term, m.LogTerm)
		require.Equal(t, []uint64{2}, rpIndexes(m.Entries))
		require.Equal(t, []byte("a"), m.Entries[0].Data)
		require.Equal(t, uint64(1), m.Commit)
	}
	// Nothing is committed before a follower answers.
	require.Equal(t, uint64(1), r.raftLog.committed)
}

// §5.3: "A log entry is committed once the leader that created the entry
// has replicated it on a majority of the servers." The leader counts
// itself, so in a cluster of n it needs n/2 follower acknowledgements. Too
// few and a new leader might not have the entry; too many and the cluster
// stalls whenever a follower is slow.
func TestSec53LeaderCommitsOnMajority(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		for acks := 0; acks < n; acks++ {
			t.Run(fmt.Sprintf("n=%d/acks=%d", n, acks), func(t *testing.T) {
				r := rpStableLeader(t, n, nil)
				require.NoError(t, r.Step(rpProp("x")))
				readMessages(t, r) // the leader's own copy is persisted
				// The first acks followers answer; the others stay silent.
				for id := uint64(2); id < uint64(2+acks); id++ {
					require.NoError(t, r.Step(rpAppResp(r, id, 2)))
				}
				want := uint64(1)
				if acks+1 > n/2 {
					want = 2
				}
				require.Equal(t, want, r.raftLog.committed)
			})
		}
	}
}

// §5.3 with thesis §10.2.1: the leader may send its entries while its own
// write is in progress, but it counts its own copy toward the majority only
// once that copy is durable. Otherwise a leader crash could lose an entry
// the cluster already treats as committed.
func TestSec53LeaderCountsOwnCopyOnlyWhenPersisted(t *testing.T) {
	t.Run("n=3", func(t *testing.T) {
		r := rpStableLeader(t, 3, nil)
		require.NoError(t, r.Step(rpProp("x")))
		// The appends leave (with the next Ready) before the leader's
		// write is done.
		r.flushAppends()
		require.Len(t, rpTo(r.msgs, 2, pb.MsgApp), 1)
		require.Len(t, rpTo(r.msgs, 3, pb.MsgApp), 1)
		r.msgs = nil
		// One follower plus an unpersisted leader copy is not a majority.
		require.NoError(t, r.Step(rpAppResp(r, 2, 2)))
		require.Equal(t, uint64(1), r.raftLog.committed)
		readMessages(t, r) // persist and self-acknowledge
		require.Equal(t, uint64(2), r.raftLog.committed)
	})
	t.Run("n=1", func(t *testing.T) {
		r := rpStableLeader(t, 1, nil)
		require.NoError(t, r.Step(rpProp("x")))
		require.Equal(t, uint64(1), r.raftLog.committed, "committed before the only copy is durable")
		readMessages(t, r)
		require.Equal(t, uint64(2), r.raftLog.committed)
	})
}

// §5.3: "The leader keeps track of the highest index it knows to be
// committed, and it includes that index in future AppendEntries RPCs ... so
// that the other servers eventually find out." Without it followers never
// apply anything.
func TestSec53LeaderSendsCommitIndexToFollowers(t *testing.T) {
	r := rpStableLeader(t, 3, eagerCommit)
	require.NoError(t, r.Step(rpProp("x")))
	readMessages(t, r)
	require.NoError(t, r.Step(rpAppResp(r, 2, 2)))
	require.Equal(t, uint64(2), r.raftLog.committed)
	// The new commit index goes out at once, to the follower that has not
	// acknowledged the entry too (it carries no entries: 3 already has them
	// in flight).
	msgs := readMessages(t, r)
	for _, id := range []uint64{2, 3} {
		apps := rpTo(msgs, id, pb.MsgApp)
		require.Len(t, apps, 1, "follower %d", id)
		require.Equal(t, uint64(2), apps[0].Commit)
		require.Empty(t, apps[0].Entries)
	}

	// End to end, by default (lazy propagation): every follower learns the
	// commit index, at the latest with the next heartbeat.
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	nw.propose(1, "a")
	nw.propose(1, "b")
	mbBeat(nw, 1)
	for id, p := range nw.peers {
		require.Equal(t, uint64(3), p.raftLog.committed, "node %d", id)
	}
}

// §5.3: after a rejection the leader decrements nextIndex and retries;
// with the follower's hint (the last index whose term is at most the term
// the leader asked about) it skips the follower's whole conflicting tail at
// once. A leader that did not back up would never repair a lagging log; one
// that trusted stale rejections would move backwards needlessly.
func TestSec53LeaderBacksUpOnRejection(t *testing.T) {
	// Leader of term 2 with log 1/1 2/1 3/1 and its empty entry 4/2.
	st := rpStorage(t, 3, &pb.HardState{Term: 1}, rpLog(1, 1, 1))
	r, msgs := rpNewLeader(t, 3, st, nil)
	require.Equal(t, uint64(2), r.Term)
	probe := rpTo(msgs, 2, pb.MsgApp)
	require.Len(t, probe, 1)
	require.Equal(t, uint64(3), probe[0].Index)
	require.Equal(t, uint64(1), probe[0].LogTerm)

	// Follower 2 only has 1/1: it rejects prev 3 and hints at index 1, term 1.
	rej := &pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgAppResp, Index: 3, Reject: true, RejectHint: 1, LogTerm: 1}
	require.NoError(t, r.Step(rej))
	pr := r.trk.Progress[2]
	require.Equal(t, uint64(2), pr.Next)
	retry := rpTo(readMessages(t, r), 2, pb.MsgApp)
	require.Len(t, retry, 1)
	require.Equal(t, uint64(1), retry[0].Index)
	require.Equal(t, uint64(1), retry[0].LogTerm)
	require.Equal(t, []uint64{2, 3, 4}, rpIndexes(retry[0].Entries))

	// The same rejection again is stale (it answers the earlier probe):
	// nothing moves and nothing is resent.
	require.NoError(t, r.Step(rej))
	require.Equal(t, uint64(2), pr.Next)
	require.Empty(t, readMessages(t, r))

	// Without a term in the hint the leader backs up to the hinted index.
	rej3 := &pb.Message{From: 3, To: 1, Term: r.Term, Type: pb.MsgAppResp, Index: 3, Reject: true, RejectHint: 2}
	require.NoError(t, r.Step(rej3))
	require.Equal(t, uint64(3), r.trk.Progress[3].Next)
	retry = rpTo(readMessages(t, r), 3, pb.MsgApp)
	require.Len(t, retry, 1)
	require.Equal(t, uint64(2), retry[0].Index)
}

// A rejection that was sent before the follower acknowledged Match hints
// below Match: a follower holding the entries up to Match would hint at
// Match or above. Such a rejection, delivered late, must not send the
// replication window again; a fresh one that hints above Match moves Next
// to the hint, not all the way back to Match+1.
func TestSec53LeaderIgnoresRejectionsOlderThanMatch(t *testing.T) {
	st := rpStorage(t, 3, &pb.HardState{Term: 1}, rpLog(1, 1, 1))
	r, _ := rpNewLeader(t, 3, st, nil)
	// Follower 2 has everything: it acknowledges 4, and goes to Replicate.
	require.NoError(t, r.Step(&pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgAppResp, Index: 4}))
	for i := range 6 {
		require.True(t, r.appendEntry(&pb.Entry{Data: []byte{byte(i)}}))
	}
	readMessages(t, r)
	pr := r.trk.Progress[2]
	require.Equal(t, progress.StateReplicate, pr.State)
	require.Equal(t, uint64(4), pr.Match)
	require.Equal(t, uint64(11), pr.Next)

	// A late rejection of prev 8 from before the follower had index 4.
	stale := &pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgAppResp, Index: 8, Reject: true, RejectHint: 3, LogTerm: 1}
	require.NoError(t, r.Step(stale))
	require.Equal(t, progress.StateReplicate, pr.State)
	require.Equal(t, uint64(11), pr.Next)
	require.Empty(t, rpTo(readMessages(t, r), 2, pb.MsgApp))

	// A fresh one: the follower's log ends at 6 (appends 7.. were lost).
	fresh := &pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgAppResp, Index: 8, Reject: true, RejectHint: 6, LogTerm: 2}
	require.NoError(t, r.Step(fresh))
	require.Equal(t, progress.StateProbe, pr.State)
	require.Equal(t, uint64(7), pr.Next)
	probe := rpTo(readMessages(t, r), 2, pb.MsgApp)
	require.Len(t, probe, 1)
	require.Equal(t, uint64(6), probe[0].Index)
}

// ---------------------------------------------------------------------------
// §5.3 Log replication: the follower side.

// §5.3, AppendEntries receiver rules 2-4: reply false if the log has no
// entry at prevLogIndex with term prevLogTerm; delete a conflicting entry
// and everything after it; append the new entries; advance the commit index
// to min(leaderCommit, index of the last new entry). A rejection carries a
// hint (RejectHint, LogTerm) for fast backtracking. These rules are what
// makes the Log Matching property hold.
func TestSec53FollowerAppendEntries(t *testing.T) {
	tests := []struct {
		name    string
		prev    entryID
		ents    []*pb.Entry
		commit  uint64
		wantLog string
		// The response.
		wantReject bool
		wantIndex  uint64
		wantHint   entryID // RejectHint and LogTerm of a rejection
		wantCommit uint64
	}{{
		name: "append after a matching entry", prev: entryID{term: 2, index: 2},
		ents: rpLog(1, 2, 3)[2:], commit: 3,
		wantLog: "[1/1 2/2 3/3]", wantIndex: 3, wantCommit: 3,
	}, {
		name: "empty append with a matching entry", prev: entryID{term: 2, index: 2}, commit: 2,
		wantLog: "[1/1 2/2]", wantIndex: 2, wantCommit: 2,
	}, {
		name: "entries already present change nothing", prev: entryID{},
		ents: rpLog(1, 2), commit: 1,
		wantLog: "[1/1 2/2]", wantIndex: 2, wantCommit: 1,
	}, {
		// The leader vouches only for what it sent: 2/2 might not be the
		// leader's entry at index 2, so it is not committed.
		name: "commit capped at the last new entry", prev: entryID{term: 1, index: 1}, commit: 5,
		wantLog: "[1/1 2/2]", wantIndex: 1, wantCommit: 1,
	}, {
		name: "conflicting entry replaced", prev: entryID{term: 1, index: 1},
		ents:    rpLog(1, 3)[1:],
		wantLog: "[1/1 2/3]", wantIndex: 2,
	}, {
		name: "term mismatch at prev", prev: entryID{term: 3, index: 2},
		wantLog: "[1/1 2/2]", wantReject: true, wantIndex: 2, wantHint: entryID{term: 2, index: 2},
	}, {
		// Our entry 2 has term 2 > 1: it cannot match anything the leader
		// has at term 1 or later there, so the hint skips it.
		name: "hint skips entries of a higher term", prev: entryID{term: 1, index: 2},
		wantLog: "[1/1 2/2]", wantReject: true, wantIndex: 2, wantHint: entryID{term: 1, index: 1},
	}, {
		name: "prev beyond the last index", prev: entryID{term: 3, index: 5},
		ents:    rpLog(1, 2, 3, 3, 3, 3)[5:],
		wantLog: "[1/1 2/2]", wantReject: true, wantIndex: 5, wantHint: entryID{term: 2, index: 2},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rpNode(t, 2, rpStorage(t, 3, &pb.HardState{Term: 2}, rpLog(1, 2)), nil)
			m := &pb.Message{
				From: 1, To: 2, Term: 3, Type: pb.MsgApp,
				Index: tt.prev.index, LogTerm: tt.prev.term, Entries: tt.ents, Commit: tt.commit,
			}
			require.NoError(t, r.Step(m))
			require.Equal(t, tt.wantLog, describeLog(logEntries(t, r)))
			require.Equal(t, tt.wantCommit, r.raftLog.committed)
			msgs := readMessages(t, r)
			require.Len(t, msgs, 1)
			resp := msgs[0]
			require.Equal(t, pb.MsgAppResp, resp.Type)
			require.Equal(t, uint64(1), resp.To)
			require.Equal(t, tt.wantReject, resp.Reject)
			require.Equal(t, tt.wantIndex, resp.Index)
			if tt.wantReject {
				require.Equal(t, tt.wantHint.index, resp.RejectHint)
				require.Equal(t, tt.wantHint.term, resp.LogTerm)
			}
		})
	}
}

// §5.3 receiver rule 3: "If an existing entry conflicts with a new one
// (same index but different terms), delete the existing entry and all that
// follow it." Only a conflict truncates: an append that repeats entries the
// follower has (a late or duplicated message) must not cut off the entries
// after them, or the follower would lose entries it already acknowledged
// and the leader may have counted toward a commit.
func TestSec53FollowerTruncatesConflictingSuffix(t *testing.T) {
	t.Run("conflict", func(t *testing.T) {
		r := rpNode(t, 2, rpStorage(t, 3, &pb.HardState{Term: 1}, rpLog(1, 1, 1, 1)), nil)
		m := &pb.Message{From: 1, To: 2, Term: 2, Type: pb.MsgApp, Index: 2, LogTerm: 1, Entries: rpLog(1, 1, 2)[2:]}
		require.NoError(t, r.Step(m))
		require.Equal(t, "[1/1 2/1 3/2]", describeLog(logEntries(t, r)))
		msgs := readMessages(t, r)
		require.Len(t, msgs, 1)
		require.False(t, msgs[0].Reject)
		require.Equal(t, uint64(3), msgs[0].Index)
		// The truncation reaches storage too.
		last, err := r.raftLog.storage.LastIndex()
		require.NoError(t, err)
		require.Equal(t, uint64(3), last)
	})
	t.Run("no conflict", func(t *testing.T) {
		r := rpNode(t, 2, rpStorage(t, 3, &pb.HardState{Term: 1}, rpLog(1, 1, 1, 1)), nil)
		m := &pb.Message{From: 1, To: 2, Term: 1, Type: pb.MsgApp, Index: 1, LogTerm: 1, Entries: rpLog(1, 1)[1:]}
		require.NoError(t, r.Step(m))
		require.Equal(t, "[1/1 2/1 3/1 4/1]", describeLog(logEntries(t, r)))
		msgs := readMessages(t, r)
		require.Len(t, msgs, 1)
		require.False(t, msgs[0].Reject)
		require.Equal(t, uint64(2), msgs[0].Index)
	})
}

// §5.3, Figure 7: a leader of term 8 meets the six follower logs (a)-(f)
// of the paper: missing entries (a, b), extra uncommitted entries (c, d),
// and both (e, f). Whatever the follower holds, after the exchange its log
// equals the leader's. With the term-based hint the leader skips a whole
// term per rejection, so each case converges in at most two round trips;
// backing up one index at a time would take up to eight for (f).
func TestSec53Figure7(t *testing.T) {
	leaderTerms := []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	tests := []struct {
		name      string
		terms     []uint64
		maxRounds int
	}{
		{"a", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6}, 2},
		{"b", []uint64{1, 1, 1, 4}, 2},
		{"c", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}, 1},
		{"d", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}, 1},
		{"e", []uint64{1, 1, 1, 4, 4, 4, 4}, 2},
		{"f", []uint64{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lst := rpStorage(t, 2, &pb.HardState{Term: 7}, rpLog(leaderTerms...))
			lead, msgs := rpNewLeader(t, 2, lst, nil)
			require.Equal(t, uint64(8), lead.Term)
			fterm := tt.terms[len(tt.terms)-1]
			fol := rpNode(t, 2, rpStorage(t, 2, &pb.HardState{Term: fterm}, rpLog(tt.terms...)), nil)
			nodes := map[uint64]*raft{1: lead, 2: fol}

			converged := 0
			for round := 1; len(msgs) > 0; round++ {
				require.Less(t, round, 20, "no quiescence")
				msgs = rpDeliver(t, nodes, rpDeliver(t, nodes, msgs))
				if converged == 0 && describeLog(logEntries(t, fol)) == describeLog(logEntries(t, lead)) {
					converged = round
				}
			}
			want := "[1/1 2/1 3/1 4/4 5/4 6/5 7/5 8/6 9/6 10/6 11/8]"
			require.Equal(t, want, describeLog(logEntries(t, lead)))
			require.Equal(t, want, describeLog(logEntries(t, fol)))
			require.NotZero(t, converged)
			require.LessOrEqual(t, converged, tt.maxRounds, "round trips")
			// Both copies of the entry of term 8 make it committed.
			require.Equal(t, uint64(11), lead.raftLog.committed)
			require.Equal(t, uint64(11), fol.raftLog.committed)
		})
	}
}

// ---------------------------------------------------------------------------
// Heartbeats.

// A heartbeat carries min(follower's Match, leader's commit). A follower
// that has not been shown to match the leader up to the commit index may
// hold different, uncommitted entries at those indexes; committing them
// would break State Machine Safety.
func TestHeartbeatCommitIsCappedAtMatch(t *testing.T) {
	r := rpStableLeader(t, 3, nil)
	require.NoError(t, r.Step(rpProp("a", "b")))
	readMessages(t, r)
	require.NoError(t, r.Step(rpAppResp(r, 2, 3)))
	require.Equal(t, uint64(3), r.raftLog.committed)
	readMessages(t, r)

	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgBeat}))
	msgs := readMessages(t, r)
	hb2 := rpTo(msgs, 2, pb.MsgHeartbeat)
	hb3 := rpTo(msgs, 3, pb.MsgHeartbeat)
	require.Len(t, hb2, 1)
	require.Len(t, hb3, 1)
	require.Equal(t, uint64(3), hb2[0].Commit)
	require.Equal(t, uint64(1), hb3[0].Commit, "follower 3 only acknowledged index 1")
}

// The follower side of the same rule, in the situation it protects
// against: node 1, an old leader, holds an uncommitted entry 2/1 while the
// cluster committed 2/2 without it. The new leader's heartbeat must not
// make node 1 commit its own entry 2; the append that follows repairs the
// log, and only then does node 1 commit.
func TestHeartbeatFollowerDoesNotCommitBeyondMatch(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	nw.isolate(1)
	nw.propose(1, "lost")
	nw.hup(2)
	lead, old := nw.peers[2], nw.peers[1]
	require.Equal(t, StateLeader, lead.state)
	require.Equal(t, uint64(2), lead.raftLog.committed)
	require.Equal(t, "[1/1 2/1]", describeLog(logEntries(t, old)))
	require.Equal(t, uint64(1), old.raftLog.committed)
	nw.recover()

	require.NoError(t, lead.Step(&pb.Message{Type: pb.MsgBeat}))
	hbs := rpTo(readMessages(t, lead), 1, pb.MsgHeartbeat)
	require.Len(t, hbs, 1)
	require.Zero(t, hbs[0].Commit)
	require.NoError(t, old.Step(hbs[0]))
	require.Equal(t, StateFollower, old.state)
	require.Equal(t, uint64(1), old.raftLog.committed, "committed a divergent entry")

	// The heartbeat response restarts replication to node 1.
	nw.send(readMessages(t, old)...)
	require.Equal(t, describeLog(logEntries(t, lead)), describeLog(logEntries(t, old)))
	require.Equal(t, lead.raftLog.committed, old.raftLog.committed)
}

// A follower whose probe was lost is paused; the leader must not wait
// forever for the answer. A heartbeat response shows the follower is
// reachable and restarts the probe, carrying every pending entry.
func TestHeartbeatRespRestartsProbingFollower(t *testing.T) {
	r, msgs := rpNewLeader(t, 3, nil, nil)
	require.Len(t, rpTo(msgs, 2, pb.MsgApp), 1) // assume it was lost
	pr := r.trk.Progress[2]
	require.Equal(t, progress.StateProbe, pr.State)
	require.True(t, pr.IsPaused())

	require.NoError(t, r.Step(rpProp("a")))
	require.Empty(t, readMessages(t, r), "sent to a paused follower")

	require.NoError(t, r.Step(&pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgHeartbeatResp}))
	msgs = readMessages(t, r)
	apps := rpTo(msgs, 2, pb.MsgApp)
	require.Len(t, apps, 1)
	require.Equal(t, uint64(0), apps[0].Index)
	require.Equal(t, []uint64{1, 2}, rpIndexes(apps[0].Entries))
	require.Empty(t, rpTo(msgs, 3, pb.MsgApp), "follower 3 did not answer")
	require.True(t, pr.IsPaused(), "a probe is one message per round trip")
}

// When a follower acknowledges everything but has not been told the current
// commit index (it was paused when the index moved), the leader sends it an
// append with no entries just for the commit index. Otherwise an idle
// follower would apply the last entries only at the next heartbeat round.
// Once the follower has been told, no further empty appends are sent.
func TestHeartbeatCommitOnlyAppendToLaggingFollower(t *testing.T) {
	r, _ := rpNewLeader(t, 3, nil, eagerCommit)
	// Follower 2 acknowledges the first entry, committing it; follower 3 is
	// still paused on its probe and hears nothing.
	require.NoError(t, r.Step(rpAppResp(r, 2, 1)))
	require.Equal(t, uint64(1), r.raftLog.committed)
	msgs := readMessages(t, r)
	require.Empty(t, rpTo(msgs, 3, pb.MsgApp))

	require.NoError(t, r.Step(rpAppResp(r, 3, 1)))
	apps := rpTo(readMessages(t, r), 3, pb.MsgApp)
	require.Len(t, apps, 1)
	require.Empty(t, apps[0].Entries)
	require.Equal(t, uint64(1), apps[0].Index)
	require.Equal(t, uint64(1), apps[0].Commit)

	// A duplicate acknowledgement teaches the leader nothing new.
	require.NoError(t, r.Step(rpAppResp(r, 3, 1)))
	require.Empty(t, readMessages(t, r))
}

// ---------------------------------------------------------------------------
// Proposal forwarding.

// A follower forwards a proposal to the leader it knows (clients may talk
// to any node); the forwarded message carries no term, so the leader
// treats it like a local proposal. The entry ends up committed everywhere.
func TestProposalForwardedToLeader(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	fol := nw.peers[2]
	require.NoError(t, fol.Step(rpProp("fwd")))
	msgs := readMessages(t, fol)
	require.Len(t, msgs, 1)
	require.Equal(t, pb.MsgProp, msgs[0].Type)
	require.Equal(t, uint64(1), msgs[0].To)
	require.Zero(t, msgs[0].Term)
	require.Equal(t, []byte("fwd"), msgs[0].Entries[0].Data)

	nw.send(msgs...)
	mbBeat(nw, 1) // the followers learn the commit index
	for id, p := range nw.peers {
		ents := logEntries(t, p)
		require.Len(t, ents, 2, "node %d", id)
		require.Equal(t, []byte("fwd"), ents[1].Data)
		require.Equal(t, uint64(2), p.raftLog.committed)
	}
}

// Proposals that cannot reach a leader are refused with ErrProposalDropped
// so the client can retry elsewhere or later, rather than being silently
// lost: a follower with forwarding disabled, a follower that knows no
// leader, and a (pre-)candidate.
func TestProposalDroppedWithoutLeader(t *testing.T) {
	t.Run("forwarding disabled", func(t *testing.T) {
		nw := newNetworkWithConfig(t, func(c *Config) { c.DisableProposalForwarding = true }, nil, nil, nil)
		nw.hup(1)
		fol := nw.peers[2]
		require.Equal(t, uint64(1), fol.lead)
		require.ErrorIs(t, fol.Step(rpProp("x")), ErrProposalDropped)
		require.Empty(t, readMessages(t, fol))
		// The leader itself still accepts proposals.
		require.NoError(t, nw.peers[1].Step(rpProp("x")))
	})
	t.Run("follower without leader", func(t *testing.T) {
		r := rpNode(t, 2, storageWith(ids(3)), nil)
		require.ErrorIs(t, r.Step(rpProp("x")), ErrProposalDropped)
		require.Empty(t, readMessages(t, r))
		require.Zero(t, r.raftLog.lastIndex())
	})
	t.Run("candidate", func(t *testing.T) {
		r := rpNode(t, 2, storageWith(ids(3)), nil)
		r.becomeCandidate()
		readMessages(t, r)
		require.ErrorIs(t, r.Step(rpProp("x")), ErrProposalDropped)
		require.Empty(t, readMessages(t, r))
		require.Zero(t, r.raftLog.lastIndex())
	})
	t.Run("pre-candidate", func(t *testing.T) {
		r := rpNode(t, 2, storageWith(ids(3)), func(c *Config) { c.PreVote = true })
		r.becomePreCandidate()
		require.ErrorIs(t, r.Step(rpProp("x")), ErrProposalDropped)
		require.Empty(t, readMessages(t, r))
	})
}

// A proposal without entries is malformed input (it can arrive from the
// network as a forwarded MsgProp): every role reports ErrInvalidMessage,
// counts it as dropped and changes nothing. It must not panic nor append.
func TestProposalEmptyIsInvalid(t *testing.T) {
	roles := map[string]func(t *testing.T) *raft{
		"leader": func(t *testing.T) *raft { return rpStableLeader(t, 3, nil) },
		"follower": func(t *testing.T) *raft {
			nw := newNetwork(t, nil, nil, nil)
			nw.hup(1)
			return nw.peers[2]
		},
		"follower without leader": func(t *testing.T) *raft { return rpNode(t, 2, storageWith(ids(3)), nil) },
		"candidate": func(t *testing.T) *raft {
			r := rpNode(t, 2, storageWith(ids(3)), nil)
			r.becomeCandidate()
			readMessages(t, r)
			return r
		},
	}
	for name, mk := range roles {
		t.Run(name, func(t *testing.T) {
			r := mk(t)
			last := r.raftLog.lastIndex()
			var err error
			require.NotPanics(t, func() { err = r.Step(&pb.Message{Type: pb.MsgProp}) })
			require.ErrorIs(t, err, ErrInvalidMessage)
			require.Equal(t, uint64(1), r.droppedMsgs)
			require.Equal(t, last, r.raftLog.lastIndex())
			require.Empty(t, readMessages(t, r))
		})
	}
}

// ---------------------------------------------------------------------------
// Invalid network messages. A correct peer never sends them; a buggy or
// malicious one must not be able to crash the node or corrupt its log. Each
// is an error wrapping ErrInvalidMessage, counted in droppedMsgs, and
// leaves the state unchanged.

// An append that contradicts committed entries would replace them, losing
// entries the cluster may already have applied.
func TestInvalidAppendConflictingWithCommitted(t *testing.T) {
	newFollower := func(t *testing.T) *raft {
		return rpNode(t, 2, rpStorage(t, 3, &pb.HardState{Term: 1, Commit: 3}, rpLog(1, 1, 1)), nil)
	}
	bad := []struct {
		name string
		prev entryID
		ents []*pb.Entry
	}{
		{"entries replace committed ones", entryID{term: 1, index: 1}, rpLog(1, 2, 2, 2)[1:]},
		{"prev is a committed entry of another term", entryID{term: 2, index: 3}, rpLog(1, 1, 1, 2)[3:]},
		{"prev below the commit index of another term", entryID{term: 2, index: 2}, rpLog(1, 2, 2)[2:]},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := newFollower(t)
			m := &pb.Message{From: 1, To: 2, Term: 2, Type: pb.MsgApp, Index: tt.prev.index, LogTerm: tt.prev.term, Entries: tt.ents, Commit: 4}
			var err error
			require.NotPanics(t, func() { err = r.Step(m) })
			require.ErrorIs(t, err, ErrInvalidMessage)
			require.Equal(t, "[1/1 2/1 3/1]", describeLog(logEntries(t, r)))
			require.Equal(t, uint64(3), r.raftLog.committed)
			require.Equal(t, uint64(1), r.droppedMsgs)
			require.Empty(t, readMessages(t, r))
		})
	}
	// The same shapes agreeing with the committed prefix are fine: a probe
	// from below the commit index is answered with the commit index.
	t.Run("consistent append below the commit index", func(t *testing.T) {
		r := newFollower(t)
		m := &pb.Message{From: 1, To: 2, Term: 2, Type: pb.MsgApp, Index: 1, LogTerm: 1, Entries: rpLog(1, 1, 1, 2)[1:], Commit: 4}
		require.NoError(t, r.Step(m))
		require.Zero(t, r.droppedMsgs)
		msgs := readMessages(t, r)
		require.Len(t, msgs, 1)
		require.False(t, msgs[0].Reject)
		require.Equal(t, uint64(3), msgs[0].Index)
	})
}

// A heartbeat's commit index beyond the follower's log cannot come from a
// correct leader (it caps the index at the follower's Match); committing
// it would point past the end of the log.
func TestInvalidHeartbeatCommitBeyondLastIndex(t *testing.T) {
	r := rpNode(t, 2, rpStorage(t, 3, &pb.HardState{Term: 1}, rpLog(1, 1)), nil)
	var err error
	require.NotPanics(t, func() {
		err = r.Step(&pb.Message{From: 1, To: 2, Term: 1, Type: pb.MsgHeartbeat, Commit: 5})
	})
	require.ErrorIs(t, err, ErrInvalidMessage)
	require.Zero(t, r.raftLog.committed)
	require.Equal(t, uint64(1), r.droppedMsgs)
	require.Empty(t, readMessages(t, r))
}

// An acknowledgement of an index the leader does not have would let the
// leader count a replica of entries that do not exist, and commit past
// its log.
func TestInvalidAppRespBeyondLastIndex(t *testing.T) {
	r := rpStableLeader(t, 3, nil)
	pr := *r.trk.Progress[2]
	var err error
	require.NotPanics(t, func() { err = r.Step(rpAppResp(r, 2, 7)) })
	require.ErrorIs(t, err, ErrInvalidMessage)
	require.Equal(t, uint64(1), r.droppedMsgs)
	require.Equal(t, pr.Match, r.trk.Progress[2].Match)
	require.Equal(t, pr.Next, r.trk.Progress[2].Next)
	require.Equal(t, uint64(1), r.raftLog.committed)
	// A second follower acknowledging the same bogus index must not make a
	// "majority" either.
	require.ErrorIs(t, r.Step(rpAppResp(r, 3, 7)), ErrInvalidMessage)
	require.Equal(t, uint64(1), r.raftLog.committed)
	require.Empty(t, readMessages(t, r))
}

// A response from a node outside the configuration has no progress to
// update: ErrStepPeerNotFound, nothing else happens.
func TestInvalidAppRespFromUnknownPeer(t *testing.T) {
	r := rpStableLeader(t, 3, nil)
	var err error
	require.NotPanics(t, func() { err = r.Step(rpAppResp(r, 9, 1)) })
	require.True(t, errors.Is(err, ErrStepPeerNotFound), "got %v", err)
	require.Nil(t, r.trk.Progress[9])
	require.Equal(t, StateLeader, r.state)
	require.Empty(t, readMessages(t, r))
}

// A caught-up follower left in StateProbe (after ReportUnreachable) gets an
// append in answer to its heartbeat answer, even with nothing to send, and
// its acknowledgement moves it back to StateReplicate: the next entries are
// pipelined instead of going out as a lone probe.
func TestHeartbeatRespMovesCaughtUpProbeToReplicate(t *testing.T) {
	bothCommitModes(t, func(t *testing.T, eager bool) {
		r := rpStableLeader(t, 3, func(cfg *Config) { cfg.EagerCommitPropagation = eager })
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgBeat}))
		readMessages(t, r) // the heartbeats carry the commit index
		pr := r.trk.Progress[2]
		require.NoError(t, r.Step(&pb.Message{From: 2, To: 1, Type: pb.MsgUnreachable}))
		require.Equal(t, progress.StateProbe, pr.State)
		require.Equal(t, r.raftLog.lastIndex(), pr.Match, "caught up")

		require.NoError(t, r.Step(&pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgHeartbeatResp}))
		apps := rpTo(readMessages(t, r), 2, pb.MsgApp)
		require.Len(t, apps, 1)
		require.Empty(t, apps[0].Entries)
		require.NoError(t, r.Step(rpAppResp(r, 2, apps[0].Index)))
		require.Equal(t, progress.StateReplicate, pr.State)
	})
}
