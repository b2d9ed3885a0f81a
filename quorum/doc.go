// Package quorum decides two things for a raft group: which log index is
// committed, and whether an election has been won. It answers both for a
// plain majority configuration (MajorityConfig) and for the joint
// configuration used while membership changes (JointConfig), where a
// decision needs a majority of the incoming voters and, separately, a
// majority of the outgoing voters.
//
// The package is pure: it holds no state, does no I/O, reads no clock and
// logs nothing. Callers hand in the configuration together with what each
// voter has acknowledged (an AckedIndexer) or how each voter has voted (a
// map), and get an answer back.
//
// Invariants the functions keep:
//
//   - A majority of n voters is n/2+1 of them. Any two majorities of the
//     same configuration overlap in at least one voter, which is what makes
//     a committed index or an election result safe.
//   - The committed index of a majority configuration is the largest index
//     that at least a majority of its voters have acknowledged. A voter the
//     AckedIndexer does not know about counts as having acknowledged 0.
//   - An empty majority configuration imposes no constraint: its committed
//     index is the largest possible Index (printed as ∞) and every election
//     is won. This lets a JointConfig whose outgoing half is empty behave
//     exactly like its incoming half.
//   - A joint configuration commits the smaller of its two halves' indexes
//     and wins an election only when both halves win; it loses as soon as
//     either half loses.
//   - Votes and acknowledgements from IDs outside the configuration are
//     ignored.
//   - The committed index only grows as acknowledgements grow, and the vote
//     result only moves from VotePending to VoteWon or VoteLost as pending
//     votes arrive.
//
// MajorityConfig.CommittedIndex sits on the leader's hot path, so for
// configurations of up to seven voters it sorts on the stack and allocates
// nothing.
package quorum
