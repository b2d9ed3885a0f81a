package raft

import (
	"encoding/binary"
	"log/slog"

	"github.com/tickraft/raft/internal/bugs"
	"github.com/tickraft/raft/quorum"
	pb "github.com/tickraft/raft/raftpb"
)

// ReadState answers a ReadIndex request: once the application has applied
// the log up to Index, a read of its state machine is linearizable with
// respect to every write that completed before the request was made.
// RequestCtx is the context the request was made with.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// readOnly tracks the ReadIndex requests a leader is confirming in
// ReadOnlySafe mode.
//
// Each request starts a round with a sequence number of the leader's own,
// and the round's heartbeats carry that number as their context. A peer that
// answers the heartbeat of round s confirms every round up to s: those
// requests arrived before the heartbeat left. Because the leader picks the
// numbers, a client reusing a request context cannot make one request's
// acknowledgements count for another's.
type readOnly struct {
	option ReadOnlyOption
	// rounds are the unconfirmed rounds, oldest first, seqs increasing.
	rounds []readRound
	// acked is, per peer, the highest round it acknowledged.
	acked quorum.MapAckIndexer
	// beats are the heartbeat rounds of a lease-based leader recent enough
	// to keep its lease, oldest first (see lease.go).
	beats []leaseBeat
}

// readRound is one ReadIndex request waiting for leadership confirmation.
type readRound struct {
	seq uint64
	// index is the commit index when the request arrived: the answer.
	index uint64
	req   *pb.Message
}

func newReadOnly(option ReadOnlyOption) *readOnly {
	return &readOnly{option: option, acked: quorum.MapAckIndexer{}}
}

// encodeReadSeq and decodeReadSeq convert a round number to and from a
// heartbeat context.
func encodeReadSeq(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func decodeReadSeq(ctx []byte) (uint64, bool) {
	if len(ctx) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(ctx), true
}

// lastPendingRequestCtx is the context regular heartbeats carry: the
// newest round, so that their answers confirm pending reads too.
func (ro *readOnly) lastPendingRequestCtx() []byte {
	if len(ro.rounds) == 0 {
		return nil
	}
	return encodeReadSeq(ro.rounds[len(ro.rounds)-1].seq)
}

func leaderReadIndex(r *raft, m *pb.Message) error {
	if len(m.Entries) != 1 {
		return r.invalid(m, "a read request carries exactly one entry with its context, got %d", len(m.Entries))
	}
	if held := len(r.pendingReadIndexMessages) + len(r.readOnly.rounds); held >= r.maxPendingReads {
		r.logger.Debug("raft dropped a read: too many pending", slog.Uint64(keyFrom, m.From), slog.Int(keyPending, held))
		return ErrReadIndexDropped
	}
	if !r.committedEntryInCurrentTerm() {
		// A new leader does not know the commit index of the previous term
		// until an entry of its own term is committed (thesis §6.4). Hold
		// the request until then. This holds for a single voter too: after
		// a restart its persisted commit index may lag entries it had
		// committed and applied.
		r.pendingReadIndexMessages = append(r.pendingReadIndexMessages, m)
		return nil
	}
	r.serveReadIndex(m)
	return nil
}

// serveReadIndex answers (lease-based) or starts confirming (safe) a read.
func (r *raft) serveReadIndex(m *pb.Message) {
	if _, voter := r.trk.Voters[0][r.id]; voter && r.trk.IsSingleton() {
		// A single voter is the quorum: its commit index is current. Not
		// so for a leader that applied its own removal or demotion: the
		// remaining voter may already lead a later term.
		r.answerRead(m, r.raftLog.committed)
		return
	}
	if r.leaseValid() {
		// No other leader can have been elected since a quorum answered
		// our last heartbeats, so our commit index is current.
		r.answerRead(m, r.raftLog.committed)
		return
	}
	// Safe mode, or a lease that expired or that a leader transfer broke:
	// confirm with a heartbeat round (which renews a lease, too).
	r.readSeq++
	seq := r.readSeq
	r.readOnly.rounds = append(r.readOnly.rounds, readRound{seq: seq, index: r.raftLog.committed, req: m})
	// The leader confirms its own round at once.
	r.readOnly.acked[r.id] = quorum.Index(seq)
	if !r.leaseBroken {
		r.recordBeat(seq)
	}
	ctx := encodeReadSeq(seq)
	r.trk.Visit(func(id uint64, _ *progressT) {
		if id != r.id {
			r.sendHeartbeat(id, ctx)
		}
	})
}

// handleReadHeartbeatResp counts a heartbeat answer toward pending reads
// and answers every read round a quorum has confirmed.
func (r *raft) handleReadHeartbeatResp(m *pb.Message) {
	seq, ok := decodeReadSeq(m.Context)
	if !ok || seq > r.readSeq {
		// No round, or one we never started.
		return
	}
	if prev := r.readOnly.acked[m.From]; quorum.Index(seq) > prev {
		r.readOnly.acked[m.From] = quorum.Index(seq)
	}
	if len(r.readOnly.rounds) == 0 {
		return
	}
	confirmed := uint64(r.trk.Voters.CommittedIndex(r.readOnly.acked))
	n := 0
	for n < len(r.readOnly.rounds) && r.readOnly.rounds[n].seq <= confirmed {
		n++
	}
	if n == 0 {
		return
	}
	done := r.readOnly.rounds[:n]
	r.readOnly.rounds = append(r.readOnly.rounds[:0:0], r.readOnly.rounds[n:]...)
	for _, rd := range done {
		r.answerRead(rd.req, rd.index)
	}
}

// answerRead delivers a read's index: locally as a ReadState, or to the
// follower that forwarded it.
func (r *raft) answerRead(req *pb.Message, index uint64) {
	if req.From == None || req.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: index, RequestCtx: req.Entries[0].Data})
		return
	}
	// The follower applies up to index before it reads: let it know the
	// commit index now rather than with the next heartbeat.
	r.sendCommit(req.From)
	m := r.newMessage()
	m.To, m.Type, m.Index, m.Entries = req.From, pb.MsgReadIndexResp, index, req.Entries
	r.send(m)
}

// committedEntryInCurrentTerm reports whether the leader committed an entry
// of its own term.
func (r *raft) committedEntryInCurrentTerm() bool {
	return r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(r.raftLog.committed)) == r.Term
}

// releasePendingReadIndexMessages serves the reads held back until the
// leader's first commit in its term.
func (r *raft) releasePendingReadIndexMessages() {
	if len(r.pendingReadIndexMessages) == 0 || !r.committedEntryInCurrentTerm() {
		return
	}
	msgs := r.pendingReadIndexMessages
	r.pendingReadIndexMessages = nil
	for _, m := range msgs {
		r.serveReadIndex(m)
	}
}

func followerReadIndex(r *raft, m *pb.Message) error {
	if len(m.Entries) != 1 {
		return r.invalid(m, "a read request carries exactly one entry with its context, got %d", len(m.Entries))
	}
	if bugs.Enabled && bugs.FollowerLocalReads {
		// Injected bug, for tests only: answer from our own commit index.
		r.readStates = append(r.readStates, ReadState{Index: r.raftLog.committed, RequestCtx: m.Entries[0].Data})
		return nil
	}
	if r.lead == None {
		r.logger.Info("raft cannot serve a read: no leader", slog.Uint64(keyTerm, r.Term))
		return ErrNoLeader
	}
	// A request forwarded to us keeps its sender, so the leader answers
	// the node that asked (From is None for our own requests).
	r.send(&pb.Message{To: r.lead, From: m.From, Type: pb.MsgReadIndex, Entries: m.Entries})
	return nil
}

func followerReadIndexResp(r *raft, m *pb.Message) error {
	if len(m.Entries) != 1 {
		return r.invalid(m, "a read response carries exactly one entry with its context, got %d", len(m.Entries))
	}
	r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Entries[0].Data})
	return nil
}

func candidateReadIndex(r *raft, m *pb.Message) error {
	r.logger.Info("raft cannot serve a read: election in progress", slog.Uint64(keyTerm, r.Term))
	return ErrNoLeader
}
