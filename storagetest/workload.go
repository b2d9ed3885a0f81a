package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// modelChecks run seeded random sequences of writes, valid and invalid,
// comparing the store with the model after every one (and reopening a
// durable store after every one).
var modelChecks = []check{
	{"Seed1", func(f *fixture) { randomWorkload(f, 1, 150) }},
	{"Seed2", func(f *fixture) { randomWorkload(f, 2, 150) }},
	{"Seed3", func(f *fixture) { randomWorkload(f, 3, 150) }},
	{"Seed4", func(f *fixture) { randomWorkload(f, 4, 150) }},
}

// confStates the random workload picks from; nil keeps the previous one in
// CreateSnapshot.
var confStates = []*pb.ConfState{
	nil,
	{Voters: []uint64{1}},
	{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
	jointConfState,
}

// workload generates writes from the model's current state. Its writes
// respect the callers' side of the contract (the log is never cut at or
// below the latest snapshot, nothing is compacted past it) and include
// calls the store must refuse.
type workload struct {
	f    *fixture
	rnd  *rand.Rand
	term uint64
}

func randomWorkload(f *fixture, seed uint64, steps int) {
	w := &workload{f: f, rnd: rand.New(rand.NewPCG(seed, 0x5eed)), term: 1}
	ops := []struct {
		weight int
		op     func()
	}{
		{30, w.appendEntries},
		{5, w.appendInvalid},
		{15, w.setHardState},
		{12, w.createSnapshot},
		{12, w.compact},
		{6, w.applySnapshot},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for range steps {
		n := w.rnd.IntN(total)
		for _, o := range ops {
			if n < o.weight {
				o.op()
				break
			}
			n -= o.weight
		}
	}
	f.verify()
}

func (w *workload) snapIndex() uint64 { return w.f.m.snap.GetMetadata().GetIndex() }

// appendEntries appends a batch after the log, or replacing a suffix after
// the latest snapshot, sometimes starting with entries already compacted,
// sometimes leaving a gap (refused).
func (w *workload) appendEntries() {
	m := w.f.m
	lo := max(w.snapIndex(), m.offset) + 1
	start := lo + w.rnd.Uint64N(m.lastIndex()+2-lo)
	if start <= m.lastIndex() {
		w.term++ // a new leader replaces a suffix
	}
	if w.rnd.IntN(20) == 0 {
		start = m.lastIndex() + 2 // a gap
	}
	var batch []*pb.Entry
	if w.rnd.IntN(5) == 0 {
		// Begin with entries the store holds (or compacted) already.
		from := m.offset - min(m.offset, w.rnd.Uint64N(3))
		for i := max(from, 1); i < start && i <= m.lastIndex(); i++ {
			t := m.offsetTerm
			if i > m.offset {
				t = m.term(i)
			}
			batch = append(batch, &pb.Entry{Index: i, Term: t, Data: entryData(i, t)})
		}
		if len(batch) > 0 && batch[len(batch)-1].GetIndex()+1 != start {
			batch = nil
		}
	}
	for k := range 1 + w.rnd.IntN(5) {
		i := start + uint64(k)
		e := &pb.Entry{Index: i, Term: w.term, Data: entryData(i, w.term)}
		if w.rnd.IntN(4) == 0 {
			e.Data = append(e.Data, bytes.Repeat([]byte{'p'}, w.rnd.IntN(300))...)
		}
		batch = append(batch, e)
	}
	_ = w.f.append(batch...)
}

// appendInvalid appends a batch with a hole or a nil entry.
func (w *workload) appendInvalid() {
	i := w.f.m.lastIndex() + 1
	batch := ents(i, w.term, w.term, w.term)
	if w.rnd.IntN(2) == 0 {
		batch[1] = nil
	} else {
		batch[2].Index++
	}
	_ = w.f.append(batch...)
}

func (w *workload) setHardState() {
	m := w.f.m
	_ = w.f.setHardState(&pb.HardState{
		Term:   w.term,
		Vote:   w.rnd.Uint64N(4),
		Commit: w.rnd.Uint64N(m.lastIndex() + 1),
	})
}

// createSnapshot creates a snapshot around the latest one and the end of
// the log: newer ones succeed, others are refused.
func (w *workload) createSnapshot() {
	m := w.f.m
	lo := w.snapIndex() - min(w.snapIndex(), 1)
	i := lo + w.rnd.Uint64N(m.lastIndex()+2-lo)
	cs := confStates[w.rnd.IntN(len(confStates))]
	_, _ = w.f.createSnapshot(i, cs, fmt.Appendf(nil, "state at %d, step %d", i, w.rnd.Uint32()))
}

// compact compacts up to the latest snapshot at most, sometimes at or
// before the compaction point (refused), sometimes beyond the log (refused).
func (w *workload) compact() {
	m := w.f.m
	var i uint64
	switch {
	case w.rnd.IntN(8) == 0:
		i = m.lastIndex() + 1
	case w.snapIndex() <= m.offset || w.rnd.IntN(4) == 0:
		i = m.offset - min(m.offset, w.rnd.Uint64N(2))
	default:
		i = m.offset + 1 + w.rnd.Uint64N(w.snapIndex()-m.offset)
	}
	_ = w.f.compact(i)
}

// applySnapshot applies a snapshot around the latest one and the end of
// the log, or a nil one.
func (w *workload) applySnapshot() {
	m := w.f.m
	if w.rnd.IntN(10) == 0 {
		_ = w.f.applySnapshot(nil)
		return
	}
	lo := w.snapIndex() - min(w.snapIndex(), 1)
	i := lo + w.rnd.Uint64N(m.lastIndex()+6-lo)
	t := w.term
	switch {
	case i > m.lastIndex():
		w.term++
		t = w.term
	case i >= m.offset:
		t = m.term(i)
	}
	s := snapshot(i, t)
	s.Metadata.ConfState = confStates[w.rnd.IntN(len(confStates))]
	_ = w.f.applySnapshot(s)
}

var concurrentChecks = []check{
	{"ReadersDuringWrites", readersDuringWrites},
}

// readersDuringWrites writes on the test's goroutine while two readers
// call every read method and check that each answer is whole and
// consistent: entries contiguous and carrying the payload written for
// them, only the expected errors, snapshots and terms never going back,
// and entries returned earlier never changing. Run it under -race.
func readersDuringWrites(f *fixture) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			read(f, uint64(r), &stop)
		}()
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()

	s, rnd := f.s, rand.New(rand.NewPCG(7, 7))
	var last, term, snapIndex, offset uint64 = 0, 1, 0, 0
	must := func(op string, err error) {
		if err != nil {
			f.t.Fatalf("%s: %v", op, err)
		}
	}
	for step := range 1500 {
		switch {
		case step%400 == 399:
			// Jump ahead by a snapshot.
			term++
			snapIndex, last = last+3, last+3
			offset = snapIndex
			must("ApplySnapshot", s.ApplySnapshot(snapshotData(snapIndex, term)))
		case step%50 == 49 && last > snapIndex:
			snapIndex = last
			_, err := s.CreateSnapshot(snapIndex, nil, snapshotData(snapIndex, 0).Data)
			must("CreateSnapshot", err)
			if snapIndex > offset+3 {
				offset = snapIndex - 3
				must("Compact", s.Compact(offset))
			}
		case step%7 == 6 && last > snapIndex+2:
			// Replace a short suffix, as a new leader does.
			term++
			from := max(snapIndex+1, last-1-rnd.Uint64N(2))
			batch := ents(from, run(1+rnd.IntN(3), term)...)
			must("Append", s.Append(batch))
			last = batch[len(batch)-1].GetIndex()
		default:
			batch := ents(last+1, run(1+rnd.IntN(4), term)...)
			must("Append", s.Append(batch))
			last += uint64(len(batch))
		}
		must("SetHardState", s.SetHardState(&pb.HardState{Term: term, Commit: snapIndex}))
	}
}

// snapshotData is a snapshot whose data names its index (term 0: the data
// of a created snapshot, which does not know its term in advance).
func snapshotData(index, term uint64) *pb.Snapshot {
	return &pb.Snapshot{
		Data:     fmt.Appendf(nil, "snapshot at %d", index),
		Metadata: &pb.SnapshotMetadata{Index: index, Term: term, ConfState: &pb.ConfState{Voters: []uint64{1}}},
	}
}

// read is one reader of readersDuringWrites. It returns at the first
// problem, which it reports with Errorf (Fatalf is for the test's
// goroutine).
func read(f *fixture, seed uint64, stop *atomic.Bool) {
	s, rnd := f.s, rand.New(rand.NewPCG(seed, 99))
	var held, keep []*pb.Entry
	var snapIndex, hsTerm uint64
	for n := 0; !stop.Load() || n < 100; n++ {
		if msg := readOnce(s, rnd, &held, &keep, &snapIndex, &hsTerm); msg != "" {
			f.t.Errorf("reader %d, read %d: %s", seed, n, msg)
			return
		}
	}
}

// readOnce does one round of reads; see readersDuringWrites.
func readOnce(s raft.Storage, rnd *rand.Rand, held, keep *[]*pb.Entry, snapIndex, hsTerm *uint64) string {
	if !sameEntries(*held, *keep) {
		return fmt.Sprintf("entries returned earlier changed: now %s, were %s", describeEntries(*held), describeEntries(*keep))
	}
	first, err := s.FirstIndex()
	if err != nil {
		return fmt.Sprintf("FirstIndex: %v", err)
	}
	last, err := s.LastIndex()
	if err != nil {
		return fmt.Sprintf("LastIndex: %v", err)
	}
	if first > last+1 {
		return fmt.Sprintf("FirstIndex() %d > LastIndex()+1 = %d", first, last+1)
	}
	lo := first - 1 + rnd.Uint64N(last+3-first)
	hi := lo + rnd.Uint64N(last+3-min(lo, last+2))
	maxSize := []uint64{0, 40, 200, noLimit}[rnd.IntN(4)]
	got, err := s.Entries(lo, hi, maxSize)
	switch {
	case errors.Is(err, raft.ErrCompacted), errors.Is(err, raft.ErrUnavailable):
	case err != nil:
		return fmt.Sprintf("Entries(%d, %d, %d): %v", lo, hi, maxSize, err)
	default:
		if msg := wholeEntries(got, lo, hi); msg != "" {
			return fmt.Sprintf("Entries(%d, %d, %d) = %s: %s", lo, hi, maxSize, describeEntries(got), msg)
		}
		if len(got) > 0 {
			*held, *keep = got, nil
			for _, e := range got {
				*keep = append(*keep, proto.Clone(e).(*pb.Entry))
			}
		}
	}
	i := first - 1 + rnd.Uint64N(last+3-first)
	if _, err := s.Term(i); err != nil && !errors.Is(err, raft.ErrCompacted) && !errors.Is(err, raft.ErrUnavailable) {
		return fmt.Sprintf("Term(%d): %v", i, err)
	}
	snap, err := s.Snapshot()
	if err != nil {
		return fmt.Sprintf("Snapshot: %v", err)
	}
	si := snap.GetMetadata().GetIndex()
	if si < *snapIndex {
		return fmt.Sprintf("Snapshot() went back from index %d to %d", *snapIndex, si)
	}
	if si > 0 && string(snap.GetData()) != fmt.Sprintf("snapshot at %d", si) {
		return fmt.Sprintf("Snapshot() at index %d holds data %q", si, clip(snap.GetData()))
	}
	*snapIndex = si
	hs, _, err := s.InitialState()
	if err != nil {
		return fmt.Sprintf("InitialState: %v", err)
	}
	if hs.GetTerm() < *hsTerm {
		return fmt.Sprintf("InitialState() term went back from %d to %d", *hsTerm, hs.GetTerm())
	}
	*hsTerm = hs.GetTerm()
	return ""
}

// wholeEntries checks a successful answer of Entries(lo, hi, ...) read
// while the log changes: a non-empty prefix of the range (when the range
// is not empty), each entry carrying the data written with it, terms never
// decreasing.
func wholeEntries(got []*pb.Entry, lo, hi uint64) string {
	if lo < hi && len(got) == 0 {
		return "no entries for a non-empty range"
	}
	if uint64(len(got)) > hi-lo {
		return "more entries than the range holds"
	}
	for k, e := range got {
		if e.GetIndex() != lo+uint64(k) {
			return fmt.Sprintf("entry %d has index %d", k, e.GetIndex())
		}
		if !bytes.Equal(e.GetData(), entryData(e.GetIndex(), e.GetTerm())) {
			return fmt.Sprintf("entry %d/%d holds data %q, not what was written with it", e.GetIndex(), e.GetTerm(), clip(e.GetData()))
		}
		if k > 0 && e.GetTerm() < got[k-1].GetTerm() {
			return fmt.Sprintf("term goes down from %d to %d at index %d", got[k-1].GetTerm(), e.GetTerm(), e.GetIndex())
		}
	}
	return ""
}
