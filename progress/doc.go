// Package progress holds what a raft leader knows about each peer's log and
// decides how fast it may send appends to each of them. It also tracks the
// configuration in force (voters, possibly joint, and learners) together with
// the progress of every member, and answers the quorum questions the leader
// asks about it: what is committed, who voted, is a quorum still in touch.
//
// The package does no I/O and sends nothing. The raft core tells a Progress
// what it sent (SentEntries, SentCommit, BecomeSnapshot) and what it heard
// back (MaybeUpdate, MaybeDecrTo, OnSnapshotDone, OnSnapshotFailed, Resume),
// and asks it what may be sent next (IsPaused, CanSendEntries, Next,
// CanBumpCommit).
//
// # Per-peer state
//
// Match is the highest index known to be in the peer's log and to agree with
// the leader's; Next is the first index the leader will send next. Between
// Match and Next lie entries that may have been sent but are not
// acknowledged.
//
// # Flow control
//
// Each peer is in one of three states.
//
// StateProbe: the leader is looking for the point where its log and the
// peer's agree. It sends one append starting at Next, then pauses
// (MsgAppFlowPaused) until the append is acknowledged or rejected. A
// rejection moves Next back, guided by the peer's hint, and the next probe
// goes out. A heartbeat response also lifts the pause (Resume), so a lost
// probe is eventually retried.
//
// StateReplicate: the peer's log is known to agree up to Match, so the
// leader streams appends without waiting, advancing Next past every entry it
// sends. Unacknowledged appends are tracked in Inflights, a window bounded by
// message count and, optionally, by payload bytes; while the window is full
// the flow is paused. Acknowledgements free the window.
//
// StateSnapshot: the entries the peer needs were compacted away, so the
// leader sent a snapshot instead. Nothing else is sent until the snapshot is
// reported done or failed, or the peer's acknowledgements show it has caught
// up anyway.
//
// The transitions (methods of Progress, called by the core):
//
//	                   BecomeReplicate
//	               (after MaybeUpdate true)
//	 +------------+ ----------------------> +----------------+
//	 | StateProbe |                         | StateReplicate |
//	 +------------+ <---------------------- +----------------+
//	   |      ^     MaybeDecrTo true, or             |
//	   |      |     BecomeProbe (peer                |
//	   |      |     unreachable)                     |
//	   |      |                                      |
//	   |      | OnSnapshotDone, OnSnapshotFailed,    |
//	   |      | or BecomeProbe once the leader's     |
//	   |      | log reaches Match+1 again            |
//	   |      |                                      |
//	   |    +---------------+    BecomeSnapshot      |
//	   +--->| StateSnapshot |<-----------------------+
//	Become- +---------------+
//	Snapshot
//
// Within StateProbe only three events lift the pause: an acknowledgement
// (MaybeUpdate true), a rejection of the outstanding probe (MaybeDecrTo
// true, which also moves Next back) and Resume.
//
// In words:
//
//   - Probe -> Replicate: a probe is acknowledged (MaybeUpdate returns true);
//     the core calls BecomeReplicate, which restarts streaming at Match+1.
//   - Replicate -> Probe: an append is rejected (MaybeDecrTo returns true:
//     it moves the peer to StateProbe itself, with Next at the hint), or
//     the transport reports the peer unreachable (the core calls
//     BecomeProbe, which restarts probing at Match+1).
//   - Probe or Replicate -> Snapshot: the entry at Next-1 is no longer in
//     the leader's log; the core sends a snapshot and calls BecomeSnapshot.
//   - Snapshot -> Probe: OnSnapshotDone (probing resumes after the snapshot,
//     at max(Match, PendingSnapshot)+1); OnSnapshotFailed (probing resumes
//     at Match+1); or an acknowledgement brings Match+1 to the leader's
//     first log index or beyond (the peer needs no snapshot any more: the
//     snapshot arrived, or appends reconnected its log), after which the
//     core calls BecomeProbe (and, as for any acknowledged probe,
//     BecomeReplicate). After OnSnapshotDone and
//     OnSnapshotFailed the flow starts paused; the peer's acknowledgement
//     or the next heartbeat response resumes it.
//
// # Invariants
//
// These hold for every Progress between two calls made by the core:
//
//   - Match < Next.
//   - Inflights is non-nil, and non-empty only in StateReplicate.
//   - PendingSnapshot > 0 exactly in StateSnapshot.
//   - In StateReplicate, Next-1 is the last index sent; every message in
//     Inflights ends in (Match, Next-1], in increasing order; the flow is
//     paused only when Inflights is full (a successful MaybeDecrTo leaves
//     StateReplicate itself).
//   - In StateSnapshot, Next > PendingSnapshot and IsPaused is true. Next
//     is PendingSnapshot+1 until an acknowledgement beyond PendingSnapshot
//     pushes it further; the core leaves StateSnapshot once Match+1 reaches
//     its first log index (a log compacted again since the snapshot was
//     sent may keep the peer there).
//   - In StateProbe, Next stays put while a probe is outstanding; it only
//     moves on an acknowledgement or a rejection of that probe.
//
// Validate checks them (all but the last, a property of the transitions
// that the methods' tests cover); in builds with the invariants tag every
// method that changes a Progress checks it on return, and the core checks
// every peer's after each step. Methods whose preconditions are broken in a
// way that would corrupt this state (sending entries in StateSnapshot,
// adding to a full window) panic, in every build, with an
// *invariants.Violation naming the broken invariant.
//
// # Tracker
//
// Tracker combines a Config (joint voters, learners, learners to be, the
// auto-leave flag) with the Progress of every member and the votes of the
// current election. Committed, QuorumActive and TallyVotes answer quorum
// questions through package quorum. Building a new Config from a
// configuration change is the job of package confchange, which checks its
// result with Config.Validate.
package progress
