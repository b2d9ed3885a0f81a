package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	raft "github.com/tickraft/raft"
	lt "github.com/tickraft/raft/internal/lattrace"
	pb "github.com/tickraft/raft/raftpb"
)

// storageWork is one item for the storage goroutine: a MsgStorageAppend,
// or a snapshot to record in the log store (and the log to compact).
type storageWork struct {
	msg  *pb.Message
	snap *snapJob
}

type snapJob struct {
	index, term uint64
	cs          *pb.ConfState
	desc        []byte
}

// runStorage is the storage goroutine. It saves everything queued with one
// sync at the end, then releases the messages that waited for it (votes,
// acknowledgements, this node's own acknowledgement) and hands received
// snapshots to the apply goroutine.
func (r *Replica) runStorage() {
	defer r.wg.Done()
	hs, _, _ := r.store.InitialState()
	var prev pb.HardState
	if hs != nil {
		prev.Term, prev.Vote = hs.Term, hs.Vote
	}
	var out []*pb.Message
	for {
		select {
		case <-r.stopc:
			return
		case <-r.appendQ.wake:
		}
		items := r.appendQ.take()
		if err := r.saveAll(items, &prev); err != nil {
			r.fail(err)
			return
		}
		out = out[:0]
		for _, w := range items {
			if w.msg == nil {
				continue
			}
			if w.msg.Snapshot != nil {
				r.applyQ.push(applyWork{install: w.msg.Snapshot})
			}
			for _, resp := range w.msg.Responses {
				if resp.Type == pb.MsgAppResp {
					lt.Mark(lt.STResp, resp.Index)
				}
				if resp.To == r.id {
					r.msgs.push(resp)
				} else {
					out = append(out, resp)
				}
			}
		}
		if len(out) > 0 {
			r.stats.messagesSent.Add(uint64(len(out)))
			r.tr.Send(append([]*pb.Message(nil), out...))
		}
		for _, w := range items {
			if w.snap != nil {
				if err := r.recordSnapshot(w.snap); err != nil {
					r.fail(err)
					return
				}
			}
		}
	}
}

// saveAll saves the batch's appends, syncing once, with the last Save.
func (r *Replica) saveAll(items []storageWork, prev *pb.HardState) error {
	last := -1
	sync := false
	for i, w := range items {
		if m := w.msg; m != nil {
			last = i
			if len(m.Entries) > 0 || m.Snapshot != nil || (m.Term != 0 && (m.Term != prev.Term || m.Vote != prev.Vote)) {
				sync = true
			}
		}
	}
	for i, w := range items {
		m := w.msg
		if m == nil {
			continue
		}
		u := Update{Entries: m.Entries, Snapshot: m.Snapshot, MustSync: sync && i == last}
		if m.Term != 0 || m.Vote != 0 || m.Commit != 0 {
			u.HardState = &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
			prev.Term, prev.Vote = m.Term, m.Vote
		}
		start := time.Now()
		if n := len(u.Entries); n > 0 {
			lt.Mark(lt.STSaveStart, u.Entries[n-1].Index)
		}
		if err := r.store.Save(u); err != nil {
			return fmt.Errorf("replica: saving to the log store: %w", err)
		}
		if u.MustSync {
			lt.Mark(lt.STSaveEnd, 0)
		}
		if u.MustSync {
			r.stats.syncs.Add(1)
			r.stats.syncNanos.Add(uint64(time.Since(start)))
		}
	}
	return nil
}

// recordSnapshot records a state machine snapshot in the log store, then
// compacts the log, keeping CompactionTail entries for slow followers.
func (r *Replica) recordSnapshot(j *snapJob) error {
	defer r.apply.snapshotting.Store(false)
	_, err := r.store.CreateSnapshot(j.index, j.cs, j.desc)
	switch {
	case errors.Is(err, raft.ErrSnapOutOfDate) || errors.Is(err, raft.ErrCompacted):
		return nil // a newer snapshot arrived from the leader meanwhile
	case err != nil:
		return fmt.Errorf("replica: recording the snapshot at %d: %w", j.index, err)
	}
	r.snapshot.Store(j.index)
	r.stats.snapshotsTaken.Add(1)
	if j.index > r.cfg.CompactionTail {
		err := r.store.Compact(j.index - r.cfg.CompactionTail)
		if err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("replica: compacting the log to %d: %w", j.index-r.cfg.CompactionTail, err)
		}
	}
	if err := r.snaps.Prune(j.index); err != nil {
		r.logger.Warn("replica could not prune old snapshots", slog.Any("error", err))
	}
	return nil
}
