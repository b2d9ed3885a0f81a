package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/internal/invariants"
	pb "github.com/tickraft/raft/raftpb"
)

// logEnts builds entries with contiguous indexes starting at first, one per
// term given.
func logEnts(first uint64, terms ...uint64) []*pb.Entry {
	ents := make([]*pb.Entry, len(terms))
	for k, t := range terms {
		ents[k] = &pb.Entry{Index: first + uint64(k), Term: t}
	}
	return ents
}

// logSnap builds a snapshot at index and term with an empty conf state.
func logSnap(index, term uint64) *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: index, Term: term, ConfState: &pb.ConfState{}}}
}

// logIDs lists the entry IDs of ents. Tests compare IDs rather than entries:
// protobuf structs carry internal caches that make deep equality unreliable.
func logIDs(ents []*pb.Entry) []entryID {
	if len(ents) == 0 {
		return nil
	}
	ids := make([]entryID, len(ents))
	for k, e := range ents {
		ids[k] = pbEntryID(e)
	}
	return ids
}

// requireInvariantPanic runs f and requires it to panic with a message that
// names the invariant called name.
func requireInvariantPanic(t *testing.T, name string, f func()) {
	t.Helper()
	var got any
	func() {
		defer func() { got = recover() }()
		f()
	}()
	require.NotNil(t, got, "expected a panic naming %q", name)
	require.Contains(t, fmt.Sprint(got), fmt.Sprintf("invariant %q violated", name))
}

func TestUnstableMaybeFirstIndex(t *testing.T) {
	for _, tc := range []struct {
		name   string
		u      unstable
		wok    bool
		windex uint64
	}{
		{"entries only", unstable{entries: logEnts(5, 1), offset: 5}, false, 0},
		{"empty", unstable{offset: 1}, false, 0},
		{"snapshot and entries", unstable{snapshot: logSnap(4, 1), entries: logEnts(5, 1), offset: 5}, true, 5},
		{"snapshot only", unstable{snapshot: logSnap(4, 1), offset: 5}, true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, ok := tc.u.maybeFirstIndex()
			require.Equal(t, tc.wok, ok)
			require.Equal(t, tc.windex, i)
		})
	}
}

func TestUnstableMaybeTerm(t *testing.T) {
	withEnts := unstable{entries: logEnts(5, 1, 2), offset: 5}
	withSnap := unstable{snapshot: logSnap(4, 1), entries: logEnts(5, 2), offset: 5}
	snapOnly := unstable{snapshot: logSnap(4, 1), offset: 5}
	for _, tc := range []struct {
		name  string
		u     unstable
		index uint64
		wok   bool
		wterm uint64
	}{
		{"first entry", withEnts, 5, true, 1},
		{"last entry", withEnts, 6, true, 2},
		{"beyond", withEnts, 7, false, 0},
		{"before offset, no snapshot", withEnts, 4, false, 0},
		{"snapshot index", withSnap, 4, true, 1},
		{"entry after snapshot", withSnap, 5, true, 2},
		{"below snapshot", withSnap, 3, false, 0},
		{"beyond with snapshot", withSnap, 6, false, 0},
		{"snapshot only: its index", snapOnly, 4, true, 1},
		{"snapshot only: after", snapOnly, 5, false, 0},
		{"snapshot only: below", snapOnly, 3, false, 0},
		{"empty", unstable{offset: 5}, 5, false, 0},
		{"empty, index below", unstable{offset: 5}, 4, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			term, ok := tc.u.maybeTerm(tc.index)
			require.Equal(t, tc.wok, ok)
			require.Equal(t, tc.wterm, term)
		})
	}
}

func TestUnstableRestore(t *testing.T) {
	u := unstable{
		snapshot:           logSnap(4, 1),
		entries:            logEnts(5, 1, 1),
		offset:             5,
		offsetInProgress:   6,
		snapshotInProgress: true,
	}
	s := logSnap(9, 3)
	u.restore(s)
	require.Same(t, s, u.snapshot)
	require.Empty(t, u.entries)
	require.Equal(t, uint64(10), u.offset)
	require.Equal(t, uint64(10), u.offsetInProgress)
	require.False(t, u.snapshotInProgress)
	require.Same(t, s, u.nextSnapshot())
	require.Nil(t, u.nextEntries())
}

func TestUnstableNextEntriesAndAcceptInProgress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		u        unstable
		wents    []entryID
		wsnap    bool
		wInProg  uint64
		wSnapIPr bool
	}{
		{"nothing", unstable{offset: 5, offsetInProgress: 5}, nil, false, 5, false},
		{"nothing in progress", unstable{entries: logEnts(5, 1, 1), offset: 5, offsetInProgress: 5},
			[]entryID{{1, 5}, {1, 6}}, false, 7, false},
		{"part in progress", unstable{entries: logEnts(5, 1, 1), offset: 5, offsetInProgress: 6},
			[]entryID{{1, 6}}, false, 7, false},
		{"all in progress", unstable{entries: logEnts(5, 1, 1), offset: 5, offsetInProgress: 7},
			nil, false, 7, false},
		{"snapshot not in progress", unstable{snapshot: logSnap(4, 1), entries: logEnts(5, 1), offset: 5, offsetInProgress: 5},
			[]entryID{{1, 5}}, true, 6, true},
		{"snapshot in progress", unstable{snapshot: logSnap(4, 1), entries: logEnts(5, 1), offset: 5, offsetInProgress: 5, snapshotInProgress: true},
			[]entryID{{1, 5}}, false, 6, true},
		{"snapshot only", unstable{snapshot: logSnap(4, 1), offset: 5, offsetInProgress: 5},
			nil, true, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.u
			next := u.nextEntries()
			require.Equal(t, tc.wents, logIDs(next))
			require.Equal(t, len(next), cap(next), "handed-out entries must have no spare capacity")
			require.Equal(t, tc.wsnap, u.nextSnapshot() != nil)

			u.acceptInProgress()
			require.Equal(t, tc.wInProg, u.offsetInProgress)
			require.Equal(t, tc.wSnapIPr, u.snapshotInProgress)
			require.Nil(t, u.nextEntries())
			require.Nil(t, u.nextSnapshot())
		})
	}
}

func TestUnstableStableTo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		u       unstable
		ack     entryID
		woffset uint64
		wInProg uint64
		wlen    int
	}{
		{"empty", unstable{offset: 1, offsetInProgress: 1}, entryID{1, 0}, 1, 1, 0},
		{"first entry", unstable{entries: logEnts(5, 1, 1), offset: 5, offsetInProgress: 7},
			entryID{1, 5}, 6, 7, 1},
		{"all entries", unstable{entries: logEnts(5, 1, 1), offset: 5, offsetInProgress: 7},
			entryID{1, 6}, 7, 7, 0},
		{"ack beyond the in-progress range", unstable{entries: logEnts(5, 1, 1), offset: 5, offsetInProgress: 5},
			entryID{1, 5}, 6, 6, 1},
		{"beyond the last entry", unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 6},
			entryID{1, 6}, 5, 6, 1},
		{"below the offset", unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 6},
			entryID{1, 4}, 5, 6, 1},
		{"term mismatch: entry was rewritten", unstable{entries: logEnts(5, 2), offset: 5, offsetInProgress: 6},
			entryID{1, 5}, 5, 6, 1},
		{"snapshot index", unstable{snapshot: logSnap(4, 1), entries: logEnts(5, 1), offset: 5, offsetInProgress: 6, snapshotInProgress: true},
			entryID{1, 4}, 5, 6, 1},
		{"entry behind a pending snapshot", unstable{snapshot: logSnap(4, 1), entries: logEnts(5, 1), offset: 5, offsetInProgress: 6, snapshotInProgress: true},
			entryID{1, 5}, 5, 6, 1},
		{"entry behind a snapshot not yet handed out", unstable{snapshot: logSnap(4, 1), entries: logEnts(5, 1), offset: 5, offsetInProgress: 5},
			entryID{1, 5}, 5, 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.u
			u.stableTo(tc.ack)
			require.Equal(t, tc.woffset, u.offset)
			require.Equal(t, tc.wInProg, u.offsetInProgress)
			require.Len(t, u.entries, tc.wlen)
		})
	}
}

// TestUnstableStableToABA covers entries that were handed out for
// persistence, then truncated and rewritten with a new term before the write
// finished: the acknowledgement of the old write must not drop the new
// entries, which are not persisted yet.
func TestUnstableStableToABA(t *testing.T) {
	u := unstable{offset: 5, offsetInProgress: 5}
	u.truncateAndAppend(logEnts(5, 1, 1, 1))
	written := u.nextEntries()
	require.Equal(t, []entryID{{1, 5}, {1, 6}, {1, 7}}, logIDs(written))
	u.acceptInProgress()

	// A new leader replaces 6 and 7 with entries of term 2 before the
	// write of term-1 entries completes.
	u.truncateAndAppend(logEnts(6, 2, 2))
	require.Equal(t, uint64(6), u.offsetInProgress, "the rewritten entries must be handed out again")
	require.Equal(t, []entryID{{2, 6}, {2, 7}}, logIDs(u.nextEntries()))
	require.Equal(t, []entryID{{1, 5}, {1, 6}, {1, 7}}, logIDs(written), "handed-out entries must not change")
	u.acceptInProgress()

	// The old write completes: its acknowledgement names (7, term 1).
	u.stableTo(entryID{term: 1, index: 7})
	require.Equal(t, uint64(5), u.offset, "stale acknowledgement must be ignored")
	require.Len(t, u.entries, 3)
	// An acknowledgement naming an entry the old write shares with the
	// current log is valid.
	u.stableTo(entryID{term: 1, index: 5})
	require.Equal(t, uint64(6), u.offset)
	require.Equal(t, []entryID{{2, 6}, {2, 7}}, logIDs(u.entries))
	// The new write completes.
	u.stableTo(entryID{term: 2, index: 7})
	require.Equal(t, uint64(8), u.offset)
	require.Empty(t, u.entries)
	require.Equal(t, uint64(8), u.offsetInProgress)
}

// TestUnstableStableToSnapshotPending: while a snapshot is pending, entry
// acknowledgements are ignored; once the snapshot is acknowledged, the
// entry acknowledgement works.
func TestUnstableStableToSnapshotPending(t *testing.T) {
	u := unstable{offset: 5, offsetInProgress: 5}
	u.truncateAndAppend(logEnts(5, 1, 1))
	u.acceptInProgress()
	// A snapshot overtakes the write of 5..6.
	u.restore(logSnap(10, 2))
	u.truncateAndAppend(logEnts(11, 2))
	u.acceptInProgress()
	// The old write's acknowledgement.
	u.stableTo(entryID{term: 1, index: 6})
	require.NotNil(t, u.snapshot)
	require.Equal(t, uint64(11), u.offset)
	// An acknowledgement of the entry after the snapshot, given before the
	// snapshot's, is ignored.
	u.stableTo(entryID{term: 2, index: 11})
	require.Equal(t, uint64(11), u.offset)
	require.Len(t, u.entries, 1)
	// In the right order both take effect.
	u.stableSnapTo(10)
	require.Nil(t, u.snapshot)
	require.False(t, u.snapshotInProgress)
	u.stableTo(entryID{term: 2, index: 11})
	require.Equal(t, uint64(12), u.offset)
	require.Empty(t, u.entries)
}

func TestUnstableStableSnapTo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		u     unstable
		index uint64
		wsnap bool
	}{
		{"matching snapshot", unstable{snapshot: logSnap(4, 1), offset: 5, offsetInProgress: 5, snapshotInProgress: true}, 4, false},
		{"other index", unstable{snapshot: logSnap(4, 1), offset: 5, offsetInProgress: 5, snapshotInProgress: true}, 3, true},
		{"no snapshot", unstable{offset: 5, offsetInProgress: 5}, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.u
			u.stableSnapTo(tc.index)
			require.Equal(t, tc.wsnap, u.snapshot != nil)
			require.Equal(t, tc.wsnap, u.snapshotInProgress)
			require.Equal(t, tc.u.offset, u.offset)
		})
	}
}

func TestUnstableTruncateAndAppend(t *testing.T) {
	for _, tc := range []struct {
		name     string
		u        unstable
		toappend []*pb.Entry
		woffset  uint64
		wInProg  uint64
		wents    []entryID
	}{
		{"append after the last entry",
			unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 5},
			logEnts(6, 1, 1), 5, 5, []entryID{{1, 5}, {1, 6}, {1, 7}}},
		{"append after, part in progress",
			unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 6},
			logEnts(6, 1, 1), 5, 6, []entryID{{1, 5}, {1, 6}, {1, 7}}},
		{"append to empty",
			unstable{offset: 5, offsetInProgress: 5},
			logEnts(5, 1), 5, 5, []entryID{{1, 5}}},
		{"replace all, from offset",
			unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 5},
			logEnts(5, 2, 2), 5, 5, []entryID{{2, 5}, {2, 6}}},
		{"replace all, from below offset",
			unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 5},
			logEnts(4, 2, 2, 2), 4, 4, []entryID{{2, 4}, {2, 5}, {2, 6}}},
		{"replace all, all in progress",
			unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 6},
			logEnts(5, 2, 2), 5, 5, []entryID{{2, 5}, {2, 6}}},
		{"truncate and append",
			unstable{entries: logEnts(5, 1, 1, 1), offset: 5, offsetInProgress: 5},
			logEnts(6, 2), 5, 5, []entryID{{1, 5}, {2, 6}}},
		{"truncate at the last entry",
			unstable{entries: logEnts(5, 1, 1, 1), offset: 5, offsetInProgress: 5},
			logEnts(7, 2, 2), 5, 5, []entryID{{1, 5}, {1, 6}, {2, 7}, {2, 8}}},
		{"truncation cuts into the in-progress range",
			unstable{entries: logEnts(5, 1, 1, 1), offset: 5, offsetInProgress: 8},
			logEnts(6, 2), 5, 6, []entryID{{1, 5}, {2, 6}}},
		{"truncation above the in-progress range",
			unstable{entries: logEnts(5, 1, 1, 1), offset: 5, offsetInProgress: 6},
			logEnts(7, 2), 5, 6, []entryID{{1, 5}, {1, 6}, {2, 7}}},
		{"truncation right at the in-progress boundary",
			unstable{entries: logEnts(5, 1, 1, 1), offset: 5, offsetInProgress: 7},
			logEnts(7, 2), 5, 7, []entryID{{1, 5}, {1, 6}, {2, 7}}},
		{"after a snapshot",
			unstable{snapshot: logSnap(4, 1), offset: 5, offsetInProgress: 5},
			logEnts(5, 1), 5, 5, []entryID{{1, 5}}},
		{"nothing to append",
			unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 6},
			nil, 5, 6, []entryID{{1, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.u
			u.truncateAndAppend(tc.toappend)
			require.Equal(t, tc.woffset, u.offset)
			require.Equal(t, tc.wInProg, u.offsetInProgress)
			require.Equal(t, tc.wents, logIDs(u.entries))
			if tc.u.snapshot != nil {
				require.Same(t, tc.u.snapshot, u.snapshot)
			}
		})
	}
}

func TestUnstableTruncateAndAppendPanics(t *testing.T) {
	t.Run("gap", func(t *testing.T) {
		u := unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 5}
		requireInvariantPanic(t, "appended entries are contiguous with the log", func() {
			u.truncateAndAppend(logEnts(7, 1))
		})
	})
	t.Run("at the pending snapshot", func(t *testing.T) {
		u := unstable{snapshot: logSnap(4, 1), offset: 5, offsetInProgress: 5}
		requireInvariantPanic(t, "unstable entries follow the pending snapshot", func() {
			u.truncateAndAppend(logEnts(4, 1))
		})
	})
}

// TestUnstableNoAliasing checks that slices handed out (for persistence or
// by slice) never see later writes, and that the caller's array is never
// written into.
func TestUnstableNoAliasing(t *testing.T) {
	u := unstable{offset: 5, offsetInProgress: 5}
	u.truncateAndAppend(logEnts(5, 1, 1, 1, 1))
	handed := u.nextEntries()
	sliced := u.slice(5, 9)
	before := logIDs(handed)

	u.truncateAndAppend(logEnts(7, 2, 2, 2))
	require.Equal(t, before, logIDs(handed))
	require.Equal(t, before, logIDs(sliced))
	_ = append(sliced, logEnts(9, 3)...) // must not reach into unstable's array
	require.Equal(t, []entryID{{1, 5}, {1, 6}, {2, 7}, {2, 8}, {2, 9}}, logIDs(u.entries))

	// Replacing everything with a prefix of a caller's array, then
	// appending, must leave the rest of that array alone.
	caller := logEnts(5, 3, 3, 3)
	u.truncateAndAppend(caller[:2])
	u.truncateAndAppend(logEnts(7, 4))
	require.Equal(t, entryID{3, 7}, pbEntryID(caller[2]))
	require.Equal(t, []entryID{{3, 5}, {3, 6}, {4, 7}}, logIDs(u.entries))
}

func TestUnstableSlice(t *testing.T) {
	u := unstable{entries: logEnts(5, 1, 1, 2), offset: 5, offsetInProgress: 5}
	for _, tc := range []struct {
		lo, hi uint64
		w      []entryID
	}{
		{5, 5, nil},
		{5, 6, []entryID{{1, 5}}},
		{5, 8, []entryID{{1, 5}, {1, 6}, {2, 7}}},
		{6, 8, []entryID{{1, 6}, {2, 7}}},
		{8, 8, nil},
	} {
		t.Run(fmt.Sprintf("[%d,%d)", tc.lo, tc.hi), func(t *testing.T) {
			got := u.slice(tc.lo, tc.hi)
			require.Equal(t, tc.w, logIDs(got))
			require.Equal(t, len(got), cap(got))
		})
	}
	for _, b := range [][2]uint64{{4, 6}, {6, 9}, {7, 6}} {
		t.Run(fmt.Sprintf("bad [%d,%d)", b[0], b[1]), func(t *testing.T) {
			requireInvariantPanic(t, "unstable.slice bounds within the unstable entries", func() {
				u.slice(b[0], b[1])
			})
		})
	}
}

func TestUnstableShrinkEntriesArray(t *testing.T) {
	terms := func(n int) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = 1
		}
		return out
	}
	u := unstable{offset: 1, offsetInProgress: 1}
	u.truncateAndAppend(logEnts(1, terms(8)...))
	require.Len(t, u.entries, 8)
	require.Equal(t, minEntriesCap, cap(u.entries), "a new array has room for later appends")

	// Small arrays are kept, even empty, so steady small appends reuse them.
	u.stableTo(entryID{term: 1, index: 2})
	require.Len(t, u.entries, 6)
	u.stableTo(entryID{term: 1, index: 8})
	require.NotNil(t, u.entries, "a small empty array is kept")
	require.Empty(t, u.entries)
	before := cap(u.entries)
	u.truncateAndAppend(logEnts(9, 1))
	require.Equal(t, before, cap(u.entries), "the kept array is filled, not replaced")

	// A large, mostly empty array is replaced by a tight one.
	u.truncateAndAppend(logEnts(10, terms(200)...))
	require.Greater(t, cap(u.entries), 2*minEntriesCap)
	u.stableTo(entryID{term: 1, index: 159})
	require.Len(t, u.entries, 50)
	require.Equal(t, minEntriesCap, cap(u.entries), "a mostly empty large array is replaced")
	require.Equal(t, uint64(160), u.entries[0].Index)

	// A large empty array is released.
	u.truncateAndAppend(logEnts(210, terms(300)...))
	require.Greater(t, cap(u.entries), minEntriesCap)
	u.stableTo(entryID{term: 1, index: 509})
	require.Nil(t, u.entries, "a large empty array is released")
}

func TestUnstableCheckInvariants(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("needs -tags invariants")
	}
	for _, tc := range []struct {
		name string
		u    unstable
		inv  string
	}{
		{"offset not after snapshot", unstable{snapshot: logSnap(4, 1), offset: 6, offsetInProgress: 6},
			"unstable offset follows the pending snapshot"},
		{"in progress without snapshot", unstable{offset: 5, offsetInProgress: 5, snapshotInProgress: true},
			"snapshotInProgress implies a pending snapshot"},
		{"offsetInProgress beyond entries", unstable{entries: logEnts(5, 1), offset: 5, offsetInProgress: 7},
			"offset <= offsetInProgress <= offset+len(entries)"},
		{"entries out ahead of snapshot", unstable{snapshot: logSnap(4, 1), entries: logEnts(5, 1), offset: 5, offsetInProgress: 6},
			"entries are handed out only with or after the snapshot"},
		{"index gap", unstable{entries: append(logEnts(5, 1), logEnts(7, 1)...), offset: 5, offsetInProgress: 5},
			"unstable entries have contiguous indexes"},
		{"term decreases", unstable{entries: logEnts(5, 2, 1), offset: 5, offsetInProgress: 5},
			"unstable entry terms do not decrease"},
		{"term below snapshot", unstable{snapshot: logSnap(4, 3), entries: logEnts(5, 2), offset: 5, offsetInProgress: 5},
			"unstable entry terms do not decrease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireInvariantPanic(t, tc.inv, tc.u.checkInvariants)
		})
	}
}
