// Package confchange computes the next membership configuration of a raft
// group from a list of membership changes (add a voter, add a learner,
// remove a node, update a node) and the configuration in force. It works on
// a progress.Tracker's Config and Progress map and hands back new ones; the
// raft core decides when to install them.
//
// The package is pure: it keeps no state, does no I/O and never modifies
// its input. Every operation deep-copies the tracker's configuration and
// progress, applies the changes to the copy, checks the result and returns
// it, or returns an error and leaves nothing changed.
//
// # Simple changes and joint consensus
//
// Moving straight from one set of voters to another is safe only if every
// majority of the old set overlaps every majority of the new one, which
// holds when at most one voter is added or removed. Changer.Simple applies
// such changes directly and rejects any list whose net effect changes more
// than one voter.
//
// Larger changes go through a joint configuration (Raft thesis, section
// 4.3). Changer.EnterJoint keeps the current voters as the outgoing half,
// applies the changes to a copy that becomes the incoming half, and from
// then on every decision (commit, election) needs a majority of each half.
// Changer.LeaveJoint later drops the outgoing half. As long as every
// decision needs both halves, the old voters and the new ones cannot reach
// conflicting decisions on their own, however little they overlap. A joint
// configuration may carry AutoLeave, asking the leader to propose leaving
// it as soon as entering it commits.
//
// # Learners
//
// A learner receives the log but does not vote. Adding a learner that is
// not a member creates it; promoting a learner (adding it as a voter) keeps
// its progress. Demoting a voter is where joint configurations need care:
// a peer cannot be a learner while it still votes in the outgoing half, so
// a voter of the outgoing half that is demoted is staged in LearnersNext,
// keeps voting in the outgoing half, and becomes a learner only when the
// joint configuration is left. A voter that is not in the outgoing half (in
// particular any voter outside a joint configuration) becomes a learner at
// once.
//
// Removing a node drops it from the incoming half and from the learners.
// Its progress is deleted at once unless it still votes in the outgoing
// half; LeaveJoint deletes it then.
//
// Changes are idempotent: adding a voter or learner that already is one,
// or removing a node that is not a member, changes nothing. Update changes
// never affect membership. A change naming node 0, or of an unknown type,
// is an error.
//
// A peer new to the configuration gets a Progress probing from
// Changer.LastIndex+1 with Match 0, an inflight window with the tracker's
// limits, and RecentActive set, so that it does not count against the
// leader's check-quorum before it had a chance to answer.
//
// # Invariants
//
// The configuration given to and returned by every operation satisfies:
//
//   - Learners is disjoint from the voters of both halves.
//   - LearnersNext is a subset of the outgoing voters, disjoint from the
//     incoming voters and from Learners.
//   - A joint configuration has incoming voters; AutoLeave is set only in
//     a joint configuration.
//   - The progress map holds exactly the voters of both halves and the
//     learners, each with a non-nil Progress whose IsLearner is true
//     exactly for the learners (members of LearnersNext still vote and are
//     not marked), and no member has ID 0.
//
// These are progress.Config.Validate plus the last three checks on ID 0,
// nil progress and empty incoming halves. An input that breaks them is
// rejected with ErrInvalidTracker. Results come in a canonical shape: the
// incoming voters are a non-nil set, while the outgoing voters, Learners
// and LearnersNext are nil when empty, as in progress.MakeTracker.
//
// Restore rebuilds a configuration from a pb.ConfState (a snapshot's, or
// the one kept in storage) by replaying the changes that lead to it, so a
// restored configuration passes the same checks as one built change by
// change.
package confchange
