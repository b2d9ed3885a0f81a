package quorum

import "math"

// The functions here compute the same answers as the package by brute force,
// straight from the definitions, for the property and script tests to
// compare against. They favour obviousness over speed.

// ackedOrZero is what the package assumes a voter acknowledged.
func ackedOrZero(l AckedIndexer, id uint64) Index {
	idx, ok := l.AckedIndex(id)
	if !ok {
		return 0
	}
	return idx
}

// hasQuorumAt reports whether a majority of c acknowledged at least i. An
// empty configuration trivially does.
func hasQuorumAt(c MajorityConfig, l AckedIndexer, i Index) bool {
	if len(c) == 0 {
		return true
	}
	count := 0
	for id := range c {
		if ackedOrZero(l, id) >= i {
			count++
		}
	}
	return 2*count > len(c)
}

// candidates returns every index some voter of cfgs acknowledged, plus 0.
// The committed index is always one of them.
func candidates(l AckedIndexer, cfgs ...MajorityConfig) []Index {
	out := []Index{0}
	for _, c := range cfgs {
		for id := range c {
			out = append(out, ackedOrZero(l, id))
		}
	}
	return out
}

// naiveCommitted is the largest acknowledged index that a majority of c
// has reached, trying every candidate; math.MaxUint64 for no voters.
func naiveCommitted(c MajorityConfig, l AckedIndexer) Index {
	if len(c) == 0 {
		return math.MaxUint64
	}
	var best Index
	for _, i := range candidates(l, c) {
		if i > best && hasQuorumAt(c, l, i) {
			best = i
		}
	}
	return best
}

// naiveJointCommitted is the largest candidate index that every non-empty
// half has a majority for. It works on the joint definition directly rather
// than taking the minimum of the halves.
func naiveJointCommitted(c JointConfig, l AckedIndexer) Index {
	if len(c[0]) == 0 && len(c[1]) == 0 {
		return math.MaxUint64
	}
	var best Index
	for _, i := range candidates(l, c[0], c[1]) {
		if i > best && hasQuorumAt(c[0], l, i) && hasQuorumAt(c[1], l, i) {
			best = i
		}
	}
	return best
}

// decide classifies an election by trying every way the pending voters
// among ids could still vote: won if each way wins, lost if none does,
// pending otherwise. wins judges one complete set of votes.
func decide(ids []uint64, votes map[uint64]bool, wins func(map[uint64]bool) bool) VoteResult {
	var pending []uint64
	for _, id := range ids {
		if _, ok := votes[id]; !ok {
			pending = append(pending, id)
		}
	}
	someWin, someLoss := false, false
	for mask := 0; mask < 1<<len(pending); mask++ {
		all := make(map[uint64]bool, len(votes)+len(pending))
		for id, v := range votes {
			all[id] = v
		}
		for bit, id := range pending {
			all[id] = mask&(1<<bit) != 0
		}
		if wins(all) {
			someWin = true
		} else {
			someLoss = true
		}
	}
	switch {
	case !someLoss:
		return VoteWon
	case !someWin:
		return VoteLost
	default:
		return VotePending
	}
}

// grantedMajority reports whether a majority of c granted in the complete
// set of votes all; an empty configuration trivially does.
func grantedMajority(c MajorityConfig, all map[uint64]bool) bool {
	granted := 0
	for id := range c {
		if all[id] {
			granted++
		}
	}
	return len(c) == 0 || 2*granted > len(c)
}

// naiveVote is the election result for c by enumeration of pending votes.
func naiveVote(c MajorityConfig, votes map[uint64]bool) VoteResult {
	return decide(c.Slice(), votes, func(all map[uint64]bool) bool {
		return grantedMajority(c, all)
	})
}

// naiveJointVote is the joint election result by enumeration of pending
// votes: a complete set of votes wins when both halves have a majority.
func naiveJointVote(c JointConfig, votes map[uint64]bool) VoteResult {
	var ids []uint64
	for id := range c.IDs() {
		ids = append(ids, id)
	}
	return decide(ids, votes, func(all map[uint64]bool) bool {
		return grantedMajority(c[0], all) && grantedMajority(c[1], all)
	})
}
