package sim

import (
	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// The actions a step picks from, with their relative weights. Benign
// actions keep the cluster working; faults, scaled by Options.Chaos, get in
// its way. Runs alternate between stormy and calm periods (faults twenty
// times rarer), so that the cluster gets to make progress and then faults
// strike a cluster with a history. An action that finds nothing to do is a
// no-op.
type actionKind int

// calmToggleOneIn is how rarely (one step in so many) a run switches
// between stormy and calm periods.
const calmToggleOneIn = 200

const (
	actTick actionKind = iota
	actDeliver
	actWork
	actPropose
	actRead
	actDrop
	actDuplicate
	actPartition
	actCutOneWay
	actIsolateLeader
	actHeal
	actCrash
	actRestart
	actCompact
	actConfChange
	actTransfer
	numActions
)

func (s *Sim) weights() [numActions]float64 {
	c := s.opts.Chaos
	if s.calm {
		c *= 0.05
	}
	var w [numActions]float64
	w[actTick] = 20
	w[actPropose] = 5
	w[actRead] = 2
	if len(s.net) > 0 {
		w[actDeliver] = 40
		if len(s.net) > 100 {
			w[actDeliver] = 200 // the network is backed up: drain it
		}
		w[actDrop] = 2 * c
		w[actDuplicate] = 1 * c
	}
	down := 0
	for _, id := range s.ids {
		n := s.nodes[id]
		if n.up() && (len(n.appendQ) > 0 || len(n.applyQ) > 0) {
			w[actWork] = 25
		}
		if !n.up() && !n.decommissioned {
			down++
		}
	}
	w[actPartition] = 0.3 * c
	w[actCutOneWay] = 0.3 * c
	w[actIsolateLeader] = 0.2 * c
	if len(s.cut) > 0 {
		w[actHeal] = 1.5
		if s.calm {
			w[actHeal] = 10
		}
	}
	w[actCrash] = 0.4 * c
	w[actRestart] = 4 * float64(down)
	w[actCompact] = 0.7
	w[actConfChange] = 0.5 * c
	w[actTransfer] = 0.3 * c
	if s.opts.LongLog {
		// Bursts of proposals, on the leader mostly, and frequent
		// compaction: long logs that followers catch up on by paged
		// appends and snapshots.
		w[actPropose] = 15
		w[actCompact] = 15
		w[actDeliver] *= 2
	}
	return w
}

// randomAction performs one random action.
func (s *Sim) randomAction() {
	if s.rng.IntN(calmToggleOneIn) == 0 {
		s.calm = !s.calm
		if s.calm {
			s.logf("a calm period begins: few faults")
		} else {
			s.logf("the calm period ends")
		}
	}
	w := s.weights()
	var total float64
	for _, x := range w {
		total += x
	}
	r := s.rng.Float64() * total
	kind := actTick
	for k, x := range w {
		if r < x {
			kind = actionKind(k)
			break
		}
		r -= x
	}
	switch kind {
	case actTick:
		s.tick()
	case actDeliver:
		s.deliverSome()
	case actWork:
		s.doWork()
	case actPropose:
		s.proposeSome()
	case actRead:
		s.readIndex(pick(s.rng, s.upNodes()))
	case actDrop:
		s.dropped(s.take(s.rng.IntN(len(s.net))), "fault")
	case actDuplicate:
		s.duplicate(s.rng.IntN(len(s.net)))
	case actPartition:
		s.partition()
	case actCutOneWay:
		s.cutOneWay()
	case actIsolateLeader:
		if l := s.leader(); l != nil {
			s.isolate(l.id)
		}
	case actHeal:
		s.heal()
	case actCrash:
		s.crashSome()
	case actRestart:
		s.restartSome()
	case actCompact:
		s.compact(pick(s.rng, s.upNodes()))
	case actConfChange:
		s.confChange()
	case actTransfer:
		s.transfer()
	}
}

// tick advances the clock of one running node, or of all of them at once.
// With lease-based reads the clocks always advance together: the lease
// assumes bounded clock drift.
func (s *Sim) tick() {
	if s.opts.ReadOnly == raft.ReadOnlyLeaseBased || s.rng.IntN(2) == 0 {
		for _, n := range s.upNodes() {
			n.rn.Tick()
			s.observe(n)
		}
		s.logf("tick all")
		return
	}
	if n := pick(s.rng, s.upNodes()); n != nil {
		n.rn.Tick()
		s.observe(n)
		s.logf("tick node %d", n.id)
	}
}

// deliverSome delivers one random message, or sometimes a few messages to
// the same node, so that it handles them in one Ready.
func (s *Sim) deliverSome() {
	i := s.rng.IntN(len(s.net))
	if s.rng.IntN(5) != 0 {
		s.deliver(i)
		return
	}
	to := s.net[i].m.To
	for k := 2 + s.rng.IntN(4); k > 0; k-- {
		j := -1
		for x := range s.net {
			if s.net[x].m.To == to {
				j = x
				break
			}
		}
		if j < 0 {
			return
		}
		s.deliver(j)
	}
}

// doWork does the next piece of asynchronous storage work of a random
// node: a write or an apply.
func (s *Sim) doWork() {
	var busy []*node
	for _, n := range s.upNodes() {
		if len(n.appendQ) > 0 || len(n.applyQ) > 0 {
			busy = append(busy, n)
		}
	}
	n := pick(s.rng, busy)
	if n == nil {
		return
	}
	if len(n.applyQ) == 0 || (len(n.appendQ) > 0 && s.rng.IntN(2) == 0) {
		s.processAppend(n)
	} else {
		s.processApply(n)
	}
}

// proposeSome proposes a payload on a random node, or in long-log runs a
// burst of them, mostly on the leader.
func (s *Sim) proposeSome() {
	if !s.opts.LongLog {
		s.propose(pick(s.rng, s.upNodes()))
		return
	}
	n := s.leader()
	if n == nil || s.rng.IntN(4) == 0 {
		n = pick(s.rng, s.upNodes())
	}
	for k := 1 + s.rng.IntN(8); k > 0 && n != nil && n.up(); k-- {
		s.propose(n)
	}
}

// propose proposes a new payload on n (forwarded if n is a follower).
func (s *Sim) propose(n *node) {
	if n == nil {
		return
	}
	s.nextPayload++
	id := s.nextPayload
	pad := 0
	if s.opts.MaxSizePerMsg != 0 && s.rng.IntN(4) == 0 {
		pad = s.rng.IntN(40)
	}
	s.stats.Proposals++
	err := n.rn.Propose(payload(id, pad))
	s.observe(n)
	s.logf("propose p%d on node %d: err=%v", id, n.id, err)
}

// crashSome crashes a random running node. In synchronous mode it
// sometimes crashes in the middle of the node's next Ready instead.
func (s *Sim) crashSome() {
	n := pick(s.rng, s.upNodes())
	if l := s.leader(); l != nil && s.rng.Float64() < s.opts.LeaderCrashes {
		n = l
	}
	if n == nil {
		return
	}
	if !s.opts.AsyncStorageWrites && s.rng.IntN(2) == 0 {
		n.crashInReady = s.rng.IntN(numCrashStages)
		s.logf("node %d will crash in its next Ready (stage %d)", n.id, n.crashInReady)
		return
	}
	s.crash(n, "")
}

// restartSome restarts a random crashed node.
func (s *Sim) restartSome() {
	var down []*node
	for _, id := range s.ids {
		if n := s.nodes[id]; !n.up() && !n.decommissioned {
			down = append(down, n)
		}
	}
	if n := pick(s.rng, down); n != nil {
		s.restart(n)
	}
}

// compact snapshots n's state machine at its applied index and compacts
// its log up to there, or a few entries less.
func (s *Sim) compact(n *node) {
	if n == nil {
		return
	}
	a := &n.app
	first, _ := n.storage.FirstIndex()
	snap, _ := n.storage.Snapshot()
	if a.applied <= snap.GetMetadata().GetIndex() || a.applied < first {
		return
	}
	if _, err := n.storage.CreateSnapshot(a.applied, a.conf, a.encode()); err != nil {
		s.failf(CheckNode, "node %d: CreateSnapshot(%d): %v", n.id, a.applied, err)
		return
	}
	upTo := a.applied - uint64(s.rng.IntN(3))
	if upTo < first {
		upTo = a.applied
	}
	if err := n.storage.Compact(upTo); err != nil {
		s.failf(CheckNode, "node %d: Compact(%d): %v", n.id, upTo, err)
		return
	}
	s.logf("node %d snapshots at %d and compacts its log up to %d", n.id, a.applied, upTo)
}

// readIndex starts a linearizable read on n.
func (s *Sim) readIndex(n *node) {
	if n == nil {
		return
	}
	s.nextRead++
	id := s.nextRead
	err := n.rn.ReadIndex(readCtx(id))
	s.observe(n)
	s.logf("read%d on node %d: err=%v", id, n.id, err)
	if err == nil {
		s.chk.reads[id] = &readReq{node: n.id, step: s.step, minIndex: s.chk.maxCommit, lastWrite: s.chk.maxApplied}
	}
}

// transfer asks the leader to hand leadership to a random other voter.
func (s *Sim) transfer() {
	l := s.leader()
	if l == nil {
		return
	}
	var cands []uint64
	for _, v := range l.app.conf.Voters {
		if v != l.id {
			cands = append(cands, v)
		}
	}
	to := pick(s.rng, cands)
	if to == 0 {
		return
	}
	via := l
	if s.rng.IntN(3) == 0 {
		via = pick(s.rng, s.upNodes())
	}
	err := via.rn.TransferLeader(to)
	s.observe(via)
	s.logf("transfer leadership from %d to %d (asked on node %d): err=%v", l.id, to, via.id, err)
}

// confChange proposes a random configuration change on the leader, as
// seen in the leader's applied configuration: add a learner or a voter
// (a new, empty node), promote a learner, demote or remove a voter, remove
// a learner, or replace a voter through a joint configuration. It keeps
// between 3 and 7 voters. A joint configuration without auto-leave is left
// by an explicit empty change.
func (s *Sim) confChange() {
	l := s.leader()
	if l == nil {
		return
	}
	cs := l.app.conf
	if len(cs.VotersOutgoing) > 0 {
		if !cs.AutoLeave {
			s.proposeConfChange(l, &pb.ConfChangeV2{})
		}
		return
	}
	voters, learners := cs.Voters, cs.Learners
	fresh := func() uint64 {
		id := s.nextID
		s.nextID++
		s.allocated[id] = true
		return id
	}
	single := func(t pb.ConfChangeType, id uint64) pb.ConfChangeI {
		if s.rng.IntN(2) == 0 {
			return &pb.ConfChange{Type: t, NodeId: id}
		}
		return &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: t, NodeId: id}}}
	}
	var cc pb.ConfChangeI
	switch s.rng.IntN(7) {
	case 0:
		if len(voters)+len(learners) < 9 {
			cc = single(pb.ConfChangeAddLearnerNode, fresh())
		}
	case 1:
		if len(voters) < 7 {
			cc = single(pb.ConfChangeAddNode, fresh())
		}
	case 2:
		if len(learners) > 0 && len(voters) < 7 {
			cc = single(pb.ConfChangeAddNode, pick(s.rng, learners))
		}
	case 3:
		if len(voters) > 3 {
			cc = single(pb.ConfChangeAddLearnerNode, pick(s.rng, voters))
		}
	case 4:
		if len(voters) > 3 {
			cc = single(pb.ConfChangeRemoveNode, pick(s.rng, voters))
		}
	case 5:
		if len(learners) > 0 {
			cc = single(pb.ConfChangeRemoveNode, pick(s.rng, learners))
		}
	case 6:
		// Replace a voter through a joint configuration.
		in := uint64(0)
		if len(learners) > 0 && s.rng.IntN(2) == 0 {
			in = pick(s.rng, learners)
		} else {
			in = fresh()
		}
		out := pick(s.rng, voters)
		tr := []pb.ConfChangeTransition{
			pb.ConfChangeTransitionAuto, pb.ConfChangeTransitionAuto,
			pb.ConfChangeTransitionJointImplicit, pb.ConfChangeTransitionJointExplicit,
		}[s.rng.IntN(4)]
		cc = &pb.ConfChangeV2{Transition: tr, Changes: []*pb.ConfChangeSingle{
			{Type: pb.ConfChangeAddNode, NodeId: in},
			{Type: pb.ConfChangeRemoveNode, NodeId: out},
		}}
	}
	if cc != nil {
		s.proposeConfChange(l, cc)
	}
}

// proposeConfChange proposes cc on the leader, or sometimes on another
// node that forwards it. Only additions of new nodes are forwarded: a
// forwarded change may arrive late, when the configuration it was chosen
// from is gone, and a change naming a node removed meanwhile would add it
// back. An operator must never reuse the ID of a removed node; choosing
// changes from the leader's own applied configuration, on the leader,
// guarantees it here.
func (s *Sim) proposeConfChange(l *node, cc pb.ConfChangeI) {
	via := l
	if onlyAddsNewNodes(cc, l.app.conf) && s.rng.IntN(4) == 0 {
		via = pick(s.rng, s.upNodes())
	}
	err := via.rn.ProposeConfChange(cc)
	s.observe(via)
	s.logf("propose conf change %s on node %d (leader %d): err=%v",
		pb.ConfChangesToString(cc.AsV2().Changes), via.id, l.id, err)
}

// onlyAddsNewNodes reports whether cc only adds nodes that cs does not
// have.
func onlyAddsNewNodes(cc pb.ConfChangeI, cs *pb.ConfState) bool {
	chs := cc.AsV2().Changes
	for _, c := range chs {
		if c.Type == pb.ConfChangeRemoveNode || confHas(cs, c.NodeId) {
			return false
		}
	}
	return len(chs) > 0
}
