package raft

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tickraft/raft/internal/invariants"
	pb "github.com/tickraft/raft/raftpb"
)

// newTestLog returns a log over a MemoryStorage that holds a snapshot at
// snap (none if snap.index is 0) followed by the entries stored, with unst
// appended as the unstable part. committed, applying and applied start at
// the snapshot index.
func newTestLog(t *testing.T, snap entryID, stored, unst []*pb.Entry) (*raftLog, *MemoryStorage) {
	t.Helper()
	ms := NewMemoryStorage()
	if snap.index > 0 {
		require.NoError(t, ms.ApplySnapshot(logSnap(snap.index, snap.term)))
	}
	require.NoError(t, ms.Append(stored))
	l, err := newLog(ms, noLimit)
	require.NoError(t, err)
	l.append(unst...)
	return l, ms
}

// logRange lists the IDs of the entries in [lo, hi) of l, read one by one
// through term.
func logRange(t *testing.T, l *raftLog, lo, hi uint64) []entryID {
	t.Helper()
	var ids []entryID
	for i := lo; i < hi; i++ {
		term, err := l.term(i)
		require.NoError(t, err, "term(%d)", i)
		ids = append(ids, entryID{term: term, index: i})
	}
	return ids
}

// withData builds entries like logEnts, each carrying size bytes of data.
func withData(size int, first uint64, terms ...uint64) []*pb.Entry {
	ents := logEnts(first, terms...)
	for _, e := range ents {
		e.Data = make([]byte, size)
	}
	return ents
}

// faultyStorage is a MemoryStorage whose reads fail with err once err is
// set: all of them, or only the method named by only.
type faultyStorage struct {
	*MemoryStorage
	err  error
	only string
}

// fails reports whether the method called name must fail.
func (s *faultyStorage) fails(name string) bool {
	return s.err != nil && (s.only == "" || s.only == name)
}

func (s *faultyStorage) FirstIndex() (uint64, error) {
	if s.fails("FirstIndex") {
		return 0, s.err
	}
	return s.MemoryStorage.FirstIndex()
}

func (s *faultyStorage) LastIndex() (uint64, error) {
	if s.fails("LastIndex") {
		return 0, s.err
	}
	return s.MemoryStorage.LastIndex()
}

func (s *faultyStorage) Term(i uint64) (uint64, error) {
	if s.fails("Term") {
		return 0, s.err
	}
	return s.MemoryStorage.Term(i)
}

func (s *faultyStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if s.fails("Entries") {
		return nil, s.err
	}
	return s.MemoryStorage.Entries(lo, hi, maxSize)
}

func (s *faultyStorage) Snapshot() (*pb.Snapshot, error) {
	if s.fails("Snapshot") {
		return nil, s.err
	}
	return s.MemoryStorage.Snapshot()
}

func TestLogNew(t *testing.T) {
	t.Run("empty storage", func(t *testing.T) {
		l, err := newLog(NewMemoryStorage(), 0)
		require.NoError(t, err)
		require.Equal(t, uint64(1), l.firstIndex())
		require.Equal(t, uint64(0), l.lastIndex())
		require.Equal(t, uint64(0), l.lastTerm())
		require.Equal(t, uint64(1), l.unstable.offset)
		require.Equal(t, uint64(1), l.unstable.offsetInProgress)
		require.Zero(t, l.committed)
		require.Zero(t, l.applying)
		require.Zero(t, l.applied)
		require.Equal(t, uint64(noLimit), l.maxApplyingEntsSize, "0 means no limit")
	})
	t.Run("snapshot and entries", func(t *testing.T) {
		l, _ := newTestLog(t, entryID{2, 10}, logEnts(11, 2, 3), nil)
		require.Equal(t, uint64(11), l.firstIndex())
		require.Equal(t, uint64(12), l.lastIndex())
		require.Equal(t, entryID{3, 12}, l.lastEntryID())
		require.Equal(t, uint64(13), l.unstable.offset)
		require.Equal(t, uint64(10), l.committed)
		require.Equal(t, uint64(10), l.applying)
		require.Equal(t, uint64(10), l.applied)
		require.False(t, l.hasNextUnstableEnts())
	})
	t.Run("budget kept", func(t *testing.T) {
		l, err := newLog(NewMemoryStorage(), 1000)
		require.NoError(t, err)
		require.Equal(t, uint64(1000), l.maxApplyingEntsSize)
	})
	t.Run("errors", func(t *testing.T) {
		boom := errors.New("disk on fire")
		_, err := newLog(&faultyStorage{MemoryStorage: NewMemoryStorage(), err: boom}, 0)
		require.ErrorIs(t, err, boom)
		_, err = newLog(nil, 0)
		require.Error(t, err)
		_, err = newLog(badBoundsStorage{NewMemoryStorage()}, 0)
		require.ErrorContains(t, err, "first index 0")
	})
}

// badBoundsStorage reports a first index of 0, which no storage may.
type badBoundsStorage struct{ *MemoryStorage }

func (badBoundsStorage) FirstIndex() (uint64, error) { return 0, nil }

func TestLogString(t *testing.T) {
	l, _ := newTestLog(t, entryID{1, 3}, logEnts(4, 1), logEnts(5, 2))
	require.Equal(t, "committed=3 applying=3 applied=3 unstable[snapshot=none offset=5 offsetInProgress=5 len(entries)=1]", l.String())
}

// TestLogTerm reads terms across a compacted prefix, the snapshot index,
// stored entries and unstable entries.
func TestLogTerm(t *testing.T) {
	l, _ := newTestLog(t, entryID{1, 3}, logEnts(4, 2, 2), logEnts(6, 3, 3))
	for _, tc := range []struct {
		index uint64
		wterm uint64
		werr  error
	}{
		{0, 0, ErrCompacted},
		{2, 0, ErrCompacted},
		{3, 1, nil}, // the snapshot
		{4, 2, nil}, // storage
		{5, 2, nil},
		{6, 3, nil}, // unstable
		{7, 3, nil},
		{8, 0, ErrUnavailable},
		{100, 0, ErrUnavailable},
	} {
		t.Run(fmt.Sprint(tc.index), func(t *testing.T) {
			term, err := l.term(tc.index)
			require.ErrorIs(t, err, tc.werr)
			require.Equal(t, tc.wterm, term)
			require.Equal(t, tc.wterm, l.zeroTermOnOutOfBounds(l.term(tc.index)))
			require.Equal(t, tc.werr == nil, l.matchTerm(entryID{term: tc.wterm, index: tc.index}))
		})
	}
	require.NoError(t, l.storageErr, "compacted and unavailable indexes are not storage failures")
}

func TestLogTermWithPendingSnapshot(t *testing.T) {
	l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 1, 1), logEnts(4, 2))
	l.restore(logSnap(10, 3))
	l.append(logEnts(11, 3)...)
	require.Equal(t, uint64(11), l.firstIndex())
	require.Equal(t, uint64(11), l.lastIndex())
	for _, tc := range []struct {
		index uint64
		wterm uint64
		werr  error
	}{
		{2, 0, ErrCompacted}, // still in storage, but replaced by the snapshot
		{9, 0, ErrCompacted},
		{10, 3, nil},
		{11, 3, nil},
		{12, 0, ErrUnavailable},
	} {
		term, err := l.term(tc.index)
		require.ErrorIs(t, err, tc.werr, "index %d", tc.index)
		require.Equal(t, tc.wterm, term, "index %d", tc.index)
	}
}

func TestLogCompaction(t *testing.T) {
	l, ms := newTestLog(t, entryID{}, logEnts(1, 1, 1, 2, 2, 3), logEnts(6, 3))
	l.appliedTo(0, 0)
	require.NoError(t, l.commitTo(5))
	l.appliedTo(4, 0)
	require.NoError(t, ms.Compact(3))

	require.Equal(t, uint64(4), l.firstIndex())
	_, err := l.term(2)
	require.ErrorIs(t, err, ErrCompacted)
	term, err := l.term(3)
	require.NoError(t, err)
	require.Equal(t, uint64(2), term)
	_, err = l.slice(3, 5, noLimit)
	require.ErrorIs(t, err, ErrCompacted)
	ents, err := l.slice(4, 7, noLimit)
	require.NoError(t, err)
	require.Equal(t, []entryID{{2, 4}, {3, 5}, {3, 6}}, logIDs(ents))
	_, err = l.entries(1, noLimit)
	require.ErrorIs(t, err, ErrCompacted)
	idx, term := l.findConflictByTerm(6, 1)
	require.Equal(t, uint64(2), idx, "the walk stops at the first compacted index")
	require.Zero(t, term)
	require.NoError(t, l.storageErr)
}

func TestLogMaybeAppend(t *testing.T) {
	base := logEnts(1, 1, 2, 3) // committed up to 2
	for _, tc := range []struct {
		name      string
		prev      entryID
		committed uint64
		ents      []*pb.Entry

		wlast   uint64
		wok     bool
		werr    error
		wcommit uint64
		wlog    []entryID
	}{
		{"prev term mismatch", entryID{2, 3}, 3, logEnts(4, 4), 0, false, nil, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"prev beyond the log", entryID{3, 4}, 3, logEnts(5, 4), 0, false, nil, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"match, no entries", entryID{3, 3}, 3, nil, 3, true, nil, 3,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"match, commit capped at prev", entryID{3, 3}, 4, nil, 3, true, nil, 3,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"match inside, commit capped at last new", entryID{2, 2}, 3, nil, 2, true, nil, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"commit index never decreases", entryID{1, 1}, 1, nil, 1, true, nil, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"extend", entryID{3, 3}, 4, logEnts(4, 4), 4, true, nil, 4,
			[]entryID{{1, 1}, {2, 2}, {3, 3}, {4, 4}}},
		{"extend, commit behind", entryID{3, 3}, 3, logEnts(4, 4, 4), 5, true, nil, 3,
			[]entryID{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {4, 5}}},
		{"all present", entryID{2, 2}, 3, logEnts(3, 3), 3, true, nil, 3,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"present prefix does not truncate", entryID{1, 1}, 3, logEnts(2, 2), 2, true, nil, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"conflict above committed", entryID{2, 2}, 3, logEnts(3, 4), 3, true, nil, 3,
			[]entryID{{1, 1}, {2, 2}, {4, 3}}},
		{"conflict after matching entries", entryID{1, 1}, 3, logEnts(2, 2, 4, 4), 4, true, nil, 3,
			[]entryID{{1, 1}, {2, 2}, {4, 3}, {4, 4}}},
		{"conflict at committed", entryID{1, 1}, 3, logEnts(2, 3, 3), 0, false, errTruncateCommitted, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"conflict below committed", entryID{0, 0}, 3, logEnts(1, 5), 0, false, errTruncateCommitted, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"index gap", entryID{3, 3}, 3, logEnts(5, 4), 0, false, errMalformedAppend, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"term below prev", entryID{3, 3}, 3, logEnts(4, 2), 0, false, errMalformedAppend, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"terms decrease", entryID{3, 3}, 3, logEnts(4, 4, 3), 0, false, errMalformedAppend, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
		{"nil entry", entryID{3, 3}, 3, []*pb.Entry{nil}, 0, false, errMalformedAppend, 2,
			[]entryID{{1, 1}, {2, 2}, {3, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLog(t, entryID{}, nil, base)
			require.NoError(t, l.commitTo(2))
			last, ok, err := l.maybeAppend(tc.prev, tc.committed, tc.ents)
			require.ErrorIs(t, err, tc.werr)
			require.Equal(t, tc.wok, ok)
			require.Equal(t, tc.wlast, last)
			require.Equal(t, tc.wcommit, l.committed)
			require.Equal(t, tc.wlog, logRange(t, l, 1, l.lastIndex()+1))
		})
	}
}

func TestLogAppend(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ents  []*pb.Entry
		wlast uint64
		wlog  []entryID
		wnext []entryID
	}{
		{"nothing", nil, 2, []entryID{{1, 1}, {2, 2}}, nil},
		{"after the last entry", logEnts(3, 2), 3, []entryID{{1, 1}, {2, 2}, {2, 3}}, []entryID{{2, 3}}},
		{"replace a stored entry", logEnts(2, 3), 2, []entryID{{1, 1}, {3, 2}}, []entryID{{3, 2}}},
		{"replace from the first", logEnts(1, 3, 3), 2, []entryID{{3, 1}, {3, 2}}, []entryID{{3, 1}, {3, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 2), nil)
			require.Equal(t, tc.wlast, l.append(tc.ents...))
			require.Equal(t, tc.wlog, logRange(t, l, 1, l.lastIndex()+1))
			require.Equal(t, tc.wnext, logIDs(l.nextUnstableEnts()))
		})
	}
	t.Run("at committed", func(t *testing.T) {
		l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 2), nil)
		require.NoError(t, l.commitTo(1))
		requireInvariantPanic(t, "appends never replace committed entries", func() { l.append(logEnts(1, 3)...) })
		requireInvariantPanic(t, "appends never replace committed entries", func() { l.append(logEnts(0, 3)...) })
	})
}

func TestLogFindConflict(t *testing.T) {
	l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 2), logEnts(3, 3))
	for _, tc := range []struct {
		name string
		ents []*pb.Entry
		w    uint64
	}{
		{"empty", nil, 0},
		{"all match", logEnts(1, 1, 2, 3), 0},
		{"match a suffix", logEnts(2, 2, 3), 0},
		{"match the last", logEnts(3, 3), 0},
		{"new entries", logEnts(2, 2, 3, 4, 4), 4},
		{"only new entries", logEnts(4, 4), 4},
		{"conflict in storage", logEnts(1, 1, 4, 4), 2},
		{"conflict in unstable", logEnts(2, 2, 4, 4), 3},
		{"conflict at first", logEnts(1, 4), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.w, l.findConflict(tc.ents))
		})
	}
}

func TestLogFindConflictByTerm(t *testing.T) {
	// Index: 10 (snapshot) 11 12 13 14 15 16
	// Term:   2            3  3  4  4  5  6
	l, _ := newTestLog(t, entryID{2, 10}, logEnts(11, 3, 3, 4), logEnts(14, 4, 5, 6))
	for _, tc := range []struct {
		index, term uint64
		windex      uint64
		wterm       uint64
	}{
		{16, 6, 16, 6}, // match at the start
		{16, 5, 15, 5},
		{16, 4, 14, 4}, // skips a whole term
		{15, 4, 14, 4},
		{14, 3, 12, 3}, // crosses from unstable into storage
		{16, 3, 12, 3},
		{13, 2, 10, 2},  // reaches the snapshot
		{16, 1, 9, 0},   // stops at the first compacted index
		{100, 4, 14, 4}, // clamped to the last index
		{100, 9, 16, 6},
		{11, 9, 11, 3},
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.index, tc.term), func(t *testing.T) {
			index, term := l.findConflictByTerm(tc.index, tc.term)
			require.Equal(t, tc.windex, index)
			require.Equal(t, tc.wterm, term)
		})
	}
	t.Run("from the start of the log", func(t *testing.T) {
		l, _ := newTestLog(t, entryID{}, logEnts(1, 2, 2), nil)
		index, term := l.findConflictByTerm(2, 1)
		require.Equal(t, uint64(0), index)
		require.Equal(t, uint64(0), term)
	})
}

func TestLogIsUpToDate(t *testing.T) {
	l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 2), logEnts(3, 3))
	for _, tc := range []struct {
		cand entryID
		w    bool
	}{
		{entryID{2, 4}, false}, // lower term, longer log
		{entryID{2, 2}, false},
		{entryID{3, 2}, false}, // same term, shorter
		{entryID{3, 3}, true},  // same
		{entryID{3, 4}, true},  // same term, longer
		{entryID{4, 1}, true},  // higher term, shorter
		{entryID{4, 3}, true},
	} {
		require.Equal(t, tc.w, l.isUpToDate(tc.cand), "candidate %+v", tc.cand)
	}
}

func TestLogCommitTo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		commit  uint64
		wcommit uint64
		werr    error
	}{
		{"raise", 3, 3, nil},
		{"raise within storage", 2, 2, nil},
		{"lower is ignored", 0, 1, nil},
		{"same", 1, 1, nil},
		{"beyond the last index", 4, 1, errCommitBeyondLast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 2), logEnts(3, 3))
			require.NoError(t, l.commitTo(1))
			require.ErrorIs(t, l.commitTo(tc.commit), tc.werr)
			require.Equal(t, tc.wcommit, l.committed)
		})
	}
}

func TestLogMaybeCommit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		at      entryID
		w       bool
		wcommit uint64
	}{
		{"entry of the current term", entryID{3, 3}, true, 3},
		// Figure 8: a quorum holds index 2, but its entry is from term 2.
		// A leader of term 3 must not commit it by counting replicas.
		{"entry of an earlier term", entryID{3, 2}, false, 1},
		{"matching term below the last", entryID{2, 2}, true, 2},
		{"already committed", entryID{1, 1}, false, 1},
		{"beyond the log", entryID{3, 4}, false, 1},
		{"wrong term at the last", entryID{4, 3}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 2), logEnts(3, 3))
			require.NoError(t, l.commitTo(1))
			require.Equal(t, tc.w, l.maybeCommit(tc.at))
			require.Equal(t, tc.wcommit, l.committed)
		})
	}
}

func TestLogNextUnstable(t *testing.T) {
	l, ms := newTestLog(t, entryID{}, logEnts(1, 1), nil)
	require.False(t, l.hasNextUnstableEnts())
	require.False(t, l.hasNextUnstableSnapshot())
	require.Nil(t, l.nextUnstableSnapshot())

	l.append(logEnts(2, 1, 1)...)
	require.True(t, l.hasNextUnstableEnts())
	ents := l.nextUnstableEnts()
	require.Equal(t, []entryID{{1, 2}, {1, 3}}, logIDs(ents))
	l.acceptUnstable()
	require.False(t, l.hasNextUnstableEnts())

	l.append(logEnts(4, 2)...)
	require.Equal(t, []entryID{{2, 4}}, logIDs(l.nextUnstableEnts()))
	l.acceptUnstable()

	// The first write completes.
	require.NoError(t, ms.Append(ents))
	l.stableTo(entryID{1, 3})
	require.Equal(t, uint64(4), l.unstable.offset)
	require.False(t, l.hasNextUnstableEnts())
	require.Equal(t, []entryID{{1, 1}, {1, 2}, {1, 3}, {2, 4}}, logRange(t, l, 1, 5))

	// A snapshot arrives.
	s := logSnap(10, 3)
	l.restore(s)
	require.True(t, l.hasNextUnstableSnapshot())
	require.Same(t, s, l.nextUnstableSnapshot())
	require.False(t, l.hasNextUnstableEnts())
	l.append(logEnts(11, 3)...)
	require.True(t, l.hasNextUnstableEnts())
	l.acceptUnstable()
	require.False(t, l.hasNextUnstableSnapshot())
	require.False(t, l.hasNextUnstableEnts())
	got, err := l.snapshot()
	require.NoError(t, err)
	require.Same(t, s, got)

	// The stale acknowledgement of entry 4 and the acknowledgement of 11
	// before the snapshot's are both ignored.
	require.NoError(t, ms.Append(logEnts(4, 2)))
	l.stableTo(entryID{2, 4})
	l.stableTo(entryID{3, 11})
	require.NotNil(t, l.unstable.snapshot)
	require.NoError(t, ms.ApplySnapshot(s))
	require.NoError(t, ms.Append(logEnts(11, 3)))
	l.stableSnapTo(10)
	l.stableTo(entryID{3, 11})
	require.Nil(t, l.unstable.snapshot)
	require.Equal(t, uint64(12), l.unstable.offset)
	require.Equal(t, uint64(11), l.firstIndex())
	require.Equal(t, uint64(11), l.lastIndex())
	got, err = l.snapshot()
	require.NoError(t, err)
	require.Equal(t, uint64(10), got.GetMetadata().GetIndex(), "storage's snapshot once persisted")
}

// TestLogStableToABA: entries handed out for persistence are replaced by a
// new leader's before the write completes. The old write's acknowledgement
// must not mark the new entries persisted.
func TestLogStableToABA(t *testing.T) {
	l, ms := newTestLog(t, entryID{}, logEnts(1, 1), nil)
	l.append(logEnts(2, 1, 1)...)
	old := l.nextUnstableEnts()
	l.acceptUnstable()

	last, ok, err := l.maybeAppend(entryID{1, 1}, 0, logEnts(2, 2))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(2), last)
	require.Equal(t, uint64(2), l.lastIndex())
	require.Equal(t, []entryID{{2, 2}}, logIDs(l.nextUnstableEnts()))
	newEnts := l.nextUnstableEnts()
	l.acceptUnstable()

	require.NoError(t, ms.Append(old))
	l.stableTo(entryID{1, 3}) // beyond the log now
	l.stableTo(entryID{1, 2}) // rewritten with term 2
	require.Equal(t, uint64(2), l.unstable.offset)
	require.Equal(t, []entryID{{1, 1}, {2, 2}}, logRange(t, l, 1, 3))

	require.NoError(t, ms.Append(newEnts))
	l.stableTo(entryID{2, 2})
	require.Equal(t, uint64(3), l.unstable.offset)
	require.Equal(t, []entryID{{1, 1}, {2, 2}}, logRange(t, l, 1, 3))
}

func TestLogRestore(t *testing.T) {
	l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 1), logEnts(3, 2))
	require.NoError(t, l.commitTo(2))
	l.acceptApplying(1, 0, true)
	l.appliedTo(1, 0)

	s := logSnap(20, 4)
	l.restore(s)
	require.Equal(t, uint64(20), l.committed)
	require.Equal(t, uint64(1), l.applying, "applying moves when the snapshot is applied")
	require.Equal(t, uint64(1), l.applied)
	require.Equal(t, uint64(21), l.firstIndex())
	require.Equal(t, entryID{4, 20}, l.lastEntryID())
	require.Equal(t, uint64(21), l.unstable.offset)
	require.Empty(t, l.unstable.entries)
	require.False(t, l.hasNextCommittedEnts(true), "the snapshot must be applied first")
	require.True(t, l.hasNextUnstableSnapshot())

	requireInvariantPanic(t, "the commit index never decreases", func() { l.restore(logSnap(19, 4)) })
}

func TestLogHasAndNextCommittedEnts(t *testing.T) {
	// Index: 3 (snapshot) 4 5 (stored) 6 (unstable)
	for _, tc := range []struct {
		name          string
		committed     uint64
		applying      uint64
		allowUnstable bool
		paused        bool
		snap          bool
		w             []entryID
	}{
		{"nothing committed", 3, 3, true, false, false, nil},
		{"stored entries", 5, 3, true, false, false, []entryID{{1, 4}, {1, 5}}},
		{"stored entries, unstable not allowed", 5, 3, false, false, false, []entryID{{1, 4}, {1, 5}}},
		{"partly applying", 5, 4, true, false, false, []entryID{{1, 5}}},
		{"all applying", 5, 5, true, false, false, nil},
		{"unstable committed, allowed", 6, 3, true, false, false, []entryID{{1, 4}, {1, 5}, {1, 6}}},
		{"unstable committed, not allowed", 6, 3, false, false, false, []entryID{{1, 4}, {1, 5}}},
		{"only unstable left, not allowed", 6, 5, false, false, false, nil},
		{"only unstable left, allowed", 6, 5, true, false, false, []entryID{{1, 6}}},
		{"paused", 6, 3, true, true, false, nil},
		{"snapshot pending", 6, 3, true, false, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLog(t, entryID{1, 3}, logEnts(4, 1, 1), logEnts(6, 1))
			require.NoError(t, l.commitTo(tc.committed))
			l.acceptApplying(tc.applying, 0, tc.allowUnstable)
			l.applyingEntsPaused = tc.paused
			if tc.snap {
				l.restore(logSnap(tc.committed+1, 2))
			}
			require.Equal(t, tc.w != nil, l.hasNextCommittedEnts(tc.allowUnstable))
			ents, err := l.nextCommittedEnts(tc.allowUnstable)
			require.NoError(t, err)
			require.Equal(t, tc.w, logIDs(ents))
		})
	}
}

func TestLogMaxAppliableIndex(t *testing.T) {
	l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 1), logEnts(3, 1, 1))
	require.Equal(t, uint64(0), l.maxAppliableIndex(true))
	require.NoError(t, l.commitTo(4))
	require.Equal(t, uint64(4), l.maxAppliableIndex(true))
	require.Equal(t, uint64(2), l.maxAppliableIndex(false))
	require.NoError(t, l.commitTo(1), "a lower commit index is ignored")
	require.Equal(t, uint64(4), l.maxAppliableIndex(true))
}

// TestLogApplyPagination walks the committed entries through several pages
// under a byte budget, with the budget released as the application reports
// progress. Sizes are counted as the core does, by payload.
func TestLogApplyPagination(t *testing.T) {
	const payload = 100
	ents := withData(payload, 1, 1, 1, 1, 1, 1, 1, 1)
	one := entrySize(ents[0])
	for _, allowUnstable := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowUnstable=%v", allowUnstable), func(t *testing.T) {
			ms := NewMemoryStorage()
			stored := ents
			if allowUnstable {
				stored = ents[:3] // the rest stays unstable
			}
			require.NoError(t, ms.Append(stored))
			// Room for two and a half entries by encoded size.
			l, err := newLog(ms, 2*one+one/2)
			require.NoError(t, err)
			l.append(ents[len(stored):]...)
			require.NoError(t, l.commitTo(7))

			var pages [][]entryID
			for l.hasNextCommittedEnts(allowUnstable) {
				page, err := l.nextCommittedEnts(allowUnstable)
				require.NoError(t, err)
				require.NotEmpty(t, page)
				last := page[len(page)-1].GetIndex()
				l.acceptApplying(last, payloadsSize(page), allowUnstable)
				pages = append(pages, logIDs(page))
				require.False(t, l.hasNextCommittedEnts(allowUnstable), "paused until progress is reported")
				ents, err := l.nextCommittedEnts(allowUnstable)
				require.NoError(t, err)
				require.Nil(t, ents)
				l.appliedTo(last, payloadsSize(page))
				require.Zero(t, l.applyingEntsSize)
			}
			require.Equal(t, [][]entryID{
				{{1, 1}, {1, 2}}, {{1, 3}, {1, 4}}, {{1, 5}, {1, 6}}, {{1, 7}},
			}, pages)
			require.Equal(t, uint64(7), l.applied)
		})
	}
}

// TestLogApplyBudgetWithoutPause: a page that reaches the end of the
// committed entries does not pause, so entries committed later are handed
// out within what is left of the budget, before the application reports
// progress.
func TestLogApplyBudgetWithoutPause(t *testing.T) {
	ents := withData(100, 1, 1, 1, 1, 1, 1)
	one := entrySize(ents[0])
	ms := NewMemoryStorage()
	require.NoError(t, ms.Append(ents))
	l, err := newLog(ms, 3*one)
	require.NoError(t, err)

	require.NoError(t, l.commitTo(1))
	page, err := l.nextCommittedEnts(false)
	require.NoError(t, err)
	require.Equal(t, []entryID{{1, 1}}, logIDs(page))
	l.acceptApplying(1, entsSize(page), false)
	require.False(t, l.applyingEntsPaused)

	require.NoError(t, l.commitTo(5))
	require.True(t, l.hasNextCommittedEnts(false))
	page, err = l.nextCommittedEnts(false)
	require.NoError(t, err)
	require.Equal(t, []entryID{{1, 2}, {1, 3}}, logIDs(page), "what is left of the budget")
	l.acceptApplying(3, entsSize(page), false)
	require.True(t, l.applyingEntsPaused, "budget used up")

	// Progress on part of it unpauses.
	l.appliedTo(1, one)
	require.False(t, l.applyingEntsPaused)
	page, err = l.nextCommittedEnts(false)
	require.NoError(t, err)
	require.Equal(t, []entryID{{1, 4}}, logIDs(page))
}

// TestLogApplyLargeEntry: an entry larger than the whole budget is still
// handed out, alone, once nothing else is being applied.
func TestLogApplyLargeEntry(t *testing.T) {
	ms := NewMemoryStorage()
	require.NoError(t, ms.Append(append(withData(10, 1, 1), withData(1000, 2, 1)...)))
	l, err := newLog(ms, 100)
	require.NoError(t, err)
	require.NoError(t, l.commitTo(2))

	page, err := l.nextCommittedEnts(false)
	require.NoError(t, err)
	require.Equal(t, []entryID{{1, 1}}, logIDs(page))
	l.acceptApplying(1, payloadsSize(page), false)
	require.False(t, l.hasNextCommittedEnts(false))
	l.appliedTo(1, payloadsSize(page))

	page, err = l.nextCommittedEnts(false)
	require.NoError(t, err)
	require.Equal(t, []entryID{{1, 2}}, logIDs(page))
	l.acceptApplying(2, payloadsSize(page), false)
	require.True(t, l.applyingEntsPaused)
	l.appliedTo(2, payloadsSize(page))
	require.False(t, l.applyingEntsPaused)
	require.False(t, l.hasNextCommittedEnts(false))
}

func TestLogAppliedTo(t *testing.T) {
	l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 1, 1), nil)
	require.NoError(t, l.commitTo(3))
	l.acceptApplying(3, 30, false)
	l.appliedTo(1, 10)
	require.Equal(t, uint64(1), l.applied)
	require.Equal(t, uint64(3), l.applying)
	require.Equal(t, uint64(20), l.applyingEntsSize)
	l.appliedTo(3, 50)
	require.Equal(t, uint64(3), l.applied)
	require.Zero(t, l.applyingEntsSize, "releasing more than outstanding stops at zero")

	l.acceptApplying(3, 40, false)
	l.appliedTo(2, 40)
	require.Equal(t, uint64(3), l.applied, "a late acknowledgement does not move applied back")
	require.Zero(t, l.applyingEntsSize, "but releases its budget")
	requireInvariantPanic(t, "applied <= committed", func() { l.appliedTo(4, 0) })
	requireInvariantPanic(t, "applying never decreases and applying <= committed", func() { l.acceptApplying(4, 0, true) })
	requireInvariantPanic(t, "applying never decreases and applying <= committed", func() { l.acceptApplying(2, 0, true) })
}

// TestLogSlice reads ranges across the storage/unstable boundary, with and
// without byte limits.
func TestLogSlice(t *testing.T) {
	// Index: 3 (snapshot) 4 5 6 (stored) 7 8 9 (unstable)
	ents := withData(50, 4, 1, 1, 2, 2, 3, 3)
	one := entrySize(ents[0])
	for _, e := range ents {
		require.Equal(t, one, entrySize(e), "test needs equal sizes")
	}
	l, _ := newTestLog(t, entryID{1, 3}, ents[:3], ents[3:])
	ids := func(lo, hi uint64) []entryID {
		var out []entryID
		for _, e := range ents[lo-4 : hi-4] {
			out = append(out, pbEntryID(e))
		}
		return out
	}
	for _, tc := range []struct {
		lo, hi, max uint64
		w           []entryID
		werr        error
	}{
		{2, 5, noLimit, nil, ErrCompacted},
		{3, 5, noLimit, nil, ErrCompacted},
		{4, 11, noLimit, nil, ErrUnavailable},
		{10, 11, noLimit, nil, ErrUnavailable},
		{4, 4, noLimit, nil, nil},
		{10, 10, noLimit, nil, nil},
		{4, 7, noLimit, ids(4, 7), nil},   // storage only
		{7, 10, noLimit, ids(7, 10), nil}, // unstable only
		{4, 10, noLimit, ids(4, 10), nil}, // both
		{5, 8, noLimit, ids(5, 8), nil},
		{6, 7, noLimit, ids(6, 7), nil},
		{7, 8, noLimit, ids(7, 8), nil},
		// Byte limits.
		{4, 10, 0, ids(4, 5), nil}, // at least one
		{7, 10, 0, ids(7, 8), nil},
		{4, 10, one, ids(4, 5), nil},
		{4, 10, 2*one + 1, ids(4, 6), nil},
		{5, 10, 2 * one, ids(5, 7), nil},     // limit reached in storage
		{5, 10, 3 * one, ids(5, 8), nil},     // exactly at the boundary
		{6, 10, 2 * one, ids(6, 8), nil},     // spans the boundary
		{6, 10, 3*one - 1, ids(6, 8), nil},   // spans, cut in unstable
		{4, 10, 6 * one, ids(4, 10), nil},    // everything fits
		{4, 10, 6*one - 1, ids(4, 9), nil},   // all but the last
		{8, 10, one + one/2, ids(8, 9), nil}, // unstable only, cut
		{6, 10, one + one/2, ids(6, 7), nil}, // storage entry alone fits
		{6, 10, one / 2, ids(6, 7), nil},     // first entry exceeds limit
		{7, 10, 3 * one, ids(7, 10), nil},    // unstable only, fits
		{6, 7, 0, ids(6, 7), nil},            // storage only, single
		{6, 8, noLimit - 1, ids(6, 8), nil},  // huge limit
		{9, 10, 1, ids(9, 10), nil},          // last entry alone
		{4, 5, 1, ids(4, 5), nil},            // first entry alone
		{5, 9, 4 * one, ids(5, 9), nil},      // exact fit across
		{5, 9, 4*one - 1, ids(5, 8), nil},    // one short across
		{4, 10, 6*one + 1, ids(4, 10), nil},  // room to spare
	} {
		t.Run(fmt.Sprintf("[%d,%d) max %d", tc.lo, tc.hi, tc.max), func(t *testing.T) {
			got, err := l.slice(tc.lo, tc.hi, tc.max)
			require.ErrorIs(t, err, tc.werr)
			require.Equal(t, tc.w, logIDs(got))
			require.Equal(t, len(got), cap(got), "no spare capacity")
			if tc.lo < tc.hi && tc.werr == nil {
				all, err := l.entries(tc.lo, tc.max)
				require.NoError(t, err)
				require.Equal(t, logIDs(got), logIDs(all)[:len(got)])
			}
		})
	}
	require.NoError(t, l.storageErr)
	requireInvariantPanic(t, "slice bounds are ordered", func() { _, _ = l.slice(6, 5, noLimit) })
}

// TestLogSliceNoAliasing checks that slices returned by slice keep their
// contents when the log is later truncated and appended to.
func TestLogSliceNoAliasing(t *testing.T) {
	l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 1), logEnts(3, 1, 1, 1))
	spanning, err := l.slice(1, 6, noLimit)
	require.NoError(t, err)
	unst, err := l.slice(3, 6, noLimit)
	require.NoError(t, err)
	want := []entryID{{1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}}

	l.append(logEnts(4, 2, 2, 2)...)
	l.append(logEnts(7, 2)...)
	require.Equal(t, want, logIDs(spanning))
	require.Equal(t, want[2:], logIDs(unst))
	_ = append(unst, logEnts(6, 9)...)
	require.Equal(t, []entryID{{1, 3}, {2, 4}, {2, 5}, {2, 6}, {2, 7}}, logIDs(l.unstable.entries))
}

func TestLogEntries(t *testing.T) {
	l, _ := newTestLog(t, entryID{1, 3}, logEnts(4, 1, 2), logEnts(6, 3))
	for _, tc := range []struct {
		i    uint64
		w    []entryID
		werr error
	}{
		{3, nil, ErrCompacted},
		{4, []entryID{{1, 4}, {2, 5}, {3, 6}}, nil},
		{6, []entryID{{3, 6}}, nil},
		{7, nil, nil},
		{8, nil, nil},
	} {
		got, err := l.entries(tc.i, noLimit)
		require.ErrorIs(t, err, tc.werr, "entries(%d)", tc.i)
		require.Equal(t, tc.w, logIDs(got), "entries(%d)", tc.i)
	}
}

func TestLogScan(t *testing.T) {
	ents := withData(20, 1, 1, 1, 1, 1, 2, 2, 2, 3)
	one := entrySize(ents[0])
	l, _ := newTestLog(t, entryID{}, ents[:4], ents[4:])
	for _, tc := range []struct {
		pageSize uint64
		wpages   []int
	}{
		{0, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{one, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{2 * one, []int{2, 2, 2, 2}},
		{3 * one, []int{3, 3, 2}}, // the second page spans storage and unstable
		{5 * one, []int{5, 3}},
		{noLimit, []int{8}},
	} {
		t.Run(fmt.Sprint(tc.pageSize), func(t *testing.T) {
			var pages []int
			next := uint64(1)
			require.NoError(t, l.scan(1, 9, tc.pageSize, func(page []*pb.Entry) error {
				require.Equal(t, next, page[0].GetIndex())
				next += uint64(len(page))
				pages = append(pages, len(page))
				return nil
			}))
			require.Equal(t, uint64(9), next)
			require.Equal(t, tc.wpages, pages)
		})
	}
	t.Run("stops at the visitor's error", func(t *testing.T) {
		stop := errors.New("found it")
		calls := 0
		err := l.scan(1, 9, one, func([]*pb.Entry) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		require.ErrorIs(t, err, stop)
		require.Equal(t, 3, calls)
	})
	t.Run("reports read errors", func(t *testing.T) {
		err := l.scan(1, 10, noLimit, func([]*pb.Entry) error { return nil })
		require.ErrorIs(t, err, ErrUnavailable)
	})
}

func TestLogSnapshot(t *testing.T) {
	l, _ := newTestLog(t, entryID{2, 5}, nil, nil)
	s, err := l.snapshot()
	require.NoError(t, err)
	require.Equal(t, uint64(5), s.GetMetadata().GetIndex())

	pending := logSnap(9, 3)
	l.restore(pending)
	s, err = l.snapshot()
	require.NoError(t, err)
	require.Same(t, pending, s)
}

// tempUnavailableStorage is building its snapshot.
type tempUnavailableStorage struct{ *MemoryStorage }

func (tempUnavailableStorage) Snapshot() (*pb.Snapshot, error) {
	return nil, ErrSnapshotTemporarilyUnavailable
}

// TestLogStorageErrors checks that storage failures are returned where
// possible, recorded in storageErr in every case, and never panic.
func TestLogStorageErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	setup := func(t *testing.T, only string) (*raftLog, *faultyStorage) {
		fs := &faultyStorage{MemoryStorage: NewMemoryStorage()}
		require.NoError(t, fs.Append(logEnts(1, 1, 1, 2)))
		l, err := newLog(fs, noLimit)
		require.NoError(t, err)
		l.append(logEnts(4, 3)...)
		fs.err, fs.only = boom, only
		return l, fs
	}
	for _, tc := range []struct {
		name string
		only string                 // the failing storage method, "" for all
		op   func(l *raftLog) error // returns the error the operation returned, if any
	}{
		{"firstIndex", "", func(l *raftLog) error {
			require.Equal(t, uint64(4), l.firstIndex(), "falls back to the unstable offset")
			_, err := l.slice(1, 3, noLimit)
			require.ErrorIs(t, err, ErrCompacted, "nothing below the fallback is read")
			return nil
		}},
		{"term", "Term", func(l *raftLog) error {
			term, err := l.term(4)
			require.NoError(t, err, "unstable entries still answer")
			require.Equal(t, uint64(3), term)
			_, err = l.term(2)
			return err
		}},
		{"term, storage down", "", func(l *raftLog) error {
			_, err := l.term(3)
			return err
		}},
		{"slice", "Entries", func(l *raftLog) error {
			_, err := l.slice(2, 5, noLimit)
			return err
		}},
		{"entries", "Entries", func(l *raftLog) error {
			_, err := l.entries(1, noLimit)
			return err
		}},
		{"snapshot", "Snapshot", func(l *raftLog) error {
			_, err := l.snapshot()
			return err
		}},
		{"lastTerm of a stored last entry", "Term", func(l *raftLog) error {
			l.unstable.entries, l.unstable.offset, l.unstable.offsetInProgress = nil, 4, 4
			require.Zero(t, l.lastTerm())
			require.Equal(t, entryID{0, 3}, l.lastEntryID())
			return nil
		}},
		{"matchTerm", "Term", func(l *raftLog) error {
			require.False(t, l.matchTerm(entryID{2, 3}))
			return nil
		}},
		{"findConflict", "Term", func(l *raftLog) error {
			require.Equal(t, uint64(3), l.findConflict(logEnts(3, 2)))
			return nil
		}},
		{"findConflictByTerm", "Term", func(l *raftLog) error {
			index, term := l.findConflictByTerm(4, 2)
			require.Equal(t, uint64(3), index)
			require.Zero(t, term)
			return nil
		}},
		{"zeroTermOnOutOfBounds", "", func(l *raftLog) error {
			require.Zero(t, l.zeroTermOnOutOfBounds(7, boom))
			return nil
		}},
		{"nextCommittedEnts", "Entries", func(l *raftLog) error {
			require.NoError(t, l.commitTo(3))
			_, err := l.nextCommittedEnts(false)
			return err
		}},
		{"maybeAppend", "Term", func(l *raftLog) error {
			_, ok, err := l.maybeAppend(entryID{2, 3}, 4, logEnts(4, 3))
			require.False(t, ok)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := setup(t, tc.only)
			if err := tc.op(l); err != nil {
				require.ErrorIs(t, err, boom)
			}
			require.ErrorIs(t, l.storageErr, boom)
		})
	}
	t.Run("first error is kept", func(t *testing.T) {
		l, _ := setup(t, "")
		other := errors.New("second")
		l.noteStorageErr(boom)
		l.noteStorageErr(other)
		require.Same(t, boom, l.storageErr)
	})
	t.Run("storage losing persisted entries", func(t *testing.T) {
		l, fs := setup(t, "")
		fs.err = nil
		l.unstable.offset, l.unstable.offsetInProgress = 6, 6 // claims 4..5 are persisted
		l.unstable.entries = nil
		_, err := l.term(5)
		require.ErrorIs(t, err, ErrUnavailable)
		require.ErrorIs(t, l.storageErr, ErrUnavailable)
	})
	t.Run("expected errors are not recorded", func(t *testing.T) {
		ms := NewMemoryStorage()
		l, err := newLog(tempUnavailableStorage{ms}, noLimit)
		require.NoError(t, err)
		_, err = l.snapshot()
		require.ErrorIs(t, err, ErrSnapshotTemporarilyUnavailable)
		_, err = l.term(5)
		require.ErrorIs(t, err, ErrUnavailable)
		require.Zero(t, l.zeroTermOnOutOfBounds(0, ErrCompacted))
		require.NoError(t, l.storageErr)
	})
}

// shortStorage returns no entries from Entries, breaking the contract.
type shortStorage struct{ *MemoryStorage }

func (shortStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) { return nil, nil }

func TestLogStorageBreakingContract(t *testing.T) {
	ms := NewMemoryStorage()
	require.NoError(t, ms.Append(logEnts(1, 1, 1)))
	l, err := newLog(shortStorage{ms}, noLimit)
	require.NoError(t, err)
	_, err = l.slice(1, 3, noLimit)
	require.ErrorContains(t, err, "not a non-empty prefix")
	require.Error(t, l.storageErr)
}

func TestLogCheckInvariants(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("needs -tags invariants")
	}
	t.Run("positions", func(t *testing.T) {
		l, _ := newTestLog(t, entryID{}, logEnts(1, 1), logEnts(2, 1))
		l.committed = 3
		requireInvariantPanic(t, "applied <= applying <= committed <= lastIndex", l.checkInvariants)
	})
	t.Run("terms across storage and unstable", func(t *testing.T) {
		l, _ := newTestLog(t, entryID{}, logEnts(1, 1, 3), nil)
		l.unstable.entries = logEnts(3, 2)
		requireInvariantPanic(t, "log terms never decrease", l.checkInvariants)
	})
	t.Run("storage ends before offset", func(t *testing.T) {
		l, _ := newTestLog(t, entryID{}, logEnts(1, 1), nil)
		l.unstable.offset, l.unstable.offsetInProgress = 4, 4
		requireInvariantPanic(t, "storage ends right before unstable.offset when nothing is unstable, and never before it", l.checkInvariants)
	})
	t.Run("storage beyond the log", func(t *testing.T) {
		l, ms := newTestLog(t, entryID{}, logEnts(1, 1), nil)
		require.NoError(t, ms.Append(logEnts(2, 1)))
		requireInvariantPanic(t, "storage ends right before unstable.offset when nothing is unstable, and never before it", l.checkInvariants)
	})
	t.Run("healthy", func(t *testing.T) {
		l, _ := newTestLog(t, entryID{1, 3}, logEnts(4, 1, 2), logEnts(6, 2, 3))
		require.NotPanics(t, l.checkInvariants)
	})
}
