package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// Store is a raft.Storage together with the writes that fill it: the shape
// of raft.MemoryStorage, which the wal package has too. The suite holds a
// store to this contract (raft.MemoryStorage's documentation says the same
// at more length):
//
//   - Append adds entries with consecutive indexes. Entries at or before
//     FirstIndex()-1 are skipped; the stored entries from the first new
//     index on are replaced by the new ones (a conflicting suffix is cut
//     off even when the new entries are fewer). A nil entry, indexes that
//     are not consecutive, or a first new index beyond LastIndex()+1 (a
//     gap) is an error. An empty Append does nothing.
//   - SetHardState stores the hard state; nil is an error.
//   - ApplySnapshot replaces the whole log by the snapshot: FirstIndex()
//     becomes its index+1, LastIndex() its index, Term(index) its term,
//     and its conf state is what InitialState reports. The hard state is
//     kept. A snapshot not newer than the one held is ErrSnapOutOfDate; a
//     nil snapshot or one without metadata is another error.
//   - CreateSnapshot(i, cs, data) records a snapshot at i, which must be in
//     the log, with i's term; cs nil keeps the previous conf state. It
//     returns ErrSnapOutOfDate if i is not newer than the snapshot held,
//     ErrCompacted if i's term is compacted away, an error wrapping
//     ErrUnavailable if i > LastIndex(). The log is not compacted.
//   - Compact(i) discards the entries up to i: FirstIndex() becomes i+1 and
//     Term(i) stays readable. ErrCompacted if i < FirstIndex(), an error
//     wrapping ErrUnavailable if i > LastIndex(). The caller has created a
//     snapshot at i or later first; the suite never compacts past the
//     latest snapshot.
//   - A write that returns an error changes nothing.
//   - Entries handed to Append, and those Entries returns, are never
//     modified by the store (raft shares them between its log, its
//     messages and the store).
//
// Errors are matched with errors.Is, as raft matches them.
type Store interface {
	raft.Storage
	Append(ents []*pb.Entry) error
	SetHardState(hs *pb.HardState) error
	ApplySnapshot(snap *pb.Snapshot) error
	CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error)
	Compact(i uint64) error
}

// Harness tells the suite how to open, reopen and close the store under
// test.
type Harness struct {
	// Open returns a new, empty store. dir is a fresh empty directory for
	// each check, removed when the check ends; a store that keeps nothing
	// on disk ignores it. Required.
	Open func(t testing.TB, dir string) (Store, error)
	// Reopen is set for durable stores: it shuts s down and returns the
	// store recovered from dir, as a restarted process would find it. The
	// suite then reopens the store after every write, refused ones too,
	// and compares what it reads with its model. If the store's write
	// methods sync before they return, Reopen may as well simulate a
	// crash (dropping whatever was not synced): nothing acknowledged may
	// be lost either way. nil: the store is not durable, and is never
	// reopened.
	Reopen func(t testing.TB, s Store, dir string) (Store, error)
	// Close releases the store at the end of each check. nil: nothing to
	// release.
	Close func(s Store) error
}

// noLimit is the maxSize that cuts nothing.
const noLimit = math.MaxUint64

// Run runs every check of the suite on stores made by h, each as a subtest
// of t named after what it checks, so a failure names the broken promise.
// Each check starts from an empty store of its own.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("storagetest: Harness.Open is nil")
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.checks {
				t.Run(c.name, func(t *testing.T) {
					c.run(newFixture(t, h))
				})
			}
		})
	}
}

// check is one named promise of the Store contract.
type check struct {
	name string
	run  func(f *fixture)
}

// group is a set of checks about one part of the contract.
type group struct {
	name   string
	checks []check
}

// fixture is a store under test and the model it must match. Its write
// methods write to both, check the store answered as the model says and
// reads as the model does, and, for a durable store, reopen it and compare
// again.
type fixture struct {
	t   *testing.T
	h   Harness
	dir string
	s   Store
	m   *model
}

func newFixture(t *testing.T, h Harness) *fixture {
	t.Helper()
	f := &fixture{t: t, h: h, dir: t.TempDir(), m: newModel()}
	s, err := h.Open(t, f.dir)
	if err != nil {
		t.Fatalf("opening an empty store: %v", err)
	}
	if s == nil {
		t.Fatal("Harness.Open returned a nil store and no error")
	}
	f.s = s
	t.Cleanup(func() {
		if h.Close != nil && f.s != nil {
			if err := h.Close(f.s); err != nil {
				t.Errorf("closing the store: %v", err)
			}
		}
	})
	return f
}

// durable reports whether the store is reopened after every write.
func (f *fixture) durable() bool { return f.h.Reopen != nil }

// after finishes a write named op: the store's error must be the model's
// want, then a durable store is reopened and compared with the model.
func (f *fixture) after(op string, want, got error) {
	f.t.Helper()
	if !errOK(want, got) {
		f.t.Fatalf("%s: got error %v, want %s", op, got, describeErr(want))
	}
	if msg := diffState(f.s, f.m, false); msg != "" {
		f.t.Fatalf("after %s: %s", op, msg)
	}
	if f.durable() {
		f.reopen(op)
	}
}

// reopen reopens a durable store and compares it with the model.
func (f *fixture) reopen(op string) {
	f.t.Helper()
	s, err := f.h.Reopen(f.t, f.s, f.dir)
	f.s = s
	if err != nil {
		f.s = nil
		f.t.Fatalf("reopening after %s: %v", op, err)
	}
	if s == nil {
		f.t.Fatalf("reopening after %s: Harness.Reopen returned a nil store and no error", op)
	}
	if msg := diffState(f.s, f.m, false); msg != "" {
		f.t.Fatalf("after %s and a reopen: %s", op, msg)
	}
}

// errOK reports whether got is the answer the model's want calls for.
func errOK(want, got error) bool {
	switch {
	case want == nil:
		return got == nil
	case want == errRefused:
		return got != nil
	default:
		return errors.Is(got, want)
	}
}

func describeErr(want error) string {
	switch want {
	case nil:
		return "none"
	case errRefused:
		return "an error (the write must be refused)"
	}
	return fmt.Sprintf("%q (errors.Is)", want)
}

func (f *fixture) setHardState(hs *pb.HardState) error {
	f.t.Helper()
	want := f.m.setHardState(hs)
	err := f.s.SetHardState(hs)
	f.after(fmt.Sprintf("SetHardState(%v)", hs), want, err)
	return err
}

func (f *fixture) append(ents ...*pb.Entry) error {
	f.t.Helper()
	// The model copies the entries first: a store that modifies them is
	// caught.
	want := f.m.append(ents)
	err := f.s.Append(ents)
	f.after(fmt.Sprintf("Append(%s)", describeEntries(ents)), want, err)
	return err
}

func (f *fixture) compact(i uint64) error {
	f.t.Helper()
	want := f.m.compact(i)
	err := f.s.Compact(i)
	f.after(fmt.Sprintf("Compact(%d)", i), want, err)
	return err
}

func (f *fixture) applySnapshot(snap *pb.Snapshot) error {
	f.t.Helper()
	want := f.m.applySnapshot(snap)
	err := f.s.ApplySnapshot(snap)
	f.after(fmt.Sprintf("ApplySnapshot(%v)", snap.GetMetadata()), want, err)
	return err
}

func (f *fixture) createSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	f.t.Helper()
	op := fmt.Sprintf("CreateSnapshot(%d, %v)", i, cs)
	want, werr := f.m.createSnapshot(i, cs, data)
	snap, err := f.s.CreateSnapshot(i, cs, data)
	if err == nil && werr == nil && !sameSnapshot(snap, want) {
		f.t.Fatalf("%s returned %s, want %s", op, describeSnapshot(snap), describeSnapshot(want))
	}
	f.after(op, werr, err)
	return snap, err
}

// mustAppend appends entries the contract accepts.
func (f *fixture) mustAppend(ents ...*pb.Entry) {
	f.t.Helper()
	if err := f.append(ents...); err != nil {
		f.t.Fatalf("Append(%s): %v", describeEntries(ents), err)
	}
}

// verify compares everything the store reads with the model, exhaustively
// over every range when the log is short.
func (f *fixture) verify() {
	f.t.Helper()
	if msg := diffState(f.s, f.m, true); msg != "" {
		f.t.Fatal(msg)
	}
}

// diffState reads s through the raft.Storage interface and describes the
// first difference from m, or returns "". allRanges reads Entries for every
// range of a short log rather than the whole log and its edges.
func diffState(s raft.Storage, m *model, allRanges bool) string {
	for _, d := range []func(raft.Storage, *model, bool) string{
		diffInitialState, diffIndexes, diffTerms, diffEntries, diffSnapshot,
	} {
		if msg := d(s, m, allRanges); msg != "" {
			return msg
		}
	}
	return ""
}

func diffInitialState(s raft.Storage, m *model, _ bool) string {
	hs, cs, err := s.InitialState()
	if err != nil {
		return fmt.Sprintf("InitialState: %v", err)
	}
	if !proto.Equal(normalHardState(hs), m.hs) {
		return fmt.Sprintf("InitialState: hard state %v, want %v", hs, m.hs)
	}
	if want := m.snap.GetMetadata().GetConfState(); !proto.Equal(normalConfState(cs), want) {
		return fmt.Sprintf("InitialState: conf state %v, want %v (the latest snapshot's)", cs, want)
	}
	return ""
}

func diffIndexes(s raft.Storage, m *model, _ bool) string {
	first, err := s.FirstIndex()
	if err != nil || first != m.firstIndex() {
		return fmt.Sprintf("FirstIndex() = %d, %v; want %d", first, err, m.firstIndex())
	}
	last, err := s.LastIndex()
	if err != nil || last != m.lastIndex() {
		return fmt.Sprintf("LastIndex() = %d, %v; want %d", last, err, m.lastIndex())
	}
	return ""
}

// diffTerms reads the term of every index in the log, the position it
// starts after, and the indexes just outside.
func diffTerms(s raft.Storage, m *model, _ bool) string {
	lo := m.offset
	if lo >= 2 {
		lo -= 2
	} else {
		lo = 0
	}
	for i := lo; i <= m.lastIndex()+2; i++ {
		if msg := diffTerm(s, m, i); msg != "" {
			return msg
		}
	}
	if m.offset > 2 {
		if msg := diffTerm(s, m, 0); msg != "" {
			return msg
		}
	}
	return diffTerm(s, m, math.MaxUint64)
}

func diffTerm(s raft.Storage, m *model, i uint64) string {
	term, err := s.Term(i)
	want, werr := m.termErr(i)
	if werr != nil {
		if !errors.Is(err, werr) {
			return fmt.Sprintf("Term(%d) = %d, %v; want error %q (first index %d, last index %d)",
				i, term, err, werr, m.firstIndex(), m.lastIndex())
		}
		return ""
	}
	if err != nil || term != want {
		return fmt.Sprintf("Term(%d) = %d, %v; want %d", i, term, err, want)
	}
	return ""
}

// diffEntries reads the whole log, every range of a short one, and the
// ranges that reach just outside it, without a size limit.
func diffEntries(s raft.Storage, m *model, allRanges bool) string {
	first, last := m.firstIndex(), m.lastIndex()
	ranges := [][2]uint64{
		{first, last + 1}, {first, first}, {last + 1, last + 1},
		{first - 1, first}, {first - 1, last + 1}, {0, first},
		{first, last + 2}, {last + 1, last + 2}, {last + 2, last + 2},
	}
	if allRanges && last-first < 16 {
		for lo := first; lo <= last+1; lo++ {
			for hi := lo; hi <= last+1; hi++ {
				ranges = append(ranges, [2]uint64{lo, hi})
			}
		}
	} else {
		for _, i := range sampleIndexes(first, last) {
			ranges = append(ranges, [2]uint64{i, i + 1})
		}
	}
	for _, r := range ranges {
		if msg := diffRange(s, m, r[0], r[1], noLimit); msg != "" {
			return msg
		}
	}
	return ""
}

// sampleIndexes returns the indexes of a log to read one by one: all of a
// short log; the ends and about a hundred spread over the middle of a long
// one (reading the whole log at once compares every entry anyway).
func sampleIndexes(first, last uint64) []uint64 {
	var out []uint64
	step := max(1, (last+1-first)/100)
	for i := first; i <= last; i++ {
		if i < first+16 || i+16 > last || (i-first)%step == 0 {
			out = append(out, i)
		}
	}
	return out
}

// diffRange compares Entries(lo, hi, maxSize) with the model.
func diffRange(s raft.Storage, m *model, lo, hi, maxSize uint64) string {
	got, err := s.Entries(lo, hi, maxSize)
	want, werr := m.entries(lo, hi, maxSize)
	call := fmt.Sprintf("Entries(%d, %d, %d)", lo, hi, maxSize)
	if maxSize == noLimit {
		call = fmt.Sprintf("Entries(%d, %d, no limit)", lo, hi)
	}
	if werr != nil {
		if !m.entriesErrOK(lo, hi, werr, err) {
			return fmt.Sprintf("%s = %s, %v; want error %q (first index %d, last index %d)",
				call, describeEntries(got), err, werr, m.firstIndex(), m.lastIndex())
		}
		return ""
	}
	if err != nil {
		return fmt.Sprintf("%s: %v (first index %d, last index %d)", call, err, m.firstIndex(), m.lastIndex())
	}
	if !sameEntries(got, want) {
		return fmt.Sprintf("%s = %s, want %s%s", call, describeEntries(got), describeEntries(want), firstDiff(got, want))
	}
	return ""
}

// firstDiff describes the first differing entry of two lists of the same
// length, which describeEntries may show alike.
func firstDiff(got, want []*pb.Entry) string {
	if len(got) != len(want) {
		return ""
	}
	for k := range got {
		if !sameEntry(got[k], want[k]) {
			return fmt.Sprintf("; entry %d is {%v}, want {%v}", k, got[k], want[k])
		}
	}
	return ""
}

func diffSnapshot(s raft.Storage, m *model, _ bool) string {
	snap, err := s.Snapshot()
	if err != nil {
		return fmt.Sprintf("Snapshot(): %v", err)
	}
	if !sameSnapshot(snap, m.snap) {
		return fmt.Sprintf("Snapshot() = %s, want %s", describeSnapshot(snap), describeSnapshot(m.snap))
	}
	return ""
}

// sameEntries reports whether a and b hold equal entries.
func sameEntries(a, b []*pb.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !sameEntry(a[k], b[k]) {
			return false
		}
	}
	return true
}

// sameEntry is proto.Equal for entries, without reflection over the known
// fields: the suite compares hundreds of thousands of them.
func sameEntry(a, b *pb.Entry) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return a.GetIndex() == b.GetIndex() && a.GetTerm() == b.GetTerm() && a.GetType() == b.GetType() &&
		bytes.Equal(a.GetData(), b.GetData()) &&
		bytes.Equal(a.ProtoReflect().GetUnknown(), b.ProtoReflect().GetUnknown())
}

// sameSnapshot compares snapshots, reading a missing metadata or conf
// state as empty.
func sameSnapshot(a, b *pb.Snapshot) bool {
	return proto.Equal(normalSnapshot(a), normalSnapshot(b))
}

func describeSnapshot(s *pb.Snapshot) string {
	if s == nil {
		return "nil"
	}
	md := s.GetMetadata()
	return fmt.Sprintf("{index %d, term %d, conf state %v, %d bytes of data %q}",
		md.GetIndex(), md.GetTerm(), md.GetConfState(), len(s.GetData()), clip(s.GetData()))
}

func clip(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

// describeEntries lists entries as index/term, with their data size when
// they carry data.
func describeEntries(ents []*pb.Entry) string {
	if ents == nil {
		return "[]"
	}
	out := make([]byte, 0, 8*len(ents)+2)
	out = append(out, '[')
	for k, e := range ents {
		if k > 0 {
			out = append(out, ' ')
		}
		if e == nil {
			out = append(out, "nil"...)
			continue
		}
		out = fmt.Appendf(out, "%d/%d", e.GetIndex(), e.GetTerm())
		if n := len(e.GetData()); n > 0 {
			out = fmt.Appendf(out, "(%dB)", n)
		}
	}
	return string(append(out, ']'))
}
