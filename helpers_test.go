package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Shared helpers of the root package's tests. They drive *raft directly
// (below RawNode) through a simulated network, the way the paper's sections
// are easiest to test; RawNode tests use the Ready loop instead.

// storageWith returns a MemoryStorage whose initial configuration has the
// given voters and learners (as if restored from a snapshot at index 0).
func storageWith(voters []uint64, learners ...uint64) *MemoryStorage {
	st := NewMemoryStorage()
	st.snapshot.Metadata.ConfState = &pb.ConfState{Voters: voters, Learners: learners}
	return st
}

// ids returns 1..n.
func ids(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// testConfig returns a valid configuration for node id on st. Like
// Config, it propagates commit indexes lazily (with the next append or
// heartbeat); tests that rely on eager propagation say so (eagerCommit).
func testConfig(id uint64, election, heartbeat int, st Storage) *Config {
	c := (&Config{
		ID:              id,
		ElectionTick:    election,
		HeartbeatTick:   heartbeat,
		Storage:         st,
		MaxSizePerMsg:   noLimit,
		MaxInflightMsgs: 256,
		Seed:            uint64(id),
	}).WithDefaults()
	if fi, err := st.FirstIndex(); err == nil && fi > 0 {
		// The application restored the storage's snapshot (see the restart
		// contract in doc.go).
		c.Applied = fi - 1
	}
	return &c
}

// readyIsEmpty reports whether a Ready holds no work at all.
func readyIsEmpty(rd Ready) bool {
	return rd.SoftState == nil && rd.HardState == nil && len(rd.ReadStates) == 0 && len(rd.Entries) == 0 &&
		rd.Snapshot == nil && len(rd.CommittedEntries) == 0 && len(rd.Messages) == 0
}

// bothCommitModes runs f with lazy (the default) and eager commit
// propagation: the behaviours it checks hold in either.
func bothCommitModes(t *testing.T, f func(t *testing.T, eager bool)) {
	for _, eager := range []bool{false, true} {
		t.Run(fmt.Sprintf("eager=%v", eager), func(t *testing.T) { f(t, eager) })
	}
}

// eagerCommit turns on EagerCommitPropagation, for the tests that rely on
// followers learning a new commit index at once. The harnesses default to
// lazy propagation, like Config.
func eagerCommit(cfg *Config) { cfg.EagerCommitPropagation = true }

// newTestRaft builds a raft from a config, failing the test on error.
func newTestRaftFrom(t testing.TB, c *Config) *raft {
	t.Helper()
	cfg := c.WithDefaults()
	require.NoError(t, cfg.Validate())
	r, err := newRaft(&cfg)
	require.NoError(t, err)
	return r
}

// newTestRaft builds node id with the given timeouts over st.
func newTestRaft(t testing.TB, id uint64, election, heartbeat int, st Storage) *raft {
	t.Helper()
	return newTestRaftFrom(t, testConfig(id, election, heartbeat, st))
}

// persist simulates the application handling the storage part of a Ready
// for r: the pending snapshot, entries and hard state go to r's
// MemoryStorage and are acknowledged. It does not apply committed entries.
func persist(t testing.TB, r *raft) {
	t.Helper()
	st := r.raftLog.storage.(*MemoryStorage)
	snap := r.raftLog.nextUnstableSnapshot()
	if snap != nil {
		require.NoError(t, st.ApplySnapshot(snap))
	}
	ents := r.raftLog.nextUnstableEnts()
	require.NoError(t, st.Append(ents))
	require.NoError(t, st.SetHardState(r.hardState()))
	r.raftLog.acceptUnstable()
	if snap != nil {
		// As in RawNode, a persisted snapshot also counts as applied:
		// otherwise applyAll would ask for the compacted entries below it.
		r.appliedSnap(snap)
	}
	if n := len(ents); n > 0 {
		r.raftLog.stableTo(pbEntryID(ents[n-1]))
	}
}

// applyAll simulates the application applying every committed entry of r.
func applyAll(t testing.TB, r *raft) []*pb.Entry {
	t.Helper()
	var out []*pb.Entry
	for r.raftLog.hasNextCommittedEnts(true) {
		ents, err := r.raftLog.nextCommittedEnts(true)
		require.NoError(t, err)
		r.raftLog.acceptApplying(ents[len(ents)-1].Index, applyingSize(ents), true)
		// Report through the apply response, as RawNode does, so the
		// leader also releases its uncommitted-size budget.
		require.NoError(t, r.Step(&pb.Message{
			Type: pb.MsgStorageApplyResp, To: r.id, From: LocalApplyThread, Entries: ents,
		}))
		out = append(out, ents...)
	}
	return out
}

// readMessages persists r's pending state, delivers the responses it sent
// to itself, and returns (and clears) the messages for other nodes.
func readMessages(t testing.TB, r *raft) []*pb.Message {
	t.Helper()
	for {
		r.flushAppends()
		persist(t, r)
		after := r.msgsAfterAppend
		r.msgsAfterAppend = nil
		ackIndex, ackTerm := r.selfAckIndex, r.selfAckTerm
		r.selfAckIndex, r.selfAckTerm = 0, 0
		if len(after) == 0 && ackIndex == 0 {
			break
		}
		if ackIndex != 0 {
			r.onSelfPersisted(ackTerm, ackIndex)
		}
		for _, m := range after {
			if m.To == r.id {
				require.NoError(t, r.Step(m))
			} else {
				r.msgs = append(r.msgs, m)
			}
		}
	}
	msgs := r.msgs
	r.msgs = nil
	return msgs
}

// network connects rafts by their IDs and delivers messages between them
// until none is left, subject to dropped links.
type network struct {
	t     testing.TB
	peers map[uint64]*raft
	// dropm is the probability, per directed link, that a message is lost.
	dropm map[[2]uint64]float64
	// msgHook, if set, sees every message and drops it when it returns false.
	msgHook func(*pb.Message) bool
	rand    *rand.Rand
}

// newNetwork connects the given nodes. A nil entry at position i creates a
// fresh voter i+1 of a cluster of len(peers) voters.
func newNetwork(t testing.TB, peers ...*raft) *network {
	t.Helper()
	n := &network{
		t: t, peers: map[uint64]*raft{},
		dropm: map[[2]uint64]float64{},
		rand:  rand.New(rand.NewPCG(1, 2)),
	}
	voters := ids(len(peers))
	for i, p := range peers {
		id := uint64(i + 1)
		if p == nil {
			p = newTestRaft(t, id, 10, 1, storageWith(voters))
		}
		n.peers[p.id] = p
	}
	return n
}

// newNetworkWithConfig is newNetwork with a hook to adjust each fresh
// node's config.
func newNetworkWithConfig(t testing.TB, adjust func(*Config), peers ...*raft) *network {
	t.Helper()
	voters := ids(len(peers))
	for i, p := range peers {
		if p == nil {
			c := testConfig(uint64(i+1), 10, 1, storageWith(voters))
			if adjust != nil {
				adjust(c)
			}
			peers[i] = newTestRaftFrom(t, c)
		}
	}
	return newNetwork(t, peers...)
}

// send steps the messages and everything they cause, breadth first.
func (nw *network) send(msgs ...*pb.Message) {
	for len(msgs) > 0 {
		m := msgs[0]
		msgs = msgs[1:]
		p, ok := nw.peers[m.To]
		if !ok {
			continue
		}
		_ = p.Step(m)
		msgs = append(msgs, nw.filter(readMessages(nw.t, p))...)
	}
}

// filter applies the network's faults to outgoing messages.
func (nw *network) filter(msgs []*pb.Message) []*pb.Message {
	var out []*pb.Message
	for _, m := range msgs {
		if m.Type != pb.MsgHup {
			if p := nw.dropm[[2]uint64{m.From, m.To}]; p > 0 && nw.rand.Float64() < p {
				continue
			}
		}
		if nw.msgHook != nil && !nw.msgHook(m) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (nw *network) drop(from, to uint64, perc float64) { nw.dropm[[2]uint64{from, to}] = perc }

// cut drops every message between a and b, both ways.
func (nw *network) cut(a, b uint64) {
	nw.drop(a, b, 2)
	nw.drop(b, a, 2)
}

// isolate cuts id off from every other node.
func (nw *network) isolate(id uint64) {
	for other := range nw.peers {
		if other != id {
			nw.cut(id, other)
		}
	}
}

// recover heals every link.
func (nw *network) recover() {
	nw.dropm = map[[2]uint64]float64{}
}

// hup makes node id campaign.
func (nw *network) hup(id uint64) { nw.send(&pb.Message{From: id, To: id, Type: pb.MsgHup}) }

// propose proposes data through node id.
func (nw *network) propose(id uint64, data string) {
	nw.send(&pb.Message{From: id, To: id, Type: pb.MsgProp, Entries: []*pb.Entry{{Data: []byte(data)}}})
}

// logEntries returns every entry of r's log after the first index - 1, for
// comparisons in tests.
func logEntries(t testing.TB, r *raft) []*pb.Entry {
	t.Helper()
	ents, err := r.raftLog.slice(r.raftLog.firstIndex(), r.raftLog.lastIndex()+1, noLimit)
	require.NoError(t, err)
	return ents
}

// describeLog renders a log as "index/term" pairs.
func describeLog(ents []*pb.Entry) string {
	parts := make([]string, len(ents))
	for i, e := range ents {
		parts[i] = fmt.Sprintf("%d/%d", e.Index, e.Term)
	}
	return fmt.Sprint(parts)
}

// sortedMsgTypes is a compact view of messages for assertions.
func msgSummary(msgs []*pb.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = pb.DescribeMessage(m, nil)
	}
	slices.Sort(out)
	return out
}
