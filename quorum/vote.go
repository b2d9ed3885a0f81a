package quorum

import "fmt"

// VoteResult is the outcome of an election as far as the votes received so
// far can tell.
type VoteResult uint8

const (
	// VotePending means the election is still open: the missing votes can
	// still decide it either way.
	VotePending VoteResult = 1 + iota
	// VoteLost means enough voters rejected the candidate that it cannot
	// reach a quorum whatever the missing votes say.
	VoteLost
	// VoteWon means a quorum granted its vote to the candidate.
	VoteWon
)

// String returns the constant's name, e.g. "VoteWon".
func (r VoteResult) String() string {
	switch r {
	case VotePending:
		return "VotePending"
	case VoteLost:
		return "VoteLost"
	case VoteWon:
		return "VoteWon"
	}
	return fmt.Sprintf("VoteResult(%d)", uint8(r))
}
