package raftpb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
)

// This file holds the stable, human-readable descriptions of the raftpb
// types used in tests and logs, and small predicates on them.
//
// Conventions of the descriptions:
//   - node IDs are printed as plain decimal numbers; 0 (no node) prints as 0;
//   - an entry prints as term/index, a log position in a message as
//     logterm/index;
//   - optional fields are left out when they hold their zero value, so that
//     lines stay short;
//   - enum values unknown to this package print as TypeName(number);
//   - a nil *Entry or *Message prints as <nil>, whereas a nil *HardState,
//     *ConfState or *Snapshot prints like its empty value.

// EntryFormatter renders the Data of an EntryNormal entry for a
// description. A nil EntryFormatter prints the data as a Go quoted string
// (%q). Conf change entries are always decoded and printed by this package;
// the formatter is not called for them.
type EntryFormatter func([]byte) string

// DescribeEntry returns a one-line description of e such as
//
//	1/5 EntryNormal "foo"
//	2/7 EntryConfChangeV2 v2 l3
//	2/8 EntryConfChange r3
//
// that is term/index, the entry type and the payload. The payload of a conf
// change entry is decoded and printed in the compact text form of
// ConfChangesToString. A ConfChangeV2 without changes prints as
// "LeaveJoint"; a transition other than Auto is added as
// "Transition:JointImplicit" or "Transition:JointExplicit" and a non-empty
// context as Context:%q. A payload that does not decode prints as
// "<undecodable ConfChangeV2, N bytes>" (likewise for v1).
func DescribeEntry(e *Entry, f EntryFormatter) string {
	var b strings.Builder
	writeEntry(&b, e, f)
	return b.String()
}

// DescribeEntries describes each of ents with DescribeEntry, one per line;
// every line, the last included, ends in a newline. No entries give the
// empty string.
func DescribeEntries(ents []*Entry, f EntryFormatter) string {
	var b strings.Builder
	for _, e := range ents {
		writeEntry(&b, e, f)
		b.WriteByte('\n')
	}
	return b.String()
}

// DescribeMessage returns a one-line description of m such as
//
//	1->2 MsgApp Term:3 Log:2/5 Commit:4 Entries:[3/6 EntryNormal "x"]
//
// It starts with from->to and the message type, followed by the fields
// that are set, in this order:
//
//	Term:N
//	Log:logterm/index     (when either is non-zero)
//	Commit:N
//	Vote:N
//	Rejected Hint:N       (when Reject is set; Hint:N alone for a hint without Reject)
//	Entries:[e1, e2]      (each as DescribeEntry with f)
//	Snapshot:(...)        (as DescribeSnapshot, unless IsEmptySnap)
//	Context:"..."         (printed with %q)
//	Responses:[m1, m2]    (each as DescribeMessage with f)
func DescribeMessage(m *Message, f EntryFormatter) string {
	var b strings.Builder
	writeMessage(&b, m, f)
	return b.String()
}

// DescribeHardState returns hs as "Term:1 Vote:2 Commit:3". All three
// fields are always printed, zero or not, so that hard states line up in
// test output. A nil hs prints as the empty hard state.
func DescribeHardState(hs *HardState) string {
	return fmt.Sprintf("Term:%d Vote:%d Commit:%d", hs.GetTerm(), hs.GetVote(), hs.GetCommit())
}

// DescribeConfState returns cs as
//
//	Voters:[1 2 3] VotersOutgoing:[1 2] Learners:[4] LearnersNext:[5] AutoLeave:true
//
// Voters and Learners are always printed (as [] when empty);
// VotersOutgoing, LearnersNext and AutoLeave only when non-empty or true.
// IDs are printed in the order stored. A nil cs prints as the empty
// configuration "Voters:[] Learners:[]".
func DescribeConfState(cs *ConfState) string {
	var b strings.Builder
	writeConfState(&b, cs)
	return b.String()
}

// DescribeSnapshot returns the metadata of s as
//
//	Index:10 Term:2 ConfState:(Voters:[1 2 3] Learners:[])
//
// The snapshot data is not printed. A nil s, or one without metadata,
// prints as index and term 0 with an empty configuration.
func DescribeSnapshot(s *Snapshot) string {
	var b strings.Builder
	writeSnapshot(&b, s)
	return b.String()
}

func writeEntry(b *strings.Builder, e *Entry, f EntryFormatter) {
	if e == nil {
		b.WriteString("<nil>")
		return
	}
	fmt.Fprintf(b, "%d/%d %s", e.Term, e.Index, entryTypeName(e.Type))
	switch e.Type {
	case EntryConfChange:
		cc := &ConfChange{}
		if err := proto.Unmarshal(e.Data, cc); err != nil {
			fmt.Fprintf(b, " <undecodable ConfChange, %d bytes>", len(e.Data))
			return
		}
		b.WriteByte(' ')
		writeConfChangeSingle(b, &ConfChangeSingle{Type: cc.Type, NodeId: cc.NodeId})
		writeContext(b, cc.Context)
	case EntryConfChangeV2:
		cc := &ConfChangeV2{}
		if err := proto.Unmarshal(e.Data, cc); err != nil {
			fmt.Fprintf(b, " <undecodable ConfChangeV2, %d bytes>", len(e.Data))
			return
		}
		b.WriteByte(' ')
		if len(cc.Changes) == 0 {
			b.WriteString("LeaveJoint")
		} else {
			b.WriteString(ConfChangesToString(cc.Changes))
		}
		if cc.Transition != ConfChangeTransitionAuto {
			b.WriteString(" Transition:")
			b.WriteString(transitionName(cc.Transition))
		}
		writeContext(b, cc.Context)
	default:
		var s string
		if f == nil {
			s = strconv.Quote(string(e.Data))
		} else {
			s = f(e.Data)
		}
		if s != "" {
			b.WriteByte(' ')
			b.WriteString(s)
		}
	}
}

func writeContext(b *strings.Builder, ctx []byte) {
	if len(ctx) > 0 {
		fmt.Fprintf(b, " Context:%q", ctx)
	}
}

func writeMessage(b *strings.Builder, m *Message, f EntryFormatter) {
	if m == nil {
		b.WriteString("<nil>")
		return
	}
	fmt.Fprintf(b, "%d->%d %s", m.From, m.To, messageTypeName(m.Type))
	if m.Term != 0 {
		fmt.Fprintf(b, " Term:%d", m.Term)
	}
	if m.LogTerm != 0 || m.Index != 0 {
		fmt.Fprintf(b, " Log:%d/%d", m.LogTerm, m.Index)
	}
	if m.Commit != 0 {
		fmt.Fprintf(b, " Commit:%d", m.Commit)
	}
	if m.Vote != 0 {
		fmt.Fprintf(b, " Vote:%d", m.Vote)
	}
	if m.Reject {
		fmt.Fprintf(b, " Rejected Hint:%d", m.RejectHint)
	} else if m.RejectHint != 0 {
		fmt.Fprintf(b, " Hint:%d", m.RejectHint)
	}
	if len(m.Entries) > 0 {
		b.WriteString(" Entries:[")
		for i, e := range m.Entries {
			if i > 0 {
				b.WriteString(", ")
			}
			writeEntry(b, e, f)
		}
		b.WriteByte(']')
	}
	if !IsEmptySnap(m.Snapshot) {
		b.WriteString(" Snapshot:(")
		writeSnapshot(b, m.Snapshot)
		b.WriteByte(')')
	}
	writeContext(b, m.Context)
	if len(m.Responses) > 0 {
		b.WriteString(" Responses:[")
		for i, r := range m.Responses {
			if i > 0 {
				b.WriteString(", ")
			}
			writeMessage(b, r, f)
		}
		b.WriteByte(']')
	}
}

func writeConfState(b *strings.Builder, cs *ConfState) {
	fmt.Fprintf(b, "Voters:%v", ids(cs.GetVoters()))
	if len(cs.GetVotersOutgoing()) > 0 {
		fmt.Fprintf(b, " VotersOutgoing:%v", cs.GetVotersOutgoing())
	}
	fmt.Fprintf(b, " Learners:%v", ids(cs.GetLearners()))
	if len(cs.GetLearnersNext()) > 0 {
		fmt.Fprintf(b, " LearnersNext:%v", cs.GetLearnersNext())
	}
	if cs.GetAutoLeave() {
		b.WriteString(" AutoLeave:true")
	}
}

// ids makes sure a nil ID list prints as [] like an empty one.
func ids(l []uint64) []uint64 {
	if l == nil {
		return []uint64{}
	}
	return l
}

func writeSnapshot(b *strings.Builder, s *Snapshot) {
	md := s.GetMetadata()
	fmt.Fprintf(b, "Index:%d Term:%d ConfState:(", md.GetIndex(), md.GetTerm())
	writeConfState(b, md.GetConfState())
	b.WriteByte(')')
}

func entryTypeName(t EntryType) string {
	if name, ok := EntryType_name[int32(t)]; ok {
		return name
	}
	return "EntryType(" + strconv.FormatInt(int64(t), 10) + ")"
}

func messageTypeName(t MessageType) string {
	if name, ok := MessageType_name[int32(t)]; ok {
		return name
	}
	return "MessageType(" + strconv.FormatInt(int64(t), 10) + ")"
}

func transitionName(t ConfChangeTransition) string {
	switch t {
	case ConfChangeTransitionAuto:
		return "Auto"
	case ConfChangeTransitionJointImplicit:
		return "JointImplicit"
	case ConfChangeTransitionJointExplicit:
		return "JointExplicit"
	}
	return "ConfChangeTransition(" + strconv.FormatInt(int64(t), 10) + ")"
}

// IsEmptyHardState reports whether hs is nil or has all fields zero.
func IsEmptyHardState(hs *HardState) bool {
	return hs.GetTerm() == 0 && hs.GetVote() == 0 && hs.GetCommit() == 0
}

// IsEmptySnap reports whether s holds no snapshot: s is nil, has no
// metadata, or has metadata index 0 (no log position is ever 0).
func IsEmptySnap(s *Snapshot) bool {
	return s.GetMetadata().GetIndex() == 0
}

// HardStateEqual reports whether a and b have the same term, vote and
// commit. A nil hard state equals the empty one.
func HardStateEqual(a, b *HardState) bool {
	return a.GetTerm() == b.GetTerm() && a.GetVote() == b.GetVote() && a.GetCommit() == b.GetCommit()
}

// ConfStateEquivalent returns nil if a and b describe the same
// configuration: the same Voters, Learners, VotersOutgoing and LearnersNext
// once each list is sorted, and the same AutoLeave. The order of IDs in a
// list does not matter, but duplicates do ([1 1] differs from [1]), since a
// duplicated ID is a bug worth reporting. A nil conf state is equivalent to
// the empty one. Otherwise the error shows both sorted configurations. The
// arguments are not modified.
func ConfStateEquivalent(a, b *ConfState) error {
	sa, sb := sortedConfState(a), sortedConfState(b)
	if slices.Equal(sa.Voters, sb.Voters) &&
		slices.Equal(sa.Learners, sb.Learners) &&
		slices.Equal(sa.VotersOutgoing, sb.VotersOutgoing) &&
		slices.Equal(sa.LearnersNext, sb.LearnersNext) &&
		sa.AutoLeave == sb.AutoLeave {
		return nil
	}
	return fmt.Errorf("raftpb: conf states differ: (%s) is not (%s)", DescribeConfState(sa), DescribeConfState(sb))
}

func sortedConfState(cs *ConfState) *ConfState {
	return &ConfState{
		Voters:         sortedIDs(cs.GetVoters()),
		Learners:       sortedIDs(cs.GetLearners()),
		VotersOutgoing: sortedIDs(cs.GetVotersOutgoing()),
		LearnersNext:   sortedIDs(cs.GetLearnersNext()),
		AutoLeave:      cs.GetAutoLeave(),
	}
}

func sortedIDs(l []uint64) []uint64 {
	if len(l) == 0 {
		return nil
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s
}

// localMsgs and responseMsgs are indexed by MessageType. Each lists every
// type (MsgForgetLeader being the last), which a test checks.
var (
	localMsgs = [...]bool{
		MsgHup:               true,
		MsgBeat:              true,
		MsgUnreachable:       true,
		MsgSnapStatus:        true,
		MsgCheckQuorum:       true,
		MsgStorageAppend:     true,
		MsgStorageAppendResp: true,
		MsgStorageApply:      true,
		MsgStorageApplyResp:  true,
		MsgForgetLeader:      false,
	}
	responseMsgs = [...]bool{
		MsgAppResp:           true,
		MsgVoteResp:          true,
		MsgHeartbeatResp:     true,
		MsgUnreachable:       true,
		MsgReadIndexResp:     true,
		MsgPreVoteResp:       true,
		MsgStorageAppendResp: true,
		MsgStorageApplyResp:  true,
		MsgForgetLeader:      false,
	}
)

// IsLocalMsg reports whether messages of type t stay within the node and
// never cross the network: MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus,
// MsgCheckQuorum and the four MsgStorage* types. It returns false for
// values that are not MessageTypes.
func IsLocalMsg(t MessageType) bool {
	return uint32(t) < uint32(len(localMsgs)) && localMsgs[t]
}

// IsResponseMsg reports whether t is the type of a response: MsgAppResp,
// MsgVoteResp, MsgHeartbeatResp, MsgUnreachable (which reports a failed
// send), MsgReadIndexResp, MsgPreVoteResp, MsgStorageAppendResp and
// MsgStorageApplyResp. It returns false for values that are not
// MessageTypes.
func IsResponseMsg(t MessageType) bool {
	return uint32(t) < uint32(len(responseMsgs)) && responseMsgs[t]
}

// VoteRespMsgType returns the type of the response to a vote request of
// type t and true: MsgVoteResp for MsgVote and MsgPreVoteResp for
// MsgPreVote. For any other type it returns MsgHup and false.
func VoteRespMsgType(t MessageType) (MessageType, bool) {
	switch t {
	case MsgVote:
		return MsgVoteResp, true
	case MsgPreVote:
		return MsgPreVoteResp, true
	}
	return MsgHup, false
}

// PayloadSize returns the size of the data of e, 0 for a nil e. Use it for
// the byte limits of the raft core (such as the size of uncommitted or
// in-flight entries): it costs only a length lookup and depends on nothing
// but the payload. Entries without data have size 0, so they never count
// against such a limit.
func PayloadSize(e *Entry) uint64 {
	return uint64(len(e.GetData()))
}

// EntrySize returns the size of e encoded with proto.Marshal, including term,
// index and type. Use it where actual encoded bytes matter, for instance
// when sizing storage or transport buffers; it costs more than PayloadSize.
func EntrySize(e *Entry) uint64 {
	return uint64(proto.Size(e))
}
