package confchange

import (
	"fmt"

	"github.com/tickraft/raft/progress"
	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

// Restore rebuilds the configuration described by cs (read from a snapshot
// or from storage) and returns it with a fresh Progress for every member:
// probing from chg.LastIndex+1, marked recently active. chg.Tracker must be
// empty (no members, AutoLeave unset; ErrTrackerNotEmpty otherwise); only
// its inflight limits are used.
//
// The configuration is reached through the same operations the log would
// have gone through, so it passes every check they make:
//
//   - Not joint: one Simple per voter, then one Simple per learner, each
//     adding a single peer.
//   - Joint: first the outgoing voters, one Simple each; then a single
//     EnterJoint(cs.AutoLeave, ...) that adds the incoming voters and the
//     learners, demotes the members of learners_next (outgoing voters, so
//     they land in LearnersNext) and removes the other outgoing voters
//     that are not incoming voters.
//
// The result is checked against cs: its incoming and outgoing voters,
// Learners, LearnersNext and AutoLeave are exactly those of cs (the lists
// of cs are read as sets: order and repetitions do not matter). A nil or
// empty cs restores the empty configuration, as a node has before it is
// bootstrapped. A cs that no sequence of changes can produce is rejected
// with ErrInvalidConfState.
func Restore(chg Changer, cs *pb.ConfState) (progress.Config, progress.Map, error) {
	if !isEmpty(&chg.Tracker) {
		return progress.Config{}, nil, fmt.Errorf("%w: can't restore into %s with %d progress entries",
			ErrTrackerNotEmpty, chg.Tracker.Config.String(), len(chg.Tracker.Progress))
	}
	if err := checkConfState(cs); err != nil {
		return progress.Config{}, nil, fmt.Errorf("%w: %v", ErrInvalidConfState, err)
	}
	want := configOf(cs)

	cfg, prs, err := chg.checkAndCopy()
	if err != nil {
		return progress.Config{}, nil, err
	}
	cfg, prs, err = finish(cfg, prs)
	if err != nil {
		return progress.Config{}, nil, err
	}
	for _, step := range restoreSteps(cs) {
		chg.Tracker.Config, chg.Tracker.Progress = cfg, prs
		cfg, prs, err = step(chg)
		if err != nil {
			return progress.Config{}, nil, fmt.Errorf("restoring %s: %w", want.String(), err)
		}
	}
	if got := cfg.String(); got != want.String() {
		return progress.Config{}, nil, fmt.Errorf("restore produced %s instead of %s", got, want.String())
	}
	return cfg, prs, nil
}

// restoreStep is one operation of a restore.
type restoreStep func(Changer) (progress.Config, progress.Map, error)

// restoreSteps returns the operations that build the configuration of cs
// from an empty one (see Restore). cs must have passed checkConfState.
func restoreSteps(cs *pb.ConfState) []restoreStep {
	var steps []restoreStep
	simple := func(typ pb.ConfChangeType, id uint64) {
		steps = append(steps, func(c Changer) (progress.Config, progress.Map, error) {
			return c.Simple(&pb.ConfChangeSingle{Type: typ, NodeId: id})
		})
	}

	outgoing := cs.GetVotersOutgoing()
	if len(outgoing) == 0 {
		for _, id := range cs.GetVoters() {
			simple(pb.ConfChangeAddNode, id)
		}
		for _, id := range cs.GetLearners() {
			simple(pb.ConfChangeAddLearnerNode, id)
		}
		return steps
	}

	for _, id := range outgoing {
		simple(pb.ConfChangeAddNode, id)
	}
	incoming := setOf(cs.GetVoters())
	learnersNext := setOf(cs.GetLearnersNext())
	var ccs []*pb.ConfChangeSingle
	add := func(typ pb.ConfChangeType, id uint64) {
		ccs = append(ccs, &pb.ConfChangeSingle{Type: typ, NodeId: id})
	}
	for _, id := range cs.GetVoters() {
		add(pb.ConfChangeAddNode, id)
	}
	for _, id := range cs.GetLearners() {
		add(pb.ConfChangeAddLearnerNode, id)
	}
	for _, id := range cs.GetLearnersNext() {
		// An outgoing voter: AddLearnerNode stages it in LearnersNext.
		add(pb.ConfChangeAddLearnerNode, id)
	}
	for _, id := range outgoing {
		_, in := incoming[id]
		_, next := learnersNext[id]
		if !in && !next {
			add(pb.ConfChangeRemoveNode, id)
		}
	}
	autoLeave := cs.GetAutoLeave()
	steps = append(steps, func(c Changer) (progress.Config, progress.Map, error) {
		return c.EnterJoint(autoLeave, ccs...)
	})
	return steps
}

// isEmpty reports whether t has no members, no progress and AutoLeave
// unset.
func isEmpty(t *progress.Tracker) bool {
	return len(t.Voters[0]) == 0 && len(t.Voters[1]) == 0 && len(t.Learners) == 0 &&
		len(t.LearnersNext) == 0 && !t.AutoLeave && len(t.Progress) == 0
}

// checkConfState reports why no sequence of changes can produce cs, or
// returns nil if some can.
func checkConfState(cs *pb.ConfState) error {
	lists := []struct {
		name string
		ids  []uint64
	}{
		{"voters", cs.GetVoters()},
		{"learners", cs.GetLearners()},
		{"voters_outgoing", cs.GetVotersOutgoing()},
		{"learners_next", cs.GetLearnersNext()},
	}
	for _, l := range lists {
		for _, id := range l.ids {
			if id == 0 {
				return fmt.Errorf("node ID 0 in %s", l.name)
			}
		}
	}
	incoming := setOf(cs.GetVoters())
	outgoing := setOf(cs.GetVotersOutgoing())
	learners := setOf(cs.GetLearners())
	for _, id := range cs.GetLearners() {
		if _, ok := incoming[id]; ok {
			return fmt.Errorf("%d is both a voter and a learner", id)
		}
		if _, ok := outgoing[id]; ok {
			return fmt.Errorf("%d is both an outgoing voter and a learner", id)
		}
	}
	for _, id := range cs.GetLearnersNext() {
		if _, ok := outgoing[id]; !ok {
			return fmt.Errorf("%d is in learners_next but is not an outgoing voter", id)
		}
		if _, ok := incoming[id]; ok {
			return fmt.Errorf("%d is in learners_next but is a voter", id)
		}
		if _, ok := learners[id]; ok {
			return fmt.Errorf("%d is in both learners_next and learners", id)
		}
	}
	if cs.GetAutoLeave() && len(outgoing) == 0 {
		return fmt.Errorf("auto_leave is set but the config is not joint")
	}
	if len(incoming) == 0 {
		if len(outgoing) > 0 {
			return fmt.Errorf("joint config without incoming voters")
		}
		if len(learners) > 0 {
			return fmt.Errorf("learners without voters")
		}
	}
	return nil
}

// configOf returns the configuration cs describes, without checking it.
func configOf(cs *pb.ConfState) progress.Config {
	return progress.Config{
		Voters: quorum.JointConfig{
			quorum.MajorityConfig(setOf(cs.GetVoters())),
			quorum.MajorityConfig(setOf(cs.GetVotersOutgoing())),
		},
		Learners:     setOf(cs.GetLearners()),
		LearnersNext: setOf(cs.GetLearnersNext()),
		AutoLeave:    cs.GetAutoLeave(),
	}
}

// setOf returns the IDs of ids as a set.
func setOf(ids []uint64) map[uint64]struct{} {
	s := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		s[id] = struct{}{}
	}
	return s
}
