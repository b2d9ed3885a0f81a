package sim

import "github.com/tickraft/raft"

// Removed nodes. A node removed by a committed configuration change keeps
// running for a while (Options.RemovedLinger steps after some node applied
// its removal), as it would until an operator shuts it down, and must not
// disturb the cluster meanwhile (issue 10 §2b):
//
//   - it never wins an election after its removal committed
//     (checkRemovedLeader);
//   - once it knows of its removal (the commit index of its running
//     incarnation, or its state machine, covers the change that removed
//     it) it never starts campaigning again (checkRemovedCampaign).
//
// The removal is known to the checkers when the first node applies it
// (noteConf), which is after it committed.

// checkRemovedLeader checks that node n, which just became the leader of
// term, was not removed by a committed configuration change.
func (s *Sim) checkRemovedLeader(n *node, term uint64) {
	if r := s.chk.removedAt[n.id]; r != 0 {
		s.failf(CheckRemoved, "node %d wins the election of term %d, but the configuration change at index %d that removed it was committed (and applied by a node)",
			n.id, term, r)
	}
}

// checkRemovedCampaign runs on every observation of n: a node that knew,
// before the action just done, that its removal committed must not have
// started a campaign (as a candidate or pre-candidate, or in a new term).
func (s *Sim) checkRemovedCampaign(n *node, st raft.BasicStatus) {
	campaigning := st.RaftState == raft.StateCandidate || st.RaftState == raft.StatePreCandidate
	if n.knowsRemoved && campaigning && (!n.wasCampaigning || st.Term > n.lastTerm) {
		s.failf(CheckRemoved, "node %d campaigns (%s, term %d) although it knew that its removal at index %d committed (its commit index is %d)",
			n.id, st.RaftState, st.Term, s.chk.removedAt[n.id], st.Commit)
	}
	n.wasCampaigning, n.lastTerm = campaigning, st.Term
	// What this incarnation knows: a crash loses a commit index that was
	// not written.
	if r := s.chk.removedAt[n.id]; r != 0 && max(st.Commit, n.app.applied) >= r {
		n.knowsRemoved = true
	}
}

// decommissionRemoved shuts down for good the nodes removed long enough
// ago (Options.RemovedLinger steps after their removal was first applied),
// as an operator would, or all of them at once if now is set; in the
// liveness phase, at once. Their disks are kept, for the checks. (A removed
// leader without StepDownOnRemoval leads on, keeping the others from
// electing a member, until it is shut down.)
func (s *Sim) decommissionRemoved(now bool) {
	for _, id := range s.ids {
		n := s.nodes[id]
		r := s.chk.removedAt[id]
		if n.decommissioned || r == 0 {
			continue
		}
		if !now && !s.faultsOff && s.step < s.chk.removedStep[id]+s.opts.RemovedLinger {
			continue
		}
		n.decommissioned = true
		if n.up() {
			s.crash(n, "(decommissioned)")
		}
		s.logf("node %d is decommissioned: the configuration as of %d no longer has it", id, r)
	}
}
