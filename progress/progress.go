package progress

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tickraft/raft/internal/invariants"
)

// Progress is what the leader knows about one peer's log, and the state of
// the flow control that decides what it may send to that peer next.
//
// The invariants listed in the package documentation hold between calls
// made by the raft core; the methods below keep them, provided their
// documented preconditions are met. Whoever creates a Progress sets Match,
// Next, Inflights and IsLearner; from then on the core reads the fields
// freely but changes State, Next, Match, PendingSnapshot, MsgAppFlowPaused
// and Inflights only through the methods. RecentActive is the core's to set
// and clear, IsLearner is changed only by configuration changes.
type Progress struct {
	// Match is the highest index known to be in the peer's log and to agree
	// with the leader's log.
	Match uint64
	// Next is the index of the first entry the leader will send next.
	// Match < Next always holds.
	Next uint64

	// sentCommit is the commit index the leader last sent the peer in an
	// append. Comparing it with the leader's commit index tells whether an
	// otherwise empty append is worth sending just to carry a newer commit
	// index (CanBumpCommit). It goes down when the leader stops trusting
	// what it sent (BecomeProbe, MaybeDecrTo).
	sentCommit uint64

	// State is the flow-control state; see StateType.
	State StateType

	// PendingSnapshot is, in StateSnapshot, the index of the snapshot sent
	// to the peer. It is zero in the other states.
	PendingSnapshot uint64

	// RecentActive records that the peer was heard from since the core last
	// cleared it. The core sets and clears it (check-quorum); this package
	// only reads it in Tracker.QuorumActive.
	RecentActive bool

	// MsgAppFlowPaused stops the sending of appends. In StateProbe it is set
	// once a probe carrying entries is sent and cleared when the answer (or
	// a heartbeat response, via Resume) arrives. In StateReplicate it
	// mirrors Inflights.Full, recomputed by SentEntries and MaybeUpdate; only
	// Resume may clear it while the window is still full. In StateSnapshot
	// it plays no part: IsPaused is always true there.
	MsgAppFlowPaused bool

	// Inflights is the window of unacknowledged appends, made with
	// NewInflights; it must not be nil. It is empty in every state but
	// StateReplicate. The core may inspect it (Full, Count, Bytes) but must
	// not call Add or FreeLE itself: SentEntries and MaybeUpdate do that and
	// keep MsgAppFlowPaused in step.
	Inflights *Inflights

	// IsLearner marks a peer that receives the log but does not vote.
	IsLearner bool
}

// ResetState moves the progress to state, wiping the per-state data: the
// flow is unpaused, PendingSnapshot is cleared and the inflight window is
// emptied. Match, Next and the sent commit index are left alone; callers
// normally use BecomeProbe, BecomeReplicate or BecomeSnapshot, which also
// put Next where the new state needs it.
func (pr *Progress) ResetState(state StateType) {
	pr.MsgAppFlowPaused = false
	pr.PendingSnapshot = 0
	pr.State = state
	pr.Inflights.reset()
}

// BecomeProbe moves the peer to StateProbe, unpaused, with an empty window.
//
// Next becomes Match+1: whatever was sent beyond Match is no longer relied
// on. Coming from StateSnapshot, the pending snapshot is assumed to have
// been (or be about to be) applied, so Next becomes
// max(Match, PendingSnapshot)+1 (a failed snapshot is reported through
// OnSnapshotFailed, which clears PendingSnapshot first). The sent commit
// index is lowered to at most Next-1.
//
// Postconditions: State == StateProbe, Match < Next, PendingSnapshot == 0.
func (pr *Progress) BecomeProbe() {
	next := pr.Match + 1
	if pr.State == StateSnapshot {
		next = max(next, pr.PendingSnapshot+1)
	}
	pr.ResetState(StateProbe)
	pr.Next = next
	pr.sentCommit = min(pr.sentCommit, pr.Next-1)
	pr.check()
}

// BecomeReplicate moves the peer to StateReplicate, unpaused, with an empty
// window, and sets Next to Match+1: streaming restarts right after the last
// entry the peer is known to have. The core calls it once a probe has been
// acknowledged (MaybeUpdate returned true in StateProbe).
//
// Postconditions: State == StateReplicate, Next == Match+1, Inflights empty,
// PendingSnapshot == 0.
func (pr *Progress) BecomeReplicate() {
	pr.ResetState(StateReplicate)
	pr.Next = pr.Match + 1
	pr.check()
}

// BecomeSnapshot moves the peer to StateSnapshot after the core has sent it
// the snapshot at index snapshoti. No appends go out until the snapshot is
// reported done or failed, or an acknowledgement shows the peer caught up.
//
// Precondition: snapshoti > 0 and snapshoti >= Match (a snapshot never lies
// behind what the peer already has); breaking it panics.
//
// Postconditions: State == StateSnapshot, PendingSnapshot == snapshoti,
// Next == snapshoti+1, the sent commit index is snapshoti (installing the
// snapshot commits it), Inflights empty.
func (pr *Progress) BecomeSnapshot(snapshoti uint64) {
	if snapshoti == 0 || snapshoti < pr.Match {
		invariants.Fail("progress", "BecomeSnapshot with 0 < snapshot index >= Match", "snapshot index %d, %s", snapshoti, pr)
	}
	pr.ResetState(StateSnapshot)
	pr.PendingSnapshot = snapshoti
	pr.Next = snapshoti + 1
	pr.sentCommit = snapshoti
	pr.check()
}

// OnSnapshotDone handles the application's report that the snapshot sent to
// the peer was delivered. The peer moves to StateProbe with
// Next = max(Match, PendingSnapshot)+1 and the flow paused: the peer answers
// the snapshot with an acknowledgement, which resumes it (as does a
// heartbeat response, through Resume). It returns false and does nothing if
// the peer is not in StateSnapshot (a late or duplicate report).
func (pr *Progress) OnSnapshotDone() bool {
	if pr.State != StateSnapshot {
		return false
	}
	pr.BecomeProbe()
	pr.MsgAppFlowPaused = true
	return true
}

// OnSnapshotFailed handles the application's report that the snapshot could
// not be delivered. PendingSnapshot is forgotten and the peer moves to
// StateProbe with Next = Match+1 and the flow paused, so the leader backs
// off until the next heartbeat response (Resume) before probing again, which
// will lead to a fresh snapshot if still needed. It returns false and does
// nothing if the peer is not in StateSnapshot.
func (pr *Progress) OnSnapshotFailed() bool {
	if pr.State != StateSnapshot {
		return false
	}
	pr.PendingSnapshot = 0
	pr.BecomeProbe()
	pr.MsgAppFlowPaused = true
	return true
}

// SentEntries records that an append carrying entries entries, whose
// payloads add up to bytes, was sent to the peer starting at Next. Empty
// appends (entries == 0) are recorded too.
//
// In StateReplicate, a non-empty append advances Next past the entries sent
// and adds the message to Inflights, whose window must not be Full (see
// CanSendEntries); then the flow is paused iff the window is full. In
// StateProbe, Next stays put (the next probe resends from the same place)
// and a non-empty append pauses the flow until it is answered. Nothing may
// be sent in StateSnapshot: calling SentEntries there, or with a negative
// count, is a broken invariant and panics.
func (pr *Progress) SentEntries(entries int, bytes uint64) {
	if entries < 0 {
		invariants.Fail("progress", "SentEntries with a count >= 0", "count %d", entries)
	}
	switch pr.State {
	case StateReplicate:
		if entries > 0 {
			pr.Next += uint64(entries)
			pr.Inflights.Add(pr.Next-1, bytes)
		}
		pr.MsgAppFlowPaused = pr.Inflights.Full()
	case StateProbe:
		if entries > 0 {
			pr.MsgAppFlowPaused = true
		}
	default:
		invariants.Fail("progress", "nothing is sent in StateSnapshot", "SentEntries(%d) in %s", entries, pr)
	}
	pr.check()
}

// CanBumpCommit reports whether telling the peer about commit index index
// would teach it something: index is above the commit index already sent,
// and the peer has been sent entries beyond that commit index (a peer
// cannot commit entries it was never sent, so once the sent commit index
// reaches Next-1 a newer one is useless until more entries go out).
func (pr *Progress) CanBumpCommit(index uint64) bool {
	return index > pr.sentCommit && pr.sentCommit < pr.Next-1
}

// SentCommit records that an append carrying commit index commit was sent
// to the peer. It overwrites the recorded value; the core calls it with
// its commit index whenever it sends an append.
func (pr *Progress) SentCommit(commit uint64) {
	pr.sentCommit = commit
}

// LastSentCommit returns the commit index recorded by the latest SentCommit,
// as adjusted since by the transitions (lowered by BecomeProbe and
// MaybeDecrTo, set to the snapshot index by BecomeSnapshot).
func (pr *Progress) LastSentCommit() uint64 {
	return pr.sentCommit
}

// MaybeUpdate handles the peer's acknowledgement that its log matches the
// leader's up to index n. It is the whole of ack handling: the core does not
// touch Inflights itself.
//
// If n > Match, Match becomes n, the flow is resumed and MaybeUpdate returns
// true; otherwise the acknowledgement is stale and it returns false. Either
// way Next becomes max(Next, n+1). In StateReplicate every message up to n
// is freed from Inflights and the flow stays paused only if the window is
// still full.
//
// What the core does with a true result depends on the state: in
// StateProbe it calls BecomeReplicate; in StateSnapshot, once Match+1
// reaches the first index of the leader's log the peer needs no snapshot
// (it arrived, or appends reconnected the peer's log), and the core calls
// BecomeProbe (and then BecomeReplicate).
//
// Postcondition: Match < Next.
func (pr *Progress) MaybeUpdate(n uint64) bool {
	updated := false
	if n > pr.Match {
		pr.Match = n
		pr.MsgAppFlowPaused = false
		updated = true
	}
	pr.Next = max(pr.Next, n+1)
	if pr.State == StateReplicate {
		pr.Inflights.FreeLE(n)
		pr.MsgAppFlowPaused = pr.Inflights.Full()
	}
	pr.check()
	return updated
}

// MaybeDecrTo handles the peer's rejection of an append whose preceding
// entry had index rejected; matchHint is the peer's hint of the highest
// index at which its log may agree with the leader's (typically its last
// index, or the highest index whose term fits). It returns false, changing
// nothing, if the rejection is stale.
//
// A rejection with matchHint < Match is stale in every state: a peer that
// holds the entries up to Match (which it acknowledged, so they are durable
// and match the leader's) hints at Match or above, because its entry at
// Match has a term no higher than the leader's at any later index. Such a
// rejection was sent before that acknowledgement; acting on it would only
// resend entries the peer has, and a backlog of them, as a network that
// delays and reorders messages builds up, would resend the whole window
// once per rejection.
//
// In StateReplicate the rejection is also stale if rejected <= Match (the
// peer has since acknowledged that index). Otherwise the peer moves to
// StateProbe (the window is forgotten) with Next at
// max(min(rejected, matchHint+1), Match+1): the next probe checks the hint.
//
// In StateProbe only a rejection of the current probe counts: it is stale
// unless rejected == Next-1. Then Next becomes
// max(min(rejected, matchHint+1), Match+1), i.e. the hint is trusted but
// Next never drops to or below Match, and the flow is resumed so the next
// probe can go out.
//
// In StateSnapshot every rejection is stale: it answers an append sent
// before the snapshot, which supersedes it, and Next must stay at
// PendingSnapshot+1.
//
// When it returns true the sent commit index is lowered to at most Next-1.
//
// Postcondition: Match < Next.
func (pr *Progress) MaybeDecrTo(rejected, matchHint uint64) bool {
	if matchHint < pr.Match {
		return false
	}
	switch pr.State {
	case StateReplicate:
		if rejected <= pr.Match {
			return false
		}
		pr.BecomeProbe()
	case StateProbe:
		if rejected != pr.Next-1 {
			return false
		}
		pr.MsgAppFlowPaused = false
	default:
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.sentCommit = min(pr.sentCommit, pr.Next-1)
	pr.check()
	return true
}

// Resume clears MsgAppFlowPaused. The core calls it when it hears from the
// peer outside the append flow (a heartbeat response): in StateProbe it
// allows one more probe, in case the previous one or its answer was lost.
// In StateReplicate with a full window it allows a single empty append
// (CanSendEntries stays false), which lets the leader recover if the
// messages filling the window were all dropped; SentEntries(0, 0) then
// pauses again. It has no effect on IsPaused in StateSnapshot.
func (pr *Progress) Resume() {
	pr.MsgAppFlowPaused = false
}

// IsPaused reports whether the leader must send no append at all to the
// peer. In StateProbe and StateReplicate this is MsgAppFlowPaused (in
// StateReplicate it is set when the window fills up); in StateSnapshot it is
// always true.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe, StateReplicate:
		return pr.MsgAppFlowPaused
	default:
		return true
	}
}

// CanSendEntries reports whether an append carrying entries may be sent now:
// the flow is not paused and, in StateReplicate, the window has room. When
// IsPaused is false but CanSendEntries is false (StateReplicate after
// Resume), only an empty append may be sent.
func (pr *Progress) CanSendEntries() bool {
	if pr.IsPaused() {
		return false
	}
	return pr.State != StateReplicate || !pr.Inflights.Full()
}

// Validate returns an error naming the first invariant of the package
// documentation the progress breaks, or nil. The invariant on StateProbe
// (Next stays put while a probe is outstanding) is a property of the
// transitions, not of a state, and is left to the tests of the methods.
func (pr *Progress) Validate() error {
	in := pr.Inflights
	switch {
	case pr.Match >= pr.Next:
		return fmt.Errorf("invariant `Match < Next` broken: %s", pr)
	case in == nil:
		return errors.New("invariant `Inflights is non-nil` broken")
	case in.Count() > 0 && pr.State != StateReplicate:
		return fmt.Errorf("invariant `Inflights is empty outside StateReplicate` broken: %s", pr)
	case (pr.PendingSnapshot > 0) != (pr.State == StateSnapshot):
		return fmt.Errorf("invariant `PendingSnapshot > 0 exactly in StateSnapshot` broken: %s", pr)
	case pr.State == StateSnapshot && pr.Next <= pr.PendingSnapshot:
		return fmt.Errorf("invariant `in StateSnapshot, Next > PendingSnapshot` broken: %s", pr)
	case pr.State == StateReplicate && pr.MsgAppFlowPaused && !in.Full():
		return fmt.Errorf("invariant `in StateReplicate, the flow is paused only when Inflights is full` broken: %s", pr)
	}
	if pr.State == StateReplicate {
		for i := range in.count {
			if idx := in.buffer[in.pos(i)].index; idx <= pr.Match || idx >= pr.Next {
				return fmt.Errorf("invariant `in StateReplicate, every message in Inflights ends in (Match, Next-1]` broken: index %d, %s", idx, pr)
			}
		}
	}
	return nil
}

// check panics, in builds with the invariants tag, if the progress breaks
// an invariant; the methods that change it call it last.
func (pr *Progress) check() {
	if !invariants.Enabled {
		return
	}
	if err := pr.Validate(); err != nil {
		invariants.Fail("progress", "Progress invariants hold between calls", "%v", err)
	}
}

// String renders the progress on one line, e.g.
//
//	StateReplicate match=5 next=9 sentCommit=4 learner paused inflight=3[full]
//	StateSnapshot match=2 next=11 sentCommit=10 paused pendingSnap=10
//
// Only match and next are always shown; sentCommit (LastSentCommit),
// learner, paused (IsPaused), pendingSnap and inflight (the window's
// message count, marked [full] when full) appear when non-zero or true.
func (pr *Progress) String() string {
	var b strings.Builder
	b.WriteString(pr.State.String())
	b.WriteString(" match=")
	b.WriteString(strconv.FormatUint(pr.Match, 10))
	b.WriteString(" next=")
	b.WriteString(strconv.FormatUint(pr.Next, 10))
	if pr.sentCommit != 0 {
		b.WriteString(" sentCommit=")
		b.WriteString(strconv.FormatUint(pr.sentCommit, 10))
	}
	if pr.IsLearner {
		b.WriteString(" learner")
	}
	if pr.IsPaused() {
		b.WriteString(" paused")
	}
	if pr.PendingSnapshot != 0 {
		b.WriteString(" pendingSnap=")
		b.WriteString(strconv.FormatUint(pr.PendingSnapshot, 10))
	}
	if pr.Inflights != nil && pr.Inflights.Count() > 0 {
		b.WriteString(" inflight=")
		b.WriteString(strconv.Itoa(pr.Inflights.Count()))
		if pr.Inflights.Full() {
			b.WriteString("[full]")
		}
	}
	return b.String()
}

// Map holds the progress of every peer, by ID.
type Map map[uint64]*Progress

// String renders one line per peer, "id: progress", sorted by ID.
func (m Map) String() string {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(strconv.FormatUint(id, 10))
		b.WriteString(": ")
		b.WriteString(m[id].String())
		b.WriteByte('\n')
	}
	return b.String()
}
