package etcdcompat

import (
	"fmt"
	"strings"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
	epb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// messagePairs pairs every message of tickraft's raft.proto with etcd
// raft's message of the same name.
var messagePairs = []struct{ ours, etcd proto.Message }{
	{&pb.Entry{}, &epb.Entry{}},
	{&pb.SnapshotMetadata{}, &epb.SnapshotMetadata{}},
	{&pb.Snapshot{}, &epb.Snapshot{}},
	{&pb.Message{}, &epb.Message{}},
	{&pb.HardState{}, &epb.HardState{}},
	{&pb.ConfState{}, &epb.ConfState{}},
	{&pb.ConfChange{}, &epb.ConfChange{}},
	{&pb.ConfChangeSingle{}, &epb.ConfChangeSingle{}},
	{&pb.ConfChangeV2{}, &epb.ConfChangeV2{}},
}

// enumPairs pairs every enum of tickraft's raft.proto with etcd raft's.
var enumPairs = []struct{ ours, etcd protoreflect.EnumDescriptor }{
	{pb.EntryNormal.Descriptor(), epb.EntryNormal.Descriptor()},
	{pb.MsgHup.Descriptor(), epb.MsgHup.Descriptor()},
	{pb.ConfChangeAddNode.Descriptor(), epb.ConfChangeAddNode.Descriptor()},
	{pb.ConfChangeTransitionAuto.Descriptor(), epb.ConfChangeTransitionAuto.Descriptor()},
}

// tickraftOnly lists the fields ("Message.field") and enum values
// ("MessageType.Value") tickraft has and etcd raft does not. Their numbers
// must be ones etcd raft does not use, so that neither library reads the
// other's field as one of its own. There are none today.
var tickraftOnly = map[string]bool{}

// fieldKey names a field the same way in both files: etcd raft spells some
// fields in camel case (logTerm, rejectHint) or capitalised (Entry's Term),
// tickraft in snake case.
func fieldKey(fd protoreflect.FieldDescriptor) string {
	return strings.ToLower(strings.ReplaceAll(string(fd.Name()), "_", ""))
}

// etcdField returns etcd's counterpart of one of our fields, or nil.
func etcdField(etcd protoreflect.MessageDescriptor, ours protoreflect.FieldDescriptor) protoreflect.FieldDescriptor {
	fields := etcd.Fields()
	for i := range fields.Len() {
		if fieldKey(fields.Get(i)) == fieldKey(ours) {
			return fields.Get(i)
		}
	}
	return nil
}

// TestEveryTypeIsPaired checks that the pairs above cover every message
// and enum of both files, so that the tests below see every type.
func TestEveryTypeIsPaired(t *testing.T) {
	for _, side := range []struct {
		name string
		file protoreflect.FileDescriptor
		pick func(int) protoreflect.Descriptor
	}{
		{"tickraft", (&pb.Entry{}).ProtoReflect().Descriptor().ParentFile(), func(i int) protoreflect.Descriptor {
			if i < len(messagePairs) {
				return messagePairs[i].ours.ProtoReflect().Descriptor()
			}
			return enumPairs[i-len(messagePairs)].ours
		}},
		{"etcd", (&epb.Entry{}).ProtoReflect().Descriptor().ParentFile(), func(i int) protoreflect.Descriptor {
			if i < len(messagePairs) {
				return messagePairs[i].etcd.ProtoReflect().Descriptor()
			}
			return enumPairs[i-len(messagePairs)].etcd
		}},
	} {
		paired := map[protoreflect.FullName]bool{}
		for i := range len(messagePairs) + len(enumPairs) {
			paired[side.pick(i).FullName()] = true
		}
		var all []protoreflect.FullName
		for i := range side.file.Messages().Len() {
			all = append(all, side.file.Messages().Get(i).FullName())
		}
		for i := range side.file.Enums().Len() {
			all = append(all, side.file.Enums().Get(i).FullName())
		}
		for _, name := range all {
			if !paired[name] {
				t.Errorf("%s's %s is not in messagePairs or enumPairs", side.name, name)
			}
		}
		if len(all) != len(paired) {
			t.Errorf("%s's file has %d messages and enums, the pairs name %d", side.name, len(all), len(paired))
		}
	}
	for _, p := range messagePairs {
		o, e := p.ours.ProtoReflect().Descriptor(), p.etcd.ProtoReflect().Descriptor()
		if o.Name() != e.Name() {
			t.Errorf("message pair %s / %s: names differ", o.FullName(), e.FullName())
		}
	}
	for _, p := range enumPairs {
		if p.ours.Name() != p.etcd.Name() {
			t.Errorf("enum pair %s / %s: names differ", p.ours.FullName(), p.etcd.FullName())
		}
	}
}

// TestFieldNumbersMatch checks every field of every message: the same
// number, kind and cardinality in both files, and for enum and message
// fields the type of the same name. A tickraft-only field must use a
// number etcd raft does not.
func TestFieldNumbersMatch(t *testing.T) {
	for _, p := range messagePairs {
		o, e := p.ours.ProtoReflect().Descriptor(), p.etcd.ProtoReflect().Descriptor()
		for i := range e.Fields().Len() {
			ef := e.Fields().Get(i)
			found := false
			for j := range o.Fields().Len() {
				found = found || fieldKey(o.Fields().Get(j)) == fieldKey(ef)
			}
			if !found {
				t.Errorf("etcd raft's %s has no counterpart in tickraft's %s", ef.FullName(), o.FullName())
			}
		}
		for i := range o.Fields().Len() {
			of := o.Fields().Get(i)
			key := fmt.Sprintf("%s.%s", o.Name(), of.Name())
			ef := etcdField(e, of)
			if ef == nil {
				if !tickraftOnly[key] {
					t.Errorf("tickraft's %s has no counterpart in etcd raft's %s: list it in tickraftOnly", key, e.FullName())
				}
				if used := e.Fields().ByNumber(of.Number()); used != nil || e.ReservedRanges().Has(of.Number()) {
					t.Errorf("tickraft-only field %s = %d: etcd raft uses or reserves that number", key, of.Number())
				}
				continue
			}
			if tickraftOnly[key] {
				t.Errorf("%s is listed in tickraftOnly but etcd raft has it as %s", key, ef.FullName())
			}
			if of.Number() != ef.Number() {
				t.Errorf("%s: tickraft numbers it %d, etcd raft %d", key, of.Number(), ef.Number())
			}
			if of.Kind() != ef.Kind() {
				t.Errorf("%s: tickraft's kind is %s, etcd raft's %s", key, of.Kind(), ef.Kind())
			}
			if of.Cardinality() != ef.Cardinality() {
				t.Errorf("%s: tickraft's cardinality is %s, etcd raft's %s", key, of.Cardinality(), ef.Cardinality())
			}
			if of.IsPacked() != ef.IsPacked() {
				t.Errorf("%s: tickraft packed=%t, etcd raft packed=%t: the bytes differ (both decode either)", key, of.IsPacked(), ef.IsPacked())
			}
			switch {
			case of.Enum() != nil && (ef.Enum() == nil || of.Enum().Name() != ef.Enum().Name()):
				t.Errorf("%s: tickraft's enum %s, etcd raft's %v", key, of.Enum().FullName(), ef.Enum())
			case of.Message() != nil && (ef.Message() == nil || of.Message().Name() != ef.Message().Name()):
				t.Errorf("%s: tickraft's message %s, etcd raft's %v", key, of.Message().FullName(), ef.Message())
			}
		}
	}
}

// TestEnumValuesMatch checks every value of every enum: the same number
// under the same name. A tickraft-only value must use a number etcd raft
// does not, so that etcd raft reads it as a value it does not know rather
// than as another one.
func TestEnumValuesMatch(t *testing.T) {
	for _, p := range enumPairs {
		for i := range p.etcd.Values().Len() {
			ev := p.etcd.Values().Get(i)
			if ov := p.ours.Values().ByName(ev.Name()); ov == nil {
				t.Errorf("etcd raft's %s = %d has no counterpart in tickraft's %s", ev.Name(), ev.Number(), p.ours.FullName())
			}
		}
		for i := range p.ours.Values().Len() {
			ov := p.ours.Values().Get(i)
			key := fmt.Sprintf("%s.%s", p.ours.Name(), ov.Name())
			ev := p.etcd.Values().ByName(ov.Name())
			if ev == nil {
				if !tickraftOnly[key] {
					t.Errorf("tickraft's %s = %d has no counterpart in etcd raft: list it in tickraftOnly", key, ov.Number())
				}
				if p.etcd.Values().ByNumber(ov.Number()) != nil || p.etcd.ReservedRanges().Has(ov.Number()) {
					t.Errorf("tickraft-only %s = %d: etcd raft uses or reserves that number", key, ov.Number())
				}
				continue
			}
			if ov.Number() != ev.Number() {
				t.Errorf("%s: tickraft's value is %d, etcd raft's %d", key, ov.Number(), ev.Number())
			}
		}
	}
}
