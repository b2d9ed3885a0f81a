package raft

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of the safety properties of Raft §5.4 (Figure 3): a leader never
// commits entries of earlier terms by counting replicas (Figure 8), a
// candidate without every committed entry cannot win (Leader Completeness),
// and under arbitrary message loss and elections the logs keep the Log
// Matching and State Machine Safety properties.

// rpRestart simulates a crash and restart of node id: a new raft is built
// from the node's storage, so only what it persisted survives.
func rpRestart(t testing.TB, nw *network, id uint64) *raft {
	t.Helper()
	st := nw.peers[id].raftLog.storage.(*MemoryStorage)
	r := newTestRaft(t, id, 10, 1, st)
	nw.peers[id] = r
	return r
}

// rpHupUntilLeader makes id campaign until it wins, at most tries times.
func rpHupUntilLeader(nw *network, id uint64, tries int) bool {
	for i := 0; i < tries && nw.peers[id].state != StateLeader; i++ {
		nw.hup(id)
	}
	return nw.peers[id].state == StateLeader
}

// rpTermAt returns the term of node r's entry at index i, or 0 if it has
// none.
func rpTermAt(r *raft, i uint64) uint64 {
	t, err := r.raftLog.term(i)
	if err != nil {
		return 0
	}
	return t
}

// rpFigure8 builds the situation of Figure 8 (c) in a five-node cluster.
// The terms differ from the paper's (elections here start at term 1) but
// the shape is the same:
//
//	(a) S1 leads term 1 and replicates entry 2/1 to S2 only.
//	(b) S1 crashes; S5 is elected in term 2 by S3, S4 and itself and
//	    appends 2/2 to its own log only.
//	(c) S5 crashes; S1 restarts and is elected in term 3. It appends its
//	    empty entry 3/3 and replicates its old entry 2/1 to S3 (and S4),
//	    but no entry of term 3 reaches any follower.
//
// Entry 2/1 is now on a majority, yet S1 has not replicated an entry of
// its own term. The returned network still strips entries of term 3 or
// later from S1's appends; clear msgHook to let them through.
func rpFigure8(t *testing.T) *network {
	nw := newNetwork(t, nil, nil, nil, nil, nil)
	nw.hup(1)
	require.Equal(t, StateLeader, nw.peers[1].state)
	require.Equal(t, uint64(1), nw.peers[1].Term)

	// (a)
	nw.cut(1, 3)
	nw.cut(1, 4)
	nw.cut(1, 5)
	nw.propose(1, "a")
	require.Equal(t, "[1/1 2/1]", describeLog(logEntries(t, nw.peers[2])))
	require.Equal(t, uint64(1), nw.peers[1].raftLog.committed)

	// (b)
	nw.recover()
	nw.isolate(1)
	nw.cut(5, 2)
	nw.msgHook = func(m *pb.Message) bool { return !(m.From == 5 && m.Type == pb.MsgApp) }
	nw.hup(5)
	require.Equal(t, StateLeader, nw.peers[5].state)
	require.Equal(t, uint64(2), nw.peers[5].Term)
	require.Equal(t, "[1/1 2/2]", describeLog(logEntries(t, nw.peers[5])))
	for _, id := range []uint64{3, 4} {
		require.Equal(t, "[1/1]", describeLog(logEntries(t, nw.peers[id])))
	}

	// (c)
	nw.recover()
	nw.msgHook = nil
	nw.isolate(5)
	rpRestart(t, nw, 1)
	nw.msgHook = func(m *pb.Message) bool {
		if m.From == 1 && m.Type == pb.MsgApp {
			kept := m.Entries[:0:0]
			for _, e := range m.Entries {
				if e.Term < 3 {
					kept = append(kept, e)
				}
			}
			m.Entries = kept
		}
		return true
	}
	require.True(t, rpHupUntilLeader(nw, 1, 5))
	require.Equal(t, uint64(3), nw.peers[1].Term)
	require.Equal(t, "[1/1 2/1 3/3]", describeLog(logEntries(t, nw.peers[1])))
	for _, id := range []uint64{2, 3} {
		require.Equal(t, "[1/1 2/1]", describeLog(logEntries(t, nw.peers[id])), "node %d", id)
	}
	return nw
}

// §5.4.2, Figure 8: "a leader cannot immediately conclude that an entry
// from a previous term is committed once it is stored on a majority of
// servers". In (c) entry 2/1 is on a majority, and a leader counting
// replicas would commit it; but in (d) S5 can still be elected (its last
// term 2 beats 1) and overwrite it everywhere. So the leader commits only
// entries of its own term by counting (e), and earlier ones with them.
func TestSec54Figure8(t *testing.T) {
	t.Run("c: no commit by counting old-term replicas", func(t *testing.T) {
		nw := rpFigure8(t)
		s1 := nw.peers[1]
		// The replica count says 2, the commit index says 1.
		require.Equal(t, uint64(2), s1.trk.Committed())
		for id, p := range nw.peers {
			require.LessOrEqual(t, p.raftLog.committed, uint64(1), "node %d", id)
		}
		// Heartbeats change nothing while no term-3 entry is replicated.
		nw.send(&pb.Message{From: 1, To: 1, Type: pb.MsgBeat})
		require.Equal(t, uint64(1), s1.raftLog.committed)
	})

	t.Run("d: the old-term entry can still be overwritten", func(t *testing.T) {
		nw := rpFigure8(t)
		nw.msgHook = nil
		nw.recover()
		nw.isolate(1) // S1 crashes before replicating 3/3
		rpRestart(t, nw, 5)
		require.True(t, rpHupUntilLeader(nw, 5, 5))
		mbBeat(nw, 5) // the followers learn the commit index
		for _, id := range []uint64{2, 3, 4, 5} {
			require.Equal(t, uint64(2), rpTermAt(nw.peers[id], 2), "node %d", id)
			require.Equal(t, nw.peers[5].raftLog.committed, nw.peers[id].raftLog.committed)
		}
		// Had S1 committed 2/1, this would have replaced a committed entry;
		// no node saw such an append.
		for id, p := range nw.peers {
			require.Zero(t, p.droppedMsgs, "node %d", id)
		}
	})

	t.Run("e: an entry of the current term commits everything before it", func(t *testing.T) {
		nw := rpFigure8(t)
		nw.msgHook = nil
		s1 := nw.peers[1]
		nw.send(&pb.Message{From: 1, To: 1, Type: pb.MsgBeat})
		require.Equal(t, uint64(3), s1.raftLog.committed)
		mbBeat(nw, 1) // the followers learn the commit index
		for _, id := range []uint64{2, 3, 4} {
			p := nw.peers[id]
			require.Equal(t, "[1/1 2/1 3/3]", describeLog(logEntries(t, p)), "node %d", id)
			require.Equal(t, uint64(3), p.raftLog.committed, "node %d", id)
		}
		// Now S5 can never be elected: a majority has a later last term.
		nw.recover()
		nw.isolate(1)
		rpRestart(t, nw, 5)
		require.False(t, rpHupUntilLeader(nw, 5, 5))
		require.Equal(t, uint64(1), rpTermAt(nw.peers[2], 2))
	})
}

// §5.4.1, Leader Completeness: a voter denies its vote to a candidate whose
// log is less up to date than its own. Since a committed entry is on a
// majority and a winner needs a majority, the winner always has it. A
// candidate missing a committed entry winning would erase it.
func TestSec54StaleCandidateCannotWin(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	nw.isolate(3)
	nw.propose(1, "committed")
	require.Equal(t, uint64(2), nw.peers[1].raftLog.committed)
	require.Equal(t, uint64(1), nw.peers[3].raftLog.lastIndex())

	// The leader goes away; node 3, which lacks entry 2, campaigns.
	nw.recover()
	nw.isolate(1)
	for i := 0; i < 5; i++ {
		nw.hup(3)
		require.NotEqual(t, StateLeader, nw.peers[3].state, "attempt %d", i)
	}
	// Node 2 has the entry and wins, with node 3's vote.
	require.True(t, rpHupUntilLeader(nw, 2, 3))
	lead := nw.peers[2]
	require.Equal(t, []byte("committed"), logEntries(t, lead)[1].Data)
	require.Equal(t, describeLog(logEntries(t, lead)), describeLog(logEntries(t, nw.peers[3])))
	require.Equal(t, []byte("committed"), logEntries(t, nw.peers[3])[1].Data)
}

// rpSameEntry reports whether a and b are the same entry.
func rpSameEntry(a, b *pb.Entry) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type && bytes.Equal(a.Data, b.Data)
}

// rpCheckSafety checks, across every node of nw:
//   - Log Matching: if two logs have an entry with the same index and term,
//     they are identical in all entries up to that index;
//   - State Machine Safety: every committed entry agrees with what any node
//     ever had committed at that index (recorded in committed);
//   - Election Safety: at most one leader per term (recorded in leaders).
func rpCheckSafety(t *testing.T, nw *network, committed map[uint64]*pb.Entry, leaders map[uint64]uint64) {
	t.Helper()
	logs := map[uint64][]*pb.Entry{}
	for id, p := range nw.peers {
		logs[id] = logEntries(t, p)
		if p.state == StateLeader {
			if prev, ok := leaders[p.Term]; ok {
				require.Equal(t, prev, id, "two leaders in term %d", p.Term)
			}
			leaders[p.Term] = id
		}
		for _, e := range logs[id][:p.raftLog.committed] {
			if c, ok := committed[e.Index]; ok {
				if !rpSameEntry(c, e) {
					require.Failf(t, "state machine safety violated", "node %d committed %d/%d, another node %d/%d",
						id, e.Index, e.Term, c.Index, c.Term)
				}
			} else {
				committed[e.Index] = e
			}
		}
	}
	for a, la := range logs {
		for b, lb := range logs {
			if a >= b {
				continue
			}
			// Find the last index where the terms agree; everything before
			// it must be identical.
			i := min(len(la), len(lb)) - 1
			for i >= 0 && la[i].Term != lb[i].Term {
				i--
			}
			for ; i >= 0; i-- {
				if !rpSameEntry(la[i], lb[i]) {
					require.Failf(t, "log matching violated", "nodes %d and %d differ at index %d: %s vs %s",
						a, b, i+1, describeLog(la), describeLog(lb))
				}
			}
		}
	}
}

// §5.3 Log Matching and §5.4.3 State Machine Safety under random faults:
// in a five-node cluster, proposals, elections, lossy links and partitions
// are mixed at random (seeded). After every step the logs satisfy Log
// Matching, committed prefixes agree, and no term has two leaders. After
// healing, the cluster converges to one log, committed everywhere. A
// violation means lost or reordered committed entries, the failure Raft
// exists to prevent.
func TestSec54LogMatchingUnderRandomFaults(t *testing.T) {
	seeds := uint64(6)
	if testing.Short() {
		seeds = 2
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5afe))
			nw := newNetwork(t, nil, nil, nil, nil, nil)
			nw.rand = rand.New(rand.NewPCG(seed, 0x10ad))
			committed := map[uint64]*pb.Entry{}
			leaders := map[uint64]uint64{}
			node := func() uint64 { return 1 + rng.Uint64N(5) }
			proposals := 0
			for step := 0; step < 300; step++ {
				switch k := rng.IntN(20); {
				case k < 8:
					nw.propose(node(), fmt.Sprintf("s%d-%d", seed, step))
					proposals++
				case k < 10:
					nw.hup(node())
				case k < 14:
					for id, p := range nw.peers {
						if p.state == StateLeader {
							nw.send(&pb.Message{From: id, To: id, Type: pb.MsgBeat})
						}
					}
				case k < 16:
					nw.drop(node(), node(), rng.Float64())
				case k < 17:
					nw.isolate(node())
				case k < 18:
					a, b := node(), node()
					if a != b {
						nw.cut(a, b)
					}
				default:
					nw.recover()
				}
				rpCheckSafety(t, nw, committed, leaders)
			}

			// Heal, elect a leader everyone follows, and let it catch up.
			nw.recover()
			var lead *raft
			for attempt := 0; attempt < 10 && lead == nil; attempt++ {
				for id := uint64(1); id <= 5 && lead == nil; id++ {
					nw.hup(id)
					nw.send(&pb.Message{From: id, To: id, Type: pb.MsgBeat})
					if p := nw.peers[id]; p.state == StateLeader && rpLeadsAll(nw, p) {
						lead = p
					}
				}
			}
			require.NotNil(t, lead, "no leader after healing")
			nw.propose(lead.id, "final")
			nw.send(&pb.Message{From: lead.id, To: lead.id, Type: pb.MsgBeat})
			rpCheckSafety(t, nw, committed, leaders)
			want := describeLog(logEntries(t, lead))
			for id, p := range nw.peers {
				require.Equal(t, want, describeLog(logEntries(t, p)), "node %d", id)
				require.Equal(t, lead.raftLog.lastIndex(), p.raftLog.committed, "node %d", id)
				// A correct cluster never sends an inconsistent message.
				require.Zero(t, p.droppedMsgs, "node %d", id)
			}
			require.Greater(t, len(committed), 10, "too little was committed to test anything")
			t.Logf("%d proposals, %d entries committed, %d terms with a leader", proposals, len(committed), len(leaders))
		})
	}
}

// rpLeadsAll reports whether every node of nw follows lead in lead's term.
func rpLeadsAll(nw *network, lead *raft) bool {
	for _, p := range nw.peers {
		if p.Term != lead.Term || p.lead != lead.id {
			return false
		}
	}
	return true
}
