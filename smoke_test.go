package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

type smokeNode struct {
	rn      *RawNode
	st      *MemoryStorage
	applied []string
}

func smokeCluster(t *testing.T, n int) map[uint64]*smokeNode {
	nodes := map[uint64]*smokeNode{}
	var peers []Peer
	for i := 1; i <= n; i++ {
		peers = append(peers, Peer{ID: uint64(i)})
	}
	for i := 1; i <= n; i++ {
		st := NewMemoryStorage()
		rn, err := NewRawNode(&Config{ID: uint64(i), Storage: st, Seed: 1, ElectionTick: 10, HeartbeatTick: 1})
		require.NoError(t, err)
		require.NoError(t, rn.Bootstrap(peers))
		nodes[uint64(i)] = &smokeNode{rn: rn, st: st}
	}
	return nodes
}

func smokeStabilize(t *testing.T, nodes map[uint64]*smokeNode) {
	for iter := 0; iter < 1000; iter++ {
		progress := false
		for id := uint64(1); id <= uint64(len(nodes)); id++ {
			nd := nodes[id]
			if !nd.rn.HasReady() {
				continue
			}
			progress = true
			rd := nd.rn.Ready()
			if rd.HardState != nil {
				require.NoError(t, nd.st.SetHardState(rd.HardState))
			}
			require.NoError(t, nd.st.Append(rd.Entries))
			for _, m := range rd.Messages {
				if err := nodes[m.To].rn.Step(m); err != nil {
					t.Logf("step %s: %v", pb.DescribeMessage(m, nil), err)
				}
			}
			for _, e := range rd.CommittedEntries {
				switch e.Type {
				case pb.EntryNormal:
					if len(e.Data) > 0 {
						nd.applied = append(nd.applied, string(e.Data))
					}
				case pb.EntryConfChange:
					var cc pb.ConfChange
					require.NoError(t, unmarshal(e.Data, &cc))
					_, err := nd.rn.ApplyConfChange(&cc)
					require.NoError(t, err)
				}
			}
			require.NoError(t, nd.rn.Advance(rd))
		}
		if !progress {
			return
		}
	}
	t.Fatal("no quiescence")
}

func TestSmoke(t *testing.T) {
	nodes := smokeCluster(t, 3)
	smokeStabilize(t, nodes)
	require.NoError(t, nodes[1].rn.Campaign())
	smokeStabilize(t, nodes)
	require.Equal(t, StateLeader, nodes[1].rn.BasicStatus().RaftState)
	for i := 0; i < 5; i++ {
		require.NoError(t, nodes[1].rn.Propose([]byte(fmt.Sprintf("x%d", i))))
	}
	require.NoError(t, nodes[2].rn.Propose([]byte("fwd")))
	smokeStabilize(t, nodes)
	for id, nd := range nodes {
		require.Equal(t, []string{"x0", "x1", "x2", "x3", "x4", "fwd"}, nd.applied, "node %d", id)
	}
	t.Log(nodes[1].rn.Status().String())
	require.NoError(t, nodes[3].rn.ReadIndex([]byte("r1")))
	smokeStabilize(t, nodes)
}

func TestSmokeNetwork(t *testing.T) {
	nw := newNetwork(t, nil, nil, nil)
	nw.hup(1)
	require.Equal(t, StateLeader, nw.peers[1].state)
	nw.propose(1, "a")
	nw.isolate(1)
	nw.hup(2)
	require.Equal(t, StateLeader, nw.peers[2].state)
	nw.recover()
	nw.propose(2, "b")
	nw.send(&pb.Message{From: 2, To: 2, Type: pb.MsgBeat})
	require.Equal(t, StateFollower, nw.peers[1].state)
	for _, p := range nw.peers {
		require.Equal(t, nw.peers[2].raftLog.committed, p.raftLog.committed)
		t.Log(describeLog(logEntries(t, p)))
		require.Equal(t, describeLog(logEntries(t, nw.peers[2])), describeLog(logEntries(t, p)))
		_ = applyAll(t, p)
		_ = storageWith(nil)
		_ = newNetworkWithConfig
		_ = msgSummary
		nw.ignore(pb.MsgApp)
		nw.cut(1, 2)
	}
}
