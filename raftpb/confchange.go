package raftpb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
)

// ConfChangeI is a membership change in either of its two encodings: the
// legacy single-change *ConfChange or the multi-change *ConfChangeV2. Code
// that applies changes works on AsV2; code that writes them to the log
// uses MarshalConfChange, which keeps v1 changes in the v1 encoding.
type ConfChangeI interface {
	// AsV2 returns the change as a ConfChangeV2. The result may share
	// memory with the receiver and must not be modified.
	AsV2() *ConfChangeV2
	// AsV1 returns the change as a legacy ConfChange and true if it is
	// one, and nil and false otherwise. ConfChangeV2 values are never
	// converted back to v1, even when they hold a single change.
	AsV1() (*ConfChange, bool)
}

var (
	_ ConfChangeI = (*ConfChange)(nil)
	_ ConfChangeI = (*ConfChangeV2)(nil)
)

// AsV2 implements ConfChangeI. The result holds one ConfChangeSingle with the
// type and node of c, the context of c and the Auto transition. The legacy
// Id field has no counterpart in ConfChangeV2 and is dropped. The Context
// slice is shared with c.
func (c *ConfChange) AsV2() *ConfChangeV2 {
	return &ConfChangeV2{
		Transition: ConfChangeTransitionAuto,
		Changes:    []*ConfChangeSingle{{Type: c.GetType(), NodeId: c.GetNodeId()}},
		Context:    c.GetContext(),
	}
}

// AsV1 implements ConfChangeI. It returns c itself and true.
func (c *ConfChange) AsV1() (*ConfChange, bool) {
	return c, true
}

// AsV2 implements ConfChangeI. It returns c itself.
func (c *ConfChangeV2) AsV2() *ConfChangeV2 {
	return c
}

// AsV1 implements ConfChangeI. It always returns nil and false.
func (c *ConfChangeV2) AsV1() (*ConfChange, bool) {
	return nil, false
}

// MarshalConfChange encodes c for the Data field of a log entry and returns
// the entry type that goes with the encoding: EntryConfChange for a legacy
// ConfChange and EntryConfChangeV2 otherwise.
func MarshalConfChange(c ConfChangeI) (EntryType, []byte, error) {
	if c == nil {
		return EntryNormal, nil, errors.New("raftpb: MarshalConfChange called with a nil change")
	}
	var (
		typ EntryType
		msg proto.Message
	)
	if v1, ok := c.AsV1(); ok {
		typ, msg = EntryConfChange, v1
	} else {
		typ, msg = EntryConfChangeV2, c.AsV2()
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		return EntryNormal, nil, err
	}
	return typ, data, nil
}

// UnmarshalConfChange decodes the configuration change held by an entry of
// type EntryConfChange or EntryConfChangeV2, the inverse of
// MarshalConfChange. Applications call it while applying committed entries,
// before RawNode.ApplyConfChange. Any other entry type, or a payload that
// does not decode, is an error.
func UnmarshalConfChange(e *Entry) (ConfChangeI, error) {
	if e == nil {
		return nil, errors.New("raftpb: UnmarshalConfChange called with a nil entry")
	}
	switch e.Type {
	case EntryConfChange:
		cc := &ConfChange{}
		if err := proto.Unmarshal(e.Data, cc); err != nil {
			return nil, fmt.Errorf("raftpb: entry %d holds an undecodable ConfChange: %w", e.Index, err)
		}
		return cc, nil
	case EntryConfChangeV2:
		cc := &ConfChangeV2{}
		if err := proto.Unmarshal(e.Data, cc); err != nil {
			return nil, fmt.Errorf("raftpb: entry %d holds an undecodable ConfChangeV2: %w", e.Index, err)
		}
		return cc, nil
	}
	return nil, fmt.Errorf("raftpb: entry %d of type %s holds no configuration change", e.Index, e.Type)
}

// EnterJoint reports whether applying c makes the configuration joint (ok),
// and if so whether the joint configuration is to be left automatically by
// the leader (autoLeave) rather than by an explicit empty ConfChangeV2.
//
// A change enters a joint configuration when it has at least one change and
// either its transition is not Auto or it has more than one change. A change
// without changes never enters a joint configuration: it is the request to
// leave one (see LeaveJoint), whatever its transition says, so EnterJoint and
// LeaveJoint are never both true.
//
// autoLeave is true for the Auto and JointImplicit transitions. A transition
// value unknown to this package is treated like JointExplicit, so that the
// configuration stays joint until it is explicitly left.
func (c *ConfChangeV2) EnterJoint() (autoLeave bool, ok bool) {
	n := len(c.GetChanges())
	t := c.GetTransition()
	if n == 0 || (t == ConfChangeTransitionAuto && n == 1) {
		return false, false
	}
	switch t {
	case ConfChangeTransitionAuto, ConfChangeTransitionJointImplicit:
		return true, true
	default:
		return false, true
	}
}

// LeaveJoint reports whether c is the change that leaves a joint
// configuration, that is whether it has no changes. Transition and Context
// are ignored: a ConfChangeV2 carrying only a Context (for instance to
// identify the proposal) is also a request to leave.
func (c *ConfChangeV2) LeaveJoint() bool {
	return len(c.GetChanges()) == 0
}

// confChangePrefixes maps the compact text form's token prefixes to change
// types. The text form is used by tests and in descriptions.
var confChangePrefixes = map[byte]ConfChangeType{
	'v': ConfChangeAddNode,
	'l': ConfChangeAddLearnerNode,
	'r': ConfChangeRemoveNode,
	'u': ConfChangeUpdateNode,
}

// ConfChangesFromString parses the compact text form of a list of single
// changes: tokens separated by white space, each a lower-case letter naming
// the change followed by the decimal node ID:
//
//	v1  add (or promote to) voter 1
//	l2  add (or demote to) learner 2
//	r3  remove node 3
//	u4  update node 4
//
// An empty or blank string yields an empty list. Unknown letters, missing or
// malformed numbers and node ID 0 (which never names a node) are errors.
func ConfChangesFromString(s string) ([]*ConfChangeSingle, error) {
	var ccs []*ConfChangeSingle
	for _, tok := range strings.Fields(s) {
		typ, ok := confChangePrefixes[tok[0]]
		if !ok {
			r, _ := utf8.DecodeRuneInString(tok)
			return nil, fmt.Errorf("raftpb: conf change %q: unknown change type %q, want one of v, l, r, u", tok, r)
		}
		num := tok[1:]
		if num == "" {
			return nil, fmt.Errorf("raftpb: conf change %q: missing node ID", tok)
		}
		id, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("raftpb: conf change %q: invalid node ID %q", tok, num)
		}
		if id == 0 {
			return nil, fmt.Errorf("raftpb: conf change %q: node ID 0 is not a valid node", tok)
		}
		ccs = append(ccs, &ConfChangeSingle{Type: typ, NodeId: id})
	}
	return ccs, nil
}

// ConfChangesToString formats ccs in the compact text form read by
// ConfChangesFromString; an empty list gives the empty string. Lists that
// parse without error survive a round trip. Changes that the text form
// cannot express are still printed, never rejected: a nil change as "<nil>",
// an unknown type as "?<type>:<node>" (e.g. "?9:3"), and node ID 0 as is
// (e.g. "v0"); ConfChangesFromString rejects all of these.
func ConfChangesToString(ccs []*ConfChangeSingle) string {
	var b strings.Builder
	for i, cc := range ccs {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeConfChangeSingle(&b, cc)
	}
	return b.String()
}

func writeConfChangeSingle(b *strings.Builder, cc *ConfChangeSingle) {
	if cc == nil {
		b.WriteString("<nil>")
		return
	}
	switch cc.Type {
	case ConfChangeAddNode:
		b.WriteByte('v')
	case ConfChangeAddLearnerNode:
		b.WriteByte('l')
	case ConfChangeRemoveNode:
		b.WriteByte('r')
	case ConfChangeUpdateNode:
		b.WriteByte('u')
	default:
		b.WriteByte('?')
		b.WriteString(strconv.FormatInt(int64(cc.Type), 10))
		b.WriteByte(':')
	}
	b.WriteString(strconv.FormatUint(cc.NodeId, 10))
}
