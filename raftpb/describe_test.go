package raftpb

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// confChangeEntry builds a conf change entry the way a proposer does.
func confChangeEntry(t testing.TB, term, index uint64, cc ConfChangeI) *Entry {
	t.Helper()
	typ, data, err := MarshalConfChange(cc)
	require.NoError(t, err)
	return &Entry{Term: term, Index: index, Type: typ, Data: data}
}

func lenFormatter(data []byte) string { return fmt.Sprintf("<%d bytes>", len(data)) }

func TestDescribeEntry(t *testing.T) {
	tests := []struct {
		e    *Entry
		f    EntryFormatter
		want string
	}{
		{nil, nil, `<nil>`},
		{&Entry{}, nil, `0/0 EntryNormal ""`},
		{&Entry{Term: 1, Index: 5, Data: []byte("foo")}, nil, `1/5 EntryNormal "foo"`},
		{&Entry{Term: 1, Index: 6, Data: []byte{0, 0xff, '"'}}, nil, `1/6 EntryNormal "\x00\xff\""`},
		{&Entry{Term: maxU, Index: maxU}, nil, `18446744073709551615/18446744073709551615 EntryNormal ""`},
		{&Entry{Term: 1, Index: 5, Data: []byte("foo")}, lenFormatter, `1/5 EntryNormal <3 bytes>`},
		{&Entry{Term: 1, Index: 5, Data: []byte("foo")}, func([]byte) string { return "" }, `1/5 EntryNormal`},
		{&Entry{Term: 1, Index: 2, Type: EntryType(5), Data: []byte("d")}, nil, `1/2 EntryType(5) "d"`},

		{confChangeEntry(t, 2, 7, &ConfChange{Type: ConfChangeAddNode, NodeId: 2}), nil,
			`2/7 EntryConfChange v2`},
		{confChangeEntry(t, 2, 8, &ConfChange{Type: ConfChangeRemoveNode, NodeId: 3, Context: []byte("ctx"), Id: 9}), lenFormatter,
			`2/8 EntryConfChange r3 Context:"ctx"`},
		{confChangeEntry(t, 2, 9, &ConfChange{Type: ConfChangeAddLearnerNode, NodeId: 4}), nil,
			`2/9 EntryConfChange l4`},
		{confChangeEntry(t, 2, 9, &ConfChange{Type: ConfChangeUpdateNode, NodeId: 5}), nil,
			`2/9 EntryConfChange u5`},
		{&Entry{Term: 2, Index: 10, Type: EntryConfChange}, nil, `2/10 EntryConfChange v0`},
		{&Entry{Term: 2, Index: 11, Type: EntryConfChange, Data: []byte{0xff}}, nil,
			`2/11 EntryConfChange <undecodable ConfChange, 1 bytes>`},

		{confChangeEntry(t, 2, 7, &ConfChangeV2{Changes: ccs(t, "v2 l3")}), nil,
			`2/7 EntryConfChangeV2 v2 l3`},
		{confChangeEntry(t, 3, 9, &ConfChangeV2{
			Transition: ConfChangeTransitionJointExplicit, Changes: ccs(t, "v4 r1"), Context: []byte("c"),
		}), lenFormatter, `3/9 EntryConfChangeV2 v4 r1 Transition:JointExplicit Context:"c"`},
		{confChangeEntry(t, 3, 9, &ConfChangeV2{Transition: ConfChangeTransitionJointImplicit, Changes: ccs(t, "u1")}), nil,
			`3/9 EntryConfChangeV2 u1 Transition:JointImplicit`},
		{confChangeEntry(t, 3, 9, &ConfChangeV2{Transition: ConfChangeTransition(9), Changes: ccs(t, "u1")}), nil,
			`3/9 EntryConfChangeV2 u1 Transition:ConfChangeTransition(9)`},
		{&Entry{Term: 3, Index: 10, Type: EntryConfChangeV2}, nil, `3/10 EntryConfChangeV2 LeaveJoint`},
		{confChangeEntry(t, 3, 10, &ConfChangeV2{Context: []byte("bye")}), nil,
			`3/10 EntryConfChangeV2 LeaveJoint Context:"bye"`},
		{&Entry{Term: 3, Index: 11, Type: EntryConfChangeV2, Data: []byte{0x12, 0x05, 0x08}}, nil,
			`3/11 EntryConfChangeV2 <undecodable ConfChangeV2, 3 bytes>`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, DescribeEntry(tt.e, tt.f))
		})
	}
}

func TestDescribeEntries(t *testing.T) {
	require.Equal(t, "", DescribeEntries(nil, nil))
	ents := []*Entry{
		{Term: 1, Index: 1},
		{Term: 1, Index: 2, Data: []byte("a")},
		nil,
		confChangeEntry(t, 2, 3, &ConfChangeV2{Changes: ccs(t, "v1 v2")}),
	}
	want := `1/1 EntryNormal ""
1/2 EntryNormal "a"
<nil>
2/3 EntryConfChangeV2 v1 v2
`
	require.Equal(t, want, DescribeEntries(ents, nil))
	require.Equal(t, "1/1 EntryNormal <0 bytes>\n", DescribeEntries(ents[:1], lenFormatter))
}

func TestDescribeMessage(t *testing.T) {
	snap := &Snapshot{
		Data:     []byte("image"),
		Metadata: &SnapshotMetadata{Index: 10, Term: 2, ConfState: &ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}},
	}
	tests := []struct {
		m    *Message
		f    EntryFormatter
		want string
	}{
		{nil, nil, `<nil>`},
		{&Message{}, nil, `0->0 MsgHup`},
		{&Message{Type: MessageType(99), From: 1, To: 2}, nil, `1->2 MessageType(99)`},
		{&Message{
			Type: MsgApp, From: 1, To: 2, Term: 3, LogTerm: 2, Index: 5, Commit: 4,
			Entries: []*Entry{{Term: 3, Index: 6, Data: []byte("x")}},
		}, nil, `1->2 MsgApp Term:3 Log:2/5 Commit:4 Entries:[3/6 EntryNormal "x"]`},
		{&Message{
			Type: MsgApp, From: 1, To: 2, Term: 3, LogTerm: 2, Index: 5,
			Entries: []*Entry{
				{Term: 3, Index: 6, Data: []byte("x")},
				nil,
				confChangeEntry(t, 3, 8, &ConfChangeV2{}),
			},
		}, lenFormatter, `1->2 MsgApp Term:3 Log:2/5 Entries:[3/6 EntryNormal <1 bytes>, <nil>, 3/8 EntryConfChangeV2 LeaveJoint]`},
		{&Message{Type: MsgApp, From: 1, To: 2, Term: 1}, nil, `1->2 MsgApp Term:1`},
		{&Message{Type: MsgAppResp, From: 2, To: 1, Term: 3, LogTerm: 1, Index: 4, Reject: true, RejectHint: 6}, nil,
			`2->1 MsgAppResp Term:3 Log:1/4 Rejected Hint:6`},
		{&Message{Type: MsgAppResp, From: 2, To: 1, Term: 3, Reject: true}, nil,
			`2->1 MsgAppResp Term:3 Rejected Hint:0`},
		{&Message{Type: MsgAppResp, From: 2, To: 1, Term: 3, Index: 7}, nil,
			`2->1 MsgAppResp Term:3 Log:0/7`},
		{&Message{Type: MsgAppResp, From: 2, To: 1, RejectHint: 3}, nil, `2->1 MsgAppResp Hint:3`},
		{&Message{Type: MsgVote, From: 3, To: 1, Term: 5, LogTerm: 4, Index: 20}, nil,
			`3->1 MsgVote Term:5 Log:4/20`},
		{&Message{Type: MsgPreVoteResp, From: 1, To: 3, Term: 6, Reject: true}, nil,
			`1->3 MsgPreVoteResp Term:6 Rejected Hint:0`},
		{&Message{Type: MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: 5, Context: []byte("rctx")}, nil,
			`1->2 MsgHeartbeat Term:3 Commit:5 Context:"rctx"`},
		{&Message{Type: MsgSnap, From: 1, To: 4, Term: 2, Snapshot: snap}, nil,
			`1->4 MsgSnap Term:2 Snapshot:(Index:10 Term:2 ConfState:(Voters:[1 2 3] Learners:[4]))`},
		{&Message{Type: MsgSnap, From: 1, To: 4, Term: 2, Snapshot: &Snapshot{Data: []byte("x")}}, nil,
			`1->4 MsgSnap Term:2`},
		{&Message{Type: MsgProp, From: maxU, To: maxU, Entries: []*Entry{{Data: []byte("p")}}}, nil,
			`18446744073709551615->18446744073709551615 MsgProp Entries:[0/0 EntryNormal "p"]`},
		{&Message{
			Type: MsgStorageAppend, From: 1, To: math.MaxUint64 - 1, Term: 5, Vote: 1, Commit: 8,
			Entries:  []*Entry{{Term: 5, Index: 9, Data: []byte("z")}},
			Snapshot: snap,
			Responses: []*Message{
				{Type: MsgStorageAppendResp, From: math.MaxUint64 - 1, To: 1, Term: 5, LogTerm: 5, Index: 9, Snapshot: snap},
				{Type: MsgAppResp, From: 1, To: 2, Term: 5, Index: 9},
				{Type: MsgVoteResp, From: 1, To: 3, Term: 5, Responses: []*Message{{Type: MsgBeat}}},
			},
		}, nil, `1->18446744073709551614 MsgStorageAppend Term:5 Commit:8 Vote:1` +
			` Entries:[5/9 EntryNormal "z"]` +
			` Snapshot:(Index:10 Term:2 ConfState:(Voters:[1 2 3] Learners:[4]))` +
			` Responses:[18446744073709551614->1 MsgStorageAppendResp Term:5 Log:5/9 Snapshot:(Index:10 Term:2 ConfState:(Voters:[1 2 3] Learners:[4]))` +
			`, 1->2 MsgAppResp Term:5 Log:0/9` +
			`, 1->3 MsgVoteResp Term:5 Responses:[0->0 MsgBeat]]`},
		{&Message{Type: MsgStorageApply, Responses: []*Message{nil}}, nil, `0->0 MsgStorageApply Responses:[<nil>]`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, DescribeMessage(tt.m, tt.f))
		})
	}
}

func TestDescribeStates(t *testing.T) {
	tests := []struct {
		got  string
		want string
	}{
		{DescribeHardState(nil), `Term:0 Vote:0 Commit:0`},
		{DescribeHardState(&HardState{}), `Term:0 Vote:0 Commit:0`},
		{DescribeHardState(&HardState{Term: 1, Vote: 2, Commit: 3}), `Term:1 Vote:2 Commit:3`},
		{DescribeHardState(&HardState{Term: 4, Commit: maxU}), `Term:4 Vote:0 Commit:18446744073709551615`},

		{DescribeConfState(nil), `Voters:[] Learners:[]`},
		{DescribeConfState(&ConfState{}), `Voters:[] Learners:[]`},
		{DescribeConfState(&ConfState{Voters: []uint64{}, Learners: []uint64{}, VotersOutgoing: []uint64{}}), `Voters:[] Learners:[]`},
		{DescribeConfState(&ConfState{Voters: []uint64{3, 1, 2}}), `Voters:[3 1 2] Learners:[]`},
		{DescribeConfState(&ConfState{Learners: []uint64{4}}), `Voters:[] Learners:[4]`},
		{DescribeConfState(&ConfState{
			Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2}, Learners: []uint64{4}, LearnersNext: []uint64{5}, AutoLeave: true,
		}), `Voters:[1 2 3] VotersOutgoing:[1 2] Learners:[4] LearnersNext:[5] AutoLeave:true`},
		{DescribeConfState(&ConfState{Voters: []uint64{1}, AutoLeave: true}), `Voters:[1] Learners:[] AutoLeave:true`},

		{DescribeSnapshot(nil), `Index:0 Term:0 ConfState:(Voters:[] Learners:[])`},
		{DescribeSnapshot(&Snapshot{Data: []byte("x")}), `Index:0 Term:0 ConfState:(Voters:[] Learners:[])`},
		{DescribeSnapshot(&Snapshot{Metadata: &SnapshotMetadata{Index: 10, Term: 2}}), `Index:10 Term:2 ConfState:(Voters:[] Learners:[])`},
		{DescribeSnapshot(&Snapshot{Data: []byte("x"), Metadata: &SnapshotMetadata{
			Index: 10, Term: 2, ConfState: &ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1}},
		}}), `Index:10 Term:2 ConfState:(Voters:[1 2] VotersOutgoing:[1] Learners:[])`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got)
	}
}

// TestDescribeStable guards against descriptions that vary between calls,
// as the protobuf text format does.
func TestDescribeStable(t *testing.T) {
	m := &Message{Type: MsgApp, From: 1, To: 2, Term: 3, Entries: []*Entry{{Term: 3, Index: 1}}, Snapshot: fullSnapshot()}
	first := DescribeMessage(m, nil)
	for range 10 {
		require.Equal(t, first, DescribeMessage(m, nil))
	}
}

func TestIsEmptyHardState(t *testing.T) {
	assert.True(t, IsEmptyHardState(nil))
	assert.True(t, IsEmptyHardState(&HardState{}))
	assert.False(t, IsEmptyHardState(&HardState{Term: 1}))
	assert.False(t, IsEmptyHardState(&HardState{Vote: 1}))
	assert.False(t, IsEmptyHardState(&HardState{Commit: 1}))
}

func TestIsEmptySnap(t *testing.T) {
	assert.True(t, IsEmptySnap(nil))
	assert.True(t, IsEmptySnap(&Snapshot{}))
	assert.True(t, IsEmptySnap(&Snapshot{Data: []byte("x")}))
	assert.True(t, IsEmptySnap(&Snapshot{Metadata: &SnapshotMetadata{}}))
	assert.True(t, IsEmptySnap(&Snapshot{Metadata: &SnapshotMetadata{Term: 3, ConfState: &ConfState{Voters: []uint64{1}}}}))
	assert.False(t, IsEmptySnap(&Snapshot{Metadata: &SnapshotMetadata{Index: 1}}))
	assert.False(t, IsEmptySnap(fullSnapshot()))
}

func TestHardStateEqual(t *testing.T) {
	tests := []struct {
		a, b *HardState
		want bool
	}{
		{nil, nil, true},
		{nil, &HardState{}, true},
		{&HardState{}, nil, true},
		{&HardState{Term: 1, Vote: 2, Commit: 3}, &HardState{Term: 1, Vote: 2, Commit: 3}, true},
		{&HardState{Term: 1, Vote: 2, Commit: 3}, &HardState{Term: 2, Vote: 2, Commit: 3}, false},
		{&HardState{Term: 1, Vote: 2, Commit: 3}, &HardState{Term: 1, Vote: 1, Commit: 3}, false},
		{&HardState{Term: 1, Vote: 2, Commit: 3}, &HardState{Term: 1, Vote: 2, Commit: 4}, false},
		{nil, &HardState{Commit: 1}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, HardStateEqual(tt.a, tt.b), "%s vs %s", DescribeHardState(tt.a), DescribeHardState(tt.b))
		assert.Equal(t, tt.want, HardStateEqual(tt.b, tt.a), "symmetry")
	}
}

func TestConfStateEquivalent(t *testing.T) {
	tests := []struct {
		name string
		a, b *ConfState
		ok   bool
	}{
		{"nils", nil, nil, true},
		{"nil and empty", nil, &ConfState{}, true},
		{"nil and empty lists", &ConfState{Voters: []uint64{}, LearnersNext: []uint64{}}, nil, true},
		{"same", fullConfState(), fullConfState(), true},
		{"order", &ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{5, 4}},
			&ConfState{Voters: []uint64{3, 1, 2}, Learners: []uint64{4, 5}}, true},
		{"joint order", &ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{2, 3}, LearnersNext: []uint64{7, 6}},
			&ConfState{Voters: []uint64{2, 1}, VotersOutgoing: []uint64{3, 2}, LearnersNext: []uint64{6, 7}}, true},
		{"voters", &ConfState{Voters: []uint64{1, 2}}, &ConfState{Voters: []uint64{1, 3}}, false},
		{"voter missing", &ConfState{Voters: []uint64{1, 2}}, &ConfState{Voters: []uint64{1}}, false},
		{"duplicate", &ConfState{Voters: []uint64{1, 1}}, &ConfState{Voters: []uint64{1}}, false},
		{"learner vs voter", &ConfState{Voters: []uint64{1}}, &ConfState{Learners: []uint64{1}}, false},
		{"outgoing", &ConfState{Voters: []uint64{1}}, &ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1}}, false},
		{"learners next", &ConfState{Voters: []uint64{1}, LearnersNext: []uint64{2}}, &ConfState{Voters: []uint64{1}}, false},
		{"auto leave", &ConfState{Voters: []uint64{1}, AutoLeave: true}, &ConfState{Voters: []uint64{1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var aBefore, bBefore *ConfState
			if tt.a != nil {
				aBefore = proto.Clone(tt.a).(*ConfState)
			}
			if tt.b != nil {
				bBefore = proto.Clone(tt.b).(*ConfState)
			}
			for _, err := range []error{ConfStateEquivalent(tt.a, tt.b), ConfStateEquivalent(tt.b, tt.a)} {
				if tt.ok {
					require.NoError(t, err)
				} else {
					require.Error(t, err)
				}
			}
			// The inputs are left as they were (not sorted in place).
			if tt.a != nil {
				require.True(t, proto.Equal(aBefore, tt.a))
			}
			if tt.b != nil {
				require.True(t, proto.Equal(bBefore, tt.b))
			}
		})
	}

	err := ConfStateEquivalent(
		&ConfState{Voters: []uint64{3, 1}, Learners: []uint64{5}},
		&ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1}, AutoLeave: true},
	)
	require.EqualError(t, err, "raftpb: conf states differ: (Voters:[1 3] Learners:[5]) is not "+
		"(Voters:[1 2] VotersOutgoing:[1] Learners:[] AutoLeave:true)")
}

func TestMessageTypeTables(t *testing.T) {
	// The tables cover exactly the declared message types.
	require.Len(t, localMsgs, len(MessageType_name))
	require.Len(t, responseMsgs, len(MessageType_name))
	for i := range len(MessageType_name) {
		_, ok := MessageType_name[int32(i)]
		require.True(t, ok, "message types are not dense at %d", i)
	}

	local := map[MessageType]bool{
		MsgHup: true, MsgBeat: true, MsgUnreachable: true, MsgSnapStatus: true, MsgCheckQuorum: true,
		MsgStorageAppend: true, MsgStorageAppendResp: true, MsgStorageApply: true, MsgStorageApplyResp: true,
	}
	response := map[MessageType]bool{
		MsgAppResp: true, MsgVoteResp: true, MsgHeartbeatResp: true, MsgUnreachable: true,
		MsgReadIndexResp: true, MsgPreVoteResp: true, MsgStorageAppendResp: true, MsgStorageApplyResp: true,
	}
	voteResp := map[MessageType]MessageType{MsgVote: MsgVoteResp, MsgPreVote: MsgPreVoteResp}
	for v, name := range MessageType_name {
		typ := MessageType(v)
		assert.Equal(t, local[typ], IsLocalMsg(typ), "IsLocalMsg(%s)", name)
		assert.Equal(t, response[typ], IsResponseMsg(typ), "IsResponseMsg(%s)", name)

		resp, ok := VoteRespMsgType(typ)
		want, wantOK := voteResp[typ]
		assert.Equal(t, wantOK, ok, "VoteRespMsgType(%s)", name)
		assert.Equal(t, want, resp, "VoteRespMsgType(%s)", name)
	}

	for _, typ := range []MessageType{-1, -100, MsgForgetLeader + 1, 1000, math.MaxInt32, math.MinInt32} {
		assert.NotPanics(t, func() {
			assert.False(t, IsLocalMsg(typ), "IsLocalMsg(%d)", typ)
			assert.False(t, IsResponseMsg(typ), "IsResponseMsg(%d)", typ)
			_, ok := VoteRespMsgType(typ)
			assert.False(t, ok)
		})
	}
}

func TestEntrySizes(t *testing.T) {
	require.Zero(t, PayloadSize(nil))
	require.Zero(t, EntrySize(nil))
	require.Zero(t, PayloadSize(&Entry{Term: 1, Index: 1}))
	require.Zero(t, EntrySize(&Entry{}))

	e := &Entry{Term: 5, Index: 300, Type: EntryConfChangeV2, Data: []byte("hello")}
	require.Equal(t, uint64(5), PayloadSize(e))
	data, err := proto.Marshal(e)
	require.NoError(t, err)
	require.Equal(t, uint64(len(data)), EntrySize(e))
	// term (2 bytes) + index (3) + type (2) + data (1 tag + 1 length + 5).
	require.Equal(t, uint64(14), EntrySize(e))
}
