package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// groups is the whole suite, in the order Run runs it.
var groups = []group{
	{"Empty", emptyChecks},
	{"Append", appendChecks},
	{"AppendRefused", appendRefusedChecks},
	{"HardState", hardStateChecks},
	{"Entries", entriesChecks},
	{"ApplySnapshot", applySnapshotChecks},
	{"CreateSnapshot", createSnapshotChecks},
	{"Compact", compactChecks},
	{"ReturnedEntries", returnedEntriesChecks},
	{"Model", modelChecks},
	{"Concurrent", concurrentChecks},
	{"RawNode", rawNodeChecks},
}

// ents returns entries first, first+1, ... with the given terms, each
// carrying data that names its index and term.
func ents(first uint64, terms ...uint64) []*pb.Entry {
	out := make([]*pb.Entry, len(terms))
	for k, term := range terms {
		i := first + uint64(k)
		out[k] = &pb.Entry{Index: i, Term: term, Data: entryData(i, term)}
	}
	return out
}

// entryData is the payload the suite gives the entry at index i of term.
func entryData(i, term uint64) []byte { return fmt.Appendf(nil, "%d/%d", i, term) }

// run returns terms for n entries, all of term t.
func run(n int, t uint64) []uint64 {
	out := make([]uint64, n)
	for k := range out {
		out[k] = t
	}
	return out
}

// snapshot returns a snapshot at index and term with a conf state of its
// own and data naming it.
func snapshot(index, term uint64) *pb.Snapshot {
	return &pb.Snapshot{
		Data: fmt.Appendf(nil, "snapshot %d/%d", index, term),
		Metadata: &pb.SnapshotMetadata{
			Index: index, Term: term,
			ConfState: &pb.ConfState{Voters: []uint64{1, 2, index + 2}},
		},
	}
}

// jointConfState uses every field of ConfState.
var jointConfState = &pb.ConfState{
	Voters:         []uint64{1, 2, 3},
	Learners:       []uint64{7},
	VotersOutgoing: []uint64{1, 2, 4},
	LearnersNext:   []uint64{4},
	AutoLeave:      true,
}

// expectErr fails unless err is the model's want (see errOK).
func (f *fixture) expectErr(op string, want, err error) {
	f.t.Helper()
	if !errOK(want, err) {
		f.t.Fatalf("%s: got error %v, want %s", op, err, describeErr(want))
	}
}

// skipUnlessDurable skips checks about reopening on a store that is not
// durable.
func (f *fixture) skipUnlessDurable() {
	f.t.Helper()
	if !f.durable() {
		f.t.Skip("the store is not durable (Harness.Reopen is nil)")
	}
}

var emptyChecks = []check{
	{"ReadsAsEmpty", func(f *fixture) {
		// FirstIndex 1, LastIndex 0, Term(0) = 0, empty hard and conf
		// states, a snapshot at index 0: verify compares all of it.
		f.verify()
	}},
	{"Reopen", func(f *fixture) {
		f.skipUnlessDurable()
		f.reopen("opening an empty store")
		f.reopen("reopening it again")
	}},
	{"EmptyAppend", func(f *fixture) {
		f.mustAppend()
		f.verify()
	}},
}

var appendChecks = []check{
	{"Extend", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1)...)
		f.mustAppend(ents(4, 1, 2)...)
		f.verify()
	}},
	{"OneAtATime", func(f *fixture) {
		for i := uint64(1); i <= 12; i++ {
			f.mustAppend(ents(i, (i+2)/3)...)
		}
		f.verify()
	}},
	{"OverwriteSuffix", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1, 1, 1)...)
		f.mustAppend(ents(3, 2, 2, 2, 2, 2)...)
		f.verify()
	}},
	{"OverwriteCutsLongerTail", func(f *fixture) {
		// Fewer new entries than the conflicting suffix: the stored
		// entries after them must go too.
		f.mustAppend(ents(1, run(10, 1)...)...)
		f.mustAppend(ents(4, 2, 2)...)
		if last, err := f.s.LastIndex(); err != nil || last != 5 {
			f.t.Fatalf("LastIndex() = %d, %v after replacing from index 4 with two entries; want 5", last, err)
		}
		f.verify()
	}},
	{"OverwriteLast", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1)...)
		f.mustAppend(ents(3, 3)...)
		f.verify()
	}},
	{"OverwriteEverything", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1, 1)...)
		f.mustAppend(ents(1, 2, 2)...)
		f.verify()
	}},
	{"SameEntriesAgainCutTail", func(f *fixture) {
		// Entries are replaced from the first new index on, even when the
		// new ones equal the stored ones.
		f.mustAppend(ents(1, 1, 1, 1, 1, 1)...)
		f.mustAppend(ents(2, 1, 1)...)
		f.verify()
	}},
	{"AfterCompaction", func(f *fixture) {
		f.mustAppend(ents(1, run(8, 1)...)...)
		f.mustCreateSnapshot(5, nil)
		f.mustCompact(5)
		// Entirely compacted: skipped.
		f.mustAppend(ents(2, 9, 9, 9)...)
		// Ending at the compaction point: skipped.
		f.mustAppend(ents(1, 9, 9, 9, 9, 9)...)
		// Partly compacted and matching, extending the log.
		f.mustAppend(ents(4, 1, 1, 1, 1, 1, 1)...)
		// Partly compacted and conflicting: the part after the compaction
		// point replaces the stored suffix.
		f.mustAppend(ents(3, 1, 1, 1, 2, 2)...)
		f.verify()
	}},
	{"AfterSnapshot", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1)...)
		f.mustApplySnapshot(snapshot(10, 3))
		f.mustAppend(ents(11, 3, 4)...)
		f.mustAppend(ents(12, 5)...)
		f.verify()
	}},
	{"EntryContents", func(f *fixture) {
		// Types, empty and large payloads, and the largest index and term
		// fields a varint holds.
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
		f.mustAppend(
			&pb.Entry{Index: 1, Term: 1},
			&pb.Entry{Index: 2, Term: 1, Type: pb.EntryType_EntryConfChange, Data: []byte{8, 1, 16, 2}},
			&pb.Entry{Index: 3, Term: 1, Type: pb.EntryType_EntryConfChangeV2, Data: []byte{}},
			&pb.Entry{Index: 4, Term: 2, Data: big},
			&pb.Entry{Index: 5, Term: math.MaxUint64, Data: []byte{0}},
		)
		f.verify()
	}},
	{"ManyEntries", func(f *fixture) {
		// Enough entries to cross the segment or page boundaries of a store
		// that keeps its log in pieces.
		data := bytes.Repeat([]byte("x"), 200)
		for b := uint64(0); b < 20; b++ {
			batch := make([]*pb.Entry, 100)
			for k := range batch {
				batch[k] = &pb.Entry{Index: b*100 + uint64(k) + 1, Term: 1 + b/5, Data: data}
			}
			f.mustAppend(batch...)
		}
		// Replace a suffix that starts deep inside the log.
		f.mustAppend(ents(777, 5, 5, 5)...)
		f.verify()
	}},
}

// appendRefusedChecks hold Append calls the contract refuses; each must
// return an error and change nothing.
var appendRefusedChecks = []check{
	refusedAppend("Gap", ents(7, 2)),
	refusedAppend("NotConsecutive", []*pb.Entry{{Index: 4, Term: 2}, {Index: 6, Term: 2}}),
	refusedAppend("Descending", []*pb.Entry{{Index: 5, Term: 2}, {Index: 4, Term: 2}}),
	refusedAppend("RepeatedIndex", []*pb.Entry{{Index: 5, Term: 2}, {Index: 5, Term: 2}}),
	refusedAppend("NilEntry", []*pb.Entry{{Index: 5, Term: 2}, nil}),
	refusedAppend("IndexWrapsAround", []*pb.Entry{{Index: math.MaxUint64, Term: 2}, {Index: 0, Term: 2}}),
	refusedAppend("NotConsecutiveAndCompacted", []*pb.Entry{{Index: 1, Term: 1}, {Index: 3, Term: 1}}),
	{"GapAfterSnapshot", func(f *fixture) {
		f.mustApplySnapshot(snapshot(10, 3))
		if err := f.append(ents(12, 3)...); err == nil {
			f.t.Fatal("Append(12/3) after a snapshot at 10 leaves a gap and succeeded; want an error")
		}
		f.verify()
	}},
}

// refusedAppend is a check that appending ents to the log 1/1 2/1 3/1 4/1
// 5/1, compacted up to 2, is refused.
func refusedAppend(name string, bad []*pb.Entry) check {
	return check{name, func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1, 1, 1)...)
		f.mustCreateSnapshot(2, nil)
		f.mustCompact(2)
		if err := f.append(bad...); err == nil {
			f.t.Fatalf("Append(%s) succeeded; want an error", describeEntries(bad))
		}
		f.verify()
	}}
}

var hardStateChecks = []check{
	{"RoundTrip", func(f *fixture) {
		for _, hs := range []*pb.HardState{
			{Term: 1, Vote: 2, Commit: 0},
			{Term: 3, Vote: 0, Commit: 7},
			{Term: math.MaxUint64, Vote: math.MaxUint64, Commit: math.MaxUint64},
			{},
		} {
			f.mustSetHardState(hs)
		}
		f.verify()
	}},
	{"NilRefused", func(f *fixture) {
		f.mustSetHardState(&pb.HardState{Term: 2, Vote: 1, Commit: 1})
		if err := f.setHardState(nil); err == nil {
			f.t.Fatal("SetHardState(nil) succeeded; want an error")
		}
		f.verify()
	}},
	{"KeptAcrossLogWrites", func(f *fixture) {
		f.mustSetHardState(&pb.HardState{Term: 4, Vote: 3, Commit: 3})
		f.mustAppend(ents(1, 1, 2, 4, 4)...)
		f.mustCreateSnapshot(3, jointConfState)
		f.mustCompact(2)
		f.mustApplySnapshot(snapshot(9, 4))
		f.verify()
	}},
}

var entriesChecks = []check{
	{"SizeLimit", func(f *fixture) {
		// Payloads of different sizes, some crossing a varint length
		// boundary, so every byte of the accounting matters.
		sizes := []int{0, 1, 126, 127, 128, 3, 300, 0, 16383, 16384, 5}
		batch := make([]*pb.Entry, len(sizes))
		for k, n := range sizes {
			batch[k] = &pb.Entry{Index: uint64(k) + 4, Term: 2, Data: bytes.Repeat([]byte{byte(k)}, n)}
		}
		f.mustApplySnapshot(snapshot(3, 2))
		f.mustAppend(batch...)
		first, last := f.m.firstIndex(), f.m.lastIndex()
		for lo := first; lo <= last+1; lo++ {
			for hi := lo; hi <= last+1; hi++ {
				for _, max := range sizeLimits(f.m.ents[lo-first : hi-first]) {
					if msg := diffRange(f.s, f.m, lo, hi, max); msg != "" {
						f.t.Fatal(msg)
					}
				}
			}
		}
	}},
	{"SizeLimitZeroReturnsOne", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1)...)
		got, err := f.s.Entries(1, 4, 0)
		if err != nil || len(got) != 1 || got[0].GetIndex() != 1 {
			f.t.Fatalf("Entries(1, 4, 0) = %s, %v; want the first entry alone", describeEntries(got), err)
		}
	}},
	{"Boundaries", func(f *fixture) {
		// verify reads every range and term at and around the edges of a
		// log that starts after a snapshot.
		f.mustApplySnapshot(snapshot(5, 2))
		f.verify()
		f.mustAppend(ents(6, 2, 3, 3)...)
		f.verify()
	}},
	{"InvertedRange", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1, 1)...)
		// Bad input: an error, not a crash.
		var (
			got []*pb.Entry
			err error
		)
		func() {
			defer func() {
				if r := recover(); r != nil {
					f.t.Fatalf("Entries(4, 2, no limit) panicked: %v", r)
				}
			}()
			got, err = f.s.Entries(4, 2, noLimit)
		}()
		if err == nil {
			f.t.Fatalf("Entries(4, 2, no limit) = %s and no error; want an error", describeEntries(got))
		}
	}},
}

// sizeLimits returns the maxSize values at which Entries over ents changes
// its answer, and their neighbours.
func sizeLimits(ents []*pb.Entry) []uint64 {
	limits := []uint64{0, 1, noLimit}
	var sum uint64
	for _, e := range ents {
		sum += uint64(proto.Size(e))
		limits = append(limits, sum-1, sum, sum+1)
	}
	return limits
}

var applySnapshotChecks = []check{
	{"BeyondTheLog", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1)...)
		f.mustApplySnapshot(snapshot(10, 3))
		f.verify()
	}},
	{"InsideTheLog", func(f *fixture) {
		// The whole log is replaced, also the entries after the snapshot.
		f.mustAppend(ents(1, 1, 1, 2, 2, 2, 2)...)
		f.mustApplySnapshot(snapshot(4, 2))
		f.verify()
	}},
	{"OntoEmpty", func(f *fixture) {
		f.mustApplySnapshot(snapshot(1, 1))
		f.mustAppend(ents(2, 1, 1)...)
		f.verify()
	}},
	{"Successive", func(f *fixture) {
		f.mustApplySnapshot(snapshot(5, 2))
		f.mustAppend(ents(6, 2, 2, 3)...)
		f.mustApplySnapshot(snapshot(7, 2))
		f.mustApplySnapshot(snapshot(20, 4))
		f.verify()
	}},
	{"OutOfDate", func(f *fixture) {
		f.mustApplySnapshot(snapshot(5, 2))
		f.mustAppend(ents(6, 2, 2)...)
		for _, s := range []*pb.Snapshot{snapshot(5, 2), snapshot(5, 3), snapshot(3, 1), {Metadata: &pb.SnapshotMetadata{}}} {
			err := f.applySnapshot(s)
			f.expectErr(fmt.Sprintf("ApplySnapshot at index %d after one at 5", s.GetMetadata().GetIndex()), raft.ErrSnapOutOfDate, err)
		}
		f.verify()
	}},
	{"OutOfDateAfterCreate", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1, 1)...)
		f.mustCreateSnapshot(4, nil)
		err := f.applySnapshot(snapshot(3, 1))
		f.expectErr("ApplySnapshot at 3 after CreateSnapshot at 4", raft.ErrSnapOutOfDate, err)
		f.verify()
	}},
	{"Nil", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1)...)
		err := f.applySnapshot(nil)
		if err == nil || errors.Is(err, raft.ErrSnapOutOfDate) {
			f.t.Fatalf("ApplySnapshot(nil) = %v; want an error saying the snapshot is nil, not ErrSnapOutOfDate", err)
		}
		f.verify()
	}},
	{"NoMetadata", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1)...)
		err := f.applySnapshot(&pb.Snapshot{Data: []byte("x")})
		if err == nil || errors.Is(err, raft.ErrSnapOutOfDate) {
			f.t.Fatalf("ApplySnapshot without metadata = %v; want an error saying so, not ErrSnapOutOfDate", err)
		}
		f.verify()
	}},
	{"ConfStateRoundTrip", func(f *fixture) {
		s := snapshot(4, 2)
		s.Metadata.ConfState = jointConfState
		f.mustApplySnapshot(s)
		f.verify()
	}},
	{"WithoutConfState", func(f *fixture) {
		f.mustApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: 4, Term: 2}})
		f.verify()
	}},
	{"Data", func(f *fixture) {
		s := snapshot(4, 2)
		s.Data = bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<16)
		f.mustApplySnapshot(s)
		s = snapshot(6, 2)
		s.Data = nil
		f.mustApplySnapshot(s)
		f.verify()
	}},
	{"KeepsHardState", func(f *fixture) {
		f.mustSetHardState(&pb.HardState{Term: 3, Vote: 2, Commit: 1})
		f.mustApplySnapshot(snapshot(8, 3))
		f.verify()
	}},
}

var createSnapshotChecks = []check{
	{"Create", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2, 2, 3)...)
		f.mustCreateSnapshotData(4, jointConfState, []byte("state at 4"))
		f.verify()
	}},
	{"DoesNotCompact", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2, 2, 3)...)
		f.mustCreateSnapshot(5, nil)
		if first, err := f.s.FirstIndex(); err != nil || first != 1 {
			f.t.Fatalf("FirstIndex() = %d, %v after CreateSnapshot(5); want 1 (creating compacts nothing)", first, err)
		}
		f.verify()
	}},
	{"AtLastIndex", func(f *fixture) {
		f.mustAppend(ents(1, 1, 2, 3)...)
		f.mustCreateSnapshot(3, nil)
		f.verify()
	}},
	{"NilConfStateKeepsPrevious", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2, 2, 3)...)
		f.mustCreateSnapshot(2, jointConfState)
		f.mustCreateSnapshot(4, nil)
		f.verify()
	}},
	{"NilConfStateAfterApply", func(f *fixture) {
		f.mustApplySnapshot(snapshot(5, 2))
		f.mustAppend(ents(6, 2, 3)...)
		f.mustCreateSnapshot(7, nil)
		f.verify()
	}},
	{"NilConfStateInitially", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1)...)
		f.mustCreateSnapshot(1, nil)
		f.verify()
	}},
	{"OutOfDate", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2, 2, 3)...)
		f.mustCreateSnapshot(3, nil)
		for _, i := range []uint64{3, 2, 0} {
			_, err := f.createSnapshot(i, nil, nil)
			f.expectErr(fmt.Sprintf("CreateSnapshot(%d) after one at 3", i), raft.ErrSnapOutOfDate, err)
		}
		f.verify()
	}},
	{"OutOfDateAfterApply", func(f *fixture) {
		f.mustApplySnapshot(snapshot(5, 2))
		f.mustAppend(ents(6, 2)...)
		_, err := f.createSnapshot(5, nil, nil)
		f.expectErr("CreateSnapshot at the applied snapshot's index", raft.ErrSnapOutOfDate, err)
		f.verify()
	}},
	{"BeyondLastIndex", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2)...)
		for _, i := range []uint64{4, 100} {
			_, err := f.createSnapshot(i, nil, nil)
			f.expectErr(fmt.Sprintf("CreateSnapshot(%d) with last index 3", i), raft.ErrUnavailable, err)
		}
		f.verify()
	}},
}

var compactChecks = []check{
	{"First", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2, 2)...)
		f.mustCreateSnapshot(4, nil)
		f.mustCompact(1)
		f.mustCompact(2)
		f.verify()
	}},
	{"Everything", func(f *fixture) {
		// The log is empty afterwards, its last term still known, and it
		// continues after the compaction point.
		f.mustAppend(ents(1, 1, 1, 2, 2)...)
		f.mustCreateSnapshot(4, nil)
		f.mustCompact(4)
		f.verify()
		f.mustAppend(ents(5, 3, 3)...)
		f.verify()
	}},
	{"BehindSnapshot", func(f *fixture) {
		// Entries behind the snapshot kept for slow followers.
		f.mustAppend(ents(1, run(10, 2)...)...)
		f.mustCreateSnapshot(8, nil)
		f.mustCompact(5)
		f.verify()
	}},
	{"AtOrBeforeCompactionPoint", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2, 2)...)
		f.mustCreateSnapshot(4, nil)
		f.mustCompact(3)
		for _, i := range []uint64{3, 2, 0} {
			f.expectErr(fmt.Sprintf("Compact(%d) after Compact(3)", i), raft.ErrCompacted, f.compact(i))
		}
		f.verify()
	}},
	{"AtSnapshotIndex", func(f *fixture) {
		f.mustApplySnapshot(snapshot(6, 2))
		f.expectErr("Compact(6) after a snapshot at 6", raft.ErrCompacted, f.compact(6))
		f.mustAppend(ents(7, 2, 2)...)
		f.expectErr("Compact(5) after a snapshot at 6", raft.ErrCompacted, f.compact(5))
		f.verify()
	}},
	{"OnEmpty", func(f *fixture) {
		f.expectErr("Compact(0) on an empty store", raft.ErrCompacted, f.compact(0))
		f.expectErr("Compact(1) on an empty store", raft.ErrUnavailable, f.compact(1))
		f.verify()
	}},
	{"BeyondLastIndex", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2)...)
		f.expectErr("Compact(4) with last index 3", raft.ErrUnavailable, f.compact(4))
		f.expectErr("Compact(max) with last index 3", raft.ErrUnavailable, f.compact(math.MaxUint64))
		f.verify()
	}},
	{"ThenOverwrite", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1, 1, 1, 1)...)
		f.mustCreateSnapshot(3, nil)
		f.mustCompact(3)
		f.mustAppend(ents(4, 2)...)
		f.verify()
	}},
	{"Repeatedly", func(f *fixture) {
		f.mustAppend(ents(1, 1)...)
		for i := uint64(2); i <= 30; i++ {
			f.mustAppend(ents(i, 1+i/10)...)
			f.mustCreateSnapshot(i-1, nil)
			f.mustCompact(i - 1)
		}
		f.verify()
	}},
}

// returnedEntriesChecks hold raft.Storage's promise about what Entries
// returns: the storage never modifies it afterwards (the state machine
// keeps and shares it).
var returnedEntriesChecks = []check{
	{"StableAcrossWrites", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 1, 1, 1, 1, 1, 1)...)
		held, keep := f.hold(1, 9)
		f.mustAppend(ents(4, 2, 2)...)
		f.mustAppend(ents(6, 3, 3, 3, 3, 3)...)
		f.checkHeld("after overwriting from index 4 and 6", held, keep)
		f.mustCreateSnapshot(6, nil)
		f.mustCompact(5)
		f.checkHeld("after a compaction", held, keep)
		f.mustApplySnapshot(snapshot(20, 4))
		f.mustAppend(ents(21, 4, 4, 4)...)
		f.checkHeld("after applying a snapshot", held, keep)
	}},
	{"StableAcrossReads", func(f *fixture) {
		f.mustAppend(ents(1, 1, 1, 2, 2, 2, 3, 3, 3)...)
		held, keep := f.hold(1, 5)
		for lo := uint64(1); lo <= 8; lo++ {
			if _, err := f.s.Entries(lo, 9, noLimit); err != nil {
				f.t.Fatalf("Entries(%d, 9, no limit): %v", lo, err)
			}
		}
		f.checkHeld("after later reads", held, keep)
	}},
}

// hold reads [lo, hi) and returns it with a private copy to compare with.
func (f *fixture) hold(lo, hi uint64) (held, keep []*pb.Entry) {
	f.t.Helper()
	held, err := f.s.Entries(lo, hi, noLimit)
	if err != nil {
		f.t.Fatalf("Entries(%d, %d, no limit): %v", lo, hi, err)
	}
	for _, e := range held {
		keep = append(keep, proto.Clone(e).(*pb.Entry))
	}
	return held, keep
}

// checkHeld fails if entries returned earlier changed.
func (f *fixture) checkHeld(when string, held, keep []*pb.Entry) {
	f.t.Helper()
	if !sameEntries(held, keep) {
		f.t.Fatalf("entries returned by Entries changed %s: now %s, were %s",
			when, describeEntries(held), describeEntries(keep))
	}
}

func (f *fixture) mustSetHardState(hs *pb.HardState) {
	f.t.Helper()
	if err := f.setHardState(hs); err != nil {
		f.t.Fatalf("SetHardState(%v): %v", hs, err)
	}
}

func (f *fixture) mustCompact(i uint64) {
	f.t.Helper()
	if err := f.compact(i); err != nil {
		f.t.Fatalf("Compact(%d): %v", i, err)
	}
}

func (f *fixture) mustApplySnapshot(s *pb.Snapshot) {
	f.t.Helper()
	if err := f.applySnapshot(s); err != nil {
		f.t.Fatalf("ApplySnapshot(%v): %v", s.GetMetadata(), err)
	}
}

func (f *fixture) mustCreateSnapshot(i uint64, cs *pb.ConfState) {
	f.t.Helper()
	f.mustCreateSnapshotData(i, cs, fmt.Appendf(nil, "state at %d", i))
}

func (f *fixture) mustCreateSnapshotData(i uint64, cs *pb.ConfState, data []byte) {
	f.t.Helper()
	if _, err := f.createSnapshot(i, cs, data); err != nil {
		f.t.Fatalf("CreateSnapshot(%d, %v): %v", i, cs, err)
	}
}
