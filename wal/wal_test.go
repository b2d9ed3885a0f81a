package wal

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs/faultfs"
)

func TestOpenEmpty(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	if d := diff(w, raft.NewMemoryStorage()); d != "" {
		t.Fatal(d)
	}
	w.Close()
	w = mustOpen(t, testOpts(fs))
	defer w.Close()
	if d := diff(w, raft.NewMemoryStorage()); d != "" {
		t.Fatal(d)
	}
}

// TestSaveReopen writes across many segments, with conflicting suffixes,
// and checks the state before and after reopening, also after a crash that
// keeps only what was synced.
func TestSaveReopen(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	ms := raft.NewMemoryStorage()
	apply := func(u Update) {
		t.Helper()
		if err := w.Save(u); err != nil {
			t.Fatal(err)
		}
		if u.Entries != nil {
			ms.Append(u.Entries)
		}
		if u.HardState != nil {
			ms.SetHardState(u.HardState)
		}
	}
	for i := uint64(1); i <= 200; i += 5 {
		apply(Update{Entries: ents(i, i+4, 1+i/50, 100), HardState: &pb.HardState{Term: 1 + i/50, Commit: i}, MustSync: true})
	}
	apply(Update{Entries: ents(150, 160, 9, 30), MustSync: true}) // conflict: replaces 150..204
	apply(Update{HardState: &pb.HardState{Term: 9, Vote: 2, Commit: 155}, MustSync: true})
	if d := diff(w, ms); d != "" {
		t.Fatal(d)
	}
	if n := len(w.segs); n < 5 {
		t.Fatalf("only %d segments: the test wants many", n)
	}
	w.Close()
	fs.Crash(faultfs.DropUnsynced)
	w = mustOpen(t, testOpts(fs))
	defer w.Close()
	if d := diff(w, ms); d != "" {
		t.Fatal("after reopen: ", d)
	}
	// And it goes on writing after recovery.
	apply(Update{Entries: ents(161, 170, 9, 30), MustSync: true})
	if d := diff(w, ms); d != "" {
		t.Fatal(d)
	}
}

func TestEntriesFromDiskAndSizeLimit(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	defer w.Close()
	ms := raft.NewMemoryStorage()
	for i := uint64(1); i <= 100; i += 10 {
		e := ents(i, i+9, 2, 50)
		if err := w.Append(e); err != nil {
			t.Fatal(err)
		}
		ms.Append(e)
	}
	if cf := w.idx.cacheFirst(); cf < 50 {
		t.Fatalf("cache starts at %d: the test wants most entries on disk only", cf)
	}
	for _, max := range []uint64{0, 100, 1000, math.MaxUint64} {
		for lo := uint64(1); lo <= 100; lo += 7 {
			got, err := w.Entries(lo, 101, max)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ms.Entries(lo, 101, max)
			if len(got) != len(want) || got[0].Index != lo || cap(got) != len(got) {
				t.Fatalf("Entries(%d, 101, %d): %d entries (cap %d), want %d", lo, max, len(got), cap(got), len(want))
			}
		}
	}
	if _, err := w.Entries(0, 5, 10); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("Entries(0, ...) = %v", err)
	}
	if _, err := w.Entries(5, 102, 10); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("Entries(..., 102) = %v", err)
	}
}

// TestSnapshotsAndCompaction applies and creates snapshots and compacts,
// checking that whole segments go away and that reopening agrees.
func TestSnapshotsAndCompaction(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	ms := raft.NewMemoryStorage()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		if d := diff(w, ms); d != "" {
			t.Fatalf("%s: %s", when, d)
		}
		w.Close()
		w = mustOpen(t, testOpts(fs))
		if d := diff(w, ms); d != "" {
			t.Fatalf("%s, after reopen: %s", when, d)
		}
	}
	for i := uint64(1); i <= 300; i += 10 {
		e := ents(i, i+9, 3, 80)
		must(w.Append(e))
		ms.Append(e)
	}
	segsBefore := len(w.segs)
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	_, err := w.CreateSnapshot(250, cs, []byte("state@250"))
	must(err)
	_, err = ms.CreateSnapshot(250, cs, []byte("state@250"))
	must(err)
	check("created")
	must(w.Compact(240))
	must(ms.Compact(240))
	check("compacted")
	if len(w.segs) >= segsBefore/2 {
		t.Fatalf("%d segments before compaction, %d after", segsBefore, len(w.segs))
	}
	if _, err := w.CreateSnapshot(200, nil, nil); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("old CreateSnapshot: %v", err)
	}
	if err := w.Compact(240); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("repeated Compact: %v", err)
	}
	if err := w.Compact(400); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("Compact past the end: %v", err)
	}
	snap := &pb.Snapshot{Data: []byte("installed"), Metadata: &pb.SnapshotMetadata{Index: 1000, Term: 7, ConfState: &pb.ConfState{Voters: []uint64{1, 2, 4}}}}
	must(w.ApplySnapshot(snap))
	must(ms.ApplySnapshot(snap))
	e := ents(1001, 1010, 7, 10)
	must(w.Save(Update{Entries: e, HardState: &pb.HardState{Term: 7, Commit: 1005}, MustSync: true}))
	ms.Append(e)
	ms.SetHardState(&pb.HardState{Term: 7, Commit: 1005})
	check("snapshot applied")
	if err := w.ApplySnapshot(snap); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("stale ApplySnapshot: %v", err)
	}
	names, _ := fs.List(testDir)
	snaps := 0
	for _, n := range names {
		if strings.HasPrefix(n, snapPrefix) {
			snaps++
		}
	}
	if snaps != 1 || len(w.segs) != 1 {
		t.Fatalf("after the snapshot reset: %d snapshot files and %d segments, want 1 and 1: %v", snaps, len(w.segs), names)
	}
	w.Close()
}

func TestInvalidUpdates(t *testing.T) {
	w := mustOpen(t, testOpts(faultfs.New()))
	defer w.Close()
	if err := w.Append(ents(1, 5, 1, 1)); err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]Update{
		"gap":       {Entries: ents(7, 8, 1, 1)},
		"nil entry": {Entries: []*pb.Entry{nil}},
		"unordered": {Entries: []*pb.Entry{{Index: 6, Term: 1}, {Index: 8, Term: 1}}},
	} {
		if err := w.Save(u); err == nil {
			t.Errorf("%s: Save accepted it", name)
		}
	}
	if last, _ := w.LastIndex(); last != 5 {
		t.Fatalf("last index %d after rejected updates", last)
	}
	// A rejected update does not stop the wal.
	if err := w.Append(ents(6, 6, 1, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestFailedSyncStops checks the fsyncgate rule: after a failed fsync
// every call fails, nothing is retried as if it worked, and reopening shows
// only what was really durable.
func TestFailedSyncStops(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	if err := w.Append(ents(1, 3, 1, 10)); err != nil {
		t.Fatal(err)
	}
	fs.FailSync(1)
	if err := w.Append(ents(4, 6, 1, 10)); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("Append with a failing sync: %v", err)
	}
	syncs := 0
	fs.SetHook(func(op faultfs.Op, _ string, _ int) error {
		if op == faultfs.OpSync {
			syncs++
		}
		return nil
	})
	if err := w.Append(ents(4, 6, 1, 10)); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("Append after the failure: %v", err)
	}
	if err := w.Save(Update{HardState: &pb.HardState{Term: 1}, MustSync: true}); err == nil {
		t.Fatal("Save after the failure succeeded")
	}
	if _, err := w.LastIndex(); err == nil {
		t.Fatal("LastIndex after the failure succeeded")
	}
	if syncs != 0 {
		t.Fatalf("the stopped wal synced %d times", syncs)
	}
	w.Close()
	fs.Crash(faultfs.DropUnsynced)
	w = mustOpen(t, testOpts(fs))
	defer w.Close()
	if last, _ := w.LastIndex(); last != 3 {
		t.Fatalf("after the failed sync and a crash: last index %d, want 3", last)
	}
}

func TestFailedWriteAndENOSPCStop(t *testing.T) {
	for name, inject := range map[string]func(fs *faultfs.FS){
		"write":  func(fs *faultfs.FS) { fs.FailWrite(1, 7) },
		"enospc": func(fs *faultfs.FS) { fs.SetCapacity(1) },
	} {
		t.Run(name, func(t *testing.T) {
			fs := faultfs.New()
			w := mustOpen(t, testOpts(fs))
			if err := w.Append(ents(1, 3, 1, 10)); err != nil {
				t.Fatal(err)
			}
			// Fill the segment so that the next Save rolls or writes.
			inject(fs)
			var err error
			for i := uint64(4); err == nil && i < 200; i++ {
				err = w.Append(ents(i, i, 1, 100))
			}
			if err == nil {
				t.Fatal("no Save failed")
			}
			if err2 := w.Append(ents(300, 300, 1, 1)); err2 == nil {
				t.Fatal("Save after a failure succeeded")
			}
			w.Close()
			fs.Crash(faultfs.KeepAll)
			w = mustOpen(t, testOpts(fs))
			w.Close()
		})
	}
}

func segPath(num uint64) string { return filepath.Join(testDir, segmentFile(num)) }

// TestCorruptionBeforeTail flips a bit in a record of a segment that is
// not the last: Open names the file and offset, Repair cuts there keeping a
// copy, and Open then succeeds with the records before.
func TestCorruptionBeforeTail(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	for i := uint64(1); i <= 100; i++ {
		if err := w.Append(ents(i, i, 1, 100)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	// Segment 2's second record.
	data, _ := fs.ReadFile(segPath(2))
	r0, _, _ := parseRecord(data, 0)
	r1, _, _ := parseRecord(data, r0.size)
	fs.FlipBit(segPath(2), r1.off+headerSize+3, 5)
	_, err := Open(testDir, testOpts(fs))
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.File != segPath(2) || ce.Offset != r1.off || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want corruption in %s at %d", err, segPath(2), r1.off)
	}
	rep, err := Repair(testDir, testOpts(fs))
	if err != nil || rep.File != segPath(2) || rep.Offset != r1.off || rep.BytesCut == 0 {
		t.Fatalf("Repair = %+v, %v", rep, err)
	}
	saved, _ := fs.List(rep.SavedTo)
	if len(saved) < 2 {
		t.Fatalf("repair saved %v", saved)
	}
	w = mustOpen(t, testOpts(fs))
	defer w.Close()
	last, _ := w.LastIndex()
	if last == 0 || last >= 100 {
		t.Fatalf("last index after repair %d", last)
	}
	// The entries kept are intact.
	if _, err := w.Entries(1, last+1, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
}

// TestTornTailCut: garbage after the last record of the last segment is a
// torn write and is cut; a valid record after damage whose durable mark
// covers it is corruption.
func TestTornTailAndProvenCorruption(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	for i := uint64(1); i <= 5; i++ {
		if err := w.Append(ents(i, i, 1, 100)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	data, _ := fs.ReadFile(segPath(1))
	var recs []record
	for off := 0; ; {
		r, zero, reason := parseRecord(data, off)
		if zero || reason != "" {
			break
		}
		recs = append(recs, r)
		off += r.size
	}
	lastRec := recs[len(recs)-1]

	// Damage to the last record alone: torn, cut to entry 4.
	torn := faultfs.New()
	torn.WriteFile(segPath(1), data)
	torn.FlipBit(segPath(1), lastRec.off+headerSize+1, 0)
	w, ins, err := inspectThenOpen(t, torn, "torn")
	if err != nil || ins.TornTail == nil || ins.TornTail.Offset != lastRec.off {
		t.Fatalf("torn tail: Open = %v, inspection %+v", err, ins)
	}
	if last, _ := w.LastIndex(); last != 4 {
		t.Fatalf("torn tail: last index %d, want 4", last)
	}
	w.Close()
	after, _ := torn.ReadFile(segPath(1))
	if !allZero(after[lastRec.off:]) {
		t.Fatal("the torn tail was not zeroed")
	}

	// Damage to an earlier record of the last segment, with synced
	// records after it: corruption.
	mid := faultfs.New()
	mid.WriteFile(segPath(1), data)
	mid.FlipBit(segPath(1), recs[2].off+headerSize+1, 0)
	_, _, err = inspectThenOpen(t, mid, "mid")
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Offset != recs[2].off || !strings.Contains(ce.Reason, "not a torn write") {
		t.Fatalf("Open = %v, want proven corruption at %d", err, recs[2].off)
	}
}

// TestRecoveredIsDurable: after a process crash the page cache still holds
// writes that were never synced; Open finds them, and must make them
// durable before the node acts on them (a vote, say): a power loss right
// after Open must not take them away.
func TestRecoveredIsDurable(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	if err := w.Save(Update{Entries: ents(1, 3, 1, 10), HardState: &pb.HardState{Term: 1, Vote: 2}}); err != nil {
		t.Fatal(err)
	}
	// The process dies: w is abandoned, its writes stay in the page cache.
	fs.KillProcess()
	w = mustOpen(t, testOpts(fs))
	hs, _, _ := w.InitialState()
	if last, _ := w.LastIndex(); last != 3 || hs.Vote != 2 {
		t.Fatalf("after the process crash: last %d, vote %d", last, hs.Vote)
	}
	fs.Crash(faultfs.DropUnsynced)
	w = mustOpen(t, testOpts(fs))
	defer w.Close()
	hs, _, _ = w.InitialState()
	if last, _ := w.LastIndex(); last != 3 || hs.Vote != 2 {
		t.Fatalf("after recovery and a power loss: last %d, vote %d", last, hs.Vote)
	}
}

// TestOneSyncPerSave counts file operations: a synced Save is one write and
// one fsync (two writes and still one fsync when it starts a new segment,
// which was prepared ahead); an unsynced Save is one write and no fsync.
func TestOneSyncPerSave(t *testing.T) {
	fs := faultfs.New()
	opts := testOpts(fs)
	opts.PreallocateInline = false
	w := mustOpen(t, opts)
	defer w.Close()
	counts := map[faultfs.Op]int{}
	var mu sync.Mutex
	fs.SetHook(func(op faultfs.Op, name string, _ int) error {
		if strings.HasSuffix(name, tmpSuffix) || op == faultfs.OpCreate || op == faultfs.OpRename || op == faultfs.OpSyncDir {
			return nil // the background preparation of the next segment
		}
		mu.Lock()
		defer mu.Unlock()
		counts[op]++
		return nil
	})
	rolls := 0
	for i := uint64(1); i <= 100; i++ {
		w.waitSpare()
		mu.Lock()
		clear(counts)
		mu.Unlock()
		sync := i%3 != 0
		seg, dirty := w.active.num, w.dirty
		if err := w.Save(Update{Entries: ents(i, i, 1, 200), HardState: &pb.HardState{Term: 1, Commit: i}, MustSync: sync}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		syncs, writes := counts[faultfs.OpSync], counts[faultfs.OpWrite]
		mu.Unlock()
		rolled := w.active.num != seg
		if rolled {
			rolls++
		}
		wantSyncs, wantWrites := 0, 1
		if sync {
			wantSyncs = 1
		}
		if rolled {
			// The new segment's header is a write of its own; a previous
			// segment left unsynced is synced before it.
			wantWrites++
			if dirty {
				wantSyncs++
			}
		}
		if syncs != wantSyncs || writes != wantWrites {
			t.Fatalf("Save %d (MustSync %t, rolled %t): %d syncs and %d writes, want %d and %d", i, sync, rolled, syncs, writes, wantSyncs, wantWrites)
		}
	}
	if rolls < 3 {
		t.Fatalf("only %d new segments: the test wants several", rolls)
	}
}

func TestSaveIgnoresEmptySnapshot(t *testing.T) {
	w := mustOpen(t, testOpts(faultfs.New()))
	defer w.Close()
	empty := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{}}
	if err := w.Save(Update{Snapshot: empty, Entries: ents(1, 2, 1, 1), MustSync: true}); err != nil {
		t.Fatalf("Save with an empty snapshot: %v", err)
	}
	if err := w.ApplySnapshot(empty); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("ApplySnapshot of an empty snapshot: %v", err)
	}
	if err := w.ApplySnapshot(&pb.Snapshot{}); err == nil || errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("ApplySnapshot without metadata: %v", err)
	}
}

// TestCacheTracked: the cache's blocks are contiguous, end at the last
// entry, begin at or before its first cached entry (past the start of the
// log), hold the entries the log holds, count their bytes right, and stay
// within the limit, after every step of seeded workloads that append,
// overwrite, compact and install snapshots, and after reopening.
func TestCacheTracked(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		fs := faultfs.New()
		w := mustOpen(t, testOpts(fs))
		wl := newWorkload(seed, 150)
		for s := 0; s < wl.steps && !wl.failed; s++ {
			wl.step(w)
			checkCache(t, w, fmt.Sprintf("seed %d step %d", seed, s))
		}
		w.Close()
		w = mustOpen(t, testOpts(fs))
		checkCache(t, w, fmt.Sprintf("seed %d after reopening", seed))
		w.Close()
	}
}

func checkCache(t *testing.T, w *WAL, what string) {
	t.Helper()
	l := &w.idx
	c := &l.cache
	if len(c.blocks) == 0 {
		if l.cacheFirst() != l.last+1 {
			t.Fatalf("%s: empty cache starts at %d, log ends at %d", what, l.cacheFirst(), l.last)
		}
		if c.bytes != 0 {
			t.Fatalf("%s: empty cache of %d bytes", what, c.bytes)
		}
		return
	}
	if c.first <= l.start || c.first < c.blocks[0].first || c.first >= c.blocks[0].end() {
		t.Fatalf("%s: cache starts at %d, its first block holds [%d, %d), the log starts after %d", what, c.first, c.blocks[0].first, c.blocks[0].end(), l.start)
	}
	if end := c.blocks[len(c.blocks)-1].end(); end != l.last+1 {
		t.Fatalf("%s: cache ends before %d, log at %d", what, end, l.last)
	}
	sum := 0
	for n, b := range c.blocks {
		if n > 0 && b.first != c.blocks[n-1].end() {
			t.Fatalf("%s: block %d starts at %d, the one before ends before %d", what, n, b.first, c.blocks[n-1].end())
		}
		bytes := 0
		for k, e := range b.ents {
			if e.Index != b.first+uint64(k) {
				t.Fatalf("%s: block %d holds entry %d at index %d", what, n, e.Index, b.first+uint64(k))
			}
			bytes += knownSize(e)
		}
		if bytes != b.bytes {
			t.Fatalf("%s: block %d counts %d bytes, its entries have %d", what, n, b.bytes, bytes)
		}
		sum += bytes
	}
	if sum != c.bytes || sum > w.opts.CacheBytes {
		t.Fatalf("%s: cache counts %d bytes, its blocks %d, limit %d", what, c.bytes, sum, w.opts.CacheBytes)
	}
	for i := c.first; i <= l.last; i++ {
		got := c.get(i, i+1, math.MaxUint64)
		if len(got) != 1 || got[0].Index != i {
			t.Fatalf("%s: cached entry %d reads as %v", what, i, got)
		}
	}
}
