package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of AsyncStorageWrites mode: persistence and application are handed
// out as local messages whose responses the application steps back in.

// rnSplitLocal separates a Ready's storage messages from its network
// messages. Each Ready carries at most one of each storage message.
func rnSplitLocal(t testing.TB, msgs []*pb.Message) (app, apply *pb.Message, network []*pb.Message) {
	t.Helper()
	for _, m := range msgs {
		switch m.To {
		case LocalAppendThread:
			require.Nil(t, app, "two MsgStorageAppend in one Ready")
			app = m
		case LocalApplyThread:
			require.Nil(t, apply, "two MsgStorageApply in one Ready")
			apply = m
		default:
			network = append(network, m)
		}
	}
	return app, apply, network
}

// rnStepLocalResponses steps the responses of a storage message that are
// addressed to the node itself, and returns those addressed to peers.
func rnStepLocalResponses(t testing.TB, rn *RawNode, m *pb.Message) []*pb.Message {
	t.Helper()
	var out []*pb.Message
	for _, r := range m.Responses {
		if r.To == rn.raft.id {
			require.NoError(t, rn.Step(r))
		} else {
			out = append(out, r)
		}
	}
	return out
}

// The shape of the storage messages, on a single voter: what to write
// (entries and hard state) goes to LocalAppendThread together with the
// messages that may only leave once it is durable, ending with the
// MsgStorageAppendResp that tells the node what was persisted; committed
// entries go to LocalApplyThread with a MsgStorageApplyResp. Nothing
// counts as persisted or applied before its response is stepped, and in
// this mode entries are applied only once persisted.
func TestAsyncStorageWritesMessages(t *testing.T) {
	rn, st := rnSingle(t, func(c *Config) { c.AsyncStorageWrites = true })

	rd := rn.Ready()
	app, apply, network := rnSplitLocal(t, rd.Messages)
	require.Empty(t, network)
	require.Nil(t, apply, "entries are applied only after they are persisted")
	require.NotNil(t, app)
	require.Equal(t, uint64(1), app.From)
	require.Equal(t, []string{"1/1:" + string(app.Entries[0].Data)}, rnDescribe(app.Entries))
	require.Equal(t, "Term:1 Vote:0 Commit:1", pb.DescribeHardState(rnAppendHardState(app)))
	require.Len(t, app.Responses, 1)
	require.Equal(t, "18446744073709551615->1 MsgStorageAppendResp Term:1 Log:1/1",
		pb.DescribeMessage(app.Responses[0], nil))
	require.False(t, rn.HasReady(), "nothing to do until the write is done")

	rnPersist(t, st, app.Snapshot, rnAppendHardState(app), app.Entries)
	require.Equal(t, uint64(1), rn.raft.raftLog.unstable.offset, "not persisted before the response")
	require.Empty(t, rnStepLocalResponses(t, rn, app))
	require.Equal(t, uint64(2), rn.raft.raftLog.unstable.offset, "persisted after the response")

	rd = rn.Ready()
	app, apply, _ = rnSplitLocal(t, rd.Messages)
	require.Nil(t, app)
	require.NotNil(t, apply)
	require.Equal(t, rnDescribe(rd.CommittedEntries), rnDescribe(apply.Entries))
	require.Len(t, apply.Responses, 1)
	resp := apply.Responses[0]
	require.Equal(t, pb.MsgStorageApplyResp, resp.Type)
	require.Equal(t, LocalApplyThread, resp.From)
	require.Equal(t, uint64(1), resp.To)
	rnApply(t, rn, apply.Entries)
	require.Equal(t, uint64(0), rn.BasicStatus().Applied, "not applied before the response")
	rnStepLocalResponses(t, rn, apply)
	require.Equal(t, uint64(1), rn.BasicStatus().Applied)

	// Campaign: the hard state goes to the append thread with the node's
	// vote for itself, which counts only once the write is done.
	require.NoError(t, rn.Campaign())
	rd = rn.Ready()
	app, _, _ = rnSplitLocal(t, rd.Messages)
	require.Equal(t, "Term:2 Vote:1 Commit:1", pb.DescribeHardState(rnAppendHardState(app)))
	require.Empty(t, app.Entries)
	require.Equal(t, []string{"1->1 MsgVoteResp Term:2"}, msgSummary(app.Responses))
	require.Equal(t, StateCandidate, rn.BasicStatus().RaftState)
	rnPersist(t, st, nil, rnAppendHardState(app), nil)
	rnStepLocalResponses(t, rn, app)
	require.Equal(t, StateLeader, rn.BasicStatus().RaftState)

	// The leader's empty entry: its own acknowledgement rides in the
	// responses; the commit index moves only when it is stepped.
	rd = rn.Ready()
	app, _, _ = rnSplitLocal(t, rd.Messages)
	require.Equal(t, []string{"2/2:"}, rnDescribe(app.Entries))
	require.Equal(t, []string{
		"1->1 MsgAppResp Term:2 Log:0/2",
		"18446744073709551615->1 MsgStorageAppendResp Term:2 Log:2/2",
	}, msgSummary(app.Responses))
	require.Equal(t, uint64(1), rn.BasicStatus().Commit)
	rnPersist(t, st, nil, nil, app.Entries)
	rnStepLocalResponses(t, rn, app)
	require.Equal(t, uint64(2), rn.BasicStatus().Commit)
}

// A leader counts its own log toward the commit quorum only once its write
// is durable (thesis §10.2.1 lets it send appends before that, but not
// count itself). Here one follower of three acknowledges a new entry while
// the leader's own write is still in progress: one durable copy out of
// three is no quorum, so the entry must not commit until the leader's
// MsgStorageAppendResp (and the self-acknowledgement with it) is stepped.
func TestAsyncLeaderCountsItselfOnlyWhenPersisted(t *testing.T) {
	c := rnNewCluster(t, 3, func(cfg *Config) { cfg.AsyncStorageWrites = true })
	c.elect(1)
	commit := c.node(1).rn.BasicStatus().Commit

	c.isolate(3)
	c.node(1).holdWrites = true
	c.propose(1, "x")
	c.stabilize()
	require.NotEmpty(t, c.node(1).held, "the leader's write is in progress")
	require.Equal(t, commit+1, c.node(2).rn.raft.raftLog.lastIndex(), "follower 2 has the entry")
	require.Equal(t, commit+1, c.node(1).rn.Status().Progress[2].Match, "follower 2 acknowledged it")
	require.Equal(t, commit, c.node(1).rn.BasicStatus().Commit, "committed without a durable quorum")

	c.releaseWrites(1)
	require.Equal(t, commit+1, c.node(1).rn.BasicStatus().Commit)
	c.stabilize()
	c.beat(1) // the follower learns the commit index
	require.Equal(t, []string{"x"}, c.node(1).applied)
	require.Equal(t, []string{"x"}, c.node(2).applied)
}

// rnAsyncFollower returns node 2 of a five-voter cluster in async mode,
// bootstrapped and with its bootstrap persisted and applied, so that its
// log holds entries 1..5 of term 1.
func rnAsyncFollower(t *testing.T) (*RawNode, *MemoryStorage) {
	t.Helper()
	st := NewMemoryStorage()
	rn, err := NewRawNode(&Config{ID: 2, Storage: st, ElectionTick: 10, HeartbeatTick: 1, AsyncStorageWrites: true})
	require.NoError(t, err)
	require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}, {ID: 5}}))
	for rn.HasReady() {
		app, apply, _ := rnSplitLocal(t, rn.Ready().Messages)
		if app != nil {
			rnPersist(t, st, nil, rnAppendHardState(app), app.Entries)
			rnStepLocalResponses(t, rn, app)
		}
		if apply != nil {
			rnApply(t, rn, apply.Entries)
			rnStepLocalResponses(t, rn, apply)
		}
	}
	return rn, st
}

// rnAppendFrom steps a MsgApp from leader with the given term, appending
// ents (index/term/data) after entry 5/1, and returns the MsgStorageAppend
// of the resulting Ready.
func rnAppendFrom(t *testing.T, rn *RawNode, leader, term uint64, ents ...*pb.Entry) *pb.Message {
	t.Helper()
	require.NoError(t, rn.Step(&pb.Message{
		Type: pb.MsgApp, From: leader, To: 2, Term: term, Index: 5, LogTerm: 1, Commit: 5, Entries: ents,
	}))
	app, _, network := rnSplitLocal(t, rn.Ready().Messages)
	require.NotNil(t, app)
	require.Empty(t, network, "an append answer must wait for the write")
	return app
}

// rnStorageAck returns the MsgStorageAppendResp among a write's responses.
func rnStorageAck(t *testing.T, app *pb.Message) *pb.Message {
	t.Helper()
	for _, r := range app.Responses {
		if r.Type == pb.MsgStorageAppendResp {
			return r
		}
	}
	t.Fatalf("no MsgStorageAppendResp in %s", pb.DescribeMessage(app, nil))
	return nil
}

// The basic race of asynchronous writes: a follower's write of entries is
// in progress when a new leader's append replaces them. The acknowledgement
// of the old write arrives afterwards; it must not make the node believe
// the new entries are durable: they stay in the unstable log (to be read
// from memory, not from a storage that may not have them), and the
// follower's acknowledgement to the new leader leaves only with the new
// write's responses.
func TestAsyncStaleAppendAckAfterOverwrite(t *testing.T) {
	rn, st := rnAsyncFollower(t)
	writeA := rnAppendFrom(t, rn, 1, 1,
		&pb.Entry{Index: 6, Term: 1, Data: []byte("a")}, &pb.Entry{Index: 7, Term: 1, Data: []byte("b")})
	writeB := rnAppendFrom(t, rn, 3, 2, &pb.Entry{Index: 6, Term: 2, Data: []byte("c")})
	require.Contains(t, msgSummary(writeB.Responses), "2->3 MsgAppResp Term:2 Log:0/6")

	// Write A completes; its acknowledgement is stepped.
	rnPersist(t, st, nil, rnAppendHardState(writeA), writeA.Entries)
	require.NoError(t, rn.Step(rnStorageAck(t, writeA)))
	require.Equal(t, uint64(6), rn.raft.raftLog.unstable.offset, "entry 6/2 taken for persisted")
	require.Equal(t, []string{"6/2:c"}, rnDescribe(rn.raft.raftLog.unstable.entries))
	for rn.HasReady() {
		for _, m := range rn.Ready().Messages {
			require.NotEqual(t, pb.MsgAppResp, m.Type, "an acknowledgement escaped before its write: %s",
				pb.DescribeMessage(m, nil))
		}
	}

	// Write B completes: now entry 6/2 is durable.
	rnPersist(t, st, nil, rnAppendHardState(writeB), writeB.Entries)
	require.NoError(t, rn.Step(rnStorageAck(t, writeB)))
	require.Equal(t, uint64(7), rn.raft.raftLog.unstable.offset)
	require.NoError(t, rn.BasicStatus().Err)
}

// The ABA variant: the entries of write A are replaced by write B, then a
// third leader writes exactly A's entries again (write C). Entries of the
// same index and term are the same entry, so A's acknowledgement matches
// the log by index and term, but it describes a state of storage that
// write B is about to destroy: storage goes A, B, C in order, and after
// A's acknowledgement it will still hold B's entry 6/2 for a while. Taking
// A's acknowledgement for C's entries would let the node read entry 6 from
// storage with the wrong term, and entry 7 not at all, until C lands. Only
// C's acknowledgement may mark them persisted.
//
// The scenario is reachable: in a five-node cluster, leader 1 of term 1
// replicates 6/1 and 7/1 to node 2 only; node 3 is elected in term 2 with
// the votes of 3, 4, 5 and replicates 6/2 to node 2 only; node 1 is elected
// in term 3 with the votes of 1, 4, 5 and replicates its log again.
func TestAsyncStaleAppendAckAfterRewriteOfSameEntries(t *testing.T) {
	rn, st := rnAsyncFollower(t)
	a, b := &pb.Entry{Index: 6, Term: 1, Data: []byte("a")}, &pb.Entry{Index: 7, Term: 1, Data: []byte("b")}
	writeA := rnAppendFrom(t, rn, 1, 1, a, b)
	writeB := rnAppendFrom(t, rn, 3, 2, &pb.Entry{Index: 6, Term: 2, Data: []byte("c")})
	writeC := rnAppendFrom(t, rn, 1, 3, a, b, &pb.Entry{Index: 8, Term: 3})
	require.Equal(t, []string{"6/1:a", "7/1:b", "8/3:"}, rnDescribe(writeC.Entries))

	rnPersist(t, st, nil, rnAppendHardState(writeA), writeA.Entries)
	require.NoError(t, rn.Step(rnStorageAck(t, writeA)))
	require.Equal(t, uint64(6), rn.raft.raftLog.unstable.offset,
		"write A's acknowledgement was taken for write C's entries")

	rnPersist(t, st, nil, rnAppendHardState(writeB), writeB.Entries)
	require.NoError(t, rn.Step(rnStorageAck(t, writeB)))
	require.Equal(t, uint64(6), rn.raft.raftLog.unstable.offset)
	// Meanwhile the log still reads correctly, from memory.
	require.Equal(t, "[1/1 2/1 3/1 4/1 5/1 6/1 7/1 8/3]", describeLog(logEntries(t, rn.raft)))

	rnPersist(t, st, nil, rnAppendHardState(writeC), writeC.Entries)
	require.NoError(t, rn.Step(rnStorageAck(t, writeC)))
	require.Equal(t, uint64(9), rn.raft.raftLog.unstable.offset)
	require.Equal(t, "[1/1 2/1 3/1 4/1 5/1 6/1 7/1 8/3]", describeLog(logEntries(t, rn.raft)))
	require.NoError(t, rn.BasicStatus().Err)
}
