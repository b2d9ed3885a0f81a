package wal

import (
	"fmt"
	"sort"

	pb "github.com/tickraft/raft/raftpb"
)

// extent is a run of live entries stored in one batch record: the entries
// from first on of the record that starts at off in segment seg and takes
// size bytes. The run ends where the next extent starts (or at the end of
// the log): extents are contiguous, so the end is not stored. skip is how
// many of the record's entries come before first (compaction trimmed them).
// 24 bytes: a log written one entry per Save keeps one per entry.
type extent struct {
	first uint64
	skip  uint32
	seg   uint32
	off   uint32
	size  uint32
}

// base is the index of the record's first entry.
func (x extent) base() uint64 { return x.first - uint64(x.skip) }

// extentLast returns the last live entry of extent k.
func (l *logIndex) extentLast(k int) uint64 {
	if k+1 < len(l.extents) {
		return l.extents[k+1].first - 1
	}
	return l.last
}

// termRun says the entries from first on have term term, up to the next run.
type termRun struct{ first, term uint64 }

// logIndex is what the wal keeps in memory about the log: its bounds, where
// each entry lives on disk (per batch, not per entry), the term of every
// entry (per run of equal terms) and the most recent entries themselves.
type logIndex struct {
	// The log holds the entries (start, last]; startTerm is the term of
	// start (the snapshot's or compaction's position). start <= last.
	start, startTerm, last uint64
	// provisional: recovery found entries after a gap left by deleted
	// segments; a compaction or snapshot record later in the log must
	// move start past the gap (checked at the end of recovery).
	provisional bool
	// extents cover (start, last] in order, without gaps or overlaps.
	extents []extent
	// terms is ordered by first; terms[0].first == start+1 when the log is
	// not empty, and no run starts after last.
	terms []termRun
	// cache holds the most recent entries, (cacheFirst()-1, last],
	// shared with readers.
	cache entryCache
}

// cacheFirst is the first cached entry (last+1 when none is).
func (l *logIndex) cacheFirst() uint64 {
	if len(l.cache.blocks) == 0 {
		return l.last + 1
	}
	return l.cache.first
}

// term returns the term of entry i, which must be in [start, last].
func (l *logIndex) term(i uint64) uint64 {
	if i == l.start {
		return l.startTerm
	}
	k := sort.Search(len(l.terms), func(k int) bool { return l.terms[k].first > i })
	if k == 0 {
		panic(fmt.Sprintf("wal: invariant broken: no term run covers index %d (log (%d, %d])", i, l.start, l.last))
	}
	return l.terms[k-1].term
}

// findExtent returns the position of the extent that holds entry i.
func (l *logIndex) findExtent(i uint64) int {
	k := sort.Search(len(l.extents), func(k int) bool { return l.extents[k].first > i }) - 1
	if k < 0 || i > l.last {
		panic(fmt.Sprintf("wal: invariant broken: no extent holds index %d (log (%d, %d])", i, l.start, l.last))
	}
	return k
}

// reset empties the log, which restarts after index (of term term).
func (l *logIndex) reset(index, term uint64) {
	*l = logIndex{start: index, startTerm: term, last: index}
	l.cache.reset(index + 1)
}

// truncate removes the entries from k on (start < k <= last+1).
func (l *logIndex) truncate(k uint64) {
	if k > l.last {
		return
	}
	n := sort.Search(len(l.extents), func(j int) bool { return l.extents[j].first >= k })
	l.extents = l.extents[:n]
	r := sort.Search(len(l.terms), func(j int) bool { return l.terms[j].first >= k })
	l.terms = l.terms[:r]
	l.cache.dropFrom(k)
	l.last = k - 1
}

// appendRecovered adds entries last+1 on, of the given terms, stored in
// ext (ext.first is last+1), as recovery finds them; it fills the cache at
// the end.
func (l *logIndex) appendRecovered(terms []uint64, ext extent) {
	for k, t := range terms {
		if n := len(l.terms); n == 0 || l.terms[n-1].term != t {
			l.terms = append(l.terms, termRun{first: ext.first + uint64(k), term: t})
		}
	}
	l.extents = append(l.extents, ext)
	l.last = ext.first + uint64(len(terms)) - 1
	l.cache.reset(l.last + 1)
}

// appendSaved adds the entries of a Save, last+1 on, stored in ext
// (ext.first is last+1), with their term runs, to the index, and commits
// their append to the cache (entryCache.prepare, on the cache as it is
// now).
func (l *logIndex) appendSaved(ents []*pb.Entry, runs []termRun, ext extent, cached cacheAppend, cacheLimit int) {
	for _, r := range runs {
		if n := len(l.terms); n == 0 || l.terms[n-1].term != r.term {
			l.terms = append(l.terms, r)
		}
	}
	l.extents = append(l.extents, ext)
	l.last = ext.first + uint64(len(ents)) - 1
	l.cache.commit(cached)
	l.cache.evict(cacheLimit)
}

// compact discards the entries up to c, of term t (c > start).
func (l *logIndex) compact(c, t uint64) {
	if c >= l.last {
		l.reset(c, t)
		return
	}
	// The extent holding c+1 becomes the first.
	n := sort.Search(len(l.extents), func(j int) bool { return l.extents[j].first > c+1 }) - 1
	if n >= 0 {
		l.extents = append([]extent(nil), l.extents[n:]...)
		x := &l.extents[0]
		x.skip += uint32(c + 1 - x.first)
		x.first = c + 1
	}
	r := sort.Search(len(l.terms), func(j int) bool { return l.terms[j].first > c+1 })
	if r > 0 {
		r--
	}
	l.terms = append([]termRun(nil), l.terms[r:]...)
	if len(l.terms) > 0 {
		l.terms[0].first = c + 1
	}
	l.cache.dropUpTo(c)
	l.start, l.startTerm, l.provisional = c, t, false
}
