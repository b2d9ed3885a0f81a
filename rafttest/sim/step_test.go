package sim

import (
	"math"
	"strings"
	"testing"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// deliverOne delivers the message in flight from -> to of type t, and
// fails the test if there is none.
func deliverOne(t *testing.T, s *Sim, from, to uint64, typ pb.MessageType) {
	t.Helper()
	for i, env := range s.net {
		if env.m.From == from && env.m.To == to && env.m.Type == typ {
			s.deliver(i)
			return
		}
	}
	t.Fatalf("no %s from %d to %d in flight", typ, from, to)
}

// TestElectionSafetyWithinOneStep checks that a leadership that starts and
// ends within one step is recorded: node 1 wins term 2 and crashes in the
// same step, before anything samples the cluster, and a disk that loses
// node 3's vote then lets node 2 win term 2 too. A checker that looked at
// the roles only after each step would see one leader of term 2.
func TestElectionSafetyWithinOneStep(t *testing.T) {
	s := newSim(Config{Seed: 1, Steps: 0, TraceLen: 100, Tweak: func(o *Options) {
		o.Voters = 3
		o.PreVote, o.CheckQuorum, o.ReadOnly = false, false, raft.ReadOnlySafe
		o.AsyncStorageWrites = false
	}})
	s.bootstrap()
	if s.failure != nil {
		t.Fatalf("bootstrap: %v", s.failure)
	}
	endStep := func() {
		s.settle()
		s.checkStep(false)
		s.step++
	}
	n1, n2, n3 := s.nodes[1], s.nodes[2], s.nodes[3]

	// Node 1 campaigns for term 2 and node 3 votes for it.
	if err := n1.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	endStep()
	deliverOne(t, s, 1, 3, pb.MsgVote)
	endStep()
	// One step: node 1 counts node 3's vote, leads term 2, and crashes
	// before its Ready is handled.
	deliverOne(t, s, 3, 1, pb.MsgVoteResp)
	s.crash(n1, "right after winning")
	endStep()
	if s.failure != nil {
		t.Fatalf("failure too early: %v", s.failure)
	}
	if l, ok := s.chk.leaders[2]; !ok || l.id != 1 {
		t.Fatalf("node 1's leadership of term 2 was not recorded: %+v", s.chk.leaders)
	}

	// Node 3's disk loses its vote; node 2 campaigns for term 2 and wins
	// with it.
	s.crash(n3, "to lose its vote")
	hs, _, _ := n3.storage.InitialState()
	hs.Vote = 0
	if err := n3.storage.SetHardState(hs); err != nil {
		t.Fatal(err)
	}
	s.restart(n3)
	endStep()
	s.net = nil
	if err := n2.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	endStep()
	if st := n2.rn.BasicStatus(); st.Term != 2 {
		t.Fatalf("node 2 campaigns in term %d, want 2", st.Term)
	}
	deliverOne(t, s, 2, 3, pb.MsgVote)
	endStep()
	deliverOne(t, s, 3, 2, pb.MsgVoteResp)
	endStep()
	if s.failure == nil {
		t.Fatalf("two leaders of term 2 went unnoticed; leaders: %+v", s.chk.leaders)
	}
	if s.failure.Checker != CheckElectionSafety || !strings.Contains(s.failure.Message, "nodes 1 and 2 are both leaders of term 2") {
		t.Fatalf("caught by %q: %s, want election safety for nodes 1 and 2", s.failure.Checker, s.failure.Message)
	}
}

// TestQuorumIndex checks the ghost commit's own quorum arithmetic, which
// must not rely on the library's.
func TestQuorumIndex(t *testing.T) {
	acks := map[uint64]uint64{1: 10, 2: 7, 3: 3, 4: 9}
	for _, tc := range []struct {
		voters []uint64
		want   uint64
	}{
		{nil, math.MaxUint64},
		{[]uint64{1}, 10},
		{[]uint64{1, 2}, 7},
		{[]uint64{1, 2, 3}, 7},
		{[]uint64{1, 2, 3, 4}, 7},
		{[]uint64{1, 2, 3, 4, 5}, 7},
		{[]uint64{3, 5, 6}, 0},
		{[]uint64{1, 4, 5}, 9},
	} {
		if got := quorumIndex(tc.voters, acks); got != tc.want {
			t.Errorf("quorumIndex(%v) = %d, want %d", tc.voters, got, tc.want)
		}
	}
}

// TestSameConf checks the comparison the restart configuration check uses.
func TestSameConf(t *testing.T) {
	a := &pb.ConfState{Voters: []uint64{3, 1, 2}, VotersOutgoing: []uint64{1, 2, 4}, AutoLeave: true}
	for _, tc := range []struct {
		b    *pb.ConfState
		want bool
	}{
		{&pb.ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{4, 2, 1}, AutoLeave: true}, true},
		{&pb.ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true}, false},
		{&pb.ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2, 4}}, false},
		{&pb.ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2, 4}, Learners: []uint64{5}, AutoLeave: true}, false},
	} {
		if got := sameConf(a, tc.b); got != tc.want {
			t.Errorf("sameConf(%v, %v) = %t, want %t", a, tc.b, got, tc.want)
		}
	}
}
