package etcdcompat

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
	epb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The tests below build messages of one library, encode them, decode the
// bytes with the other library and compare the two field by field, by
// field name (never by number, which is what they check). Values are
// distinct for every field, so a field read under another field's number
// shows.
//
// etcd raft's raftpb is proto2: a field has explicit presence, set or not,
// even when its value is zero, and an unset field reads as zero. tickraft's
// is proto3: a zero field is not written and reads as zero. The
// comparison therefore compares values (unset = zero) of scalar fields, and
// presence only for message fields, which have explicit presence in both.

// gen hands out field values, distinct from call to call.
type gen struct {
	n   uint64
	max bool // values near math.MaxUint64 rather than small ones
}

func (g *gen) u64() uint64 {
	g.n++
	if g.max {
		return math.MaxUint64 - g.n
	}
	return g.n * 0x1_0001 // one and three bytes as varints, distinct
}

// fill sets every field of m to a value from g: scalars non-zero, enums to
// a defined value other than their first, lists to two or three elements
// and messages (down to depth 3, so that Message.responses nests) filled
// in turn.
func fill(m protoreflect.Message, g *gen, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList() && fd.Message() != nil:
			if depth >= 3 {
				continue
			}
			l := m.Mutable(fd).List()
			for range 2 {
				e := l.NewElement()
				fill(e.Message(), g, depth+1)
				l.Append(e)
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 3 {
				l.Append(scalar(fd, g))
			}
		case fd.Message() != nil:
			if depth >= 3 {
				continue
			}
			fill(m.Mutable(fd).Message(), g, depth+1)
		default:
			m.Set(fd, scalar(fd, g))
		}
	}
}

// scalar returns a non-zero value for a scalar (or enum) field.
func scalar(fd protoreflect.FieldDescriptor, g *gen) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(g.u64())
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(fmt.Appendf(nil, "%s#%d", fd.FullName(), g.u64()))
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(1 + int(g.u64()%uint64(vals.Len()-1))).Number())
	}
	panic(fmt.Sprintf("etcdcompat: no test value for %s (%s): extend scalar", fd.FullName(), fd.Kind()))
}

// fillZeros sets every field of an etcd raft message explicitly to its
// zero value (present but zero, as gogo-generated etcd raft before v3.7
// wrote its non-nullable fields), lists to one zero element, message
// fields to messages filled the same way.
func fillZeros(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList() && fd.Message() != nil:
			if depth < 2 {
				e := m.Mutable(fd).List().NewElement()
				fillZeros(e.Message(), depth+1)
				m.Mutable(fd).List().Append(e)
			}
		case fd.IsList() && fd.Kind() == protoreflect.Uint64Kind:
			m.Mutable(fd).List().Append(protoreflect.ValueOfUint64(0))
		case fd.IsList():
			panic(fmt.Sprintf("etcdcompat: no zero for %s (%s): extend fillZeros", fd.FullName(), fd.Kind()))
		case fd.Message() != nil:
			if depth < 2 {
				fillZeros(m.Mutable(fd).Message(), depth+1)
			}
		case fd.Kind() == protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes([]byte{}))
		default:
			m.Set(fd, fd.Default())
		}
	}
}

// toEtcd copies one of our messages into a new etcd raft message of the
// same name, field by field by name. A field ours does not write (a proto3
// zero) stays unset in etcd's, so the two encode to the same bytes.
func toEtcd(ours protoreflect.Message, etcd protoreflect.Message) {
	ours.Range(func(of protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		ef := etcdField(etcd.Descriptor(), of)
		if ef == nil {
			panic(fmt.Sprintf("etcdcompat: %s has no etcd counterpart", of.FullName()))
		}
		switch {
		case of.IsList() && of.Message() != nil:
			dst := etcd.Mutable(ef).List()
			for i := range v.List().Len() {
				e := dst.NewElement()
				toEtcd(v.List().Get(i).Message(), e.Message())
				dst.Append(e)
			}
		case of.IsList():
			dst := etcd.Mutable(ef).List()
			for i := range v.List().Len() {
				dst.Append(v.List().Get(i))
			}
		case of.Message() != nil:
			toEtcd(v.Message(), etcd.Mutable(ef).Message())
		case of.Enum() != nil:
			etcd.Set(ef, etcdEnum(of, ef, v))
		default:
			etcd.Set(ef, v)
		}
		return true
	})
}

// compare reports every field whose value differs between one of our
// messages and an etcd raft message, and unknown fields on either side (a
// field number one library does not know).
func compare(t *testing.T, path string, ours, etcd protoreflect.Message) {
	t.Helper()
	if u := ours.GetUnknown(); len(u) != 0 {
		t.Errorf("%s: tickraft kept unknown fields %x", path, u)
	}
	if u := etcd.GetUnknown(); len(u) != 0 {
		t.Errorf("%s: etcd raft kept unknown fields %x", path, u)
	}
	fields := ours.Descriptor().Fields()
	for i := range fields.Len() {
		of := fields.Get(i)
		ef := etcdField(etcd.Descriptor(), of)
		if ef == nil {
			t.Errorf("%s.%s: no etcd counterpart", path, of.Name())
			continue
		}
		p := path + "." + string(of.Name())
		ov, ev := ours.Get(of), etcd.Get(ef)
		switch {
		case of.IsList():
			ol, el := ov.List(), ev.List()
			if ol.Len() != el.Len() {
				t.Errorf("%s: tickraft has %d elements, etcd raft %d", p, ol.Len(), el.Len())
				continue
			}
			for j := range ol.Len() {
				if of.Message() != nil {
					compare(t, fmt.Sprintf("%s[%d]", p, j), ol.Get(j).Message(), el.Get(j).Message())
				} else if !sameScalar(of, ol.Get(j), el.Get(j)) {
					t.Errorf("%s[%d]: tickraft %v, etcd raft %v", p, j, ol.Get(j), el.Get(j))
				}
			}
		case of.Message() != nil:
			oh, eh := ours.Has(of), etcd.Has(ef)
			if oh != eh {
				t.Errorf("%s: present in tickraft %t, in etcd raft %t", p, oh, eh)
			} else if oh {
				compare(t, p, ov.Message(), ev.Message())
			}
		case of.Enum() != nil && !sameEnum(of, ef, ov, ev):
			t.Errorf("%s: tickraft %d (%s), etcd raft %d (%s)", p, ov.Enum(), enumName(of, ov), ev.Enum(), enumName(ef, ev))
		case !sameScalar(of, ov, ev):
			t.Errorf("%s: tickraft %v, etcd raft %v", p, ov, ev)
		}
	}
}

func sameScalar(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	switch fd.Kind() {
	case protoreflect.BytesKind:
		return bytes.Equal(a.Bytes(), b.Bytes())
	case protoreflect.EnumKind:
		return a.Enum() == b.Enum()
	}
	return a.Interface() == b.Interface()
}

// sameEnum compares enum values by name as well as by number: the two
// libraries' enums are different types, and a value renumbered in one of
// them would otherwise travel across unnoticed.
func sameEnum(of, ef protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	av, bv := of.Enum().Values().ByNumber(a.Enum()), ef.Enum().Values().ByNumber(b.Enum())
	if av == nil || bv == nil {
		return false // the samples use defined values only
	}
	return a.Enum() == b.Enum() && av.Name() == bv.Name()
}

func enumName(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	if ed := fd.Enum().Values().ByNumber(v.Enum()); ed != nil {
		return string(ed.Name())
	}
	return "undefined"
}

// etcdEnum returns etcd raft's value of the name our value has.
func etcdEnum(of, ef protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
	ov := of.Enum().Values().ByNumber(v.Enum())
	if ov == nil {
		panic(fmt.Sprintf("etcdcompat: %s = %d is not a defined value", of.FullName(), v.Enum()))
	}
	ev := ef.Enum().Values().ByName(ov.Name())
	if ev == nil {
		panic(fmt.Sprintf("etcdcompat: etcd raft's %s has no value %s", ef.Enum().FullName(), ov.Name()))
	}
	return protoreflect.ValueOfEnum(ev.Number())
}

var marshal = proto.MarshalOptions{Deterministic: true}

// checkBothWays encodes ours with tickraft and its copy with etcd raft,
// requires the same bytes, and decodes each library's bytes with the
// other, comparing field by field.
func checkBothWays(t *testing.T, name string, ours proto.Message, etcdType proto.Message) {
	t.Helper()
	etcd := etcdType.ProtoReflect().New()
	toEtcd(ours.ProtoReflect(), etcd)

	ob, err := marshal.Marshal(ours)
	if err != nil {
		t.Fatalf("%s: tickraft encode: %v", name, err)
	}
	eb, err := marshal.Marshal(etcd.Interface())
	if err != nil {
		t.Fatalf("%s: etcd raft encode: %v", name, err)
	}
	if !bytes.Equal(ob, eb) {
		t.Errorf("%s: the same values encode differently\ntickraft:  %x\netcd raft: %x", name, ob, eb)
	}

	// etcd raft's bytes, read by tickraft.
	got := ours.ProtoReflect().New()
	if err := proto.Unmarshal(eb, got.Interface()); err != nil {
		t.Fatalf("%s: tickraft cannot decode etcd raft's bytes: %v", name, err)
	}
	compare(t, name+" (etcd->tickraft)", got, etcd)
	if !proto.Equal(got.Interface(), ours) {
		t.Errorf("%s: etcd->tickraft changed the message:\nwant %v\ngot  %v", name, ours, got)
	}

	// tickraft's bytes, read by etcd raft.
	egot := etcd.New()
	if err := proto.Unmarshal(ob, egot.Interface()); err != nil {
		t.Fatalf("%s: etcd raft cannot decode tickraft's bytes: %v", name, err)
	}
	compare(t, name+" (tickraft->etcd)", ours.ProtoReflect(), egot)
}

// samples returns messages of one type: empty, every field set (small and
// large values), each field alone, and every value of each enum field in
// an otherwise full message.
func samples(typ proto.Message) map[string]proto.Message {
	out := map[string]proto.Message{}
	desc := typ.ProtoReflect().Descriptor()
	full := func(max bool) protoreflect.Message {
		m := typ.ProtoReflect().New()
		fill(m, &gen{max: max}, 0)
		return m
	}
	out["empty"] = typ.ProtoReflect().New().Interface()
	out["full/small"] = full(false).Interface()
	out["full/max"] = full(true).Interface()
	for i := range desc.Fields().Len() {
		fd := desc.Fields().Get(i)
		one := typ.ProtoReflect().New()
		one.Set(fd, full(false).Get(fd))
		out["only/"+string(fd.Name())] = one.Interface()
		if fd.Enum() != nil && !fd.IsList() {
			for j := range fd.Enum().Values().Len() {
				v := fd.Enum().Values().Get(j)
				m := full(false)
				m.Set(fd, protoreflect.ValueOfEnum(v.Number()))
				out[fmt.Sprintf("%s=%s", fd.Name(), v.Name())] = m.Interface()
			}
		}
	}
	return out
}

// TestBothWays runs every sample of every message type through both
// libraries, both ways. Message's samples include every MessageType with
// entries of every EntryType, a snapshot and nested responses.
func TestBothWays(t *testing.T) {
	for _, p := range messagePairs {
		name := string(p.ours.ProtoReflect().Descriptor().Name())
		t.Run(name, func(t *testing.T) {
			for sname, m := range samples(p.ours) {
				checkBothWays(t, sname, m, p.etcd)
			}
		})
	}
}

// TestSamplesCoverEveryValue checks the samples themselves: every field of
// every message type is set in some sample and every enum value occurs,
// so that TestBothWays cannot pass by testing less than it claims.
func TestSamplesCoverEveryValue(t *testing.T) {
	seenField := map[protoreflect.FullName]bool{}
	seenEnum := map[string]bool{}
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			seenField[fd.FullName()] = true
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message())
				}
			case fd.Message() != nil:
				walk(v.Message())
			case fd.Enum() != nil:
				seenEnum[fmt.Sprintf("%s=%d", fd.FullName(), v.Enum())] = true
			}
			return true
		})
	}
	for _, p := range messagePairs {
		for _, m := range samples(p.ours) {
			walk(m.ProtoReflect())
		}
	}
	for _, p := range messagePairs {
		fields := p.ours.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if !seenField[fd.FullName()] {
				t.Errorf("no sample sets %s", fd.FullName())
			}
			if fd.Enum() == nil {
				continue
			}
			for j := 1; j < fd.Enum().Values().Len(); j++ { // 0 is not written, so never seen
				if v := fd.Enum().Values().Get(j); !seenEnum[fmt.Sprintf("%s=%d", fd.FullName(), v.Number())] {
					t.Errorf("no sample sets %s to %s", fd.FullName(), v.Name())
				}
			}
		}
	}
	for _, name := range []protoreflect.FullName{"tickraft.raftpb.Message.responses", "tickraft.raftpb.Message.entries", "tickraft.raftpb.Message.snapshot"} {
		if !seenField[name] {
			t.Errorf("no sample sets %s", name)
		}
	}
}

// TestEtcdExplicitZeros decodes etcd raft messages whose every field is
// present with its zero value (what etcd raft's gogo-generated code before
// v3.7 wrote for its non-nullable fields, and what v3.7 writes for a
// pointer to zero): tickraft reads zeros, and empty messages where etcd
// raft had them.
func TestEtcdExplicitZeros(t *testing.T) {
	for _, p := range messagePairs {
		name := string(p.ours.ProtoReflect().Descriptor().Name())
		etcd := p.etcd.ProtoReflect().New()
		fillZeros(etcd, 0)
		eb, err := marshal.Marshal(etcd.Interface())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(eb) == 0 {
			t.Fatalf("%s: explicit zeros encoded to nothing", name)
		}
		ours := p.ours.ProtoReflect().New()
		if err := proto.Unmarshal(eb, ours.Interface()); err != nil {
			t.Fatalf("%s: tickraft cannot decode %x: %v", name, eb, err)
		}
		compare(t, name+" (explicit zeros)", ours, etcd)
	}
}

// TestEntryExample is the case that was broken: etcd raft's encoding of
// Entry{Term: 5, Index: 42, Type: EntryConfChange} read as term 1, index 5,
// type 42.
func TestEntryExample(t *testing.T) {
	eb, err := proto.Marshal(&epb.Entry{Term: proto.Uint64(5), Index: proto.Uint64(42), Type: epb.EntryConfChange.Enum()})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x08, 0x01, 0x10, 0x05, 0x18, 0x2a}; !bytes.Equal(eb, want) {
		t.Fatalf("etcd raft encodes %x, want %x", eb, want)
	}
	var e pb.Entry
	if err := proto.Unmarshal(eb, &e); err != nil {
		t.Fatal(err)
	}
	if e.Term != 5 || e.Index != 42 || e.Type != pb.EntryConfChange {
		t.Fatalf("tickraft reads term=%d index=%d type=%s, want term=5 index=42 type=EntryConfChange", e.Term, e.Index, e.Type)
	}
}
