package raft

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestVarintLen checks varintLen against protowire at every bit length and
// around each boundary.
func TestVarintLen(t *testing.T) {
	check := func(v uint64) {
		if got, want := varintLen(v), protowire.SizeVarint(v); got != want {
			t.Fatalf("varintLen(%d) = %d, want %d", v, got, want)
		}
	}
	check(0)
	check(math.MaxUint64)
	for b := 0; b < 64; b++ {
		v := uint64(1) << b
		check(v - 1)
		check(v)
		check(v + 1)
	}
}

// TestSizeEntryMatchesProtoSize checks sizeEntry against proto.Size over
// zero and extreme field values, payload lengths around the varint
// boundaries of the length prefix, unknown fields and random entries.
func TestSizeEntryMatchesProtoSize(t *testing.T) {
	check := func(e *pb.Entry) {
		t.Helper()
		if got, want := sizeEntry(e), proto.Size(e); got != want {
			t.Fatalf("sizeEntry = %d, proto.Size = %d for entry term=%d index=%d type=%d len(data)=%d unknown=%d",
				got, want, e.GetTerm(), e.GetIndex(), e.GetType(), len(e.GetData()), len(e.ProtoReflect().GetUnknown()))
		}
	}
	check(nil)
	check(&pb.Entry{})
	check(&pb.Entry{Data: []byte{}}) // empty, not nil: still not encoded

	nums := []uint64{0, 1, 127, 128, 16383, 16384, 1<<21 - 1, 1 << 21, 1<<28 - 1, 1 << 28,
		1<<35 - 1, 1 << 35, 1<<42 - 1, 1 << 42, 1<<49 - 1, 1 << 49, 1<<56 - 1, 1 << 56,
		1<<63 - 1, 1 << 63, math.MaxUint64}
	types := []pb.EntryType{pb.EntryNormal, pb.EntryConfChange, pb.EntryConfChangeV2,
		127, 128, math.MaxInt32, -1, math.MinInt32}
	lens := []int{0, 1, 127, 128, 129, 16383, 16384, 1 << 21}
	big := make([]byte, 1<<21)
	for _, term := range nums {
		for _, index := range nums {
			for _, typ := range types {
				check(&pb.Entry{Term: term, Index: index, Type: typ})
			}
		}
	}
	for _, l := range lens {
		for _, n := range nums {
			check(&pb.Entry{Term: n, Index: n, Data: big[:l]})
			check(&pb.Entry{Term: n, Index: n + 1, Type: pb.EntryConfChange, Data: big[:l]})
		}
	}

	// Unknown fields (say, written by a newer version) are part of the
	// encoded size.
	withUnknown := func(e *pb.Entry, fields ...byte) *pb.Entry {
		b, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var d pb.Entry
		if err := proto.Unmarshal(append(b, fields...), &d); err != nil {
			t.Fatal(err)
		}
		if len(d.ProtoReflect().GetUnknown()) == 0 {
			t.Fatal("test entry has no unknown fields")
		}
		return &d
	}
	unknown := protowire.AppendTag(nil, 9, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 300)
	unknown = protowire.AppendTag(unknown, 100, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, []byte("from the future"))
	check(withUnknown(&pb.Entry{}, unknown...))
	check(withUnknown(&pb.Entry{Term: 3, Index: 99, Data: []byte("x")}, unknown...))

	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		e := &pb.Entry{}
		if rng.IntN(4) != 0 {
			e.Term = rng.Uint64() >> rng.IntN(64)
		}
		if rng.IntN(4) != 0 {
			e.Index = rng.Uint64() >> rng.IntN(64)
		}
		if rng.IntN(3) == 0 {
			e.Type = pb.EntryType(int32(rng.Uint32() >> rng.IntN(32)))
		}
		if rng.IntN(4) != 0 {
			e.Data = big[:rng.IntN(1<<rng.IntN(18))]
		}
		check(e)
	}
}

func BenchmarkSizeEntry(b *testing.B) {
	e := &pb.Entry{Term: 7, Index: 123456, Data: make([]byte, 26)}
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			_ = sizeEntry(e)
		}
	})
	b.Run("proto.Size", func(b *testing.B) {
		for b.Loop() {
			_ = proto.Size(e)
		}
	})
}

// sizeEntry covers every field of Entry: each field, set alone and with
// everything else, changes the size exactly as proto.Size says. A field
// added to Entry that sizeEntry does not know fails here.
func TestSizeEntryCoversEveryField(t *testing.T) {
	fields := (&pb.Entry{}).ProtoReflect().Descriptor().Fields()
	require.Positive(t, fields.Len())
	all := &pb.Entry{}
	for i := range fields.Len() {
		fd := fields.Get(i)
		e := &pb.Entry{}
		for _, m := range []*pb.Entry{e, all} {
			setNonZero(t, m.ProtoReflect(), fd)
		}
		require.Equal(t, proto.Size(e), sizeEntry(e), "field %s alone", fd.Name())
		require.Greater(t, sizeEntry(e), 0, "field %s not sized", fd.Name())
	}
	require.Equal(t, proto.Size(all), sizeEntry(all), "every field set")
}

// setNonZero sets field fd of m to a non-zero value of its kind.
func setNonZero(t *testing.T, m protoreflect.Message, fd protoreflect.FieldDescriptor) {
	t.Helper()
	if fd.IsList() || fd.IsMap() {
		t.Fatalf("field %s: repeated and map fields are not sized by sizeEntry", fd.Name())
	}
	var v protoreflect.Value
	switch fd.Kind() {
	case protoreflect.BoolKind:
		v = protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		v = protoreflect.ValueOfEnum(300)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		v = protoreflect.ValueOfInt32(-300)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		v = protoreflect.ValueOfInt64(-300)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		v = protoreflect.ValueOfUint32(300)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		v = protoreflect.ValueOfUint64(1 << 40)
	case protoreflect.FloatKind:
		v = protoreflect.ValueOfFloat32(1.5)
	case protoreflect.DoubleKind:
		v = protoreflect.ValueOfFloat64(1.5)
	case protoreflect.StringKind:
		v = protoreflect.ValueOfString("xyz")
	case protoreflect.BytesKind:
		v = protoreflect.ValueOfBytes(make([]byte, 200))
	default:
		t.Fatalf("field %s: kind %s is not sized by sizeEntry", fd.Name(), fd.Kind())
	}
	m.Set(fd, v)
}
