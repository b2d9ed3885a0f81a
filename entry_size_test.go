package raft

import (
	"math"
	"math/rand/v2"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
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
