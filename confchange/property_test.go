package confchange

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tickraft/raft/progress"
	pb "github.com/tickraft/raft/raftpb"
)

type opKind int

const (
	opSimple opKind = iota
	opEnterJoint
	opLeaveJoint
)

func (k opKind) String() string {
	return [...]string{"simple", "enter-joint", "leave-joint"}[k]
}

// op is one randomly chosen operation.
type op struct {
	kind      opKind
	autoLeave bool
	ccs       []*pb.ConfChangeSingle
}

func (o op) run(c Changer) (progress.Config, progress.Map, error) {
	switch o.kind {
	case opSimple:
		return c.Simple(o.ccs...)
	case opEnterJoint:
		return c.EnterJoint(o.autoLeave, o.ccs...)
	default:
		return c.LeaveJoint()
	}
}

// membership is a configuration as plain sets, for the model below.
type membership struct {
	incoming, outgoing, learners, learnersNext map[uint64]bool
	autoLeave                                  bool
}

func membershipOf(cfg progress.Config) membership {
	set := func(s map[uint64]struct{}) map[uint64]bool {
		m := map[uint64]bool{}
		for id := range s {
			m[id] = true
		}
		return m
	}
	return membership{
		incoming:     set(cfg.Voters[0]),
		outgoing:     set(cfg.Voters[1]),
		learners:     set(cfg.Learners),
		learnersNext: set(cfg.LearnersNext),
		autoLeave:    cfg.AutoLeave,
	}
}

// expect is a model of the package: from the configuration before the
// operation it predicts the error the operation must fail with (nil for
// success), and on success the resulting membership and which peers must
// have a fresh Progress (fresh[id] true; other members keep theirs).
func expect(before progress.Config, o op) (want membership, fresh map[uint64]bool, wantErr error) {
	m := membershipOf(before)
	fresh = map[uint64]bool{}
	joint := len(m.outgoing) > 0

	switch o.kind {
	case opLeaveJoint:
		if !joint {
			return m, nil, ErrNotJoint
		}
		for id := range m.learnersNext {
			m.learners[id] = true
		}
		m.learnersNext = map[uint64]bool{}
		m.outgoing = map[uint64]bool{}
		m.autoLeave = false
		return m, fresh, nil
	case opSimple:
		if joint {
			return m, nil, ErrJoint
		}
	case opEnterJoint:
		if joint {
			return m, nil, ErrJoint
		}
		if len(m.incoming) == 0 {
			return m, nil, ErrNoVoters
		}
		for id := range m.incoming {
			m.outgoing[id] = true
		}
	}
	for _, cc := range o.ccs {
		switch {
		case cc.NodeId == 0:
			return m, nil, ErrInvalidChange
		case cc.Type < pb.ConfChangeAddNode || cc.Type > pb.ConfChangeAddLearnerNode:
			return m, nil, ErrInvalidChange
		}
	}

	beforeIncoming := maps(m.incoming)
	member := func(id uint64) bool { return m.incoming[id] || m.outgoing[id] || m.learners[id] }
	for _, cc := range o.ccs {
		id := cc.NodeId
		switch cc.Type {
		case pb.ConfChangeAddNode:
			if !member(id) {
				fresh[id] = true
			}
			m.incoming[id] = true
			delete(m.learners, id)
			delete(m.learnersNext, id)
		case pb.ConfChangeAddLearnerNode:
			switch {
			case !member(id):
				fresh[id] = true
				m.learners[id] = true
			case m.learners[id]:
			case m.outgoing[id]:
				delete(m.incoming, id)
				m.learnersNext[id] = true
			default:
				delete(m.incoming, id)
				m.learners[id] = true
			}
		case pb.ConfChangeRemoveNode:
			delete(m.incoming, id)
			delete(m.learners, id)
			delete(m.learnersNext, id)
			if !m.outgoing[id] {
				delete(fresh, id)
			}
		}
	}

	switch o.kind {
	case opSimple:
		changed := 0
		for id := range beforeIncoming {
			if !m.incoming[id] {
				changed++
			}
		}
		for id := range m.incoming {
			if !beforeIncoming[id] {
				changed++
			}
		}
		if changed > 1 {
			return m, nil, ErrTooManyVoterChanges
		}
		if len(m.incoming) == 0 {
			return m, nil, ErrNoVoters
		}
	case opEnterJoint:
		if len(m.incoming) == 0 {
			return m, nil, ErrNoVoters
		}
		m.autoLeave = o.autoLeave
	}
	return m, fresh, nil
}

// maps copies a set.
func maps(s map[uint64]bool) map[uint64]bool {
	c := make(map[uint64]bool, len(s))
	for id := range s {
		c[id] = true
	}
	return c
}

// randomOp draws an operation suited to tr: mostly plausible ones, with a
// share of operations that must fail.
func randomOp(rng *rand.Rand, tr *progress.Tracker) op {
	joint := len(tr.Voters[1]) > 0
	var o op
	switch r := rng.IntN(10); {
	case joint && r < 6, !joint && r < 1:
		o.kind = opLeaveJoint
		return o
	case joint && r < 8, !joint && r < 6:
		o.kind = opSimple
		o.ccs = randomChanges(rng, rng.IntN(3))
	default:
		o.kind = opEnterJoint
		o.autoLeave = rng.IntN(2) == 0
		o.ccs = randomChanges(rng, rng.IntN(5))
	}
	return o
}

// randomChanges draws n changes on nodes 1 to 6, with the odd node 0 or
// unknown change type.
func randomChanges(rng *rand.Rand, n int) []*pb.ConfChangeSingle {
	ccs := make([]*pb.ConfChangeSingle, n)
	for i := range ccs {
		cc := &pb.ConfChangeSingle{
			Type:   pb.ConfChangeType(rng.IntN(4)),
			NodeId: 1 + rng.Uint64N(6),
		}
		switch rng.IntN(100) {
		case 0:
			cc.NodeId = 0
		case 1:
			cc.Type = 7
		}
		ccs[i] = cc
	}
	return ccs
}

// churn moves the progress of a random peer along, so that the changes
// operate on peers in every flow state, with non-empty inflight windows.
func churn(rng *rand.Rand, tr *progress.Tracker, lastIndex uint64) {
	if len(tr.Progress) == 0 {
		return
	}
	ids := make([]uint64, 0, len(tr.Progress))
	for id := range tr.Progress {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	pr := tr.Progress[ids[rng.IntN(len(ids))]]
	switch rng.IntN(4) {
	case 0:
		pr.MaybeUpdate(rng.Uint64N(lastIndex + 1))
	case 1:
		if pr.State != progress.StateReplicate {
			pr.BecomeReplicate()
		}
	case 2:
		if pr.CanSendEntries() {
			pr.SentEntries(1+rng.IntN(2), rng.Uint64N(100))
		}
	case 3:
		pr.RecentActive = !pr.RecentActive
	}
}

// TestRandomChanges runs random sequences of operations and checks each
// against the model (expect): the error it fails with, or on success the
// resulting membership, which peers got a fresh Progress and that every
// other peer kept its Progress. Every result must keep the invariants and
// survive a round trip through Restore, and no operation may modify the
// tracker it is given or return anything that shares memory with it.
func TestRandomChanges(t *testing.T) {
	const seeds, steps = 20, 500
	outcomes := map[string]int{}
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		tr := progress.MakeTracker(3, 64)
		var lastIndex uint64
		for step := range steps {
			lastIndex += rng.Uint64N(3)
			for range rng.IntN(3) {
				churn(rng, &tr, lastIndex)
			}
			o := randomOp(rng, &tr)
			msg := []any{"seed %d step %d: %s %s on %s", seed, step, o.kind, pb.ConfChangesToString(o.ccs), tr.Config.String()}

			before := cloneTracker(tr)
			want, fresh, wantErr := expect(tr.Config, o)
			c := Changer{Tracker: tr, LastIndex: lastIndex}
			cfg, prs, err := o.run(c)
			require.Equal(t, before, tr, msg...)
			if wantErr != nil {
				require.ErrorIs(t, err, wantErr, msg...)
				outcomes[wantErr.Error()]++
				continue
			}
			require.NoError(t, err, msg...)
			outcomes[o.kind.String()]++
			if len(cfg.LearnersNext) > 0 {
				outcomes["learners_next"]++
			}

			requireValid(t, cfg, prs)
			require.Equal(t, want, membershipOf(cfg), msg...)
			for id, pr := range prs {
				if fresh[id] {
					requireFresh(t, pr, lastIndex, hasID(cfg.Learners, id))
					continue
				}
				old := before.Progress[id]
				require.NotNil(t, old, msg...)
				kept, oldCopy := *pr, *old
				kept.IsLearner, oldCopy.IsLearner = false, false
				require.Equal(t, oldCopy, kept, "progress of %d not kept; %v", id, msg)
			}
			requireRestores(t, cfg, prs, lastIndex)

			// The result must not share memory with the input: scribble
			// over it and check the input again. The operation is
			// deterministic, so it is run once more for the result to keep.
			for _, s := range []map[uint64]struct{}{cfg.Voters[0], cfg.Voters[1], cfg.Learners, cfg.LearnersNext} {
				if s != nil {
					s[99] = struct{}{}
				}
			}
			for _, pr := range prs {
				pr.Match += 1000
				pr.IsLearner = !pr.IsLearner
				pr.Inflights.FreeLE(1 << 62)
			}
			prs[99] = &progress.Progress{}
			require.Equal(t, before, tr, msg...)

			cfg, prs, err = o.run(c)
			require.NoError(t, err, msg...)
			tr.Config, tr.Progress = cfg, prs
		}
	}

	// Make sure the random walk went everywhere worth going.
	for _, k := range []string{
		opSimple.String(), opEnterJoint.String(), opLeaveJoint.String(), "learners_next",
		ErrJoint.Error(), ErrNotJoint.Error(), ErrTooManyVoterChanges.Error(),
		ErrNoVoters.Error(), ErrInvalidChange.Error(),
	} {
		require.Greater(t, outcomes[k], 20, "outcome %q too rare: %v", k, outcomes)
	}
	t.Logf("outcomes: %v", outcomes)
}

func hasID(s map[uint64]struct{}, id uint64) bool {
	_, ok := s[id]
	return ok
}
