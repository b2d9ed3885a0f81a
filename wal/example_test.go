package wal_test

import (
	"fmt"
	"os"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/wal"
)

// A node opens its wal once, hands it each Ready's writes in one Save, and
// gives it to raft as its Storage. After a restart Open recovers the same
// state.
func Example() {
	dir, _ := os.MkdirTemp("", "wal-example")
	defer os.RemoveAll(dir)

	w, err := wal.Open(dir, wal.Options{})
	if err != nil {
		panic(err)
	}
	// For each Ready rd: w.Save(wal.Update{HardState: rd.HardState,
	// Entries: rd.Entries, Snapshot: rd.Snapshot, MustSync: rd.MustSync}).
	err = w.Save(wal.Update{
		HardState: &pb.HardState{Term: 2, Vote: 1, Commit: 1},
		Entries:   []*pb.Entry{{Index: 1, Term: 2, Data: []byte("x")}, {Index: 2, Term: 2, Data: []byte("y")}},
		MustSync:  true,
	})
	if err != nil {
		panic(err)
	}
	w.Close()

	w, err = wal.Open(dir, wal.Options{})
	if err != nil {
		panic(err)
	}
	defer w.Close()
	hs, _, _ := w.InitialState()
	last, _ := w.LastIndex()
	ents, _ := w.Entries(1, last+1, 1<<20)
	fmt.Println(hs.Term, hs.Vote, hs.Commit, last, string(ents[1].Data))
	// Output: 2 1 1 2 y
}
