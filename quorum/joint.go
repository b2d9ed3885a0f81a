package quorum

import "strings"

// JointConfig is the configuration in force while membership changes: [0]
// holds the incoming voters and [1] the outgoing ones. Outside a membership
// change [1] is empty (or nil) and the JointConfig behaves exactly like its
// incoming half. A decision needs a majority in each non-empty half.
type JointConfig [2]MajorityConfig

// String renders the incoming half, followed by "&&" and the outgoing half
// when that is not empty: "(1 2 3)" or "(1 2 3)&&(1 2)".
func (c JointConfig) String() string {
	if len(c[1]) > 0 {
		return c[0].String() + "&&" + c[1].String()
	}
	return c[0].String()
}

// IDs returns a new set holding every voter of either half.
func (c JointConfig) IDs() map[uint64]struct{} {
	ids := make(map[uint64]struct{}, len(c[0])+len(c[1]))
	for _, half := range c {
		for id := range half {
			ids[id] = struct{}{}
		}
	}
	return ids
}

// Describe renders both halves with MajorityConfig.Describe, each under a
// heading naming it and its voters:
//
//	incoming (1 2 3):
//	       idx
//	  ...
//	outgoing (1 2):
//	      idx
//	  ...
//
// The committed index of the whole is the lower of the two marked lines.
// When the outgoing half is empty the result is just the incoming half's
// rendering, without headings.
func (c JointConfig) Describe(l AckedIndexer) string {
	if len(c[1]) == 0 {
		return c[0].Describe(l)
	}
	var b strings.Builder
	b.WriteString("incoming " + c[0].String() + ":\n")
	b.WriteString(describeBlock(c[0].Describe(l)))
	b.WriteString("outgoing " + c[1].String() + ":\n")
	b.WriteString(describeBlock(c[1].Describe(l)))
	return b.String()
}

// describeBlock makes sure a rendering ends with a newline so that the next
// heading starts on its own line.
func describeBlock(s string) string {
	if !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

// CommittedIndex returns the largest index committed in both halves, that
// is the smaller of the two halves' committed indexes. An empty half
// reports math.MaxUint64 and so never holds the other back; if both halves
// are empty the result is math.MaxUint64.
func (c JointConfig) CommittedIndex(l AckedIndexer) Index {
	return min(c[0].CommittedIndex(l), c[1].CommittedIndex(l))
}

// VoteResult combines the results of the two halves: the election is won
// only when both halves win, lost as soon as either half loses, and
// pending otherwise. Votes are interpreted as for MajorityConfig.VoteResult.
func (c JointConfig) VoteResult(votes map[uint64]bool) VoteResult {
	in := c[0].VoteResult(votes)
	out := c[1].VoteResult(votes)
	switch {
	case in == out:
		return in
	case in == VoteLost || out == VoteLost:
		return VoteLost
	default:
		return VotePending
	}
}
