package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// This file tests that no caller mistake corrupts a node's state: each
// misuse either works cleanly or returns an error and changes nothing.

// rnLeader returns a single-voter node that leads, with every Ready handled.
func rnLeader(t *testing.T, adjust func(*Config)) (*RawNode, *MemoryStorage) {
	t.Helper()
	rn, st := rnSingle(t, adjust)
	rnDrain(t, rn, st)
	require.NoError(t, rn.Campaign())
	rnDrain(t, rn, st)
	require.Equal(t, StateLeader, rn.BasicStatus().RaftState)
	return rn, st
}

// rnDrain handles the Readys of a lone node until it has none.
func rnDrain(t *testing.T, rn *RawNode, st *MemoryStorage) []string {
	t.Helper()
	var out []string
	for rn.HasReady() {
		out = append(out, rnHandle(t, rn, st, rn.Ready())...)
	}
	return out
}

// A MsgProp stepped twice (a retry, a duplicate from the network, an
// in-process transport sharing pointers) is two clean proposals: the leader
// stamps copies, never the caller's entries, so the log's indexes stay
// consecutive and the caller's message is left as it was.
func TestRestepedProposalIsASecondProposal(t *testing.T) {
	{
		rn, st := rnLeader(t, nil)
		m := &pb.Message{Type: pb.MsgProp, From: 1, Entries: []*pb.Entry{{Data: []byte("a")}, {Data: []byte("b")}}}
		require.NoError(t, rn.Step(m))
		require.NoError(t, rn.Step(m))
		for _, e := range m.Entries {
			require.Zero(t, e.Index, "the caller's entry was stamped")
			require.Zero(t, e.Term, "the caller's entry was stamped")
		}
		applied := rnDrain(t, rn, st)
		require.Equal(t, []string{"a", "b", "a", "b"}, applied)
		last, err := st.LastIndex()
		require.NoError(t, err)
		ents, err := st.Entries(1, last+1, noLimit)
		require.NoError(t, err)
		for i, e := range ents {
			require.Equal(t, uint64(i+1), e.Index, "log %v", rnDescribe(ents))
		}
	}
}
