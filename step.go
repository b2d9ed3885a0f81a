package raft

import (
	"log/slog"

	pb "github.com/tickraft/raft/raftpb"
)

// handler handles one message type in one role.
type handler func(r *raft, m *pb.Message) error

// lastMessageType is the highest MessageType. The handler tables and
// needsTerm cover the types up to it; TestMessageTypesAreCovered fails when
// the enum gains a type, until the type is placed in them.
const lastMessageType = pb.MsgForgetLeader

// handlerTable maps message types to the handlers of one role. A nil entry
// means the role ignores the message type.
type handlerTable [lastMessageType + 1]handler

// Step advances the state machine by one message. Local messages have term
// 0; network messages carry the sender's term, which is reconciled with ours
// first (Raft §5.1) before the message reaches the handler of our role.
func (r *raft) Step(m *pb.Message) error {
	if r.failed != nil {
		return r.failed
	}
	err := r.step(m)
	r.checkInvariants()
	if serr := r.checkStorage(); serr != nil {
		return serr
	}
	return err
}

func (r *raft) step(m *pb.Message) error {
	if m.Type < 0 || int(m.Type) >= len(handlerTable{}) {
		return r.invalid(m, "unknown message type %d", int32(m.Type))
	}
	if handled, err := r.stepTerm(m); handled {
		return err
	}
	switch m.Type {
	case pb.MsgHup:
		r.hup()
		return nil
	case pb.MsgStorageAppendResp:
		return r.handleStorageAppendResp(m)
	case pb.MsgStorageApplyResp:
		return r.handleStorageApplyResp(m)
	case pb.MsgVote, pb.MsgPreVote:
		r.handleVoteRequest(m)
		return nil
	}
	if h := r.handlers[m.Type]; h != nil {
		return h(r, m)
	}
	return nil
}

// stepTerm compares the message's term with ours. It returns handled=true
// when the message needs no further processing.
func (r *raft) stepTerm(m *pb.Message) (handled bool, err error) {
	switch {
	case m.Term == 0:
		// Local message, or a forwarded proposal or read.
		return false, nil
	case m.Term > r.Term:
		if (m.Type == pb.MsgVote || m.Type == pb.MsgPreVote) && r.refuseVoteForLease(m) {
			return true, nil
		}
		switch {
		case m.Type == pb.MsgPreVote:
			// Pre-votes never change our term.
		case m.Type == pb.MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the term we will campaign for; we
			// move to it when the pre-election is won.
		default:
			r.logger.Info("raft saw a higher term",
				slog.String(keyMsgType, m.Type.String()), slog.Uint64(keyFrom, m.From),
				slog.Uint64(keyTerm, r.Term), slog.Uint64(keyMsgTerm, m.Term))
			if m.Type == pb.MsgApp || m.Type == pb.MsgHeartbeat || m.Type == pb.MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
		return false, nil
	case m.Term < r.Term:
		r.stepStaleTerm(m)
		return true, nil
	}
	return false, nil
}

// stepStaleTerm answers a message from an older term where the answer helps
// the sender catch up, and drops it otherwise.
func (r *raft) stepStaleTerm(m *pb.Message) {
	switch {
	case (r.checkQuorum || r.preVote) && (m.Type == pb.MsgHeartbeat || m.Type == pb.MsgApp):
		// A leader of an older term that was partitioned away keeps sending.
		// With CheckQuorum or PreVote, our higher term would otherwise never
		// reach it if it cannot win a pre-vote; tell it our term so it steps
		// down and the cluster is not stuck with it.
		r.send(&pb.Message{To: m.From, Type: pb.MsgAppResp})
	case m.Type == pb.MsgPreVote:
		// Reject with our term so the pre-candidate learns it is behind.
		r.send(&pb.Message{To: m.From, Term: r.Term, Type: pb.MsgPreVoteResp, Reject: true})
	case m.Type == pb.MsgStorageAppendResp:
		// Our own write finished after a term change; the entries it covers
		// are still durable. Only the log bookkeeping matters.
		_ = r.handleStorageAppendResp(m)
	default:
		r.logger.Debug("raft ignored a message from an older term",
			slog.String(keyMsgType, m.Type.String()), slog.Uint64(keyFrom, m.From),
			slog.Uint64(keyTerm, r.Term), slog.Uint64(keyMsgTerm, m.Term))
	}
}

// The per-role handler tables. MsgHup, votes and storage responses are
// handled the same in every role, in step.
//
// They are filled in init rather than by their declarations: handlers
// change roles (becomeFollower sets r.handlers = &followerHandlers), so a
// table's initializer would refer to the table itself, an initialization
// cycle the compiler rejects.
var (
	leaderHandlers    handlerTable
	followerHandlers  handlerTable
	candidateHandlers handlerTable
)

func init() {
	leaderHandlers = handlerTable{
		pb.MsgBeat:           leaderBeat,
		pb.MsgCheckQuorum:    leaderCheckQuorum,
		pb.MsgProp:           leaderPropose,
		pb.MsgReadIndex:      leaderReadIndex,
		pb.MsgForgetLeader:   ignoreMsg,
		pb.MsgAppResp:        leaderAppResp,
		pb.MsgHeartbeatResp:  leaderHeartbeatResp,
		pb.MsgSnapStatus:     leaderSnapStatus,
		pb.MsgUnreachable:    leaderUnreachable,
		pb.MsgTransferLeader: leaderTransfer,
	}
	followerHandlers = handlerTable{
		pb.MsgProp:           followerPropose,
		pb.MsgApp:            followerApp,
		pb.MsgHeartbeat:      followerHeartbeat,
		pb.MsgSnap:           followerSnap,
		pb.MsgTransferLeader: followerTransfer,
		pb.MsgForgetLeader:   followerForgetLeader,
		pb.MsgTimeoutNow:     followerTimeoutNow,
		pb.MsgReadIndex:      followerReadIndex,
		pb.MsgReadIndexResp:  followerReadIndexResp,
	}
	candidateHandlers = handlerTable{
		pb.MsgProp:           candidatePropose,
		pb.MsgApp:            candidateApp,
		pb.MsgHeartbeat:      candidateHeartbeat,
		pb.MsgSnap:           candidateSnap,
		pb.MsgVoteResp:       candidateVoteResp,
		pb.MsgPreVoteResp:    candidateVoteResp,
		pb.MsgReadIndex:      candidateReadIndex,
		pb.MsgTransferLeader: func(*raft, *pb.Message) error { return ErrNoLeader },
	}
}

func ignoreMsg(*raft, *pb.Message) error { return nil }
