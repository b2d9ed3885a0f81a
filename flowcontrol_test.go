package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of the leader's flow control toward each follower (Probe,
// Replicate, the inflight window, message size limits) and of the
// MaxUncommittedEntriesSize limit on proposals. Flow control keeps a leader
// from flooding a follower it knows nothing about, while still streaming
// to one that keeps up.

// rpPayload is the payload size of the entries proposed by the flow tests.
const rpPayload = 100

// rpEntrySize is the encoded size of such an entry at a small index: the
// measure of MaxSizePerMsg.
var rpEntrySize = entrySize(&pb.Entry{Term: 1, Index: 10, Data: make([]byte, rpPayload)})

// rpTwoPerMsg is a MaxSizePerMsg that fits two test entries but not three.
var rpTwoPerMsg = 2*rpEntrySize + rpEntrySize/2

// rpAppendsTo returns the appends to follower 2 among msgs.
func rpAppendsTo2(msgs []*pb.Message) []*pb.Message { return rpTo(msgs, 2, pb.MsgApp) }

// rpBatches returns the entry indexes of each append.
func rpBatches(msgs []*pb.Message) [][]uint64 {
	out := make([][]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = rpIndexes(m.Entries)
	}
	return out
}

// rpPausedLeader returns the new leader of a two-node cluster with config
// changes adjust, whose probe to follower 2 is unanswered, and that then
// got n proposals of rpPayload bytes (indexes 2..n+1), none of which was
// sent.
func rpPausedLeader(t *testing.T, n int, adjust func(*Config)) *raft {
	t.Helper()
	r, msgs := rpNewLeader(t, 2, nil, adjust)
	require.Len(t, rpAppendsTo2(msgs), 1)
	for i := 0; i < n; i++ {
		require.NoError(t, r.Step(rpPropSize(rpPayload)))
	}
	require.Empty(t, readMessages(t, r))
	return r
}

// A leader knows nothing of a new follower's log, so it probes: one append
// per round trip, the next one only after the answer. Sending more before
// knowing where the logs match would be wasted on a mismatch.
func TestFlowControlProbeOneAppendPerRoundTrip(t *testing.T) {
	r, msgs := rpNewLeader(t, 2, nil, nil)
	pr := r.trk.Progress[2]
	require.Equal(t, progress.StateProbe, pr.State)
	require.Len(t, rpAppendsTo2(msgs), 1)
	require.True(t, pr.IsPaused())

	for i := 0; i < 3; i++ {
		require.NoError(t, r.Step(rpProp("x")))
		require.Empty(t, rpAppendsTo2(readMessages(t, r)), "proposal %d sent to a probing follower", i)
	}

	// The answer arrives: the follower matches at 1. The leader switches to
	// Replicate and sends everything pending at once.
	require.NoError(t, r.Step(rpAppResp(r, 2, 1)))
	require.Equal(t, progress.StateReplicate, pr.State)
	apps := rpAppendsTo2(readMessages(t, r))
	require.Equal(t, [][]uint64{{2, 3, 4}}, rpBatches(apps))
}

// Once a follower is known to match (Replicate), the leader pipelines:
// every proposal goes out immediately, without waiting for the previous
// append's acknowledgement. Otherwise throughput would be one batch per
// round trip.
func TestFlowControlReplicatePipelines(t *testing.T) {
	r := rpStableLeader(t, 2, nil)
	pr := r.trk.Progress[2]
	for i := uint64(0); i < 4; i++ {
		require.NoError(t, r.Step(rpProp("x")))
		apps := rpAppendsTo2(readMessages(t, r))
		require.Equal(t, [][]uint64{{2 + i}}, rpBatches(apps))
		require.Equal(t, progress.StateReplicate, pr.State)
	}
	require.Equal(t, 4, pr.Inflights.Count())
	require.Equal(t, uint64(6), pr.Next)
	require.Equal(t, uint64(1), pr.Match)
}

// Pipelining is bounded by the inflight window: MaxInflightMsgs messages
// or MaxInflightBytes payload bytes in flight, whichever comes first. The
// bounds protect the follower and the transport from unbounded queues; the
// window must reopen as acknowledgements free it, or replication stalls.
func TestFlowControlInflightLimits(t *testing.T) {
	tests := []struct {
		name   string
		adjust func(*Config)
		// The appends sent once the probe is answered, and the window
		// contents that make it full.
		wantBatches [][]uint64
		wantBytes   uint64
	}{{
		name: "MaxInflightMsgs",
		adjust: func(c *Config) {
			c.MaxSizePerMsg = rpTwoPerMsg
			c.MaxInflightMsgs = 3
		},
		wantBatches: [][]uint64{{2, 3}, {4, 5}, {6, 7}},
		wantBytes:   6 * rpPayload,
	}, {
		// Full once the bytes in flight reach the limit: 2 x 200 >= 400.
		name: "MaxInflightBytes",
		adjust: func(c *Config) {
			c.MaxSizePerMsg = rpTwoPerMsg
			c.MaxInflightBytes = 4 * rpPayload
		},
		wantBatches: [][]uint64{{2, 3}, {4, 5}},
		wantBytes:   4 * rpPayload,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rpPausedLeader(t, 10, tt.adjust) // entries 2..11
			pr := r.trk.Progress[2]

			require.NoError(t, r.Step(rpAppResp(r, 2, 1)))
			apps := rpAppendsTo2(readMessages(t, r))
			require.Equal(t, tt.wantBatches, rpBatches(apps))
			require.True(t, pr.Inflights.Full())
			require.True(t, pr.IsPaused())
			require.Equal(t, len(tt.wantBatches), pr.Inflights.Count())
			require.Equal(t, tt.wantBytes, pr.Inflights.Bytes())

			// A full window sends nothing more, proposals included.
			require.NoError(t, r.Step(rpPropSize(rpPayload))) // entry 12
			require.Empty(t, rpAppendsTo2(readMessages(t, r)))

			// Acknowledging the first batch frees one slot: one more batch.
			sent := uint64(len(tt.wantBatches))*2 + 1
			require.NoError(t, r.Step(rpAppResp(r, 2, 3)))
			apps = rpAppendsTo2(readMessages(t, r))
			require.Equal(t, [][]uint64{{sent + 1, sent + 2}}, rpBatches(apps))
			require.True(t, pr.Inflights.Full())

			// Acknowledging what was sent keeps the window moving until the
			// log is drained.
			var got []uint64
			for i := 0; pr.Next <= 12; i++ {
				require.Less(t, i, 10, "window never drained")
				require.NoError(t, r.Step(rpAppResp(r, 2, pr.Next-1)))
				for _, b := range rpBatches(rpAppendsTo2(readMessages(t, r))) {
					require.LessOrEqual(t, len(b), 2)
					got = append(got, b...)
				}
			}
			var want []uint64
			for i := sent + 3; i <= 12; i++ {
				want = append(want, i)
			}
			require.Equal(t, want, got)

			// Acks of everything empty the window and the follower has all.
			require.NoError(t, r.Step(rpAppResp(r, 2, 12)))
			require.Zero(t, pr.Inflights.Count())
			require.False(t, pr.IsPaused())
			require.Equal(t, uint64(12), r.raftLog.committed)
		})
	}
}

// MaxSizePerMsg bounds the entry bytes of one append, so that a far-behind
// follower is caught up in bounded messages; but an entry larger than the
// limit still goes out, alone, or it could never be replicated.
func TestFlowControlMaxSizePerMsg(t *testing.T) {
	t.Run("batches", func(t *testing.T) {
		r, _ := rpNewLeader(t, 2, nil, func(c *Config) { c.MaxSizePerMsg = rpTwoPerMsg })
		for _, size := range []int{rpPayload, rpPayload, rpPayload, rpPayload, rpPayload, 10 * rpPayload, rpPayload} {
			require.NoError(t, r.Step(rpPropSize(size))) // entries 2..8
		}
		readMessages(t, r)
		require.NoError(t, r.Step(rpAppResp(r, 2, 1)))
		apps := rpAppendsTo2(readMessages(t, r))
		require.Equal(t, [][]uint64{{2, 3}, {4, 5}, {6}, {7}, {8}}, rpBatches(apps))
		for _, m := range apps {
			if len(m.Entries) > 1 {
				require.LessOrEqual(t, entsSize(m.Entries), rpTwoPerMsg)
			}
		}
		require.Len(t, apps[3].Entries[0].Data, 10*rpPayload)
	})
	t.Run("at least one entry", func(t *testing.T) {
		r := rpPausedLeader(t, 3, func(c *Config) { c.MaxSizePerMsg = 1 })
		require.NoError(t, r.Step(rpAppResp(r, 2, 1)))
		apps := rpAppendsTo2(readMessages(t, r))
		require.Equal(t, [][]uint64{{2}, {3}, {4}}, rpBatches(apps))
	})
}

// A rejection while replicating means the follower's log is not what the
// leader assumed (e.g. it lost an append): the pipeline's assumptions are
// void, so the leader falls back to Probe from Match+1 and sends one append
// per round trip until it finds the match again. A stale rejection (of an
// index already acknowledged) must not cause this.
func TestFlowControlRejectInReplicateFallsBackToProbe(t *testing.T) {
	r := rpStableLeader(t, 3, nil)
	pr := r.trk.Progress[2]
	for i := 0; i < 3; i++ {
		require.NoError(t, r.Step(rpProp("x"))) // entries 2, 3, 4
	}
	// Proposals stepped before the next Ready share one append.
	apps := rpAppendsTo2(readMessages(t, r))
	require.Equal(t, [][]uint64{{2, 3, 4}}, rpBatches(apps))
	require.Equal(t, 1, pr.Inflights.Count())

	// Stale: index 1 is already acknowledged.
	stale := &pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgAppResp, Index: 1, Reject: true, RejectHint: 0}
	require.NoError(t, r.Step(stale))
	require.Equal(t, progress.StateReplicate, pr.State)
	require.Equal(t, uint64(5), pr.Next)
	require.Empty(t, readMessages(t, r))

	// The follower lost entry 2 and rejects the append after it.
	rej := &pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgAppResp, Index: 2, Reject: true, RejectHint: 1, LogTerm: 1}
	require.NoError(t, r.Step(rej))
	require.Equal(t, progress.StateProbe, pr.State)
	require.Equal(t, uint64(2), pr.Next)
	require.Zero(t, pr.Inflights.Count())
	apps = rpAppendsTo2(readMessages(t, r))
	require.Len(t, apps, 1)
	require.Equal(t, uint64(1), apps[0].Index)
	require.Equal(t, []uint64{2, 3, 4}, rpIndexes(apps[0].Entries))
	require.True(t, pr.IsPaused())

	// Probing: a new proposal waits for the answer.
	require.NoError(t, r.Step(rpProp("y")))
	msgs := readMessages(t, r)
	require.Empty(t, rpAppendsTo2(msgs))
	require.Len(t, rpTo(msgs, 3, pb.MsgApp), 1, "follower 3 still pipelines")
}

// MsgUnreachable reports that the transport failed to deliver to a peer:
// the appends in flight were probably lost, so pipelining more is wasted.
// The leader moves the peer to Probe.
func TestFlowControlUnreachableMovesToProbe(t *testing.T) {
	r := rpStableLeader(t, 3, nil)
	pr := r.trk.Progress[2]
	require.NoError(t, r.Step(rpProp("x")))
	readMessages(t, r)
	require.Equal(t, progress.StateReplicate, pr.State)

	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgUnreachable, From: 2}))
	require.Equal(t, progress.StateProbe, pr.State)
	require.Equal(t, pr.Match+1, pr.Next)
	require.Equal(t, progress.StateReplicate, r.trk.Progress[3].State)

	// One append per round trip from now on; follower 3 keeps streaming.
	require.NoError(t, r.Step(rpProp("y")))
	msgs := readMessages(t, r)
	apps := rpAppendsTo2(msgs)
	require.Len(t, apps, 1)
	require.Equal(t, []uint64{2, 3}, rpIndexes(apps[0].Entries))
	require.NoError(t, r.Step(rpProp("z")))
	msgs = readMessages(t, r)
	require.Empty(t, rpAppendsTo2(msgs))
	require.Len(t, rpTo(msgs, 3, pb.MsgApp), 1)

	// Unreachable again while probing changes nothing; an unknown peer is
	// an error.
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgUnreachable, From: 2}))
	require.Equal(t, progress.StateProbe, pr.State)
	require.ErrorIs(t, r.Step(&pb.Message{Type: pb.MsgUnreachable, From: 9}), ErrStepPeerNotFound)
}

// A heartbeat response proves the follower is reachable. A paused probe is
// resumed, in case the probe or its answer was lost; in Replicate with a
// full window only an empty append goes out, enough to trigger a rejection
// if the window's messages were lost, without overrunning the window.
func TestFlowControlHeartbeatRespResumes(t *testing.T) {
	hbResp := func(r *raft) *pb.Message {
		return &pb.Message{From: 2, To: 1, Term: r.Term, Type: pb.MsgHeartbeatResp}
	}
	t.Run("paused probe", func(t *testing.T) {
		r := rpPausedLeader(t, 2, nil)
		pr := r.trk.Progress[2]
		require.NoError(t, r.Step(hbResp(r)))
		apps := rpAppendsTo2(readMessages(t, r))
		require.Equal(t, [][]uint64{{1, 2, 3}}, rpBatches(apps))
		require.Equal(t, uint64(0), apps[0].Index)
		require.Equal(t, progress.StateProbe, pr.State)
		require.True(t, pr.IsPaused())
	})
	t.Run("full window", func(t *testing.T) {
		r := rpStableLeader(t, 2, func(c *Config) { c.MaxInflightMsgs = 1 })
		pr := r.trk.Progress[2]
		require.NoError(t, r.Step(rpProp("a")))
		require.Len(t, rpAppendsTo2(readMessages(t, r)), 1)
		require.NoError(t, r.Step(rpProp("b")))
		require.Empty(t, rpAppendsTo2(readMessages(t, r)))
		require.True(t, pr.IsPaused())

		require.NoError(t, r.Step(hbResp(r)))
		apps := rpAppendsTo2(readMessages(t, r))
		require.Len(t, apps, 1)
		require.Empty(t, apps[0].Entries)
		require.Equal(t, uint64(2), apps[0].Index, "sent from after the window")
		require.Equal(t, 1, pr.Inflights.Count())
		require.True(t, pr.IsPaused())
	})
}

// ---------------------------------------------------------------------------
// MaxUncommittedEntriesSize.

// rpApplyViaStorage applies every committed entry of r the way RawNode
// does: the entries are handed out, then the application's
// MsgStorageApplyResp naming them is stepped. On a leader that releases
// their uncommitted budget.
func rpApplyViaStorage(t *testing.T, r *raft) {
	t.Helper()
	for r.raftLog.hasNextCommittedEnts(true) {
		ents, err := r.raftLog.nextCommittedEnts(true)
		require.NoError(t, err)
		r.raftLog.acceptApplying(ents[len(ents)-1].Index, applyingSize(ents), true)
		require.NoError(t, r.Step(&pb.Message{Type: pb.MsgStorageApplyResp, To: r.id, From: LocalApplyThread, Entries: ents}))
	}
}

// The leader refuses proposals once the payload of its uncommitted tail
// would exceed MaxUncommittedEntriesSize, so a leader that cannot commit
// (no quorum) does not grow its log without bound. Empty entries (leader
// and configuration-leaving entries) are never refused, and the budget
// comes back as entries are applied.
func TestUncommittedSizeLimit(t *testing.T) {
	r := rpStableLeader(t, 3, func(c *Config) { c.MaxUncommittedEntriesSize = 3 * rpPayload })
	for i := 0; i < 3; i++ {
		require.NoError(t, r.Step(rpPropSize(rpPayload)))
	}
	readMessages(t, r)
	last := r.raftLog.lastIndex()
	require.Equal(t, uint64(4), last)

	require.ErrorIs(t, r.Step(rpPropSize(rpPayload)), ErrProposalDropped)
	require.ErrorIs(t, r.Step(rpPropSize(1)), ErrProposalDropped)
	require.Equal(t, last, r.raftLog.lastIndex())
	require.Empty(t, readMessages(t, r), "a refused proposal is not replicated")

	// An empty entry has no payload and always fits.
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgProp, Entries: []*pb.Entry{{}}}))
	require.Equal(t, last+1, r.raftLog.lastIndex())
	readMessages(t, r)

	// Commit and apply everything: the budget is released.
	require.NoError(t, r.Step(rpAppResp(r, 2, last+1)))
	require.Equal(t, last+1, r.raftLog.committed)
	readMessages(t, r)
	rpApplyViaStorage(t, r)
	require.Equal(t, last+1, r.raftLog.applied)
	require.Zero(t, r.uncommittedSize)
	for i := 0; i < 3; i++ {
		require.NoError(t, r.Step(rpPropSize(rpPayload)))
	}
	require.ErrorIs(t, r.Step(rpPropSize(rpPayload)), ErrProposalDropped)
}

// A proposal larger than the whole limit is accepted when nothing is
// uncommitted, or it could never be proposed; after it, any non-empty
// proposal waits. A proposal of several entries is accepted or refused as a
// whole.
func TestUncommittedSizeLargeProposal(t *testing.T) {
	r := rpStableLeader(t, 3, func(c *Config) { c.MaxUncommittedEntriesSize = 3 * rpPayload })
	require.NoError(t, r.Step(rpPropSize(10*rpPayload)))
	require.Equal(t, uint64(2), r.raftLog.lastIndex())
	require.ErrorIs(t, r.Step(rpPropSize(1)), ErrProposalDropped)
	require.NoError(t, r.Step(&pb.Message{Type: pb.MsgProp, Entries: []*pb.Entry{{}}}))
	require.Equal(t, uint64(3), r.raftLog.lastIndex())

	r = rpStableLeader(t, 3, func(c *Config) { c.MaxUncommittedEntriesSize = 3 * rpPayload })
	require.NoError(t, r.Step(rpPropSize(rpPayload)))
	two := &pb.Message{Type: pb.MsgProp, Entries: []*pb.Entry{
		{Data: make([]byte, rpPayload)}, {Data: make([]byte, 2*rpPayload)},
	}}
	require.ErrorIs(t, r.Step(two), ErrProposalDropped)
	require.Equal(t, uint64(2), r.raftLog.lastIndex(), "part of a refused proposal was appended")
	require.Equal(t, uint64(rpPayload), r.uncommittedSize)
}
