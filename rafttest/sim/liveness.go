package sim

import (
	"fmt"
	"strings"

	pb "github.com/tickraft/raft/raftpb"
)

// livenessTimeouts bounds the liveness phase, in election timeouts.
const livenessTimeouts = 30

// minDrain and drainPerBacklog bound the messages delivered between two
// ticks of the liveness phase: nodes that keep answering each other without
// time passing are stuck in a loop. The bound grows with the messages still
// in flight when the network heals: a long run can leave tens of thousands,
// each of which may draw an answer, and a stale rejection that looks fresh
// sends the follower's window again (MaxInflightMsgs appends), so draining
// a backlog costs a few times its size.
const (
	minDrain        = 100000
	drainPerBacklog = 20
)

// liveness ends a run and checks that the cluster recovers: faults stop,
// the network heals, every node that is down restarts, and from then on
// every message is delivered and every piece of storage work done
// promptly. Within livenessTimeouts election timeouts a leader must be
// elected and a new proposal must be applied by every voter of the latest
// configuration. A proposal that a leader change loses is proposed again.
func (s *Sim) liveness() {
	s.logf("LIVENESS: faults stop, the network heals, every node restarts (%d messages in flight)", len(s.net))
	s.maxDrain = max(minDrain, drainPerBacklog*len(s.net))
	s.faultsOff = true
	s.heal()
	s.decommissionRemoved(true)
	for _, id := range s.ids {
		n := s.nodes[id]
		n.crashInReady = noCrash
		if !n.up() && !n.decommissioned {
			s.restart(n)
		}
	}
	s.settle()
	limit := livenessTimeouts * s.opts.ElectionTick
	var wanted []uint64
	proposedAt := 0
	for t := 1; t <= limit && s.failure == nil; t++ {
		s.step++
		for _, n := range s.upNodes() {
			n.rn.Tick()
			s.observe(n)
		}
		s.drain()
		s.checkStep(false)
		if s.failure != nil {
			return
		}
		for _, id := range wanted {
			if s.appliedByAllVoters(id) {
				s.stats.LivenessTick = t
				s.logf("LIVENESS: p%d applied by every voter after %d ticks", id, t)
				return
			}
		}
		l := s.leader()
		if l == nil || (len(wanted) > 0 && t-proposedAt < 3*s.opts.ElectionTick) {
			continue
		}
		s.nextPayload++
		id := s.nextPayload
		err := l.rn.Propose(payload(id, 0))
		s.observe(l)
		s.logf("LIVENESS: propose p%d on leader %d: err=%v", id, l.id, err)
		if err == nil {
			wanted = append(wanted, id)
			proposedAt = t
		}
		s.drain()
		s.checkStep(false)
	}
	if s.failure == nil {
		s.failf(CheckLiveness, "within %d ticks of healing, no proposal (of %v) was applied by every voter; %s",
			limit, wanted, s.describeCluster())
	}
}

// drain delivers every message and does every piece of storage work until
// the cluster is quiet. Each delivery and piece of work is a step of its
// own, followed by the checks.
func (s *Sim) drain() {
	delivered := 0
	for round := 0; round < 100 && s.failure == nil; round++ {
		s.settle()
		s.checkStep(false)
		busy := false
		for len(s.net) > 0 && s.failure == nil {
			// The healed network delivers in the order messages were sent.
			busy = true
			batch := s.net
			s.net = nil
			for _, env := range batch {
				if delivered++; delivered > s.maxDrain {
					s.failf(CheckLiveness, "%d messages delivered within one tick and the network is still not quiet: a message storm",
						delivered)
					return
				}
				s.deliverEnvelope(env)
				s.settle()
				s.checkStep(false)
				if s.failure != nil {
					return
				}
			}
		}
		for _, n := range s.upNodes() {
			for (len(n.appendQ) > 0 || len(n.applyQ) > 0) && n.up() && s.failure == nil {
				busy = true
				s.processAppend(n)
				s.processApply(n)
				s.settle()
				s.checkStep(false)
			}
		}
		if !busy {
			return
		}
	}
}

// appliedByAllVoters reports whether proposal id was applied by every voter
// of the latest configuration.
func (s *Sim) appliedByAllVoters(id uint64) bool {
	at := s.chk.payloadAt[id]
	if len(at) == 0 {
		return false
	}
	idx := at[0]
	for _, ids := range [][]uint64{s.chk.conf.Voters, s.chk.conf.VotersOutgoing} {
		for _, v := range ids {
			n := s.nodes[v]
			if n == nil || n.app.applied < idx {
				return false
			}
		}
	}
	return true
}

// describeCluster prints every node's state, for a liveness failure.
func (s *Sim) describeCluster() string {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration as of %d: %s; nodes:", s.chk.confIndex, pb.DescribeConfState(s.chk.conf))
	for _, id := range s.ids {
		n := s.nodes[id]
		switch {
		case n.decommissioned:
			fmt.Fprintf(&b, "\n    node %d: decommissioned", id)
		case !n.up():
			fmt.Fprintf(&b, "\n    node %d: down", id)
		default:
			st := n.rn.BasicStatus()
			last, _ := n.storage.LastIndex()
			fmt.Fprintf(&b, "\n    node %d: %s term %d lead %d commit %d applied %d (state machine %d) last %d conf %s",
				id, st.RaftState, st.Term, st.Lead, st.Commit, st.Applied, n.app.applied, last, pb.DescribeConfState(n.app.conf))
		}
	}
	return b.String()
}
