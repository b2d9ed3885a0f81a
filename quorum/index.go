package quorum

import (
	"fmt"
	"math"
)

// Index is a raft log index.
type Index uint64

// String renders the index in decimal, except for math.MaxUint64, which
// stands for "no constraint" (the committed index of an empty
// configuration) and renders as "∞".
func (i Index) String() string {
	if i == math.MaxUint64 {
		return "∞"
	}
	return fmt.Sprintf("%d", uint64(i))
}

// AckedIndexer reports the highest log index a voter has acknowledged.
type AckedIndexer interface {
	// AckedIndex returns the highest index the voter has acknowledged, and
	// false if nothing is known about the voter. Callers treat an unknown
	// voter as having acknowledged index 0.
	AckedIndex(voterID uint64) (idx Index, found bool)
}

// MapAckIndexer is an AckedIndexer backed by a map from voter ID to the
// highest index that voter has acknowledged.
type MapAckIndexer map[uint64]Index

// AckedIndex implements AckedIndexer.
func (m MapAckIndexer) AckedIndex(voterID uint64) (idx Index, found bool) {
	idx, found = m[voterID]
	return idx, found
}
