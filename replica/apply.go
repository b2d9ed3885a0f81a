package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	lt "github.com/tickraft/raft/internal/lattrace"
	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// applyWork is one item for the apply goroutine: committed entries (a
// MsgStorageApply) or a snapshot to install.
type applyWork struct {
	msg     *pb.Message
	install *pb.Snapshot
}

// applyState belongs to the apply goroutine (set up before it starts).
type applyState struct {
	appliedIndex, appliedTerm uint64
	// sweptTerm is the latest term for which proposals of earlier terms
	// were failed as lost.
	sweptTerm uint64
	confState *pb.ConfState
	lastSnap  uint64
	// bytesSinceSnap counts the entry bytes applied since the last
	// snapshot (for Config.SnapshotBytes).
	bytesSinceSnap int64
	// confChanged is set when a configuration change was applied since the
	// last snapshot: raft sends a new member only a snapshot that lists it,
	// so one is taken at once (when snapshots are on).
	confChanged bool
	// snapshotting is set while a snapshot is being written out.
	snapshotting atomic.Bool

	// The batch of commands being applied, reused.
	cmds    []Command
	results []any
	seqs    []uint64 // the proposal of cmds[i] if this replica made it, else 0
}

func (r *Replica) runApply() {
	defer r.wg.Done()
	for {
		select {
		case <-r.stopc:
			return
		case <-r.applyQ.wake:
		}
		for _, w := range r.applyQ.take() {
			var err error
			if w.install != nil {
				err = r.install(w.install)
			} else {
				if n := len(w.msg.Entries); n > 0 {
					lt.Mark(lt.AStart, w.msg.Entries[n-1].Index)
				}
				err = r.applyEntries(w.msg.Entries)
				lt.Mark(lt.ADone, 0)
				for _, resp := range w.msg.Responses {
					r.msgs.push(resp)
				}
			}
			if err != nil {
				if !errors.Is(err, ErrStopped) { // (a configuration change met Stop)
					r.fail(err)
				}
				return
			}
		}
		a := &r.apply
		r.applied.Store(a.appliedIndex)
		if a.appliedTerm > a.sweptTerm {
			a.sweptTerm = a.appliedTerm
			if n := r.pending.failOlderThan(a.appliedTerm); n > 0 {
				r.stats.proposalsFailed.Add(uint64(n))
			}
		}
		r.reads.advance(a.appliedIndex)
		r.maybeSnapshot()
		r.watch.notify()
	}
}

func (r *Replica) applyEntries(ents []*pb.Entry) error {
	a := &r.apply
	start := time.Now()
	n := 0
	for _, e := range ents {
		if e.Index <= a.appliedIndex {
			continue // covered by a snapshot installed meanwhile
		}
		n++
		a.bytesSinceSnap += int64(len(e.Data))
		switch e.Type {
		case pb.EntryNormal:
			if len(e.Data) > 0 {
				epoch, seq, cmd, err := parseHeader(e.Data)
				if err != nil {
					return fmt.Errorf("replica: entry %d: %w", e.Index, err)
				}
				if epoch != r.epoch {
					seq = 0
				}
				a.cmds = append(a.cmds, Command{Index: e.Index, Term: e.Term, Data: cmd})
				a.seqs = append(a.seqs, seq)
			}
		default:
			if err := r.flush(); err != nil {
				return err
			}
			if err := r.applyConfChange(e); err != nil {
				return err
			}
		}
		a.appliedIndex, a.appliedTerm = e.Index, e.Term
	}
	if err := r.flush(); err != nil {
		return err
	}
	if n > 0 {
		r.stats.applyBatches.Add(1)
		r.stats.appliedEntries.Add(uint64(n))
		r.stats.applyNanos.Add(uint64(time.Since(start)))
	}
	return nil
}

// flush applies the batched commands and completes their proposals.
func (r *Replica) flush() error {
	a := &r.apply
	if len(a.cmds) == 0 {
		return nil
	}
	if cap(a.results) < len(a.cmds) {
		a.results = make([]any, len(a.cmds), 2*len(a.cmds))
	}
	results := a.results[:len(a.cmds)]
	clear(results)
	if err := r.sm.Apply(a.cmds, results); err != nil {
		return fmt.Errorf("replica: the state machine failed applying entries %d-%d: %w",
			a.cmds[0].Index, a.cmds[len(a.cmds)-1].Index, err)
	}
	var now time.Time
	applied := uint64(0)
	for i, seq := range a.seqs {
		if seq == 0 {
			continue
		}
		if pr := r.pending.take(seq); pr != nil {
			if !pr.start.IsZero() {
				if now.IsZero() {
					now = time.Now()
				}
				r.stats.proposalNanos.Add(uint64(now.Sub(pr.start)))
				r.stats.proposalsTimed.Add(1)
			}
			applied++
			pr.complete(results[i], nil)
		}
	}
	r.stats.proposalsApplied.Add(applied)
	clear(a.cmds)
	clear(results)
	a.cmds, a.seqs = a.cmds[:0], a.seqs[:0]
	return nil
}

// applyConfChange applies a configuration change entry: to raft (on its
// loop), to the member addresses and the transport, and completes the
// proposal that made it.
func (r *Replica) applyConfChange(e *pb.Entry) error {
	cci, err := pb.UnmarshalConfChange(e)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	cc := cci.AsV2()
	epoch, seq, added, err := decodeContext(cc.Context)
	if err != nil {
		return fmt.Errorf("replica: configuration change at %d: %w", e.Index, err)
	}
	var cs *pb.ConfState
	var aerr error
	if err := r.call(context.Background(), func() { cs, aerr = r.rn.ApplyConfChange(cc) }); err != nil {
		return err
	}
	var res any
	if aerr != nil {
		// Every replica refuses the same entry the same way.
		r.logger.Warn("replica skipped a configuration change", slog.Uint64("index", e.Index), slog.Any("error", aerr))
	} else {
		r.apply.confState = cs
		r.apply.confChanged = true
		r.updatePeers(r.members.apply(cc, added, cs))
		r.noteRemoval(cs)
		r.logger.Info("replica applied a configuration change", slog.Uint64("index", e.Index), slog.String("conf", pb.DescribeConfState(cs)))
		res = cs
	}
	if epoch == r.epoch && seq != 0 {
		if pr := r.pending.take(seq); pr != nil {
			pr.complete(res, aerr)
		}
	}
	return nil
}

// updatePeers tells the transport about address changes.
func (r *Replica) updatePeers(added map[uint64]string, removed []uint64) {
	for id, addr := range added {
		if id == r.id {
			continue
		}
		if err := r.tr.AddPeer(id, addr); err != nil {
			r.logger.Warn("replica could not add a peer", slog.Uint64("peer", id), slog.String("addr", addr), slog.Any("error", err))
		}
	}
	for _, id := range removed {
		if id != r.id {
			r.removeLater(id)
		}
	}
}

// removeLater drops a removed member from the transport two election
// timeouts from now, not at once: the commit that tells it of its removal
// may still be queued for it (raft sends it as the change commits), and
// RemovePeer drops what is queued. A removed node that never hears of its
// removal never learns to stop (Removed): it campaigns on, refused by every
// voter.
func (r *Replica) removeLater(id uint64) {
	grace := 2 * time.Duration(r.cfg.ElectionTicks) * r.cfg.TickInterval
	time.AfterFunc(grace, func() {
		r.calls.push(func() {
			if removedFrom(confStateOf(r.rn.Status().Config), id) {
				r.tr.RemovePeer(id)
			}
		})
	})
}

// install restores the state machine from a snapshot received from the
// leader, once the log store saved it.
func (r *Replica) install(snap *pb.Snapshot) error {
	a := &r.apply
	md := snap.Metadata
	if md.Index <= a.appliedIndex {
		return nil
	}
	addrs, err := decodeDescriptor(snap.Data)
	if err != nil {
		return err
	}
	rc, _, err := r.snaps.Open(md.Index, md.Term)
	if err != nil {
		return fmt.Errorf("replica: installing the snapshot at %d: %w", md.Index, err)
	}
	err = r.sm.Restore(rc, md.Index)
	_ = rc.Close()
	if err != nil {
		return fmt.Errorf("replica: restoring the state machine from the snapshot at %d: %w", md.Index, err)
	}
	a.appliedIndex, a.appliedTerm = md.Index, md.Term
	a.confState = proto.Clone(md.ConfState).(*pb.ConfState)
	r.noteRemoval(a.confState)
	a.lastSnap = md.Index
	r.updatePeers(r.members.replace(addrs))
	r.snapshot.Store(md.Index)
	r.stats.snapshotsInstalled.Add(1)
	r.logger.Info("replica installed a snapshot", slog.Uint64("index", md.Index), slog.Uint64("term", md.Term))
	return nil
}

// maybeSnapshot starts a snapshot when the policy asks for one. The state
// machine's view is taken here, between two batches; it is written out on
// its own goroutine while applying goes on.
func (r *Replica) maybeSnapshot() {
	a := &r.apply
	every := r.cfg.SnapshotEntries
	due := a.appliedIndex >= a.lastSnap+uint64(every) || a.confChanged ||
		(r.cfg.SnapshotBytes > 0 && a.bytesSinceSnap >= r.cfg.SnapshotBytes)
	if every < 0 || !due || a.snapshotting.Load() {
		return
	}
	a.confChanged = false
	if err := r.snapshotNow(); err != nil {
		r.logger.Warn("replica could not take a snapshot", slog.Any("error", err))
	}
}

var errSnapshotBusy = errors.New("replica: a snapshot is being taken")

// snapshotNow takes a snapshot of the state machine at the applied index
// (on the apply goroutine).
func (r *Replica) snapshotNow() error {
	a := &r.apply
	if a.appliedIndex <= a.lastSnap {
		return nil
	}
	if !a.snapshotting.CompareAndSwap(false, true) {
		return errSnapshotBusy
	}
	s, err := r.sm.Snapshot()
	if err != nil {
		a.snapshotting.Store(false)
		return err
	}
	job := &snapJob{
		index: a.appliedIndex, term: a.appliedTerm,
		cs:   proto.Clone(a.confState).(*pb.ConfState),
		desc: encodeDescriptor(r.members.snapshot()),
	}
	a.lastSnap, a.bytesSinceSnap = a.appliedIndex, 0
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		start := time.Now()
		err := r.snaps.Save(job.index, job.term, func(w io.Writer) error {
			_, err := s.WriteTo(w)
			return err
		})
		s.Release()
		if err != nil {
			a.snapshotting.Store(false)
			r.logger.Warn("replica could not write a snapshot", slog.Uint64("index", job.index), slog.Any("error", err))
			return
		}
		r.stats.snapshotNanos.Add(uint64(time.Since(start)))
		r.appendQ.push(storageWork{snap: job})
	}()
	return nil
}
