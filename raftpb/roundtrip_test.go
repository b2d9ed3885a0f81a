package raftpb

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

const maxU = uint64(math.MaxUint64)

// fullConfState sets every field of a ConfState, with extreme IDs.
func fullConfState() *ConfState {
	return &ConfState{
		Voters:         []uint64{1, 2, maxU},
		Learners:       []uint64{4, maxU - 1},
		VotersOutgoing: []uint64{1, maxU},
		LearnersNext:   []uint64{maxU - 2},
		AutoLeave:      true,
	}
}

func fullSnapshot() *Snapshot {
	return &Snapshot{
		Data: []byte("state machine image\x00\xff"),
		Metadata: &SnapshotMetadata{
			ConfState: fullConfState(),
			Index:     maxU,
			Term:      maxU,
		},
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
	}{
		{"Entry/zero", &Entry{}},
		{"Entry/normal", &Entry{Term: 3, Index: 7, Type: EntryNormal, Data: []byte("foo")}},
		{"Entry/max", &Entry{Term: maxU, Index: maxU, Type: EntryConfChangeV2, Data: []byte{0, 0xff, 0x80}}},
		{"Entry/unknown type", &Entry{Type: EntryType(99)}},

		{"Message/zero", &Message{}},
		{"Message/app", &Message{
			Type: MsgApp, From: 1, To: 2, Term: 3, LogTerm: 2, Index: 5, Commit: 4,
			Entries: []*Entry{
				{Term: 3, Index: 6, Data: []byte("x")},
				{Term: 3, Index: 7, Type: EntryConfChange, Data: []byte{0x10, 0x01}},
				{},
			},
		}},
		{"Message/max", &Message{
			Type: MsgForgetLeader, From: maxU, To: maxU, Term: maxU, LogTerm: maxU,
			Index: maxU, Commit: maxU, Vote: maxU, Reject: true, RejectHint: maxU,
			Context: []byte("ctx"),
			Entries: []*Entry{{Term: maxU, Index: maxU, Data: []byte("y")}},
		}},
		{"Message/snapshot", &Message{Type: MsgSnap, From: 1, To: 3, Term: 9, Snapshot: fullSnapshot()}},
		{"Message/empty snapshot", &Message{Type: MsgSnap, Snapshot: &Snapshot{}}},
		{"Message/storage append", &Message{
			Type: MsgStorageAppend, From: 1, To: maxU - 1, Term: 5, Vote: 1, Commit: 8,
			Entries:  []*Entry{{Term: 5, Index: 9}},
			Snapshot: fullSnapshot(),
			Responses: []*Message{
				{Type: MsgStorageAppendResp, From: maxU - 1, To: 1, Index: 9, LogTerm: 5},
				{Type: MsgAppResp, From: 1, To: 2, Term: 5, Index: 9, Reject: true, RejectHint: 3,
					Responses: []*Message{{Type: MsgHup, Context: []byte{0}}}},
			},
		}},

		{"HardState/zero", &HardState{}},
		{"HardState/set", &HardState{Term: 1, Vote: 2, Commit: 3}},
		{"HardState/max", &HardState{Term: maxU, Vote: maxU, Commit: maxU}},

		{"ConfState/zero", &ConfState{}},
		{"ConfState/full", fullConfState()},

		{"ConfChange/zero", &ConfChange{}},
		{"ConfChange/set", &ConfChange{Type: ConfChangeAddLearnerNode, NodeId: 4, Context: []byte("c"), Id: 12}},
		{"ConfChange/max", &ConfChange{Type: ConfChangeUpdateNode, NodeId: maxU, Context: []byte{0xff}, Id: maxU}},

		{"ConfChangeSingle/zero", &ConfChangeSingle{}},
		{"ConfChangeSingle/set", &ConfChangeSingle{Type: ConfChangeRemoveNode, NodeId: 3}},
		{"ConfChangeSingle/max", &ConfChangeSingle{Type: ConfChangeAddLearnerNode, NodeId: maxU}},

		{"ConfChangeV2/zero", &ConfChangeV2{}},
		{"ConfChangeV2/set", &ConfChangeV2{
			Transition: ConfChangeTransitionJointExplicit,
			Changes: []*ConfChangeSingle{
				{Type: ConfChangeAddNode, NodeId: 1},
				{Type: ConfChangeRemoveNode, NodeId: maxU},
				{},
			},
			Context: []byte("ctx"),
		}},

		{"Snapshot/zero", &Snapshot{}},
		{"Snapshot/empty metadata", &Snapshot{Metadata: &SnapshotMetadata{}}},
		{"Snapshot/full", fullSnapshot()},

		{"SnapshotMetadata/zero", &SnapshotMetadata{}},
		{"SnapshotMetadata/full", fullSnapshot().Metadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := proto.Marshal(tt.msg)
			require.NoError(t, err)
			require.Equal(t, proto.Size(tt.msg), len(data))

			got := tt.msg.ProtoReflect().New().Interface()
			require.NoError(t, proto.Unmarshal(data, got))
			require.True(t, proto.Equal(tt.msg, got), "round trip changed the message:\nwant %v\ngot  %v", tt.msg, got)

			// Marshaling is deterministic enough for a second round trip
			// to give the same bytes.
			again, err := proto.MarshalOptions{Deterministic: true}.Marshal(got)
			require.NoError(t, err)
			first, err := proto.MarshalOptions{Deterministic: true}.Marshal(tt.msg)
			require.NoError(t, err)
			require.Equal(t, first, again)
		})
	}
}

// TestZeroValuesEncodeEmpty checks that proto3 zero values take no bytes,
// which the auto-leave conf change (an empty ConfChangeV2 with empty Data)
// relies on.
func TestZeroValuesEncodeEmpty(t *testing.T) {
	for _, m := range []proto.Message{
		&Entry{}, &Message{}, &HardState{}, &ConfState{}, &ConfChange{},
		&ConfChangeSingle{}, &ConfChangeV2{}, &Snapshot{}, &SnapshotMetadata{},
	} {
		data, err := proto.Marshal(m)
		require.NoError(t, err)
		require.Empty(t, data, "%T", m)
	}
}

func TestProtoPackageName(t *testing.T) {
	tests := []struct {
		msg  proto.Message
		want string
	}{
		{&Entry{}, "tickraft.raftpb.Entry"},
		{&SnapshotMetadata{}, "tickraft.raftpb.SnapshotMetadata"},
		{&Snapshot{}, "tickraft.raftpb.Snapshot"},
		{&Message{}, "tickraft.raftpb.Message"},
		{&HardState{}, "tickraft.raftpb.HardState"},
		{&ConfState{}, "tickraft.raftpb.ConfState"},
		{&ConfChange{}, "tickraft.raftpb.ConfChange"},
		{&ConfChangeSingle{}, "tickraft.raftpb.ConfChangeSingle"},
		{&ConfChangeV2{}, "tickraft.raftpb.ConfChangeV2"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, string(tt.msg.ProtoReflect().Descriptor().FullName()))
	}
	require.Equal(t, "tickraft.raftpb.MessageType", string(MsgApp.Descriptor().FullName()))
	require.Equal(t, "tickraft.raftpb.EntryType", string(EntryNormal.Descriptor().FullName()))
	require.Equal(t, "tickraft.raftpb.ConfChangeType", string(ConfChangeAddNode.Descriptor().FullName()))
	require.Equal(t, "tickraft.raftpb.ConfChangeTransition",
		string(ConfChangeTransitionAuto.Descriptor().FullName()))
	require.Equal(t, "tickraft.raftpb", string(File_github_com_tickraft_raft_raftpb_raft_proto.Package()))
	// protobuf-go also registers the file path process-wide; a bare
	// "raft.proto" collides with other raft libraries in the same binary.
	require.Equal(t, "github.com/tickraft/raft/raftpb/raft.proto",
		(&Entry{}).ProtoReflect().Descriptor().ParentFile().Path())
}
