package wal

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
)

// plan is a validated Update, ready to be written and applied.
type plan struct {
	// snap resets the log (Update.Snapshot); created only becomes the
	// latest snapshot (CreateSnapshot). Both are written to a snapshot
	// file before the record that refers to them.
	snap, created *pb.Snapshot
	compact       bool
	compactIndex  uint64
	compactTerm   uint64
	ents          []*pb.Entry
	// sizes holds the known encoded size of each of ents (see
	// knownSize), computed while encoding.
	sizes []uint32
	// runs are the term runs of ents, computed while encoding.
	runs []termRun
	hs   *pb.HardState
	// create asks for a snapshot at compactIndex with createCS and
	// createData (CreateSnapshot); validate builds created from them.
	create     bool
	createCS   *pb.ConfState
	createData []byte
}

func (p *plan) empty() bool {
	return p.snap == nil && p.created == nil && !p.compact && len(p.ents) == 0 && p.hs == nil
}

// Save makes u durable (with one fsync when u.MustSync, or when it holds a
// snapshot) and then visible to readers. On a write or sync failure the wal
// stops: this and every later call return the error. Invalid updates (out of
// date snapshot, entries that are not contiguous or leave a gap) return an
// error and change nothing.
func (w *WAL) Save(u Update) error {
	snap := u.Snapshot
	if snap.GetMetadata().GetIndex() == 0 {
		snap = nil // an empty snapshot, as a Ready may carry: none
	}
	return w.save(&plan{hs: u.HardState, snap: snap, ents: u.Entries}, u.MustSync)
}

func (w *WAL) save(p *plan, mustSync bool) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.stopped(); err != nil {
		return err
	}
	if err := w.validate(p); err != nil {
		return err
	}
	if p.empty() {
		if mustSync && w.dirty {
			return w.syncActive()
		}
		return nil
	}
	return w.commit(p, mustSync || p.snap != nil || p.created != nil || p.compact)
}

// validate checks p against the current state and trims entries that are
// already compacted. Only the writer changes the state, and it holds wmu, so
// reading it without mu is safe.
func (w *WAL) validate(p *plan) error {
	start, last := w.idx.start, w.idx.last
	if p.create {
		i := p.compactIndex
		switch {
		case i <= w.snap.GetMetadata().GetIndex():
			return raft.ErrSnapOutOfDate
		case i < start:
			return raft.ErrCompacted
		case i > last:
			return fmt.Errorf("wal: snapshot index %d is beyond the last index %d: %w", i, last, raft.ErrUnavailable)
		}
		cs := p.createCS
		if cs == nil {
			cs = w.snap.GetMetadata().GetConfState()
		}
		if cs == nil {
			cs = &pb.ConfState{}
		}
		p.created = &pb.Snapshot{Data: p.createData, Metadata: &pb.SnapshotMetadata{
			ConfState: proto.Clone(cs).(*pb.ConfState), Index: i, Term: w.idx.term(i),
		}}
		return nil
	}
	if p.compact {
		c := p.compactIndex
		switch {
		case c <= start:
			return raft.ErrCompacted
		case c > last:
			return fmt.Errorf("wal: compaction index %d is beyond the last index %d: %w", c, last, raft.ErrUnavailable)
		}
		p.compactTerm = w.idx.term(c)
		return nil
	}
	if p.snap != nil {
		md := p.snap.GetMetadata()
		if md == nil {
			return errors.New("wal: snapshot without metadata")
		}
		if md.GetIndex() <= w.snap.GetMetadata().GetIndex() {
			return raft.ErrSnapOutOfDate
		}
		start, last = md.GetIndex(), md.GetIndex()
	}
	if len(p.ents) == 0 {
		return nil
	}
	for k, e := range p.ents {
		if e == nil {
			return fmt.Errorf("wal: entry at position %d is nil", k)
		}
		if k > 0 {
			if prev, cur := p.ents[k-1].Index, e.Index; cur != prev+1 || cur < prev {
				return fmt.Errorf("wal: non-contiguous entries: index %d follows %d", cur, prev)
			}
		}
	}
	if p.ents[len(p.ents)-1].Index <= start {
		p.ents = nil
		return nil
	}
	if first := p.ents[0].Index; first <= start {
		p.ents = p.ents[start+1-first:]
	}
	if first := p.ents[0].Index; first > last+1 {
		return fmt.Errorf("wal: entries would leave a gap: first new index %d, last index %d", first, last)
	}
	return nil
}

// commit writes p as one batch record, syncs it if asked and publishes it.
func (w *WAL) commit(p *plan, sync bool) error {
	for _, s := range []*pb.Snapshot{p.snap, p.created} {
		if s != nil {
			if err := w.writeSnapshotFile(s); err != nil {
				return err
			}
		}
	}
	f := &w.frame
	defer f.release()
	f.begin(w.writeOff)
	f.buf = appendUvarint(f.buf, w.durableSeq)
	if s := p.snap.GetMetadata(); s != nil {
		f.buf = appendSnapshotRef(f.buf, s.Index, s.Term, true)
	}
	if s := p.created.GetMetadata(); s != nil {
		f.buf = appendSnapshotRef(f.buf, s.Index, s.Term, false)
	}
	if p.compact {
		f.buf = appendPosition(f.buf, tagCompact, p.compactIndex, p.compactTerm)
	}
	if len(p.ents) > 0 {
		w.sizes = appendEntries(f, p.ents, w.sizes[:0])
		p.sizes, p.runs = w.sizes, f.runs
	}
	if p.hs != nil {
		f.buf = appendHardState(f.buf, p.hs)
	}
	if n := f.payloadLen(); n > maxPayload {
		return fmt.Errorf("wal: update of %d bytes is larger than the limit of %d", n, maxPayload)
	}
	size := alignUp(headerSize + f.payloadLen())
	if w.writeOff+int64(size) > w.active.size {
		if err := w.roll(size); err != nil {
			return err
		}
	}
	f.finish(recBatch, w.seq+1)
	off := w.writeOff
	if n, err := f.write(w.active.f, off); err != nil || n != size {
		if err == nil {
			err = fmt.Errorf("short write (%d of %d bytes)", n, size)
		}
		return w.stop("write to "+w.active.name, err)
	}
	w.writeOff += int64(size)
	w.seq++
	w.dirty = true
	var staged *cacheAppend
	if sync {
		staged = w.beforeSync(p, off, size)
		if err := w.syncActive(); err != nil {
			return err
		}
	}
	w.publish(p, extent{seg: uint32(w.active.num), off: uint32(off), size: uint32(size)}, staged)
	if sync {
		return w.cleanup()
	}
	return nil
}

// beforeSync gets the device going on a record of writebackMin bytes or
// more, written at off (a hint: a failed write-back is the sync's to
// report), and meanwhile prepares the cache's part of publishing p, which
// it returns (nil: nothing prepared).
func (w *WAL) beforeSync(p *plan, off int64, size int) *cacheAppend {
	if size < writebackMin {
		return nil
	}
	_ = vfs.StartWriteback(w.active.f, off, int64(size))
	if len(p.ents) == 0 || p.snap != nil || p.ents[0].Index != w.idx.last+1 {
		return nil
	}
	a := w.idx.cache.prepare(p.ents[0].Index, p.ents, p.sizes, w.opts.CacheBytes)
	return &a
}

// syncActive syncs the active segment; a failure stops the wal.
func (w *WAL) syncActive() error {
	if !w.opts.UnsafeNoSync {
		if err := w.active.f.Sync(); err != nil {
			return w.stop("sync of "+w.active.name, err)
		}
	}
	w.dirty, w.durableSeq = false, w.seq
	return nil
}

// writebackMin is the smallest record a synced Save starts writing back
// before its fdatasync. On the machine measured (bench/walbench
// BenchmarkDisk) starting it early costs nothing and lets the device absorb
// ~10 µs of CPU from 52 KiB up, and a 1 MiB record synced that way took
// 40 µs less; for a 4 KiB one the extra call costs what it hides.
const writebackMin = 32 << 10

// publish applies a written plan to what readers see, with the cache's
// part prepared (staged) or not (nil).
func (w *WAL) publish(p *plan, loc extent, staged *cacheAppend) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := p.snap; s != nil {
		w.snap = shareSnapshot(s)
		w.idx.reset(s.Metadata.Index, s.Metadata.Term)
	}
	if s := p.created; s != nil {
		w.snap = s
	}
	if p.compact {
		w.idx.compact(p.compactIndex, p.compactTerm)
	}
	if len(p.ents) > 0 {
		first := p.ents[0].Index
		w.idx.truncate(first)
		loc.first = first
		if staged == nil {
			a := w.idx.cache.prepare(first, p.ents, p.sizes, w.opts.CacheBytes)
			staged = &a
		}
		w.idx.appendSaved(p.ents, p.runs, loc, *staged, w.opts.CacheBytes)
	}
	if p.hs != nil {
		w.hs = storeHardState(w.hs, p.hs)
	}
}

// Append appends entries and syncs them (one Save). Stored entries from the
// first new index on are replaced; entries at or before the start of the log
// are skipped; a first index beyond LastIndex()+1 is an error.
func (w *WAL) Append(ents []*pb.Entry) error {
	return w.Save(Update{Entries: ents, MustSync: true})
}

// SetHardState stores hs durably (one Save).
func (w *WAL) SetHardState(hs *pb.HardState) error {
	if hs == nil {
		return errors.New("wal: SetHardState called with a nil hard state")
	}
	return w.Save(Update{HardState: hs, MustSync: true})
}

// ApplySnapshot replaces the log with snap durably (one Save). It returns
// raft.ErrSnapOutOfDate if snap is not newer than the latest snapshot, and
// another error for a nil snapshot or one without metadata.
func (w *WAL) ApplySnapshot(snap *pb.Snapshot) error {
	if snap == nil {
		return errors.New("wal: ApplySnapshot called with a nil snapshot")
	}
	return w.save(&plan{snap: snap}, true)
}

// CreateSnapshot records a snapshot of the state machine at index i, which
// must still be in the log, with configuration cs (nil: the previous
// snapshot's) and data, durably. The log is not compacted (see Compact). It
// returns raft.ErrSnapOutOfDate if i is not past the latest snapshot,
// raft.ErrCompacted if the term of i is gone, and an error wrapping
// raft.ErrUnavailable if i > LastIndex().
func (w *WAL) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	p := &plan{create: true, compactIndex: i, createCS: cs, createData: data}
	if err := w.save(p, true); err != nil {
		return nil, err
	}
	return shareSnapshot(p.created), nil
}

// Compact discards the entries before compactIndex durably; the entry at
// compactIndex survives as the position the log starts after. Whole segments
// that hold only discarded entries are deleted. It returns raft.ErrCompacted
// if compactIndex is not past the start of the log and an error wrapping
// raft.ErrUnavailable if it is beyond LastIndex().
func (w *WAL) Compact(compactIndex uint64) error {
	return w.save(&plan{compact: true, compactIndex: compactIndex}, true)
}

// storeHardState returns a copy of hs for the wal to keep, reusing old
// (the one it kept so far, never handed out: readers get clones) when
// neither carries unknown fields, so a Save allocates nothing for it. It is
// proto.Clone at a fraction of the cost (a Save of a thousand entries paid
// microseconds for the generic one): TestStoreHardState checks it copies
// every field raftpb declares.
func storeHardState(old, hs *pb.HardState) *pb.HardState {
	if len(hs.ProtoReflect().GetUnknown()) != 0 {
		return proto.Clone(hs).(*pb.HardState)
	}
	if old == nil || len(old.ProtoReflect().GetUnknown()) != 0 {
		old = &pb.HardState{}
	}
	old.Term, old.Vote, old.Commit = hs.Term, hs.Vote, hs.Commit
	return old
}
