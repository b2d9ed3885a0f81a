package sim

import (
	"errors"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// The network holds every message sent and not yet delivered or dropped,
// in no particular order: delivery picks any of them, so messages are
// reordered and delayed at will. Links can be cut one way; a message over
// a cut link, or to a node that is down, is dropped when its turn comes.

// send puts a message on the network.
func (s *Sim) send(n *node, m *pb.Message) {
	s.observeSent(n, m)
	s.noteSentAck(n, m)
	s.net = append(s.net, envelope{m: m, fromInc: n.incarnation})
}

// take removes the i-th message from the network. The last message moves
// into its place, which is as good as any order.
func (s *Sim) take(i int) envelope {
	env := s.net[i]
	last := len(s.net) - 1
	s.net[i] = s.net[last]
	s.net[last] = envelope{}
	s.net = s.net[:last]
	return env
}

// sender returns the node that sent env if it still runs the incarnation
// that sent it, for transport feedback.
func (s *Sim) sender(env envelope) *node {
	n := s.nodes[env.m.From]
	if n == nil || !n.up() || n.incarnation != env.fromInc {
		return nil
	}
	return n
}

// deliver hands the i-th message to its recipient, or drops it if it
// cannot arrive.
func (s *Sim) deliver(i int) {
	s.deliverEnvelope(s.take(i))
}

func (s *Sim) deliverEnvelope(env envelope) {
	m := env.m
	to := s.nodes[m.To]
	if to == nil && s.allocated[m.To] {
		// A node added by a configuration change starts, empty, when the
		// first message reaches it.
		to = s.addNode(m.To)
		s.start(to)
		s.logf("node %d starts empty: it was added to the configuration", to.id)
	}
	if to == nil || !to.up() || s.cut[link{m.From, m.To}] {
		s.dropped(env, "undeliverable")
		return
	}
	s.stats.Delivered++
	s.event(event{step: s.step, text: "deliver", msg: m})
	err := to.rn.Step(m)
	s.observe(to)
	if err != nil {
		s.stepError(to, m, err)
	}
	if m.Type == pb.MsgSnap {
		if from := s.sender(env); from != nil {
			_ = from.rn.ReportSnapshot(m.To, raft.SnapshotFinish)
			s.observe(from)
		}
	}
}

// stepError sorts out an error from stepping a network message: some are
// the normal lot of a message that arrives late or at the wrong node,
// others must not happen.
func (s *Sim) stepError(n *node, m *pb.Message, err error) {
	switch {
	case m.Type == pb.MsgTransferLeader:
		// A forwarded request the leader refuses (the transferee is a
		// learner by now, or unknown).
		s.logf("node %d: %v", n.id, err)
	case errors.Is(err, raft.ErrStepPeerNotFound), errors.Is(err, raft.ErrProposalDropped),
		errors.Is(err, raft.ErrNoLeader), errors.Is(err, raft.ErrConfChangeRejected):
		// A response from a peer no longer (or not yet) in the
		// configuration; a forwarded proposal, conf change or read that the
		// leader refuses or
		// serve it.
		s.logf("node %d: %v", n.id, err)
	default:
		s.failf(CheckNode, "node %d refused %s: %v", n.id, pb.DescribeMessage(m, formatPayload), err)
	}
}

// dropped is the transport's side of a lost message: a real transport
// notices that a message could not be delivered, and tells the sender. It
// always reports snapshots (ReportSnapshot); other messages it reports
// only sometimes (ReportUnreachable), as a transport that notices a broken
// connection only now and then.
func (s *Sim) dropped(env envelope, why string) {
	s.stats.Dropped++
	m := env.m
	s.event(event{step: s.step, text: "drop (" + why + ")", msg: m})
	from := s.sender(env)
	if from == nil {
		return
	}
	if m.Type == pb.MsgSnap {
		_ = from.rn.ReportSnapshot(m.To, raft.SnapshotFailure)
		s.observe(from)
		return
	}
	if s.rng.IntN(3) == 0 {
		_ = from.rn.ReportUnreachable(m.To)
		s.observe(from)
	}
}

// duplicate puts a copy of the i-th message on the network. A forwarded
// proposal of normal entries is duplicated only with
// Options.DuplicateProposals, and then half the time as the same message
// handed over twice, as an in-process transport that shares pointers
// would: the leader must not write into the entries it was given. Each
// copy may be committed once more (checkProposalOnce). Forwarded
// configuration changes are not duplicated: a copy applied later could
// add back a node removed meanwhile.
func (s *Sim) duplicate(i int) bool {
	env := s.net[i]
	c := env.m
	if c.Type == pb.MsgProp {
		if !s.opts.DuplicateProposals || !allNormal(c.Entries) {
			return false
		}
		for _, e := range c.Entries {
			if id, ok := payloadID(e.Data); ok {
				s.chk.proposalCopies[id]++
			}
		}
		if s.rng.IntN(2) == 0 {
			s.net = append(s.net, envelope{m: c, fromInc: env.fromInc})
			s.event(event{step: s.step, text: "duplicate (the same message)", msg: c})
			return true
		}
	}
	c = proto.Clone(c).(*pb.Message)
	s.net = append(s.net, envelope{m: c, fromInc: env.fromInc})
	s.event(event{step: s.step, text: "duplicate", msg: c})
	return true
}

func allNormal(ents []*pb.Entry) bool {
	for _, e := range ents {
		if e.Type != pb.EntryNormal {
			return false
		}
	}
	return true
}

// partition cuts the network in two random halves.
func (s *Sim) partition() {
	var a, b []uint64
	for _, id := range s.ids {
		if s.nodes[id].decommissioned {
			continue
		}
		if s.rng.IntN(2) == 0 {
			a = append(a, id)
		} else {
			b = append(b, id)
		}
	}
	if len(a) == 0 || len(b) == 0 {
		return
	}
	for _, x := range a {
		for _, y := range b {
			s.cut[link{x, y}] = true
			s.cut[link{y, x}] = true
		}
	}
	s.logf("PARTITION %v | %v", a, b)
}

// isolate cuts every link to and from id.
func (s *Sim) isolate(id uint64) {
	for _, o := range s.ids {
		if o != id {
			s.cut[link{id, o}] = true
			s.cut[link{o, id}] = true
		}
	}
	s.logf("ISOLATE node %d", id)
}

// cutOneWay cuts the link from one node to another only.
func (s *Sim) cutOneWay() {
	var ids []uint64
	for _, id := range s.ids {
		if !s.nodes[id].decommissioned {
			ids = append(ids, id)
		}
	}
	if len(ids) < 2 {
		return
	}
	from := pick(s.rng, ids)
	to := pick(s.rng, ids)
	if from == to {
		return
	}
	s.cut[link{from, to}] = true
	s.logf("CUT link %d -> %d", from, to)
}

// heal restores every link.
func (s *Sim) heal() {
	if len(s.cut) == 0 {
		return
	}
	clear(s.cut)
	s.logf("HEAL the network")
}
