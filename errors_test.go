package raft

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
)

// Tests of the failure contract: invalid input is an error, a storage
// failure stops the node, and neither panics.

// errRnDisk is the failure rnFaultyStorage injects.
var errRnDisk = errors.New("disk on fire")

// rnFaultyStorage is a MemoryStorage whose methods named in failing return
// errRnDisk. The test arms it at the moment it chooses.
type rnFaultyStorage struct {
	*MemoryStorage
	failing map[string]bool
}

func rnFaulty(ms *MemoryStorage) *rnFaultyStorage {
	return &rnFaultyStorage{MemoryStorage: ms, failing: map[string]bool{}}
}

func (s *rnFaultyStorage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	if s.failing["InitialState"] {
		return nil, nil, errRnDisk
	}
	return s.MemoryStorage.InitialState()
}

func (s *rnFaultyStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if s.failing["Entries"] {
		return nil, errRnDisk
	}
	return s.MemoryStorage.Entries(lo, hi, maxSize)
}

func (s *rnFaultyStorage) Term(i uint64) (uint64, error) {
	if s.failing["Term"] {
		return 0, errRnDisk
	}
	return s.MemoryStorage.Term(i)
}

func (s *rnFaultyStorage) Snapshot() (*pb.Snapshot, error) {
	if s.failing["Snapshot"] {
		return nil, errRnDisk
	}
	return s.MemoryStorage.Snapshot()
}

func (s *rnFaultyStorage) FirstIndex() (uint64, error) {
	if s.failing["FirstIndex"] {
		return 0, errRnDisk
	}
	return s.MemoryStorage.FirstIndex()
}

// rnRequireStopped checks that a node stopped by a storage failure stays
// stopped: every call that would step the state machine returns the
// failure, nothing is handed out any more, and ticking does not make it
// campaign. None of it panics.
func rnRequireStopped(t *testing.T, rn *RawNode) {
	t.Helper()
	err := rn.BasicStatus().Err
	require.ErrorIs(t, err, ErrStorageFailed)
	require.ErrorIs(t, err, errRnDisk, "the cause is lost")
	require.False(t, rn.HasReady())
	require.Equal(t, Ready{}, rn.Ready())

	before := rn.BasicStatus()
	peer := uint64(2)
	if rn.raft.id == peer {
		peer = 3
	}
	calls := map[string]func() error{
		"Step": func() error {
			return rn.Step(&pb.Message{Type: pb.MsgHeartbeat, From: peer, To: rn.raft.id, Term: 99})
		},
		"Campaign":       rn.Campaign,
		"Propose":        func() error { return rn.Propose([]byte("p")) },
		"ProposeConf":    func() error { return rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 7}) },
		"ReadIndex":      func() error { return rn.ReadIndex([]byte("r")) },
		"TransferLeader": func() error { return rn.TransferLeader(2) },
		"ForgetLeader":   rn.ForgetLeader,
		"Unreachable":    func() error { return rn.ReportUnreachable(2) },
		"Snapshot":       func() error { return rn.ReportSnapshot(2, SnapshotFinish) },
		"ApplyConf": func() error {
			_, err := rn.ApplyConfChange(&pb.ConfChange{Type: pb.ConfChangeAddNode, NodeId: 7})
			return err
		},
	}
	for name, call := range calls {
		require.ErrorIs(t, call(), ErrStorageFailed, name)
	}
	// Advance steps nothing when no Ready is owed acknowledgements.
	require.NotPanics(t, func() { _ = rn.Advance(Ready{}) })
	for range 100 {
		rn.Tick()
	}
	require.False(t, rn.HasReady(), "a stopped node came back to life")
	require.Equal(t, before, rn.BasicStatus(), "a stopped node changed state")
	require.Contains(t, rn.Status().String(), errRnDisk.Error())
}

// A Storage error other than ErrCompacted, ErrUnavailable or
// ErrSnapshotTemporarilyUnavailable means the node can no longer trust
// what it reads: whichever read fails, and whenever, the node stops rather
// than vote, append or answer from a log it cannot see.
func TestStorageFailureStopsNode(t *testing.T) {
	faulty := map[uint64]*rnFaultyStorage{}
	newCluster := func(t *testing.T) *rnCluster {
		return rnNewClusterWith(t, 3, rnOptions{wrap: func(id uint64, ms *MemoryStorage) Storage {
			faulty[id] = rnFaulty(ms)
			return faulty[id]
		}})
	}

	// A follower reads the term of the entry before a new append.
	t.Run("follower Term", func(t *testing.T) {
		c := newCluster(t)
		c.elect(1)
		c.propose(1, "a")
		c.stabilize()
		faulty[2].failing["Term"] = true
		c.propose(1, "b")
		c.process()
		c.deliver(func(m *pb.Message) bool { return m.To == 2 })
		require.Len(t, c.stepErrs, 1)
		require.ErrorIs(t, c.stepErrs[0], ErrStorageFailed)
		rnRequireStopped(t, c.node(2).rn)
	})

	// A leader reads persisted entries to send to a follower that fell
	// behind.
	t.Run("leader Entries", func(t *testing.T) {
		c := newCluster(t)
		c.elect(1)
		c.isolate(3)
		c.propose(1, "a")
		c.propose(1, "b")
		c.stabilize()
		faulty[1].failing["Entries"] = true
		c.heal()
		c.tick(1, 1)
		c.stabilize()
		rnRequireStopped(t, c.node(1).rn)
		require.Empty(t, c.queue)
	})

	// A leader reads its snapshot for a follower behind the compacted log.
	t.Run("leader Snapshot", func(t *testing.T) {
		c := newCluster(t)
		c.elect(1)
		c.isolate(3)
		c.propose(1, "a")
		c.propose(1, "b")
		c.stabilize()
		ms := c.node(1).st
		applied := c.node(1).rn.BasicStatus().Applied
		_, err := ms.CreateSnapshot(applied, &pb.ConfState{Voters: []uint64{1, 2, 3}}, nil)
		require.NoError(t, err)
		require.NoError(t, ms.Compact(applied))
		faulty[1].failing["Snapshot"] = true
		c.heal()
		c.tick(1, 1)
		c.stabilize()
		rnRequireStopped(t, c.node(1).rn)
	})

	// A restarted node reads the committed entries it has to apply while
	// building a Ready.
	t.Run("Entries in Ready", func(t *testing.T) {
		ms := storageWith([]uint64{1})
		require.NoError(t, ms.Append([]*pb.Entry{{Index: 1, Term: 1, Data: []byte("x")}}))
		require.NoError(t, ms.SetHardState(&pb.HardState{Term: 1, Commit: 1}))
		st := rnFaulty(ms)
		rn, err := NewRawNode(&Config{ID: 1, Storage: st})
		require.NoError(t, err)
		require.True(t, rn.HasReady())
		st.failing["Entries"] = true
		rd := rn.Ready()
		require.Empty(t, rd.CommittedEntries)
		rnRequireStopped(t, rn)
	})
}

// A node whose storage cannot even say what it holds is not created: the
// error comes back from NewRawNode, wrapping ErrStorageFailed and the
// cause.
func TestNewRawNodeStorageFailure(t *testing.T) {
	for _, method := range []string{"InitialState", "FirstIndex"} {
		t.Run(method, func(t *testing.T) {
			st := rnFaulty(storageWith([]uint64{1}))
			st.failing[method] = true
			rn, err := NewRawNode(&Config{ID: 1, Storage: st})
			require.Nil(t, rn)
			require.ErrorIs(t, err, ErrStorageFailed)
			require.ErrorIs(t, err, errRnDisk)
		})
	}
}

// Step refuses the message types only the node itself may generate: a
// MsgHup or MsgBeat from the network would let a peer (or a confused
// transport) start elections or heartbeats, and a storage response from
// anywhere but the node's own storage threads would mark unwritten data as
// durable. The node is left unchanged.
func TestStepLocalMessage(t *testing.T) {
	for _, m := range []*pb.Message{
		{Type: pb.MsgHup, From: 2},
		{Type: pb.MsgBeat, From: 2},
		{Type: pb.MsgCheckQuorum, From: 2},
		{Type: pb.MsgUnreachable, From: 2},
		{Type: pb.MsgSnapStatus, From: 2},
		{Type: pb.MsgStorageAppend, From: 2},
		{Type: pb.MsgStorageApply, From: 2},
		{Type: pb.MsgStorageAppendResp, From: 2, Index: 5, LogTerm: 1},
		{Type: pb.MsgStorageApplyResp, From: 2},
		// The storage threads' IDs only vouch for their own responses.
		{Type: pb.MsgHup, From: LocalAppendThread},
		{Type: pb.MsgBeat, From: LocalApplyThread},
		{Type: pb.MsgStorageApplyResp, From: LocalAppendThread},
		{Type: pb.MsgStorageAppendResp, From: LocalApplyThread, Index: 5, LogTerm: 1},
	} {
		t.Run(pb.DescribeMessage(m, nil), func(t *testing.T) {
			c := rnNewCluster(t, 3, nil)
			rn := c.node(1).rn
			before := rn.BasicStatus()
			m.To = 1
			require.ErrorIs(t, rn.Step(m), ErrStepLocalMsg)
			require.Equal(t, before, rn.BasicStatus())
			require.False(t, rn.HasReady())
		})
	}
}

// Responses from a node that is not in the configuration are refused with
// ErrStepPeerNotFound: nothing is tracked for it, and counting its vote or
// acknowledgement would let an outsider decide elections or commits.
func TestStepResponseFromUnknownPeer(t *testing.T) {
	for _, typ := range []pb.MessageType{
		pb.MsgAppResp, pb.MsgHeartbeatResp, pb.MsgVoteResp, pb.MsgPreVoteResp, pb.MsgReadIndexResp,
	} {
		t.Run(typ.String(), func(t *testing.T) {
			c := rnNewCluster(t, 3, nil)
			c.elect(1)
			rn := c.node(1).rn
			term := rn.BasicStatus().Term
			err := rn.Step(&pb.Message{Type: typ, From: 9, To: 1, Term: term, Index: 100})
			require.ErrorIs(t, err, ErrStepPeerNotFound)
			require.Equal(t, StateLeader, rn.BasicStatus().RaftState)
		})
	}
}

// Malformed input to Step is an error, never a panic: a nil message, a
// message type this version does not know (a newer peer, or garbage), and
// a proposal without entries. Messages dropped as inconsistent are counted.
func TestStepInvalidMessages(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	leader, follower := c.node(1).rn, c.node(2).rn

	require.ErrorIs(t, leader.Step(nil), ErrInvalidMessage)
	for _, typ := range []pb.MessageType{99, -1, pb.MsgForgetLeader + 1} {
		var err error
		require.NotPanics(t, func() { err = leader.Step(&pb.Message{Type: typ, From: 2, To: 1, Term: 2}) })
		require.ErrorIs(t, err, ErrInvalidMessage, "type %d", typ)
	}
	require.Equal(t, uint64(3), leader.BasicStatus().DroppedMessages)

	for _, rn := range []*RawNode{leader, follower} {
		err := rn.Step(&pb.Message{Type: pb.MsgProp, From: 3})
		require.ErrorIs(t, err, ErrInvalidMessage, "empty proposal")
	}
	c.stabilize()
	require.Empty(t, c.node(3).applied)
	require.Equal(t, StateLeader, leader.BasicStatus().RaftState)
}

// Configuration change calls refuse a nil change, including a typed nil
// pointer inside the interface, with an error instead of a panic or an
// entry that means nothing.
func TestConfChangeNil(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	rn := c.node(1).rn
	last := rn.raft.raftLog.lastIndex()

	require.ErrorIs(t, rn.ProposeConfChange(nil), ErrConfChangeRejected)
	for _, cc := range []pb.ConfChangeI{(*pb.ConfChange)(nil), (*pb.ConfChangeV2)(nil)} {
		var err error
		require.NotPanics(t, func() { err = rn.ProposeConfChange(cc) })
		require.ErrorIs(t, err, ErrConfChangeRejected, "%T", cc)
	}
	require.Equal(t, last, rn.raft.raftLog.lastIndex(), "something was appended")

	_, err := rn.ApplyConfChange(nil)
	require.ErrorIs(t, err, ErrConfChangeRejected)
	require.True(t, strings.Contains(rn.Status().Config.String(), "voters=(1 2 3)"))
}

// Messages an application forges or corrupts, storage responses included,
// are refused with ErrInvalidMessage: none may panic or move the node's
// applied or persisted state.
func TestStepForgedMessagesAreInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *pb.Message
	}{
		{"snapshot never handed out", &pb.Message{Type: pb.MsgStorageAppendResp, From: LocalAppendThread, To: 1,
			Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 1000, Term: 5}}}},
		{"apply beyond the applying index", &pb.Message{Type: pb.MsgStorageApplyResp, From: LocalApplyThread, To: 1,
			Entries: []*pb.Entry{{Index: 1000, Term: 5}}}},
		{"nil entry in an apply response", &pb.Message{Type: pb.MsgStorageApplyResp, From: LocalApplyThread, To: 1,
			Entries: []*pb.Entry{nil}}},
		{"nil entry in an append response", &pb.Message{Type: pb.MsgStorageAppendResp, From: LocalAppendThread, To: 1,
			Entries: []*pb.Entry{nil}}},
		{"nil entry in an append", &pb.Message{Type: pb.MsgApp, From: 2, To: 1, Term: 1, Entries: []*pb.Entry{nil}}},
		{"nil entry in a proposal", &pb.Message{Type: pb.MsgProp, Entries: []*pb.Entry{nil}}},
		{"nil entry in a read", &pb.Message{Type: pb.MsgReadIndex, Entries: []*pb.Entry{nil}}},
	} {
		for _, async := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/async=%v", tc.name, async), func(t *testing.T) {
				rn, _ := rnSingle(t, func(c *Config) { c.AsyncStorageWrites = async })
				before := rn.BasicStatus()
				err := rn.Step(tc.m)
				require.ErrorIs(t, err, ErrInvalidMessage)
				after := rn.BasicStatus()
				require.Equal(t, before.Applied, after.Applied)
				require.Equal(t, before.Commit, after.Commit)
			})
		}
	}
}

// A change proposed while an earlier one is not applied yet is refused
// with ErrConfChangePending, which is also an ErrConfChangeRejected: the
// one rejection a caller may retry once the earlier change is applied.
func TestConfChangePendingIsItsOwnRejection(t *testing.T) {
	c := rnNewCluster(t, 3, nil)
	c.elect(1)
	rn := c.node(1).rn
	require.NoError(t, rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeId: 4}))
	err := rn.ProposeConfChange(&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode, NodeId: 5})
	require.ErrorIs(t, err, ErrConfChangePending)
	require.ErrorIs(t, err, ErrConfChangeRejected)
	require.Contains(t, err.Error(), "may not be applied yet")

	// A rejection for another reason is not a pending one.
	bad := rn.ProposeConfChange(&pb.ConfChangeV2{Transition: pb.ConfChangeTransition(99)})
	require.ErrorIs(t, bad, ErrConfChangeRejected)
	require.NotErrorIs(t, bad, ErrConfChangePending)
}
