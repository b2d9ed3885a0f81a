package raftpb

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

func ccs(t testing.TB, s string) []*ConfChangeSingle {
	t.Helper()
	l, err := ConfChangesFromString(s)
	require.NoError(t, err)
	return l
}

func requireSameChanges(t testing.TB, want, got []*ConfChangeSingle) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, proto.Equal(want[i], got[i]), "change %d: want %v, got %v", i, want[i], got[i])
	}
}

func TestConfChangesFromString(t *testing.T) {
	tests := []struct {
		in   string
		want []*ConfChangeSingle
	}{
		{"", nil},
		{" \t\n", nil},
		{"v1", []*ConfChangeSingle{{Type: ConfChangeAddNode, NodeId: 1}}},
		{"v1 l2 r3 u4", []*ConfChangeSingle{
			{Type: ConfChangeAddNode, NodeId: 1},
			{Type: ConfChangeAddLearnerNode, NodeId: 2},
			{Type: ConfChangeRemoveNode, NodeId: 3},
			{Type: ConfChangeUpdateNode, NodeId: 4},
		}},
		{"\tr10\n  v10 ", []*ConfChangeSingle{
			{Type: ConfChangeRemoveNode, NodeId: 10},
			{Type: ConfChangeAddNode, NodeId: 10},
		}},
		// Leading zeros are accepted; printing normalizes them away.
		{"l007", []*ConfChangeSingle{{Type: ConfChangeAddLearnerNode, NodeId: 7}}},
		{"u18446744073709551615", []*ConfChangeSingle{{Type: ConfChangeUpdateNode, NodeId: maxU}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ConfChangesFromString(tt.in)
			require.NoError(t, err)
			requireSameChanges(t, tt.want, got)
		})
	}
}

func TestConfChangesFromStringErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"x1", `conf change "x1": unknown change type 'x', want one of v, l, r, u`},
		{"V1", `conf change "V1": unknown change type 'V'`},
		{"1", `conf change "1": unknown change type '1'`},
		{"é1", `conf change "é1": unknown change type 'é'`},
		{"-v1", `unknown change type '-'`},
		{"v", `conf change "v": missing node ID`},
		{"v1 l", `conf change "l": missing node ID`},
		{"v 1", `conf change "v": missing node ID`},
		{"vx", `conf change "vx": invalid node ID "x"`},
		{"v1x", `conf change "v1x": invalid node ID "1x"`},
		{"v-1", `conf change "v-1": invalid node ID "-1"`},
		{"v+1", `conf change "v+1": invalid node ID "+1"`},
		{"v1.0", `conf change "v1.0": invalid node ID "1.0"`},
		{"v0x1", `conf change "v0x1": invalid node ID "0x1"`},
		{"r18446744073709551616", `invalid node ID "18446744073709551616"`},
		{"v1 l2 r0", `conf change "r0": node ID 0 is not a valid node`},
		{"u000", `conf change "u000": node ID 0 is not a valid node`},
		{"v1,l2", `conf change "v1,l2": invalid node ID "1,l2"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ConfChangesFromString(tt.in)
			require.Error(t, err)
			require.Nil(t, got)
			require.Contains(t, err.Error(), tt.wantErr)
			require.True(t, strings.HasPrefix(err.Error(), "raftpb: "), err.Error())
		})
	}
}

func TestConfChangesToString(t *testing.T) {
	tests := []struct {
		in   []*ConfChangeSingle
		want string
	}{
		{nil, ""},
		{[]*ConfChangeSingle{}, ""},
		{[]*ConfChangeSingle{{Type: ConfChangeAddNode, NodeId: 1}}, "v1"},
		{[]*ConfChangeSingle{
			{Type: ConfChangeAddNode, NodeId: 1},
			{Type: ConfChangeAddLearnerNode, NodeId: 2},
			{Type: ConfChangeRemoveNode, NodeId: 3},
			{Type: ConfChangeUpdateNode, NodeId: maxU},
		}, "v1 l2 r3 u18446744073709551615"},
		// Not expressible in the text form, but still printed.
		{[]*ConfChangeSingle{{}}, "v0"},
		{[]*ConfChangeSingle{{Type: ConfChangeType(9), NodeId: 3}}, "?9:3"},
		{[]*ConfChangeSingle{{Type: ConfChangeType(-2), NodeId: 3}}, "?-2:3"},
		{[]*ConfChangeSingle{nil, {Type: ConfChangeRemoveNode, NodeId: 2}}, "<nil> r2"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ConfChangesToString(tt.in))
	}
}

// changeList generates valid change lists for testing/quick.
type changeList []*ConfChangeSingle

func (changeList) Generate(r *rand.Rand, size int) reflect.Value {
	types := []ConfChangeType{ConfChangeAddNode, ConfChangeAddLearnerNode, ConfChangeRemoveNode, ConfChangeUpdateNode}
	n := r.Intn(size + 1)
	l := make(changeList, 0, n)
	for range n {
		var id uint64
		switch r.Intn(3) {
		case 0:
			id = 1 + uint64(r.Intn(9)) // one digit
		case 1:
			id = 1 + uint64(r.Intn(1000))
		default:
			id = r.Uint64() | 1 // any width, never 0
		}
		l = append(l, &ConfChangeSingle{Type: types[r.Intn(len(types))], NodeId: id})
	}
	return reflect.ValueOf(l)
}

func TestConfChangesStringRoundTrip(t *testing.T) {
	// Lists to text and back.
	cfg := &quick.Config{MaxCount: 1000, Rand: rand.New(rand.NewSource(42))}
	err := quick.Check(func(l changeList) bool {
		s := ConfChangesToString(l)
		got, err := ConfChangesFromString(s)
		if err != nil || len(got) != len(l) {
			t.Logf("%q: %v, %d changes", s, err, len(got))
			return false
		}
		for i := range l {
			if !proto.Equal(l[i], got[i]) {
				return false
			}
		}
		return true
	}, cfg)
	require.NoError(t, err)

	// Text to lists and back, with arbitrary white space between tokens.
	r := rand.New(rand.NewSource(7))
	spaces := []string{" ", "  ", "\t", "\n", " \t "}
	for range 200 {
		l := changeList{}.Generate(r, 10).Interface().(changeList)
		canonical := ConfChangesToString(l)
		var b strings.Builder
		for i, tok := range strings.Fields(canonical) {
			if i > 0 || r.Intn(2) == 0 {
				b.WriteString(spaces[r.Intn(len(spaces))])
			}
			b.WriteString(tok)
		}
		got, err := ConfChangesFromString(b.String())
		require.NoError(t, err, "%q", b.String())
		require.Equal(t, canonical, ConfChangesToString(got))
	}
}

func TestConfChangeAsV2(t *testing.T) {
	for _, typ := range []ConfChangeType{ConfChangeAddNode, ConfChangeRemoveNode, ConfChangeUpdateNode, ConfChangeAddLearnerNode} {
		v1 := &ConfChange{Type: typ, NodeId: 5, Context: []byte("ctx"), Id: 99}
		want := &ConfChangeV2{
			Transition: ConfChangeTransitionAuto,
			Changes:    []*ConfChangeSingle{{Type: typ, NodeId: 5}},
			Context:    []byte("ctx"),
		}
		got := v1.AsV2()
		require.True(t, proto.Equal(want, got), "%v: got %v", typ, got)

		same, ok := v1.AsV1()
		require.True(t, ok)
		require.Same(t, v1, same)
	}

	// Zero value.
	got := (&ConfChange{}).AsV2()
	require.True(t, proto.Equal(&ConfChangeV2{Changes: []*ConfChangeSingle{{}}}, got))

	v2 := &ConfChangeV2{Changes: ccs(t, "v1")}
	require.Same(t, v2, v2.AsV2())
	v1, ok := v2.AsV1()
	require.False(t, ok)
	require.Nil(t, v1)
}

func TestEnterLeaveJoint(t *testing.T) {
	const (
		auto     = ConfChangeTransitionAuto
		implicit = ConfChangeTransitionJointImplicit
		explicit = ConfChangeTransitionJointExplicit
	)
	tests := []struct {
		name       string
		cc         *ConfChangeV2
		autoLeave  bool
		enter      bool
		leaveJoint bool
	}{
		{"empty", &ConfChangeV2{}, false, false, true},
		{"empty with context", &ConfChangeV2{Context: []byte("x")}, false, false, true},
		{"empty implicit", &ConfChangeV2{Transition: implicit}, false, false, true},
		{"empty explicit", &ConfChangeV2{Transition: explicit, Context: []byte("x")}, false, false, true},
		{"empty changes slice", &ConfChangeV2{Changes: []*ConfChangeSingle{}}, false, false, true},

		{"one auto", &ConfChangeV2{Changes: ccs(t, "v1")}, false, false, false},
		{"one auto with context", &ConfChangeV2{Changes: ccs(t, "r1"), Context: []byte("x")}, false, false, false},
		{"one implicit", &ConfChangeV2{Transition: implicit, Changes: ccs(t, "v1")}, true, true, false},
		{"one explicit", &ConfChangeV2{Transition: explicit, Changes: ccs(t, "l1")}, false, true, false},

		{"two auto", &ConfChangeV2{Changes: ccs(t, "v1 l2")}, true, true, false},
		{"two implicit", &ConfChangeV2{Transition: implicit, Changes: ccs(t, "v1 r2")}, true, true, false},
		{"three explicit", &ConfChangeV2{Transition: explicit, Changes: ccs(t, "v1 r2 u3")}, false, true, false},

		{"one unknown transition", &ConfChangeV2{Transition: ConfChangeTransition(7), Changes: ccs(t, "v1")}, false, true, false},
		{"empty unknown transition", &ConfChangeV2{Transition: ConfChangeTransition(7)}, false, false, true},

		{"from v1", (&ConfChange{Type: ConfChangeAddNode, NodeId: 2}).AsV2(), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			autoLeave, ok := tt.cc.EnterJoint()
			assert.Equal(t, tt.enter, ok, "EnterJoint ok")
			assert.Equal(t, tt.autoLeave, autoLeave, "EnterJoint autoLeave")
			assert.Equal(t, tt.leaveJoint, tt.cc.LeaveJoint(), "LeaveJoint")
			assert.False(t, ok && tt.cc.LeaveJoint(), "both enter and leave")
		})
	}
}

func TestMarshalConfChange(t *testing.T) {
	tests := []struct {
		name     string
		cc       ConfChangeI
		wantType EntryType
	}{
		{"v1", &ConfChange{Type: ConfChangeRemoveNode, NodeId: 3, Context: []byte("c"), Id: 4}, EntryConfChange},
		{"v1 zero", &ConfChange{}, EntryConfChange},
		{"v2", &ConfChangeV2{Transition: ConfChangeTransitionJointExplicit, Changes: ccs(t, "v1 l2"), Context: []byte("c")}, EntryConfChangeV2},
		{"v2 single", &ConfChangeV2{Changes: ccs(t, "v1")}, EntryConfChangeV2},
		{"v2 leave", &ConfChangeV2{}, EntryConfChangeV2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, data, err := MarshalConfChange(tt.cc)
			require.NoError(t, err)
			require.Equal(t, tt.wantType, typ)

			var got, want proto.Message
			if v1, ok := tt.cc.AsV1(); ok {
				got, want = &ConfChange{}, v1
			} else {
				got, want = &ConfChangeV2{}, tt.cc.AsV2()
			}
			require.NoError(t, proto.Unmarshal(data, got))
			require.True(t, proto.Equal(want, got), "got %v", got)
		})
	}

	_, _, err := MarshalConfChange(nil)
	require.Error(t, err)
}

func TestUnmarshalConfChange(t *testing.T) {
	v1 := &ConfChange{Type: ConfChangeAddLearnerNode, NodeId: 7, Context: []byte("ctx")}
	v2 := &ConfChangeV2{Transition: ConfChangeTransitionJointExplicit, Changes: []*ConfChangeSingle{
		{Type: ConfChangeAddNode, NodeId: 2}, {Type: ConfChangeRemoveNode, NodeId: 3},
	}}
	for _, cc := range []ConfChangeI{v1, v2, &ConfChangeV2{}} {
		typ, data, err := MarshalConfChange(cc)
		require.NoError(t, err)
		got, err := UnmarshalConfChange(&Entry{Index: 5, Type: typ, Data: data})
		require.NoError(t, err)
		require.True(t, proto.Equal(cc.AsV2(), got.AsV2()), "round trip of %v", cc)
		_, gotV1 := got.AsV1()
		_, wantV1 := cc.AsV1()
		require.Equal(t, wantV1, gotV1)
	}
	_, err := UnmarshalConfChange(&Entry{Index: 3, Type: EntryNormal})
	require.ErrorContains(t, err, "holds no configuration change")
	_, err = UnmarshalConfChange(&Entry{Index: 4, Type: EntryConfChangeV2, Data: []byte{0xff, 0xff}})
	require.ErrorContains(t, err, "undecodable ConfChangeV2")
	_, err = UnmarshalConfChange(nil)
	require.Error(t, err)
}
