package wal

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
)

// ErrCorrupt is wrapped by every CorruptionError.
var ErrCorrupt = errors.New("wal: corrupt")

// CorruptionError reports damage that is not the torn tail of a crash: a
// checksum failure or malformed record before the end of the log. Open
// refuses to start; Repair cuts the log there on purpose.
type CorruptionError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt data in %s at offset %d: %s (the log was not opened; wal.Repair cuts it there, keeping a copy of what it cuts)",
		e.File, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptionError) Unwrap() error { return ErrCorrupt }

// Open opens the log in dir, creating an empty one if dir holds no segment.
// It locks dir (a file named LOCK, held until Close or the death of the
// process): a directory another process or another Open already holds is
// refused with an error naming it, which wraps vfs.ErrLocked.
// An existing log is read whole and checked: a torn tail (the last write of
// a crash) is cut back to the last complete record, and damage anywhere else
// is reported as a *CorruptionError naming the file and offset (see the
// package documentation).
func Open(dir string, opts Options) (*WAL, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &WAL{
		dir:  dir,
		opts: opts,
		fs:   opts.FS,
		segs: map[uint64]*segment{},
		hs:   &pb.HardState{},
		snap: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{}}},
	}
	if err := w.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if w.lock, err = lockDir(w.fs, dir); err != nil {
		return nil, err
	}
	if err := w.open(); err != nil {
		w.closeFiles()
		w.lock.Close()
		return nil, err
	}
	w.prepareSpare()
	return w, nil
}

// lockFile is the name of the lock that keeps a second WAL (another
// process, or another Open in this one) and Repair out of a directory.
const lockFile = "LOCK"

// lockDir takes the directory's lock, or says who has it.
func lockDir(fs vfs.FS, dir string) (io.Closer, error) {
	l, err := fs.Lock(filepath.Join(dir, lockFile))
	if errors.Is(err, vfs.ErrLocked) {
		return nil, fmt.Errorf("wal: directory %s is in use: another process or an open WAL holds its lock (%w)", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: locking directory %s: %w", dir, err)
	}
	return l, nil
}

// open creates or recovers the log in the locked directory.
func (w *WAL) open() error {
	d, err := listDir(w.fs, w.dir)
	if err != nil {
		return err
	}
	if err := w.removeFiles(d.tmps); err != nil {
		return err
	}
	if len(d.segs) == 0 {
		return w.create()
	}
	return w.recover(d.segs)
}

// dirListing is what a log directory holds.
type dirListing struct {
	segs  []uint64 // ascending
	snaps []string
	tmps  []string
}

func listDir(fs vfs.FS, dir string) (dirListing, error) {
	var d dirListing
	names, err := fs.List(dir)
	if err != nil {
		return d, err
	}
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			d.tmps = append(d.tmps, name)
		case strings.HasPrefix(name, snapPrefix) && strings.HasSuffix(name, snapSuffix):
			d.snaps = append(d.snaps, name)
		default:
			if n, ok := parseSegmentFile(name); ok {
				d.segs = append(d.segs, n)
			}
		}
	}
	sort.Slice(d.segs, func(i, j int) bool { return d.segs[i] < d.segs[j] })
	return d, nil
}

// removeFiles removes the named files of the log directory and syncs it.
func (w *WAL) removeFiles(names []string) error {
	if len(names) == 0 {
		return nil
	}
	for _, name := range names {
		if err := w.fs.Remove(filepath.Join(w.dir, name)); err != nil {
			return err
		}
	}
	if w.opts.UnsafeNoSync {
		return nil
	}
	return w.fs.SyncDir(w.dir)
}

// create starts an empty log: segment 1 with its header, synced.
func (w *WAL) create() error {
	seg, err := createSegment(w.fs, w.dir, 1, w.opts.SegmentSize, w.opts.UnsafeNoSync)
	if err != nil {
		return err
	}
	w.segs[1], w.active = seg, seg
	hdr, start := beginRecord(nil)
	hdr = w.appendCheckpoint(hdr, 1)
	hdr = finishRecord(hdr, start, recSegment, 1)
	if _, err := seg.f.WriteAt(hdr, 0); err != nil {
		return err
	}
	w.seq, w.writeOff, w.dirty = 1, int64(len(hdr)), true
	if err := w.syncActive(); err != nil {
		return err
	}
	d, err := listDir(w.fs, w.dir)
	if err != nil {
		return err
	}
	return w.removeFiles(d.snaps)
}

// segmentReader reads whole segments into one reused buffer.
type segmentReader struct {
	fs  vfs.FS
	dir string
	buf []byte
}

func (r *segmentReader) read(num uint64, rw bool) (vfs.File, []byte, error) {
	path := filepath.Join(r.dir, segmentFile(num))
	var f vfs.File
	var err error
	if rw {
		f, err = r.fs.OpenReadWrite(path)
	} else {
		f, err = r.fs.Open(path)
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if int64(cap(r.buf)) < fi.Size() {
		r.buf = make([]byte, fi.Size())
	}
	data := r.buf[:fi.Size()]
	if n, err := f.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && n == len(data)) {
		f.Close()
		return nil, nil, fmt.Errorf("wal: reading %s: %w", path, err)
	}
	return f, data, nil
}

// findTail returns the position in nums of the last segment holding any
// non-zero byte (-1: none). Segments after it were prepared and never
// written.
func findTail(r *segmentReader, nums []uint64) (int, error) {
	for i := len(nums) - 1; i >= 0; i-- {
		f, data, err := r.read(nums[i], false)
		if err != nil {
			return 0, err
		}
		f.Close()
		if !allZero(data) {
			return i, nil
		}
	}
	return -1, nil
}

// replayer rebuilds the state from the records.
type replayer struct {
	idx      logIndex
	hs       *pb.HardState
	snapIdx  uint64
	snapTerm uint64
	// based: the checkpoint of the oldest segment was applied.
	based bool
	// known is the latest start of the log a record states (checkpoint,
	// compaction, snapshot), with its term. While idx is provisional its
	// start may be above known: the entries between were in deleted
	// segments, and a later record must cover them.
	known, knownTerm uint64
}

// recover reads the segments nums, cuts a torn tail, and makes the log
// ready for writing after its last record.
func (w *WAL) recover(nums []uint64) error {
	r := &segmentReader{fs: w.fs, dir: w.dir}
	tail, err := findTail(r, nums)
	if err != nil {
		return err
	}
	if tail < 0 {
		return &CorruptionError{File: filepath.Join(w.dir, segmentFile(nums[0])), Reason: "every segment is empty: the log's first segment header is missing"}
	}
	rp := &replayer{hs: &pb.HardState{}}
	var prevSeq uint64
	for i := 0; i <= tail; i++ {
		num := nums[i]
		if i > 0 && num != nums[i-1]+1 {
			return &CorruptionError{File: filepath.Join(w.dir, segmentFile(nums[i-1]+1)), Reason: "segment missing"}
		}
		f, data, err := r.read(num, true)
		if err != nil {
			return err
		}
		seg := &segment{num: num, name: filepath.Join(w.dir, segmentFile(num)), f: f, size: int64(len(data))}
		w.segs[num] = seg
		if num > math.MaxUint32 || int64(len(data)) > math.MaxUint32 {
			return &CorruptionError{File: seg.name, Reason: fmt.Sprintf("segment number %d or size %d out of range", num, len(data))}
		}
		s := scanSegment(data, prevSeq, i == 0)
		if s.bad != nil {
			if i < tail || s.bad.proven {
				return corruption(seg.name, s.bad)
			}
			if s.bad.off == 0 {
				if i == 0 {
					return corruption(seg.name, s.bad)
				}
				// The crash tore the new segment's first write: drop the
				// segment, the previous one becomes the tail.
				w.opts.Logger.Warn("wal: cut torn tail", "file", seg.name, "offset", 0, "reason", s.bad.reason)
				tail = i - 1
				break
			}
			if err := w.cutTail(seg, data, s.bad); err != nil {
				return err
			}
		}
		if len(s.records) == 0 {
			return &CorruptionError{File: seg.name, Reason: "segment without a header record"}
		}
		for _, rec := range s.records {
			if err := rp.apply(w.dir, seg, rec); err != nil {
				return err
			}
			prevSeq = rec.seq
		}
		w.active, w.writeOff = seg, s.end
	}
	// Prepared segments never written: remove them (a new spare is made).
	var unused []string
	for _, num := range nums[tail+1:] {
		if seg := w.segs[num]; seg != nil {
			seg.f.Close()
			delete(w.segs, num)
		}
		unused = append(unused, segmentFile(num))
	}
	if err := w.removeFiles(unused); err != nil {
		return err
	}
	if err := w.finishRecovery(rp, prevSeq); err != nil {
		return err
	}
	// What survived the crash may still sit in the page cache only: make
	// it durable before treating it as such.
	w.dirty = true
	if err := w.syncActive(); err != nil {
		return err
	}
	return w.cleanup()
}

func corruption(file string, d *damage) error {
	reason := d.reason
	if d.proven {
		reason += fmt.Sprintf(" (the valid record at offset %d was written after this one was synced, so this is not a torn write)", d.proof)
	}
	return &CorruptionError{File: file, Offset: d.off, Reason: reason}
}

// cutTail zeroes the tail segment from the damage on, and syncs it.
func (w *WAL) cutTail(seg *segment, data []byte, d *damage) error {
	end := len(data)
	for end > int(d.off) && data[end-1] == 0 {
		end--
	}
	w.opts.Logger.Warn("wal: cut torn tail", "file", seg.name, "offset", d.off, "bytes", end-int(d.off), "reason", d.reason)
	for off := d.off; off < int64(end); {
		n := min(int64(len(zeros)), int64(end)-off)
		if _, err := seg.f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	if w.opts.UnsafeNoSync {
		return nil
	}
	return seg.f.Sync()
}

// apply replays one record.
func (rp *replayer) apply(dir string, seg *segment, rec record) error {
	bad := func(err error) error {
		return &CorruptionError{File: seg.name, Offset: rec.off, Reason: err.Error()}
	}
	if rec.typ == recSegment {
		num, ops, err := decodeSegmentHeader(rec.payload)
		if err != nil {
			return bad(err)
		}
		if num != seg.num {
			return bad(fmt.Errorf("segment header says %d", num))
		}
		if !rp.based {
			// The oldest segment kept: its checkpoint is the base.
			rp.based = true
			for _, o := range ops {
				rp.applyCheckpoint(o)
			}
		}
		return nil
	}
	_, ops, err := decodeBatch(rec.payload, false)
	if err != nil {
		return bad(err)
	}
	for k := range ops {
		if err := rp.applyOp(&ops[k], seg, rec); err != nil {
			return bad(err)
		}
	}
	return nil
}

func (rp *replayer) applyCheckpoint(o op) {
	switch o.tag {
	case tagSnapshot:
		rp.snapIdx, rp.snapTerm = o.index, o.term
	case tagStart:
		rp.idx.reset(o.index, o.term)
		rp.known, rp.knownTerm = o.index, o.term
	case tagHardState:
		rp.hs = o.hs
	}
}

func (rp *replayer) applyOp(o *op, seg *segment, rec record) error {
	l := &rp.idx
	switch o.tag {
	case tagHardState:
		rp.hs = o.hs
	case tagSnapshot:
		rp.snapIdx, rp.snapTerm = o.index, o.term
		if o.reset {
			l.reset(o.index, o.term)
			rp.known, rp.knownTerm = o.index, o.term
		}
	case tagCompact:
		if o.index > rp.known {
			rp.known, rp.knownTerm = o.index, o.term
		}
		if o.index > l.start || l.provisional && o.index == l.start {
			l.compact(o.index, o.term)
		}
	case tagStart:
		return errors.New("log start item in a batch")
	case tagEntries:
		first, terms := o.index, o.terms
		if first > l.last+1 || l.provisional && first <= l.start {
			if first-1 <= rp.known {
				// The batch starts within what a record already
				// discarded: nothing before it is missing.
				l.reset(rp.known, rp.knownTerm)
			} else {
				// Entries after a gap: the ones before were in
				// segments deleted after a compaction that a later
				// record states.
				l.reset(first-1, 0)
				l.provisional = true
			}
		}
		if first <= l.start {
			if skip := l.start + 1 - first; skip < uint64(len(terms)) {
				first, terms = first+skip, terms[skip:]
			} else {
				return nil
			}
		}
		l.truncate(first)
		l.appendRecovered(terms, extent{
			first: first, skip: uint32(first - o.index),
			seg: uint32(seg.num), off: uint32(rec.off), size: uint32(rec.size),
		})
	}
	return nil
}

// finishRecovery checks the rebuilt state, loads the snapshot and the
// recent entries, and publishes it.
func (w *WAL) finishRecovery(rp *replayer, lastSeq uint64) error {
	if rp.idx.provisional {
		return &CorruptionError{File: w.active.name, Reason: fmt.Sprintf("entries up to %d are missing (a segment was deleted?)", rp.idx.start)}
	}
	w.idx, w.hs, w.seq, w.durableSeq = rp.idx, rp.hs, lastSeq, lastSeq
	if rp.snapIdx > 0 {
		w.snapName = snapFile(rp.snapIdx, rp.snapTerm)
		s, err := readSnapshotFile(w.fs, filepath.Join(w.dir, w.snapName), rp.snapIdx, rp.snapTerm)
		if err != nil {
			return err
		}
		w.snap = shareSnapshot(s)
	}
	w.snapChanged = true // remove stale snapshot files in cleanup
	return w.fillCache()
}

// fillCache reads the most recent entries back into memory, up to the
// cache limit.
func (w *WAL) fillCache() error {
	// Newest first, reversed at the end.
	var ents []*pb.Entry
	size := 0
	for k := len(w.idx.extents) - 1; k >= 0 && size < w.opts.CacheBytes; k-- {
		x := w.idx.extents[k]
		all, err := w.readExtent(x)
		if err != nil {
			return err
		}
		part := all[x.skip : w.idx.extentLast(k)-x.base()+1]
		for n := len(part); n > 0 && size < w.opts.CacheBytes; n-- {
			size += knownSize(part[n-1])
			ents = append(ents, part[n-1])
		}
	}
	slices.Reverse(ents)
	sizes := make([]uint32, len(ents))
	for k, e := range ents {
		sizes[k] = uint32(knownSize(e))
	}
	w.idx.cache.reset(w.idx.last + 1)
	if len(ents) > 0 {
		w.idx.cache.append(w.idx.last+1-uint64(len(ents)), ents, sizes, w.opts.CacheBytes)
	}
	w.idx.cache.evict(w.opts.CacheBytes)
	w.rc = readCache{}
	return nil
}

// Close stops the background work and closes the files. Later calls return
// ErrClosed (or the error that stopped the wal).
func (w *WAL) Close() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.spare != nil {
		if r := <-w.spare; r.seg != nil {
			r.seg.f.Close()
		}
		w.spare = nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(w.err, ErrClosed) {
		return ErrClosed
	}
	var err error
	if w.dirty && w.err == nil && !w.opts.UnsafeNoSync {
		err = w.active.f.Sync()
	}
	w.closeFilesLocked()
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
	if w.err == nil {
		w.err = ErrClosed
	}
	return err
}

func (w *WAL) closeFiles() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeFilesLocked()
}

func (w *WAL) closeFilesLocked() {
	for num, seg := range w.segs {
		seg.f.Close()
		delete(w.segs, num)
	}
}

var _ raft.Storage = (*WAL)(nil)
