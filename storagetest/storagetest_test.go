package storagetest_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/storagetest"
)

func memHarness() storagetest.Harness {
	return storagetest.Harness{
		Open: func(testing.TB, string) (storagetest.Store, error) { return raft.NewMemoryStorage(), nil },
	}
}

// TestMemoryStorage runs the suite on raft.MemoryStorage, as a store that
// is not durable.
func TestMemoryStorage(t *testing.T) {
	storagetest.Run(t, memHarness())
}

// TestDurableStore runs the suite on a MemoryStorage that "reopens" by
// rebuilding itself from what it reads, so the suite's reopen path and its
// comparisons after a reopen are exercised on a correct store.
func TestDurableStore(t *testing.T) {
	storagetest.Run(t, durableHarness(rebuild))
}

// durableHarness reopens a store by rebuilding a new MemoryStorage from the
// old one with reopen.
func durableHarness(reopen func(raft.Storage) (*raft.MemoryStorage, error)) storagetest.Harness {
	h := memHarness()
	h.Reopen = func(_ testing.TB, s storagetest.Store, _ string) (storagetest.Store, error) {
		return reopen(s)
	}
	return h
}

// rebuild returns a new MemoryStorage holding what old holds: the state a
// durable store would recover.
func rebuild(old raft.Storage) (*raft.MemoryStorage, error) {
	hs, _, err := old.InitialState()
	if err != nil {
		return nil, err
	}
	ms, err := rebuildLog(old)
	if err != nil {
		return nil, err
	}
	return ms, ms.SetHardState(hs)
}

// rebuildLog returns a new MemoryStorage with old's log and snapshot and an
// empty hard state.
func rebuildLog(old raft.Storage) (*raft.MemoryStorage, error) {
	snap, err := old.Snapshot()
	if err != nil {
		return nil, err
	}
	first, err := old.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := old.LastIndex()
	if err != nil {
		return nil, err
	}
	offsetTerm, err := old.Term(first - 1)
	if err != nil {
		return nil, err
	}
	ents, err := old.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		return nil, err
	}
	md := snap.GetMetadata()
	if md.GetIndex() < first-1 {
		return nil, fmt.Errorf("compacted to %d, past the snapshot at %d", first-1, md.GetIndex())
	}
	ms := raft.NewMemoryStorage()
	if first > 1 {
		// Start the log at the compaction point, then record the snapshot.
		base := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: first - 1, Term: offsetTerm, ConfState: md.GetConfState()}}
		if md.GetIndex() == first-1 {
			base = snap
		}
		if err := ms.ApplySnapshot(base); err != nil {
			return nil, err
		}
	}
	if err := ms.Append(ents); err != nil {
		return nil, err
	}
	if md.GetIndex() > first-1 {
		if _, err := ms.CreateSnapshot(md.GetIndex(), md.GetConfState(), snap.GetData()); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// A broken store is a MemoryStorage with one method wrong.
type (
	lastIndexOffByOne      struct{ *raft.MemoryStorage }
	noSuffixTruncation     struct{ *raft.MemoryStorage }
	compactedAsUnavailable struct{ *raft.MemoryStorage }
	nilSnapshotOutOfDate   struct{ *raft.MemoryStorage }
	sizeLimitIgnored       struct{ *raft.MemoryStorage }
	sizeLimitOffByOne      struct{ *raft.MemoryStorage }
	reusedBuffer           struct {
		*raft.MemoryStorage
		buf []*pb.Entry
	}
	createSnapshotCompacts struct{ *raft.MemoryStorage }
	invertedRangePanics    struct{ *raft.MemoryStorage }
	ownsAppendedEntries    struct{ *raft.MemoryStorage }
)

func (s lastIndexOffByOne) LastIndex() (uint64, error) {
	last, err := s.MemoryStorage.LastIndex()
	return last + 1, err
}

// Append keeps the stored entries after the new ones.
func (s noSuffixTruncation) Append(ents []*pb.Entry) error {
	last, _ := s.MemoryStorage.LastIndex()
	first, _ := s.MemoryStorage.FirstIndex()
	var tail []*pb.Entry
	if n := len(ents); n > 0 && ents[n-1].GetIndex() < last && ents[0].GetIndex() >= first {
		tail, _ = s.MemoryStorage.Entries(ents[n-1].GetIndex()+1, last+1, math.MaxUint64)
	}
	if err := s.MemoryStorage.Append(ents); err != nil {
		return err
	}
	return s.MemoryStorage.Append(tail)
}

func (s compactedAsUnavailable) Term(i uint64) (uint64, error) {
	t, err := s.MemoryStorage.Term(i)
	if errors.Is(err, raft.ErrCompacted) {
		err = raft.ErrUnavailable
	}
	return t, err
}

func (s nilSnapshotOutOfDate) ApplySnapshot(snap *pb.Snapshot) error {
	if snap == nil {
		return raft.ErrSnapOutOfDate
	}
	return s.MemoryStorage.ApplySnapshot(snap)
}

func (s sizeLimitIgnored) Entries(lo, hi, _ uint64) ([]*pb.Entry, error) {
	return s.MemoryStorage.Entries(lo, hi, math.MaxUint64)
}

// Entries stops before an entry that would make the size exactly maxSize.
func (s sizeLimitOffByOne) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if maxSize > 0 && maxSize != math.MaxUint64 {
		maxSize--
	}
	return s.MemoryStorage.Entries(lo, hi, maxSize)
}

// Entries returns its answer in a buffer it reuses for the next one.
func (s *reusedBuffer) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	ents, err := s.MemoryStorage.Entries(lo, hi, maxSize)
	if err != nil {
		return nil, err
	}
	s.buf = append(s.buf[:0], ents...)
	return s.buf, nil
}

func (s createSnapshotCompacts) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	snap, err := s.MemoryStorage.CreateSnapshot(i, cs, data)
	if err == nil {
		err = s.MemoryStorage.Compact(i)
	}
	return snap, err
}

func (s invertedRangePanics) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if lo > hi {
		panic("inverted range")
	}
	return s.MemoryStorage.Entries(lo, hi, maxSize)
}

// Append marks the entries it was given as its own by changing them.
func (s ownsAppendedEntries) Append(ents []*pb.Entry) error {
	for _, e := range ents {
		if e != nil && len(e.Data) > 0 {
			e.Data[0] ^= 0xff
		}
	}
	return s.MemoryStorage.Append(ents)
}

// brokenStore is a harness opening a broken store, and the checks that
// must catch it (nil: a test of its own runs it).
type brokenStore struct {
	harness storagetest.Harness
	caught  []string
}

// brokenStores are the broken stores, by name, each with the checks that
// must catch it.
var brokenStores = map[string]brokenStore{
	"LastIndexOffByOne": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return lastIndexOffByOne{ms} }),
		[]string{"Empty/ReadsAsEmpty", "Append/Extend", "RawNode/SingleNodeRestart"},
	},
	"NoSuffixTruncation": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return noSuffixTruncation{ms} }),
		[]string{"Append/OverwriteCutsLongerTail", "Append/SameEntriesAgainCutTail"},
	},
	"CompactedAsUnavailable": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return compactedAsUnavailable{ms} }),
		[]string{"Compact/First", "Entries/Boundaries"},
	},
	"NilSnapshotOutOfDate": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return nilSnapshotOutOfDate{ms} }),
		[]string{"ApplySnapshot/Nil"},
	},
	"SizeLimitIgnored": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return sizeLimitIgnored{ms} }),
		[]string{"Entries/SizeLimit", "Entries/SizeLimitZeroReturnsOne"},
	},
	"SizeLimitOffByOne": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return sizeLimitOffByOne{ms} }),
		[]string{"Entries/SizeLimit"},
	},
	"ReusedBuffer": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return &reusedBuffer{MemoryStorage: ms} }),
		[]string{"ReturnedEntries/StableAcrossReads"},
	},
	"CreateSnapshotCompacts": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return createSnapshotCompacts{ms} }),
		[]string{"CreateSnapshot/DoesNotCompact", "CreateSnapshot/Create"},
	},
	"InvertedRangePanics": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return invertedRangePanics{ms} }),
		[]string{"Entries/InvertedRange"},
	},
	"ModifiesAppendedEntries": {
		wrap(func(ms *raft.MemoryStorage) storagetest.Store { return ownsAppendedEntries{ms} }),
		[]string{"Append/Extend"},
	},
	"LosesHardStateOnReopen": {
		durableHarness(rebuildLog),
		[]string{"HardState/RoundTrip", "ApplySnapshot/KeepsHardState", "RawNode/SingleNodeRestart"},
	},
	"LosesLastEntryOnReopen": {
		durableHarness(dropLastEntry),
		[]string{"Append/Extend", "Append/OneAtATime"},
	},
	"LosesSnapshotDataOnReopen": {
		durableHarness(func(old raft.Storage) (*raft.MemoryStorage, error) {
			return rebuild(snapshotWithoutData{old})
		}),
		[]string{"ApplySnapshot/Data", "CreateSnapshot/Create"},
	},
}

// dropLastEntry reopens an uncompacted store without its last entry, as a
// store that does not sync its last write would.
func dropLastEntry(old raft.Storage) (*raft.MemoryStorage, error) {
	ms, err := rebuild(old)
	if err != nil {
		return nil, err
	}
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	if first > 1 || last == 0 {
		return ms, nil
	}
	ents, err := ms.Entries(1, last, math.MaxUint64)
	if err != nil {
		return nil, err
	}
	hs, _, _ := ms.InitialState()
	out := raft.NewMemoryStorage()
	if err := out.SetHardState(hs); err != nil {
		return nil, err
	}
	return out, out.Append(ents)
}

// snapshotWithoutData reads as its Storage, with snapshots stripped of
// their data.
type snapshotWithoutData struct{ raft.Storage }

func (s snapshotWithoutData) Snapshot() (*pb.Snapshot, error) {
	snap, err := s.Storage.Snapshot()
	if err != nil {
		return nil, err
	}
	return &pb.Snapshot{Metadata: snap.GetMetadata()}, nil
}

// wrap is a harness opening a broken store over a new MemoryStorage.
func wrap(broken func(*raft.MemoryStorage) storagetest.Store) storagetest.Harness {
	return storagetest.Harness{
		Open: func(testing.TB, string) (storagetest.Store, error) { return broken(raft.NewMemoryStorage()), nil },
	}
}

const brokenEnv = "STORAGETEST_BROKEN_STORE"

// TestBrokenStoreHelper runs the suite on the broken store named by
// $STORAGETEST_BROKEN_STORE, in the child process TestBrokenStoresAreCaught
// starts (the suite's failures must fail a real test, which would fail
// this package's run if done in process).
func TestBrokenStoreHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("run by TestBrokenStoresAreCaught")
	}
	b, ok := brokenStores[name]
	if !ok {
		t.Fatalf("no broken store named %q", name)
	}
	storagetest.Run(t, b.harness)
}

var failedCheck = regexp.MustCompile(`--- FAIL: TestBrokenStoreHelper/(\S+/\S+) `)

// TestBrokenStoresAreCaught runs the suite on each broken store in a child
// process and checks that the suite fails and names the checks that must
// catch the bug.
func TestBrokenStoresAreCaught(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("in the child process")
	}
	names := make([]string, 0, len(brokenStores))
	for name, b := range brokenStores {
		if b.caught != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreHelper$", "-test.v", "-test.count=1", "-test.timeout=5m")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite did not fail on the broken store (err %v):\n%s", err, out)
			}
			var failed []string
			for _, m := range failedCheck.FindAllStringSubmatch(string(out), -1) {
				failed = append(failed, m[1])
			}
			for _, want := range brokenStores[name].caught {
				if !slices.Contains(failed, want) {
					t.Errorf("check %s did not fail; failed: %s\n%s", want, strings.Join(failed, " "), out)
				}
			}
			t.Logf("failed checks: %s", strings.Join(failed, " "))
		})
	}
}
