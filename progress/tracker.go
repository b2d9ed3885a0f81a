package progress

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

// Config is a membership configuration as the leader tracks it.
//
// Invariants (checked by Validate):
//   - Learners and the voters of either half of Voters are disjoint: a peer
//     is a voter or a learner, never both.
//   - LearnersNext is a subset of the outgoing voters (Voters[1]) and is
//     disjoint from Learners and from the incoming voters (Voters[0]): its
//     members still vote in the outgoing half and become learners when the
//     joint configuration is left.
//   - AutoLeave is set only in a joint configuration (Voters[1] non-empty).
type Config struct {
	// Voters is the voting membership. Outside a membership change Voters[1]
	// is empty; while one is under way (joint consensus) Voters[0] holds the
	// incoming voters and Voters[1] the outgoing ones, and decisions need a
	// majority of each.
	Voters quorum.JointConfig
	// AutoLeave asks the leader to propose leaving the joint configuration
	// on its own as soon as entering it is committed (a joint configuration
	// entered implicitly). It is false when not joint.
	AutoLeave bool
	// Learners are the peers that receive the log without voting. None of
	// them is a voter in either half.
	Learners map[uint64]struct{}
	// LearnersNext are outgoing voters being demoted to learners: they
	// cannot be added to Learners while they still vote in the outgoing
	// half, so they are staged here and moved to Learners when the joint
	// configuration is left.
	LearnersNext map[uint64]struct{}
}

// String renders the configuration compactly, e.g.
//
//	voters=(1 2 3)&&(1 2 4) learners=(5) learners_next=(4) autoleave
//
// The learners, learners_next and autoleave parts appear only when non-empty
// or set.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("voters=")
	b.WriteString(c.Voters.String())
	if len(c.Learners) > 0 {
		b.WriteString(" learners=")
		b.WriteString(quorum.MajorityConfig(c.Learners).String())
	}
	if len(c.LearnersNext) > 0 {
		b.WriteString(" learners_next=")
		b.WriteString(quorum.MajorityConfig(c.LearnersNext).String())
	}
	if c.AutoLeave {
		b.WriteString(" autoleave")
	}
	return b.String()
}

// Clone returns a deep copy of the configuration: no map is shared with c.
// Nil maps stay nil.
func (c *Config) Clone() Config {
	return Config{
		Voters:       quorum.JointConfig{cloneSet(c.Voters[0]), cloneSet(c.Voters[1])},
		AutoLeave:    c.AutoLeave,
		Learners:     cloneSet(c.Learners),
		LearnersNext: cloneSet(c.LearnersNext),
	}
}

// cloneSet copies a set of IDs, keeping nil as nil.
func cloneSet[S ~map[uint64]struct{}](s S) S {
	if s == nil {
		return nil
	}
	c := make(S, len(s))
	for id := range s {
		c[id] = struct{}{}
	}
	return c
}

// Validate checks the invariants documented on Config, and that prs holds
// exactly the members of the configuration: every voter (of either half)
// has a non-nil Progress with IsLearner false, every learner one with
// IsLearner true, and prs has no entry for a peer outside the
// configuration. It returns an error describing the first violation found
// (peers are checked in ID order, so the result is deterministic), or nil.
func (c *Config) Validate(prs Map) error {
	incoming, outgoing := c.Voters[0], c.Voters[1]
	if c.AutoLeave && len(outgoing) == 0 {
		return errors.New("autoleave is set but the configuration is not joint")
	}
	for _, id := range sortedIDs(c.LearnersNext) {
		if _, ok := outgoing[id]; !ok {
			return fmt.Errorf("%d is in learners_next but is not an outgoing voter", id)
		}
		if _, ok := incoming[id]; ok {
			return fmt.Errorf("%d is in learners_next but is an incoming voter", id)
		}
		if _, ok := c.Learners[id]; ok {
			return fmt.Errorf("%d is in both learners_next and learners", id)
		}
	}
	for _, id := range sortedIDs(c.Learners) {
		if _, ok := incoming[id]; ok {
			return fmt.Errorf("%d is both a learner and an incoming voter", id)
		}
		if _, ok := outgoing[id]; ok {
			return fmt.Errorf("%d is both a learner and an outgoing voter", id)
		}
	}
	for _, id := range sortedIDs(c.Voters.IDs()) {
		pr := prs[id]
		if pr == nil {
			return fmt.Errorf("voter %d has no progress", id)
		}
		if pr.IsLearner {
			return fmt.Errorf("voter %d has a progress marked as learner", id)
		}
	}
	for _, id := range sortedIDs(c.Learners) {
		pr := prs[id]
		if pr == nil {
			return fmt.Errorf("learner %d has no progress", id)
		}
		if !pr.IsLearner {
			return fmt.Errorf("learner %d has a progress not marked as learner", id)
		}
	}
	ids := make([]uint64, 0, len(prs))
	for id := range prs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		_, in := incoming[id]
		_, out := outgoing[id]
		_, learner := c.Learners[id]
		if !in && !out && !learner {
			return fmt.Errorf("%d has a progress but is not in the configuration", id)
		}
	}
	return nil
}

// sortedIDs returns the IDs of a set in ascending order, or nil if the set
// is empty.
func sortedIDs[S ~map[uint64]struct{}](s S) []uint64 {
	if len(s) == 0 {
		return nil
	}
	ids := make([]uint64, 0, len(s))
	for id := range s {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Tracker is the leader's view of the active configuration: the Config, the
// Progress of every member, and the votes of the election in progress.
//
// The Progress map holds exactly the voters (either half) and learners of
// the Config (see Config.Validate). Tracker is not safe for concurrent use.
type Tracker struct {
	Config

	// Progress holds one entry per member of the configuration.
	Progress Map

	// Votes holds the votes received in the current election: true for
	// granted, false for rejected. Use RecordVote and ResetVotes.
	Votes map[uint64]bool

	// MaxInflight bounds the number of appends in flight to one peer; new
	// Progress entries get an Inflights of this size.
	MaxInflight int
	// MaxInflightBytes bounds the payload bytes in flight to one peer (0 for
	// no bound); new Progress entries get an Inflights with this limit.
	MaxInflightBytes uint64

	// peerIDs caches the sorted keys of Progress for Visit; see sortedPeers.
	peerIDs []uint64
	// voterIDs caches the sorted IDs of Voters[0] for Committed; see
	// sortedVoters.
	voterIDs []uint64
}

// MakeTracker returns a tracker with an empty configuration and no peers.
// maxInflight and maxBytes are the limits given to the Inflights of each
// peer's Progress when it is created (see NewInflights).
func MakeTracker(maxInflight int, maxBytes uint64) Tracker {
	return Tracker{
		Config: Config{
			Voters: quorum.JointConfig{quorum.MajorityConfig{}, nil},
		},
		Progress:         Map{},
		Votes:            map[uint64]bool{},
		MaxInflight:      maxInflight,
		MaxInflightBytes: maxBytes,
	}
}

// ConfState returns the configuration as a new ConfState, each ID list
// sorted in ascending order (nil when empty).
func (t *Tracker) ConfState() *pb.ConfState {
	return &pb.ConfState{
		Voters:         sortedIDs(t.Voters[0]),
		Learners:       sortedIDs(t.Learners),
		VotersOutgoing: sortedIDs(t.Voters[1]),
		LearnersNext:   sortedIDs(t.LearnersNext),
		AutoLeave:      t.AutoLeave,
	}
}

// IsSingleton reports whether the configuration has exactly one voter and
// is not joint: that voter alone decides commits and elections.
func (t *Tracker) IsSingleton() bool {
	return len(t.Voters[0]) == 1 && len(t.Voters[1]) == 0
}

// matchAcker presents a Map's Match indexes to package quorum. Converting a
// Map to it, and storing it in an interface, allocates nothing: a map value
// is a single pointer.
type matchAcker Map

// AckedIndex implements quorum.AckedIndexer.
func (m matchAcker) AckedIndex(id uint64) (quorum.Index, bool) {
	pr, ok := m[id]
	if !ok || pr == nil {
		return 0, false
	}
	return quorum.Index(pr.Match), true
}

// Committed returns the largest index acknowledged (Match) by a quorum of
// the voters, a quorum of each half in a joint configuration. Voters
// without a Progress count as having acknowledged nothing. With no voters
// at all it returns math.MaxUint64 (see quorum.JointConfig.CommittedIndex).
// It allocates nothing for up to seven voters per half.
func (t *Tracker) Committed() uint64 {
	if c, ok := t.committedSimple(); ok {
		return c
	}
	return uint64(t.Voters.CommittedIndex(matchAcker(t.Progress)))
}

// simpleVoters is the largest configuration committedSimple handles.
const simpleVoters = 7

// committedSimple is Committed for the steady state: a configuration that
// is not joint, of at most simpleVoters voters, each with a Progress. It
// reads the voters from the sorted list sortedVoters keeps instead of
// ranging over the voter set, a map whose every range starts at a random
// place: that range was a tenth of the library's CPU in the put
// benchmarks, where the leader computes the commit index for nearly every
// acknowledgement. It returns false when the configuration is not that
// simple, for Committed to take the general way.
func (t *Tracker) committedSimple() (uint64, bool) {
	in := t.Voters[0]
	n := len(in)
	if n == 0 || n > simpleVoters || len(t.Voters[1]) != 0 {
		return 0, false
	}
	var buf [simpleVoters]uint64
	acked := buf[:n]
	for i, id := range t.sortedVoters() {
		pr := t.Progress[id]
		if pr == nil {
			return 0, false // counts as 0: the general way says so
		}
		// Insertion sort as the values come: a handful of them.
		j := i
		for ; j > 0 && acked[j-1] > pr.Match; j-- {
			acked[j] = acked[j-1]
		}
		acked[j] = pr.Match
	}
	// The q = n/2+1 largest have all acknowledged acked[n-q].
	return acked[n-(n/2+1)], true
}

// sortedVoters returns the IDs of Voters[0] in ascending order, reusing the
// list of the previous call when it still names exactly the set's keys,
// which it checks, for the reasons sortedPeers gives. The returned slice
// must not be modified.
func (t *Tracker) sortedVoters() []uint64 {
	in := t.Voters[0]
	ids := t.voterIDs
	if len(ids) == len(in) {
		ok := true
		for i, id := range ids {
			if _, present := in[id]; !present || i > 0 && ids[i-1] >= id {
				ok = false
				break
			}
		}
		if ok {
			return ids
		}
	}
	// A new array every time: a copy of the tracker may still use the old.
	ids = make([]uint64, 0, len(in))
	for id := range in {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	t.voterIDs = ids
	return ids
}

// Visit calls f for every peer with a Progress, voters and learners alike,
// in ascending ID order. f may change the Progress it is given but must not
// add peers to or remove peers from the tracker (a peer removed before its
// turn is skipped). It allocates nothing for up to seven peers, nor, with
// more, while the set of peers stays the same.
func (t *Tracker) Visit(f func(id uint64, pr *Progress)) {
	ids := t.sortedPeers()
	for _, id := range ids {
		if pr, ok := t.Progress[id]; ok {
			f(id, pr)
		}
	}
}

// sortedPeers returns the IDs of the Progress map in ascending order. It
// reuses the list of the previous call when it still names exactly the
// map's keys, which it checks: the map is exported, and the tracker is
// copied (by confchange, for one), so no change of it can be relied on to
// clear a cache. The returned slice must not be modified.
func (t *Tracker) sortedPeers() []uint64 {
	ids := t.peerIDs
	if len(ids) == len(t.Progress) {
		ok := true
		for i, id := range ids {
			// Strictly ascending and all present, with the same count:
			// exactly the keys.
			if _, in := t.Progress[id]; !in || i > 0 && ids[i-1] >= id {
				ok = false
				break
			}
		}
		if ok {
			return ids
		}
	}
	// A new array every time: a copy of the tracker may still use the old.
	ids = make([]uint64, 0, len(t.Progress))
	for id := range t.Progress {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	t.peerIDs = ids
	return ids
}

// QuorumActive reports whether the voters whose Progress has RecentActive
// set form a quorum (of each half, if joint). Voters without a Progress
// count as inactive. The leader uses it for check-quorum: a leader that has
// not heard from a quorum recently steps down.
func (t *Tracker) QuorumActive() bool {
	active := make(map[uint64]bool, len(t.Progress))
	for id, pr := range t.Progress {
		if pr == nil || pr.IsLearner {
			continue
		}
		active[id] = pr.RecentActive
	}
	return t.Voters.VoteResult(active) == quorum.VoteWon
}

// VoterNodes returns the voters of both halves, each once, in ascending
// order (nil if there are none).
func (t *Tracker) VoterNodes() []uint64 {
	return sortedIDs(t.Voters.IDs())
}

// LearnerNodes returns the learners in ascending order (nil if there are
// none). Peers in LearnersNext are still voters and are not included.
func (t *Tracker) LearnerNodes() []uint64 {
	return sortedIDs(t.Learners)
}

// ResetVotes forgets every recorded vote, for a new election.
func (t *Tracker) ResetVotes() {
	if t.Votes == nil {
		t.Votes = map[uint64]bool{}
		return
	}
	clear(t.Votes)
}

// RecordVote records that peer id granted (v true) or rejected (v false)
// the vote. Only the first vote from a peer counts: later ones, which could
// only come from duplicated or reordered messages, are ignored. Votes from
// peers that are not voters are recorded but never counted.
func (t *Tracker) RecordVote(id uint64, v bool) {
	if t.Votes == nil {
		t.Votes = map[uint64]bool{}
	}
	if _, ok := t.Votes[id]; !ok {
		t.Votes[id] = v
	}
}

// TallyVotes counts the recorded votes of the configuration's voters (either
// half; votes from anyone else are ignored) and returns how many granted,
// how many rejected, and the election outcome so far under the joint
// quorum rules.
func (t *Tracker) TallyVotes() (granted int, rejected int, result quorum.VoteResult) {
	for id, v := range t.Votes {
		_, in := t.Voters[0][id]
		_, out := t.Voters[1][id]
		if !in && !out {
			continue
		}
		if v {
			granted++
		} else {
			rejected++
		}
	}
	return granted, rejected, t.Voters.VoteResult(t.Votes)
}
