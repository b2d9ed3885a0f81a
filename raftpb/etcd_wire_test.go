package raftpb

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// TestEtcdWireBytes pins the encoding of every message type to the bytes
// etcd raft v3.7.0 (go.etcd.io/raft/v3/raftpb) writes for the same values,
// so that this module notices a renumbered field without the bench module,
// whose etcdcompat tests check every field and value against etcd raft
// itself. The bytes were printed by etcd raft's raftpb.
func TestEtcdWireBytes(t *testing.T) {
	cs := func() *ConfState {
		return &ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}, VotersOutgoing: []uint64{1, 4}, LearnersNext: []uint64{4}, AutoLeave: true}
	}
	tests := []struct {
		name string
		msg  proto.Message
		etcd string
	}{
		{"Entry", &Entry{Term: 5, Index: 42, Type: EntryConfChange, Data: []byte("d")}, "08011005182a220164"},
		{"HardState", &HardState{Term: 7, Vote: 3, Commit: 300}, "0807100318ac02"},
		{"ConfState", cs(), "0801080210031801180420042801"},
		{"Snapshot", &Snapshot{Data: []byte("s"), Metadata: &SnapshotMetadata{ConfState: cs(), Index: 9, Term: 2}},
			"0a017312140a0e080108021003180118042004280110091802"},
		{"Message", &Message{
			Type: MsgStorageAppend, To: 1, From: 2, Term: 3, LogTerm: 4, Index: 5,
			Entries: []*Entry{{Term: 6, Index: 7, Type: EntryConfChangeV2, Data: []byte("e")}},
			Commit:  8, Vote: 9, Snapshot: &Snapshot{Data: []byte("s"), Metadata: &SnapshotMetadata{Index: 10, Term: 11}},
			Reject: true, RejectHint: 12, Context: []byte("c"),
			Responses: []*Message{{Type: MsgForgetLeader, To: 13, From: 14}},
		}, "0813100118022003280430053a0908021006180722016540084a090a01731204100a180b5001580c620163680972060817100d180e"},
		{"ConfChange", &ConfChange{Type: ConfChangeAddLearnerNode, NodeId: 3, Context: []byte("c"), Id: 4}, "080410031803220163"},
		{"ConfChangeV2", &ConfChangeV2{
			Transition: ConfChangeTransitionJointExplicit,
			Changes:    []*ConfChangeSingle{{Type: ConfChangeRemoveNode, NodeId: 5}, {Type: ConfChangeUpdateNode, NodeId: 6}},
			Context:    []byte("x"),
		}, "08021204080110051204080210061a0178"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := hex.DecodeString(tt.etcd)
			require.NoError(t, err)
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(tt.msg)
			require.NoError(t, err)
			require.Equal(t, tt.etcd, hex.EncodeToString(got), "tickraft encodes %v differently from etcd raft", tt.msg)
			back := tt.msg.ProtoReflect().New().Interface()
			require.NoError(t, proto.Unmarshal(want, back))
			require.True(t, proto.Equal(tt.msg, back), "etcd raft's bytes decode to %v", back)
		})
	}
}

// TestEtcdEnumValues pins every enum value to etcd raft's number for it.
func TestEtcdEnumValues(t *testing.T) {
	require.Equal(t, map[int32]string{0: "EntryNormal", 1: "EntryConfChange", 2: "EntryConfChangeV2"}, EntryType_name)
	require.Equal(t, map[int32]string{
		0: "MsgHup", 1: "MsgBeat", 2: "MsgProp", 3: "MsgApp", 4: "MsgAppResp", 5: "MsgVote", 6: "MsgVoteResp",
		7: "MsgSnap", 8: "MsgHeartbeat", 9: "MsgHeartbeatResp", 10: "MsgUnreachable", 11: "MsgSnapStatus",
		12: "MsgCheckQuorum", 13: "MsgTransferLeader", 14: "MsgTimeoutNow", 15: "MsgReadIndex",
		16: "MsgReadIndexResp", 17: "MsgPreVote", 18: "MsgPreVoteResp", 19: "MsgStorageAppend",
		20: "MsgStorageAppendResp", 21: "MsgStorageApply", 22: "MsgStorageApplyResp", 23: "MsgForgetLeader",
	}, MessageType_name)
	require.Equal(t, map[int32]string{
		0: "ConfChangeAddNode", 1: "ConfChangeRemoveNode", 2: "ConfChangeUpdateNode", 3: "ConfChangeAddLearnerNode",
	}, ConfChangeType_name)
	require.Equal(t, map[int32]string{
		0: "ConfChangeTransitionAuto", 1: "ConfChangeTransitionJointImplicit", 2: "ConfChangeTransitionJointExplicit",
	}, ConfChangeTransition_name)
}
