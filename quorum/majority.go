package quorum

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// MajorityConfig is a set of voter IDs. A decision needs a majority of
// them: n/2+1 out of n.
type MajorityConfig map[uint64]struct{}

// smallConfig is the largest configuration CommittedIndex handles without
// allocating.
const smallConfig = 7

// String renders the voter IDs sorted and space separated inside
// parentheses, e.g. "(1 2 3)". The empty configuration renders as "()".
func (c MajorityConfig) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, id := range c.Slice() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, id)
	}
	b.WriteByte(')')
	return b.String()
}

// Slice returns the voter IDs in ascending order.
func (c MajorityConfig) Slice() []uint64 {
	ids := make([]uint64, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Describe renders, for debugging and tests, how the voters' acknowledged
// indexes produce the committed index. There is one line per voter, from the
// lowest acknowledged index to the highest (ties by ID):
//
//	       idx
//	  x    10   (id=1)
//	> xx   20   (id=2)
//	  xxx  30   (id=3)
//
// The bar is as long as the voter's rank in that order, so the last line's
// bar spans all n voters. The line starting with '>' is the voter whose
// index is the committed one: it and every voter below it (a majority)
// have acknowledged at least that index. A voter the AckedIndexer does not
// know is drawn with '?' instead of 'x' and shown at index 0. An empty
// configuration renders as "<no voters>".
func (c MajorityConfig) Describe(l AckedIndexer) string {
	n := len(c)
	if n == 0 {
		return "<no voters>"
	}
	type row struct {
		id    uint64
		idx   Index
		known bool
	}
	rows := make([]row, 0, n)
	width := len("idx")
	for id := range c {
		idx, ok := l.AckedIndex(id)
		if !ok {
			idx = 0
		}
		rows = append(rows, row{id: id, idx: idx, known: ok})
		width = max(width, len(idx.String()))
	}
	slices.SortFunc(rows, func(a, b row) int {
		if a.idx != b.idx {
			if a.idx < b.idx {
				return -1
			}
			return 1
		}
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	})
	committed := n - (n/2 + 1)

	var b strings.Builder
	fmt.Fprintf(&b, "%s%s\n", strings.Repeat(" ", 2+n+2), "idx")
	for i, r := range rows {
		marker := ' '
		if i == committed {
			marker = '>'
		}
		bar := "x"
		if !r.known {
			bar = "?"
		}
		fmt.Fprintf(&b, "%c %-*s  %-*s  (id=%d)\n",
			marker, n, strings.Repeat(bar, i+1), width, r.idx, r.id)
	}
	return b.String()
}

// CommittedIndex returns the largest index that a majority of the voters
// have acknowledged. A voter unknown to l counts as having acknowledged 0.
// The empty configuration returns math.MaxUint64, so that it never holds
// back the other half of a JointConfig.
//
// It allocates nothing for up to seven voters.
func (c MajorityConfig) CommittedIndex(l AckedIndexer) Index {
	n := len(c)
	if n == 0 {
		return math.MaxUint64
	}

	// Collect the acknowledged indexes into a stack array when they fit;
	// the array never leaves this function, so it stays off the heap.
	var buf [smallConfig]uint64
	var acked []uint64
	if n <= smallConfig {
		acked = buf[:n]
	} else {
		acked = make([]uint64, n)
	}
	i := 0
	for id := range c {
		idx, ok := l.AckedIndex(id)
		if !ok {
			idx = 0
		}
		acked[i] = uint64(idx)
		i++
	}

	if n <= smallConfig {
		insertionSort(acked)
	} else {
		slices.Sort(acked)
	}

	// In ascending order, the voters at positions n-q .. n-1 (q = n/2+1 of
	// them) have all acknowledged at least acked[n-q], and no larger index
	// is acknowledged by q voters.
	return Index(acked[n-(n/2+1)])
}

// insertionSort sorts s in ascending order. It beats a general sort on the
// handful of elements a small configuration has, and it does not allocate.
func insertionSort(s []uint64) {
	for i := 1; i < len(s); i++ {
		v := s[i]
		j := i
		for ; j > 0 && s[j-1] > v; j-- {
			s[j] = s[j-1]
		}
		s[j] = v
	}
}

// VoteResult tallies the votes of the configuration's voters: true means
// granted, false rejected, and a missing entry means the vote is still
// pending. Entries for IDs outside the configuration are ignored.
//
// The election is won once a majority granted, lost once even granting
// every pending vote could not reach a majority, and pending otherwise. An
// empty configuration always wins.
func (c MajorityConfig) VoteResult(votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}
	granted, pending := 0, 0
	for id := range c {
		v, ok := votes[id]
		switch {
		case !ok:
			pending++
		case v:
			granted++
		}
	}
	q := len(c)/2 + 1
	switch {
	case granted >= q:
		return VoteWon
	case granted+pending >= q:
		return VotePending
	default:
		return VoteLost
	}
}
