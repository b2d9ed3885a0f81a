package raft

import (
	"log/slog"

	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

// The leader lease (ReadOnlyLeaseBased, thesis §6.4.1).
//
// A lease is two promises that must line up:
//
//   - A voter that received a message from the leader of its term (an
//     append, a heartbeat or a snapshot) grants no vote or pre-vote, not
//     even to itself, for an election timeout after it received it
//     (votePromised). A voter that restarts does not know when it last
//     heard from a leader, so it keeps the promise for an election timeout
//     from its start. Only a leader transfer (MsgTimeoutNow) overrides the
//     promise, and the leader that sent it stops using its lease.
//   - The leader counts its lease from when it sent a heartbeat round, not
//     from when the answers arrived: a late answer proves only that the
//     follower heard the heartbeat at some time after it was sent. Every
//     heartbeat round of a lease-based leader carries a round number of its
//     own (the read sequence of readOnly); once a quorum of voters answered
//     round s, no other leader can be elected until an election timeout
//     after s was sent (leaseValid).
//
// Ticks are the only clock, so the lease assumes that every node ticks at
// the same rate. A follower's first tick after a heartbeat may come at
// once, so its promise lasts at least ElectionTick-1 tick intervals in real
// time; the leader's lease is shortened by one more tick because its own
// ticks are equally coarse.

// leaseBeat is a heartbeat round sent by a lease-based leader.
type leaseBeat struct {
	seq  uint64 // the round's read sequence number
	tick uint64 // r.ticks when the round was sent
}

// leaseTicks is how many of the leader's ticks after a heartbeat round was
// sent its answers keep the lease valid.
func (r *raft) leaseTicks() uint64 { return uint64(r.electionTimeout - 1) }

// recordBeat notes that a heartbeat round numbered seq leaves now, and
// forgets the rounds too old to ever make the lease valid again.
func (r *raft) recordBeat(seq uint64) {
	if r.readOnly.option != ReadOnlyLeaseBased {
		return
	}
	beats := r.readOnly.beats
	n := 0
	for n < len(beats) && beats[n].tick+r.leaseTicks() <= r.ticks {
		n++
	}
	if n > 0 {
		beats = append(beats[:0], beats[n:]...)
	}
	r.readOnly.beats = append(beats, leaseBeat{seq: seq, tick: r.ticks})
}

// nextBeatCtx starts a heartbeat round for the lease: a fresh round number
// that the leader acknowledges itself at once. Outside lease mode it
// returns the context that confirms pending ReadIndex rounds, if any.
func (r *raft) nextBeatCtx() []byte {
	if r.readOnly.option != ReadOnlyLeaseBased || r.leaseBroken {
		return r.readOnly.lastPendingRequestCtx()
	}
	r.readSeq++
	r.readOnly.acked[r.id] = quorum.Index(r.readSeq)
	r.recordBeat(r.readSeq)
	return encodeReadSeq(r.readSeq)
}

// leaseValid reports whether a quorum of voters answered a heartbeat round
// recent enough that no other leader can have been elected since.
func (r *raft) leaseValid() bool {
	if r.readOnly.option != ReadOnlyLeaseBased || r.leaseBroken {
		return false
	}
	confirmed := uint64(r.trk.Voters.CommittedIndex(r.readOnly.acked))
	beats := r.readOnly.beats
	for i := len(beats) - 1; i >= 0; i-- {
		if beats[i].seq <= confirmed {
			return r.ticks-beats[i].tick < r.leaseTicks()
		}
	}
	return false
}

// votePromised reports whether this node promised a leader's lease not to
// vote: it heard from a leader, or restarted, within the last election
// timeout. Only lease-based nodes make the promise.
func (r *raft) votePromised() bool {
	return r.readOnly.option == ReadOnlyLeaseBased && r.sinceLeader < r.electionTimeout
}

// heardFromLeader records a message from the leader of our term: the
// election timer restarts and, in lease mode, so does the promise not to
// vote.
func (r *raft) heardFromLeader(m *pb.Message) {
	r.electionElapsed = 0
	r.sinceLeader = 0
	r.lead = m.From
}

// refuseVoteForLease reports (and logs) whether a vote request must be
// ignored because a leader's lease may still be running: leader stickiness
// under CheckQuorum (we heard from a live leader within the election
// timeout), or the lease promise. A transfer's forced election overrides
// both.
func (r *raft) refuseVoteForLease(m *pb.Message) bool {
	if isTransferCampaign(m) || !r.checkQuorum {
		return false
	}
	sticky := r.lead != None && r.electionElapsed < r.electionTimeout
	if !sticky && !r.votePromised() {
		return false
	}
	// Leader stickiness (thesis §4.2.3): this candidate must be behind or
	// partitioned; it must not disrupt the cluster or break the lease.
	r.logger.Info("raft ignored a vote request: the leader's lease is valid",
		slog.String(keyMsgType, m.Type.String()), slog.Uint64(keyFrom, m.From),
		slog.Uint64(keyTerm, r.Term), slog.Uint64(keyMsgTerm, m.Term))
	return true
}
