package raft_test

import (
	"errors"
	"fmt"
	"math"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// The life of a log in a MemoryStorage: entries are appended, read back,
// folded into a snapshot, and the log is compacted behind it.
func ExampleMemoryStorage() {
	ms := raft.NewMemoryStorage()

	// The application persists what a Ready hands it.
	_ = ms.SetHardState(&pb.HardState{Term: 2, Vote: 1, Commit: 4})
	_ = ms.Append([]*pb.Entry{
		{Index: 1, Term: 1, Data: []byte("x=1")},
		{Index: 2, Term: 1, Data: []byte("y=2")},
		{Index: 3, Term: 2, Data: []byte("x=3")},
		{Index: 4, Term: 2, Data: []byte("z=4")},
	})
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	fmt.Printf("log holds entries %d to %d\n", first, last)

	ents, _ := ms.Entries(2, 4, math.MaxUint64)
	for _, e := range ents {
		fmt.Printf("entry %d, term %d: %s\n", e.GetIndex(), e.GetTerm(), e.GetData())
	}

	// Once entry 3 is applied, the state machine's state can stand in for
	// entries 1 to 3.
	snap, _ := ms.CreateSnapshot(3, &pb.ConfState{Voters: []uint64{1, 2, 3}}, []byte("x=3 y=2"))
	md := snap.GetMetadata()
	fmt.Printf("snapshot at index %d, term %d, voters %v\n", md.GetIndex(), md.GetTerm(), md.GetConfState().GetVoters())

	_ = ms.Compact(3)
	first, _ = ms.FirstIndex()
	last, _ = ms.LastIndex()
	fmt.Printf("after compaction the log holds entries %d to %d\n", first, last)

	_, err := ms.Entries(2, 4, math.MaxUint64)
	fmt.Println("reading entries 2 to 3:", err)
	fmt.Println("compacted:", errors.Is(err, raft.ErrCompacted))

	term, _ := ms.Term(3)
	fmt.Printf("the term of entry 3 is still known: %d\n", term)

	hs, cs, _ := ms.InitialState()
	fmt.Printf("on restart: term %d, commit %d, voters %v\n", hs.GetTerm(), hs.GetCommit(), cs.GetVoters())

	// Output:
	// log holds entries 1 to 4
	// entry 2, term 1: y=2
	// entry 3, term 2: x=3
	// snapshot at index 3, term 2, voters [1 2 3]
	// after compaction the log holds entries 4 to 4
	// reading entries 2 to 3: raft: requested index is unavailable due to compaction
	// compacted: true
	// the term of entry 3 is still known: 2
	// on restart: term 2, commit 4, voters [1 2 3]
}

// Entries stops at a byte budget, but always returns at least one entry so a
// large entry can still be sent.
func ExampleMemoryStorage_Entries() {
	ms := raft.NewMemoryStorage()
	_ = ms.Append([]*pb.Entry{
		{Index: 1, Term: 1, Data: []byte("small")},
		{Index: 2, Term: 1, Data: []byte("small")},
		{Index: 3, Term: 1, Data: []byte("a much larger payload")},
	})

	for _, limit := range []uint64{0, 25, 1000} {
		ents, _ := ms.Entries(1, 4, limit)
		fmt.Printf("limit %4d bytes: %d entries\n", limit, len(ents))
	}

	_, err := ms.Entries(1, 5, math.MaxUint64)
	fmt.Println("reading past the end:", err)

	// Output:
	// limit    0 bytes: 1 entries
	// limit   25 bytes: 2 entries
	// limit 1000 bytes: 3 entries
	// reading past the end: raft: requested entry at index is unavailable
}

// Appending entries that start inside the log replaces the conflicting
// suffix, as when a new leader overrides entries an old leader wrote.
func ExampleMemoryStorage_Append() {
	ms := raft.NewMemoryStorage()
	_ = ms.Append([]*pb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 1}})

	_ = ms.Append([]*pb.Entry{{Index: 2, Term: 2}})
	last, _ := ms.LastIndex()
	term, _ := ms.Term(2)
	fmt.Printf("last index %d, entry 2 now has term %d\n", last, term)

	err := ms.Append([]*pb.Entry{{Index: 5, Term: 2}})
	fmt.Println("append after a gap fails:", err != nil)

	// Output:
	// last index 2, entry 2 now has term 2
	// append after a gap fails: true
}
