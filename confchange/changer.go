package confchange

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tickraft/raft/progress"
	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

// Changer applies configuration changes to a copy of a tracker's
// configuration. It never modifies Tracker: every method works on a deep
// copy of Tracker.Config and Tracker.Progress and returns the copy, changed,
// or an error.
//
// A Changer is a small value meant to be built for one call, e.g.
//
//	cfg, prs, err := confchange.Changer{Tracker: tr, LastIndex: last}.Simple(ccs...)
//
// after which the caller installs cfg and prs in its tracker.
//
// Every method first checks that Tracker keeps the invariants listed in the
// package documentation and fails with ErrInvalidTracker if it does not.
// Results are checked the same way before they are returned.
type Changer struct {
	// Tracker holds the configuration to start from, the progress of its
	// members, and the inflight limits (MaxInflight, MaxInflightBytes) given
	// to peers the changes add.
	Tracker progress.Tracker
	// LastIndex is the index of the last entry in the leader's log. A peer
	// the changes add starts probing at Next = LastIndex+1 with Match 0.
	LastIndex uint64
}

// EnterJoint enters a joint configuration: the current voters become the
// outgoing half, and the changes ccs are applied, in order, to a copy of them
// that becomes the incoming half. Decisions then need a majority of each
// half until LeaveJoint. autoLeave is recorded in Config.AutoLeave: it asks
// the leader to leave the joint configuration on its own once entering it
// is committed.
//
// It fails if the configuration is already joint (ErrJoint), if it has no
// voters (ErrNoVoters: there is nothing to be joint with), if a change is
// invalid (ErrInvalidChange), or if the incoming half ends up without voters
// (ErrNoVoters). An empty ccs is allowed and gives two identical halves.
func (c Changer) EnterJoint(autoLeave bool, ccs ...*pb.ConfChangeSingle) (progress.Config, progress.Map, error) {
	cfg, prs, err := c.checkAndCopy()
	if err != nil {
		return progress.Config{}, nil, err
	}
	if isJoint(&cfg) {
		return progress.Config{}, nil, fmt.Errorf("%w: can't enter another one until it is left (%s)", ErrJoint, cfg.String())
	}
	if len(cfg.Voters[0]) == 0 {
		return progress.Config{}, nil, fmt.Errorf("%w: can't make a zero-voter config joint", ErrNoVoters)
	}
	cfg.Voters[1] = quorum.MajorityConfig{}
	for id := range cfg.Voters[0] {
		cfg.Voters[1][id] = struct{}{}
	}
	if err := c.apply(&cfg, prs, ccs); err != nil {
		return progress.Config{}, nil, err
	}
	if len(cfg.Voters[0]) == 0 {
		return progress.Config{}, nil, fmt.Errorf("%w: removed all incoming voters (outgoing %s)", ErrNoVoters, cfg.Voters[1].String())
	}
	cfg.AutoLeave = autoLeave
	return finish(cfg, prs)
}

// LeaveJoint leaves a joint configuration: the incoming half becomes the
// whole configuration. Peers staged in LearnersNext become learners; the
// outgoing voters that are neither incoming voters nor learners leave the
// configuration and lose their Progress. AutoLeave is cleared.
//
// It fails with ErrNotJoint if the configuration is not joint.
func (c Changer) LeaveJoint() (progress.Config, progress.Map, error) {
	cfg, prs, err := c.checkAndCopy()
	if err != nil {
		return progress.Config{}, nil, err
	}
	if !isJoint(&cfg) {
		return progress.Config{}, nil, fmt.Errorf("%w: nothing to leave (%s)", ErrNotJoint, cfg.String())
	}
	for id := range cfg.LearnersNext {
		cfg.Learners[id] = struct{}{}
		prs[id].IsLearner = true
	}
	cfg.LearnersNext = nil
	for id := range cfg.Voters[1] {
		_, voter := cfg.Voters[0][id]
		_, learner := cfg.Learners[id]
		if !voter && !learner {
			delete(prs, id)
		}
	}
	cfg.Voters[1] = nil
	cfg.AutoLeave = false
	return finish(cfg, prs)
}

// Simple applies the changes ccs, in order, without a joint configuration.
// That is only safe when at most one voter is added or removed (any
// majority of the old voters then overlaps any majority of the new ones),
// so the net effect of ccs may change at most one voter; learners may
// change freely, and demoting one voter to learner or promoting one learner
// to voter counts as one voter change.
//
// It fails if the configuration is joint (ErrJoint), if a change is invalid
// (ErrInvalidChange), if more than one voter changes
// (ErrTooManyVoterChanges), or if the result has no voters (ErrNoVoters).
func (c Changer) Simple(ccs ...*pb.ConfChangeSingle) (progress.Config, progress.Map, error) {
	cfg, prs, err := c.checkAndCopy()
	if err != nil {
		return progress.Config{}, nil, err
	}
	if isJoint(&cfg) {
		return progress.Config{}, nil, fmt.Errorf("%w: can't apply a simple config change until it is left (%s)", ErrJoint, cfg.String())
	}
	if err := c.apply(&cfg, prs, ccs); err != nil {
		return progress.Config{}, nil, err
	}
	before, after := c.Tracker.Voters[0], cfg.Voters[0]
	if n := symmetricDiff(before, after); n > 1 {
		return progress.Config{}, nil, fmt.Errorf("%w: %d voters changed, %s -> %s", ErrTooManyVoterChanges, n, before.String(), after.String())
	}
	if len(after) == 0 {
		if len(before) > 0 {
			return progress.Config{}, nil, fmt.Errorf("%w: removed all voters", ErrNoVoters)
		}
		return progress.Config{}, nil, fmt.Errorf("%w: a config needs at least one voter", ErrNoVoters)
	}
	return finish(cfg, prs)
}

// checkAndCopy checks that the Changer's tracker keeps the configuration
// invariants and returns deep copies of its configuration and progress map,
// with every set of the configuration non-nil so that changes can be
// applied without further checks. Nothing returned shares memory with the
// tracker.
func (c Changer) checkAndCopy() (progress.Config, progress.Map, error) {
	if err := checkInvariants(&c.Tracker.Config, c.Tracker.Progress); err != nil {
		return progress.Config{}, nil, fmt.Errorf("%w: %v", ErrInvalidTracker, err)
	}
	cfg := c.Tracker.Config.Clone()
	for i := range cfg.Voters {
		if cfg.Voters[i] == nil {
			cfg.Voters[i] = quorum.MajorityConfig{}
		}
	}
	if cfg.Learners == nil {
		cfg.Learners = map[uint64]struct{}{}
	}
	if cfg.LearnersNext == nil {
		cfg.LearnersNext = map[uint64]struct{}{}
	}
	prs := make(progress.Map, len(c.Tracker.Progress))
	for id, pr := range c.Tracker.Progress {
		cp := *pr
		if pr.Inflights != nil {
			cp.Inflights = pr.Inflights.Clone()
		}
		prs[id] = &cp
	}
	return cfg, prs, nil
}

// finish checks the invariants of a configuration built by this package and
// returns it in its canonical shape: the incoming voters as a non-nil set,
// and the outgoing voters, Learners and LearnersNext as nil when empty (the
// shape progress.MakeTracker starts from).
func finish(cfg progress.Config, prs progress.Map) (progress.Config, progress.Map, error) {
	if cfg.Voters[0] == nil {
		cfg.Voters[0] = quorum.MajorityConfig{}
	}
	if len(cfg.Voters[1]) == 0 {
		cfg.Voters[1] = nil
	}
	if len(cfg.Learners) == 0 {
		cfg.Learners = nil
	}
	if len(cfg.LearnersNext) == 0 {
		cfg.LearnersNext = nil
	}
	if err := checkInvariants(&cfg, prs); err != nil {
		return progress.Config{}, nil, fmt.Errorf("resulting config breaks an invariant: %v (%s)", err, cfg.String())
	}
	return cfg, prs, nil
}

// apply applies the single changes ccs, in order, to the incoming half of
// cfg, keeping prs in step. It expects the sets of cfg to be non-nil (see
// checkAndCopy).
func (c Changer) apply(cfg *progress.Config, prs progress.Map, ccs []*pb.ConfChangeSingle) error {
	for _, cc := range ccs {
		if cc == nil {
			return fmt.Errorf("%w: nil change", ErrInvalidChange)
		}
		id := cc.GetNodeId()
		if id == 0 {
			return fmt.Errorf("%w: node ID 0 in change %s (0 never names a node)", ErrInvalidChange, pb.ConfChangesToString([]*pb.ConfChangeSingle{cc}))
		}
		var err error
		switch cc.GetType() {
		case pb.ConfChangeAddNode:
			err = c.makeVoter(cfg, prs, id)
		case pb.ConfChangeAddLearnerNode:
			err = c.makeLearner(cfg, prs, id)
		case pb.ConfChangeRemoveNode:
			remove(cfg, prs, id)
		case pb.ConfChangeUpdateNode:
			// Membership is unaffected: the change only carries news about
			// the node (its address, say) for the application.
		default:
			return fmt.Errorf("%w: unknown change type %d for node %d", ErrInvalidChange, int32(cc.GetType()), id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// makeVoter makes id a voter of the incoming half. A learner, or a voter
// being demoted (in LearnersNext), keeps its Progress and becomes a voter
// again; a peer new to the configuration gets a fresh Progress. Adding an
// incoming voter again changes nothing.
func (c Changer) makeVoter(cfg *progress.Config, prs progress.Map, id uint64) error {
	pr := prs[id]
	if pr == nil {
		return c.addPeer(cfg, prs, id, false)
	}
	pr.IsLearner = false
	delete(cfg.Learners, id)
	delete(cfg.LearnersNext, id)
	cfg.Voters[0][id] = struct{}{}
	return nil
}

// makeLearner makes id a learner. A peer that still votes in the outgoing
// half cannot be a learner before the joint configuration is left, so it is
// staged in LearnersNext and stays a voter (of the outgoing half only)
// until LeaveJoint. Any other voter is removed from the incoming half and
// becomes a learner at once, keeping its Progress. A peer new to the
// configuration gets a fresh Progress. Adding a learner again changes
// nothing.
func (c Changer) makeLearner(cfg *progress.Config, prs progress.Map, id uint64) error {
	pr := prs[id]
	if pr == nil {
		return c.addPeer(cfg, prs, id, true)
	}
	if pr.IsLearner {
		return nil
	}
	delete(cfg.Voters[0], id)
	if _, outgoing := cfg.Voters[1][id]; outgoing {
		cfg.LearnersNext[id] = struct{}{}
		return nil
	}
	pr.IsLearner = true
	cfg.Learners[id] = struct{}{}
	return nil
}

// remove takes id out of the incoming half and out of the learners. Its
// Progress goes too, unless it still votes in the outgoing half, in which
// case LeaveJoint drops it. Removing a peer that is not in the
// configuration changes nothing.
func remove(cfg *progress.Config, prs progress.Map, id uint64) {
	delete(cfg.Voters[0], id)
	delete(cfg.Learners, id)
	delete(cfg.LearnersNext, id)
	if _, outgoing := cfg.Voters[1][id]; !outgoing {
		delete(prs, id)
	}
}

// addPeer adds id, which has no Progress, as an incoming voter or as a
// learner, with a fresh Progress: probing from LastIndex+1, and marked
// recently active so that a peer that has had no chance to answer yet does
// not count against the leader's check-quorum.
func (c Changer) addPeer(cfg *progress.Config, prs progress.Map, id uint64, learner bool) error {
	if c.Tracker.MaxInflight <= 0 {
		return fmt.Errorf("%w: MaxInflight is %d, must be positive to add node %d", ErrInvalidTracker, c.Tracker.MaxInflight, id)
	}
	prs[id] = &progress.Progress{
		Next:         c.LastIndex + 1,
		Inflights:    progress.NewInflights(c.Tracker.MaxInflight, c.Tracker.MaxInflightBytes),
		RecentActive: true,
		IsLearner:    learner,
	}
	if learner {
		cfg.Learners[id] = struct{}{}
	} else {
		cfg.Voters[0][id] = struct{}{}
	}
	return nil
}

// isJoint reports whether cfg is a joint configuration, i.e. has outgoing
// voters.
func isJoint(cfg *progress.Config) bool {
	return len(cfg.Voters[1]) > 0
}

// symmetricDiff returns the number of IDs that are in exactly one of a and
// b.
func symmetricDiff(a, b quorum.MajorityConfig) int {
	n := 0
	for id := range a {
		if _, ok := b[id]; !ok {
			n++
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			n++
		}
	}
	return n
}

// checkInvariants checks cfg and prs with progress.Config.Validate and adds
// the checks Validate leaves out: no member has ID 0, a joint configuration
// has incoming voters, and prs holds no nil Progress.
func checkInvariants(cfg *progress.Config, prs progress.Map) error {
	for id, pr := range prs {
		if pr == nil {
			return fmt.Errorf("node %d has a nil progress", id)
		}
	}
	if err := cfg.Validate(prs); err != nil {
		return err
	}
	if _, ok := prs[0]; ok {
		// Validate has shown that prs holds exactly the members.
		return fmt.Errorf("node ID 0 is a member")
	}
	if isJoint(cfg) && len(cfg.Voters[0]) == 0 {
		return fmt.Errorf("joint config without incoming voters")
	}
	return nil
}

// Describe renders a configuration and the progress of its members for
// tests and debugging: the configuration's String on the first line, then
// one line per peer, sorted by ID, with the peer's Progress.String, e.g.
//
//	voters=(1 2 3)&&(1 2) learners=(4) learners_next=(3) autoleave
//	1: StateProbe match=0 next=1
//	2: StateReplicate match=7 next=8
//	3: StateProbe match=0 next=5
//	4: StateProbe match=0 next=5 learner
//
// Every line ends in a newline.
func Describe(cfg progress.Config, prs progress.Map) string {
	var b strings.Builder
	b.WriteString(cfg.String())
	b.WriteByte('\n')
	ids := make([]uint64, 0, len(prs))
	for id := range prs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		b.WriteString(strconv.FormatUint(id, 10))
		b.WriteString(": ")
		if pr := prs[id]; pr != nil {
			b.WriteString(pr.String())
		} else {
			b.WriteString("<nil>")
		}
		b.WriteByte('\n')
	}
	return b.String()
}
