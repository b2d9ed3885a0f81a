package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
)

// Options configure a WAL. The zero value is the production setting.
type Options struct {
	// FS is the file system; nil means vfs.Default.
	FS vfs.FS
	// SegmentSize is the size of each segment file (default 64 MiB). A
	// Save larger than a segment gets a segment of its own, as large as
	// it needs.
	SegmentSize int64
	// CacheBytes bounds the encoded size of the most recent entries kept
	// in memory (default 8 MiB). Older entries are read from disk.
	CacheBytes int
	// Logger receives recovery events (a torn tail cut); nil discards.
	Logger *slog.Logger
	// PreallocateInline prepares each new segment inside the Save that
	// needs it instead of ahead of time in a background goroutine. The
	// order of file operations then depends on the calls alone, which
	// crash tests and simulators need; rolling to a new segment is slower.
	PreallocateInline bool
	// UnsafeNoSync skips every fsync. Nothing survives a machine crash;
	// for tests only.
	UnsafeNoSync bool
}

const (
	defaultSegmentSize = 64 << 20
	defaultCacheBytes  = 8 << 20
	minSegmentSize     = 4 << 10
	// maxSegmentSize keeps offsets within a segment, even one grown to
	// hold the largest update, below 4 GiB: the index stores them in 32
	// bits.
	maxSegmentSize = 1 << 30
)

func (o Options) withDefaults() (Options, error) {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	switch {
	case o.SegmentSize == 0:
		o.SegmentSize = defaultSegmentSize
	case o.SegmentSize < minSegmentSize || o.SegmentSize > maxSegmentSize || o.SegmentSize%recordAlign != 0:
		return o, fmt.Errorf("wal: segment size %d: must be a multiple of %d from %d to %d", o.SegmentSize, recordAlign, minSegmentSize, maxSegmentSize)
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = defaultCacheBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Update is one Ready's writes, made durable together with one fsync (when
// MustSync).
type Update struct {
	// HardState replaces the stored hard state; nil leaves it unchanged.
	HardState *pb.HardState
	// Entries are appended; stored entries at and after Entries[0].Index
	// are replaced. Entries at or before the start of the log (compacted)
	// are skipped. The wal keeps the pointers: do not modify them later.
	Entries []*pb.Entry
	// Snapshot, if not nil, replaces the log up to its index: the log is
	// emptied and restarts after the snapshot (applied before Entries). A
	// snapshot at index 0 (empty) counts as none. One not newer than the
	// latest snapshot is refused with raft.ErrSnapOutOfDate.
	Snapshot *pb.Snapshot
	// MustSync makes the update durable before Save returns (raft's
	// MustSync). Without it the update is written but not synced: a crash
	// may lose it, until a later synced Save.
	MustSync bool
}

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("wal: closed")

// WAL is a durable raft.Storage. See the package documentation.
type WAL struct {
	dir  string
	opts Options
	fs   vfs.FS
	// lock is the directory's lock, held from Open to Close (nil after).
	// Guarded by mu.
	lock io.Closer

	// wmu serializes the writers (Save and everything built on it,
	// Close). The fields below it are owned by whoever holds it.
	wmu    sync.Mutex
	frame  frame    // reused by commit: the record being written
	sizes  []uint32 // reused by commit: the encoded size of each entry saved
	active *segment
	// writeOff is where the next record goes in the active segment.
	writeOff int64
	// seq is the sequence number of the last record written, durableSeq
	// of the last one known synced; dirty reports writes since the last
	// sync of the active segment.
	seq, durableSeq uint64
	dirty           bool
	// spare delivers the next segment, prepared in the background (nil:
	// none under way).
	spare chan spareResult
	// snapName is the file of the latest snapshot ("" for none);
	// snapChanged reports that older snapshot files are to be removed.
	snapName    string
	snapChanged bool

	// mu guards what readers see: the state as of the last Save that
	// returned. Writers change it only while holding wmu too.
	mu   sync.RWMutex
	err  error // sticky: once set, every call fails with it
	segs map[uint64]*segment
	idx  logIndex
	hs   *pb.HardState
	snap *pb.Snapshot

	rc readCache
}

var _ raft.Storage = (*WAL)(nil)

// stopped returns the sticky error, if any.
func (w *WAL) stopped() error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.err
}

// stop makes err sticky: after a failed write, sync or file operation the
// state of the disk is unknown (a failed fsync may have dropped the data it
// was flushing), so the wal refuses all further calls instead of retrying.
func (w *WAL) stop(what string, err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = fmt.Errorf("wal: stopped after a failed %s: %w", what, err)
		w.opts.Logger.Error("wal stopped", "op", what, "err", err)
	}
	return w.err
}

// InitialState returns the stored hard state and the conf state of the
// latest snapshot (empty when there is none).
func (w *WAL) InitialState() (*pb.HardState, *pb.ConfState, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.err != nil {
		return nil, nil, w.err
	}
	cs := &pb.ConfState{}
	if c := w.snap.GetMetadata().GetConfState(); c != nil {
		cs = proto.Clone(c).(*pb.ConfState)
	}
	return proto.Clone(w.hs).(*pb.HardState), cs, nil
}

// FirstIndex returns the index of the first entry Entries may return.
func (w *WAL) FirstIndex() (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.err != nil {
		return 0, w.err
	}
	return w.idx.start + 1, nil
}

// LastIndex returns the index of the last entry (the start of the log when
// it is empty).
func (w *WAL) LastIndex() (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.err != nil {
		return 0, w.err
	}
	return w.idx.last, nil
}

// Term returns the term of entry i, available for FirstIndex()-1 through
// LastIndex(); ErrCompacted below, ErrUnavailable above.
func (w *WAL) Term(i uint64) (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	switch {
	case w.err != nil:
		return 0, w.err
	case i < w.idx.start:
		return 0, raft.ErrCompacted
	case i > w.idx.last:
		return 0, raft.ErrUnavailable
	}
	return w.idx.term(i), nil
}

// Snapshot returns the latest snapshot (an empty one at index 0 when there
// is none). The metadata is a copy; the data is shared and must not be
// modified.
func (w *WAL) Snapshot() (*pb.Snapshot, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.err != nil {
		return nil, w.err
	}
	return shareSnapshot(w.snap), nil
}

func shareSnapshot(s *pb.Snapshot) *pb.Snapshot {
	md := &pb.SnapshotMetadata{}
	if s.GetMetadata() != nil {
		md = proto.Clone(s.GetMetadata()).(*pb.SnapshotMetadata)
	}
	if md.ConfState == nil {
		md.ConfState = &pb.ConfState{}
	}
	return &pb.Snapshot{Data: s.GetData(), Metadata: md}
}

// Entries returns the entries in [lo, hi), at most maxSize bytes of encoded
// entries but at least one when the range is not empty. Recent entries come
// from memory, older ones from disk (each batch checksummed again). It
// returns ErrCompacted if lo <= the start of the log and ErrUnavailable if
// hi > LastIndex()+1. The entries must not be modified.
func (w *WAL) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if lo > hi {
		return nil, fmt.Errorf("wal: invalid entry range [%d, %d)", lo, hi)
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	switch {
	case w.err != nil:
		return nil, w.err
	case lo <= w.idx.start:
		return nil, raft.ErrCompacted
	case hi > w.idx.last+1:
		return nil, raft.ErrUnavailable
	case lo == hi:
		return nil, nil
	}
	cf := w.idx.cacheFirst()
	if lo >= cf {
		return w.idx.cache.get(lo, hi, maxSize), nil
	}
	out := sizeLimited{max: maxSize}
	for i := lo; i < hi; {
		if i >= cf {
			w.idx.cache.each(i, hi, out.add)
			return out.entries(), nil
		}
		k := w.idx.findExtent(i)
		x := w.idx.extents[k]
		ents, err := w.readExtent(x)
		if err != nil {
			return nil, err
		}
		end := min(hi, w.idx.extentLast(k)+1, cf)
		for ; i < end; i++ {
			if !out.add(ents[i-x.base()]) {
				return out.entries(), nil
			}
		}
	}
	return out.entries(), nil
}

// sizeLimited collects entries up to a size limit, but at least one.
type sizeLimited struct {
	ents      []*pb.Entry
	size, max uint64
}

// add appends e unless the size limit is reached; it reports whether to go
// on.
func (l *sizeLimited) add(e *pb.Entry) bool {
	s := uint64(entrySize(e))
	if len(l.ents) > 0 && l.size+s > l.max {
		return false
	}
	l.ents, l.size = append(l.ents, e), l.size+s
	return true
}

// entries returns what was collected, capped so that appending copies.
func (l *sizeLimited) entries() []*pb.Entry { return l.ents[:len(l.ents):len(l.ents)] }

func limitSize(ents []*pb.Entry, maxSize uint64) []*pb.Entry {
	if len(ents) == 0 {
		return ents
	}
	size := uint64(entrySize(ents[0]))
	n := 1
	for ; n < len(ents); n++ {
		size += uint64(entrySize(ents[n]))
		if size > maxSize {
			break
		}
	}
	return ents[:n:n]
}

// readCache keeps the entries of the batch read from disk last: a follower
// catching up reads a batch's entries over several calls.
type readCache struct {
	mu   sync.Mutex
	seg  uint32
	off  uint32
	ents []*pb.Entry
}

// readExtent returns all the entries of the batch record behind x, read
// from disk and checked again. Called with mu held for reading.
func (w *WAL) readExtent(x extent) ([]*pb.Entry, error) {
	w.rc.mu.Lock()
	defer w.rc.mu.Unlock()
	if w.rc.ents != nil && w.rc.seg == x.seg && w.rc.off == x.off {
		return w.rc.ents, nil
	}
	seg := w.segs[uint64(x.seg)]
	if seg == nil {
		panic(fmt.Sprintf("wal: invariant broken: extent in segment %d, which is not open", x.seg))
	}
	buf := make([]byte, x.size)
	if _, err := seg.f.ReadAt(buf, int64(x.off)); err != nil {
		return nil, fmt.Errorf("wal: reading %s at offset %d: %w", seg.name, x.off, err)
	}
	ents, err := batchEntries(buf, x.base())
	if err != nil {
		return nil, &CorruptionError{File: seg.name, Offset: int64(x.off), Reason: err.Error()}
	}
	w.rc.seg, w.rc.off, w.rc.ents = x.seg, x.off, ents
	return ents, nil
}

// batchEntries decodes the entries of the batch record in buf whose first
// entry is base.
func batchEntries(buf []byte, base uint64) ([]*pb.Entry, error) {
	r, _, reason := parseRecord(buf, 0)
	if reason == "" && r.typ != recBatch {
		reason = "not a batch record"
	}
	if reason != "" {
		return nil, errors.New(reason)
	}
	_, ops, err := decodeBatch(r.payload, true)
	if err != nil {
		return nil, err
	}
	for k := range ops {
		if ops[k].tag == tagEntries && ops[k].index == base {
			return decodeEntries(&ops[k])
		}
	}
	return nil, fmt.Errorf("batch holds no entries from index %d", base)
}
