package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	raft "github.com/tickraft/raft"
	lt "github.com/tickraft/raft/internal/lattrace"
	pb "github.com/tickraft/raft/raftpb"
)

// runLoop is the raft goroutine: the only one that touches the RawNode.
// Each turn it takes everything queued (messages, proposals, calls), steps
// it, then hands out the Readys, so one Ready carries the work of many
// inputs.
func (r *Replica) runLoop() {
	defer r.wg.Done()
	// The tick source starts its count before the ticker, so that no fire
	// comes before a whole interval has elapsed on its clock.
	ticks := newTickSource(r.cfg.Clock, r.cfg.TickInterval, 3*r.cfg.ElectionTicks)
	tickc, stopTicker := r.cfg.Clock.NewTicker(r.cfg.TickInterval)
	defer stopTicker()
	for {
		owed := 0
		select {
		case <-r.stopc:
			return
		case <-tickc:
			owed = ticks.fired()
		case <-r.msgs.wake:
		case <-r.props.wake:
			// Let the proposers that are runnable queue theirs too: one
			// Ready for many proposals is where the throughput comes from.
			runtime.Gosched()
		case <-r.calls.wake:
		}
		lt.Mark(lt.RWake, 0)
		// Before anything is stepped, so that no read is answered from a
		// lease that elapsed time has already ended.
		for owed += ticks.owed(); owed > 0; owed-- {
			r.tick()
		}
		r.stepQueued()
		if err := r.handleReadys(); err != nil {
			r.fail(err)
			return
		}
		if st := r.rn.BasicStatus(); r.watch.changed || st.Term != r.watch.term || st.Commit != r.watch.commit || st.Lead != r.watch.lead {
			r.watch.changed, r.watch.term, r.watch.commit, r.watch.lead = false, st.Term, st.Commit, st.Lead
			r.watch.notify()
		}
	}
}

func (r *Replica) tick() {
	r.rn.Tick()
	r.reads.tick(r)
	r.watch.changed = true
}

func (r *Replica) stepQueued() {
	for _, m := range r.msgs.take() {
		if m.Type == pb.MsgAppResp {
			lt.Mark(lt.RStepResp, m.Index)
		}
		if err := r.rn.Step(m); err != nil && !isBenign(err) {
			r.logger.Debug("replica dropped a message", slog.String("type", m.Type.String()), slog.Uint64("from", m.From), slog.Any("error", err))
		}
	}
	for _, f := range r.calls.take() {
		f()
	}
	if props := r.props.take(); len(props) > 0 {
		lt.Mark(lt.RStepProp, uint64(len(props)))
		r.proposeAll(props)
	}
	r.reads.issue(r)
}

// isBenign tells the errors a Step may return in normal operation
// (messages from removed peers, stale answers) from real trouble.
func isBenign(err error) bool {
	return errors.Is(err, raft.ErrStepPeerNotFound) || errors.Is(err, raft.ErrProposalDropped)
}

// handleReadys hands every Ready's work to the goroutine that does it.
// Messages to peers leave at once, before the leader's own write is done
// (Raft thesis §10.2.1); the node's answers that promise durability are
// inside the MsgStorageAppend and leave once it is saved.
func (r *Replica) handleReadys() error {
	for r.rn.HasReady() {
		rd := r.rn.Ready()
		if rd.SoftState != nil {
			r.onSoftState(rd.SoftState)
		}
		if hs := rd.HardState; hs != nil {
			r.term.Store(hs.Term)
			r.commit.Store(hs.Commit)
		}
		for _, rs := range rd.ReadStates {
			r.reads.answered(rs)
		}
		out := rd.Messages[:0:0]
		for _, m := range rd.Messages {
			switch {
			case m.To == raft.LocalAppendThread:
				if n := len(m.Entries); n > 0 {
					lt.Mark(lt.RReadyEnt, m.Entries[n-1].Index)
				}
				r.appendQ.push(storageWork{msg: m})
			case m.To == raft.LocalApplyThread:
				if n := len(m.Entries); n > 0 {
					lt.Mark(lt.RReadyCommit, m.Entries[n-1].Index)
				}
				r.applyQ.push(applyWork{msg: m})
			case m.Type == pb.MsgSnap:
				r.sendSnapshot(m)
			default:
				if n := len(m.Entries); m.Type == pb.MsgApp && n > 0 {
					lt.Mark(lt.RSendApp, m.Entries[n-1].Index)
				}
				out = append(out, m)
			}
		}
		if len(out) > 0 {
			r.stats.messagesSent.Add(uint64(len(out)))
			r.tr.Send(out)
		}
	}
	if err := r.rn.BasicStatus().Err; err != nil {
		return fmt.Errorf("replica: raft stopped: %w", err)
	}
	return nil
}

func (r *Replica) onSoftState(ss *raft.SoftState) {
	prevLeader := r.leader.Load()
	wasLeader := raft.StateType(r.role.Load()) == raft.StateLeader
	r.leader.Store(ss.Lead)
	r.role.Store(int32(ss.RaftState))
	if ss.Lead != prevLeader {
		r.stats.leaderChanges.Add(1)
		r.logger.Info("replica sees a new leader", slog.Uint64("leader", ss.Lead), slog.String("role", ss.RaftState.String()))
		// Read rounds in flight went to the old leader: ask the new one.
		r.reads.reissue()
	}
	if wasLeader && ss.RaftState != raft.StateLeader {
		r.logger.Info("replica lost leadership")
	}
}

// sendSnapshot streams the state machine snapshot a MsgSnap names.
func (r *Replica) sendSnapshot(m *pb.Message) {
	md := m.Snapshot.GetMetadata()
	rc, size, err := r.snaps.Open(md.GetIndex(), md.GetTerm())
	if err != nil {
		r.logger.Warn("replica cannot send a snapshot", slog.Uint64("peer", m.To), slog.Uint64("index", md.GetIndex()), slog.Any("error", err))
		_ = r.rn.ReportSnapshot(m.To, raft.SnapshotFailure)
		return
	}
	r.stats.snapshotsSent.Add(1)
	r.tr.SendSnapshot(m, rc, size)
}
