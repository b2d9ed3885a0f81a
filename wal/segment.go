package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft/internal/crc32c"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
)

// segment is an open segment file.
type segment struct {
	num  uint64
	name string // path
	f    vfs.File
	size int64
}

const (
	segmentSuffix = ".wal"
	snapPrefix    = "snap-"
	snapSuffix    = ".snap"
	tmpSuffix     = ".tmp"
)

func segmentFile(num uint64) string { return fmt.Sprintf("%016x%s", num, segmentSuffix) }

func parseSegmentFile(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	return n, err == nil && n > 0
}

func snapFile(index, term uint64) string {
	return fmt.Sprintf("%s%016x-%016x%s", snapPrefix, index, term, snapSuffix)
}

// zeros is what segments are filled with before use.
var zeros = make([]byte, 1<<20)

// createSegment makes segment num of size bytes, filled with zeros and
// synced under a temporary name, then renamed into place and the directory
// synced: a segment file that exists has its full size on disk, so writing
// a record into it changes no file metadata, and fdatasync has only the data
// to flush. (Overwriting preallocated zeros is what makes later syncs cheap;
// fallocate alone leaves the extents unwritten and each sync converts them.)
func createSegment(fs vfs.FS, dir string, num uint64, size int64, noSync bool) (*segment, error) {
	final := filepath.Join(dir, segmentFile(num))
	tmp := final + tmpSuffix
	f, err := fs.Create(tmp)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		return nil, err
	}
	for off := int64(0); off < size; {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fail(err)
		}
		off += n
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := fs.Rename(tmp, final); err != nil {
		return fail(err)
	}
	if !noSync {
		if err := fs.SyncDir(dir); err != nil {
			return fail(err)
		}
	}
	return &segment{num: num, name: final, f: f, size: size}, nil
}

type spareResult struct {
	seg *segment
	err error
}

// prepareSpare starts preparing the segment after the active one.
func (w *WAL) prepareSpare() {
	if w.opts.PreallocateInline || w.spare != nil {
		return
	}
	ch := make(chan spareResult, 1)
	w.spare = ch
	fs, dir, num, size, noSync := w.fs, w.dir, w.active.num+1, w.opts.SegmentSize, w.opts.UnsafeNoSync
	go func() {
		seg, err := createSegment(fs, dir, num, size, noSync)
		ch <- spareResult{seg, err}
	}()
}

// takeSpare returns the next segment, waiting for its preparation (or doing
// it now, inline).
func (w *WAL) takeSpare() (*segment, error) {
	if w.spare == nil {
		return createSegment(w.fs, w.dir, w.active.num+1, w.opts.SegmentSize, w.opts.UnsafeNoSync)
	}
	r := <-w.spare
	w.spare = nil
	return r.seg, r.err
}

// roll moves writing to a new segment with room for a record of need bytes
// after the new segment's header. The old segment is synced first if it has
// unsynced writes: a segment is complete and durable before the next one is
// written, which is what lets recovery treat damage in any segment but the
// last as corruption.
func (w *WAL) roll(need int) error {
	if w.dirty {
		if err := w.syncActive(); err != nil {
			return err
		}
	}
	if w.active.num >= math.MaxUint32 {
		return w.stop("roll", errors.New("segment numbers exhausted"))
	}
	seg, err := w.takeSpare()
	if err != nil {
		return w.stop("creation of segment "+segmentFile(w.active.num+1), err)
	}
	hdr, start := beginRecord(nil)
	hdr = w.appendCheckpoint(hdr, seg.num)
	hdr = finishRecord(hdr, start, recSegment, w.seq+1)
	if total := int64(len(hdr) + need); total > seg.size {
		// A record larger than a segment: grow this one to fit it.
		for off := seg.size; off < total; {
			n := min(int64(len(zeros)), total-off)
			if _, err := seg.f.WriteAt(zeros[:n], off); err != nil {
				return w.stop("write to "+seg.name, err)
			}
			off += n
		}
		seg.size = total
	}
	if n, err := seg.f.WriteAt(hdr, 0); err != nil || n != len(hdr) {
		if err == nil {
			err = fmt.Errorf("short write (%d of %d bytes)", n, len(hdr))
		}
		return w.stop("write to "+seg.name, err)
	}
	w.mu.Lock()
	w.segs[seg.num] = seg
	w.mu.Unlock()
	w.active, w.writeOff, w.dirty = seg, int64(len(hdr)), true
	w.seq++
	w.prepareSpare()
	return nil
}

// appendCheckpoint appends the payload of a segment header: the state
// before the segment, so the segments before it can be deleted once the log
// no longer needs their entries.
func (w *WAL) appendCheckpoint(b []byte, num uint64) []byte {
	b = append(b, segmentMagic[:]...)
	b = appendUvarint(b, num)
	if md := w.snap.GetMetadata(); md.GetIndex() > 0 {
		b = appendSnapshotRef(b, md.Index, md.Term, false)
	}
	b = appendPosition(b, tagStart, w.idx.start, w.idx.startTerm)
	return appendHardState(b, w.hs)
}

// cleanup deletes what the durable state no longer needs: snapshot files
// other than the latest, and the segments before the one holding the first
// live entry (never the active one). Called after a synced write.
func (w *WAL) cleanup() error {
	keep := w.active.num
	if len(w.idx.extents) > 0 {
		keep = min(keep, uint64(w.idx.extents[0].seg))
	}
	var drop []*segment
	w.mu.Lock()
	for num, seg := range w.segs {
		if num < keep {
			drop = append(drop, seg)
			delete(w.segs, num)
		}
	}
	w.mu.Unlock()
	if len(drop) == 0 && !w.snapChanged {
		return nil
	}
	// Oldest first: a crash in the middle leaves a contiguous suffix.
	sortSegments(drop)
	for _, seg := range drop {
		seg.f.Close()
		if err := w.fs.Remove(seg.name); err != nil {
			return w.stop("removal of "+seg.name, err)
		}
	}
	if w.snapChanged {
		if err := w.removeStaleSnapshots(); err != nil {
			return err
		}
		w.snapChanged = false
	}
	if !w.opts.UnsafeNoSync {
		if err := w.fs.SyncDir(w.dir); err != nil {
			return w.stop("sync of directory "+w.dir, err)
		}
	}
	return nil
}

func sortSegments(segs []*segment) {
	for i := 1; i < len(segs); i++ {
		for j := i; j > 0 && segs[j].num < segs[j-1].num; j-- {
			segs[j], segs[j-1] = segs[j-1], segs[j]
		}
	}
}

// removeStaleSnapshots removes every snapshot file but the latest.
func (w *WAL) removeStaleSnapshots() error {
	names, err := w.fs.List(w.dir)
	if err != nil {
		return w.stop("listing of "+w.dir, err)
	}
	for _, name := range names {
		if strings.HasPrefix(name, snapPrefix) && strings.HasSuffix(name, snapSuffix) && name != w.snapName {
			if err := w.fs.Remove(filepath.Join(w.dir, name)); err != nil {
				return w.stop("removal of "+name, err)
			}
		}
	}
	return nil
}

// Snapshot files hold one raftpb.Snapshot:
//
//	crc32c uint32 LE (of what follows), length uint32 LE, the encoding.
//
// They are written under a temporary name, synced, renamed and the
// directory synced before the record that refers to them is written.
func (w *WAL) writeSnapshotFile(s *pb.Snapshot) error {
	md := s.GetMetadata()
	name := snapFile(md.GetIndex(), md.GetTerm())
	raw, err := marshalOpts.Marshal(s)
	if err != nil {
		return fmt.Errorf("wal: encoding snapshot: %w", err)
	}
	buf := make([]byte, 8, 8+len(raw))
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(raw)))
	buf = append(buf, raw...)
	binary.LittleEndian.PutUint32(buf, crc32c.Checksum(buf[4:]))
	path := filepath.Join(w.dir, name)
	tmp := path + tmpSuffix
	f, err := w.fs.Create(tmp)
	if err != nil {
		return w.stop("creation of "+tmp, err)
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		f.Close()
		return w.stop("write to "+tmp, err)
	}
	if !w.opts.UnsafeNoSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return w.stop("sync of "+tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		return w.stop("close of "+tmp, err)
	}
	if err := w.fs.Rename(tmp, path); err != nil {
		return w.stop("rename of "+tmp, err)
	}
	if !w.opts.UnsafeNoSync {
		if err := w.fs.SyncDir(w.dir); err != nil {
			return w.stop("sync of directory "+w.dir, err)
		}
	}
	w.snapName, w.snapChanged = name, true
	return nil
}

// readSnapshotFile reads and checks a snapshot file.
func readSnapshotFile(fs vfs.FS, path string, index, term uint64) (*pb.Snapshot, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wal: the log refers to snapshot %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < 8 || fi.Size() > 8+maxPayload {
		return nil, &CorruptionError{File: path, Reason: fmt.Sprintf("snapshot file of %d bytes", fi.Size())}
	}
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, err
	}
	if n := binary.LittleEndian.Uint32(buf[4:]); int64(n) != fi.Size()-8 {
		return nil, &CorruptionError{File: path, Offset: 4, Reason: fmt.Sprintf("length %d in a file of %d bytes", n, fi.Size())}
	}
	if crc32c.Checksum(buf[4:]) != binary.LittleEndian.Uint32(buf) {
		return nil, &CorruptionError{File: path, Reason: "checksum mismatch"}
	}
	s := &pb.Snapshot{}
	if err := proto.Unmarshal(buf[8:], s); err != nil {
		return nil, &CorruptionError{File: path, Offset: 8, Reason: err.Error()}
	}
	if md := s.GetMetadata(); md.GetIndex() != index || md.GetTerm() != term {
		return nil, &CorruptionError{File: path, Reason: fmt.Sprintf("holds snapshot %d/%d", md.GetIndex(), md.GetTerm())}
	}
	return s, nil
}

// waitSpare waits until the segment being prepared in the background is
// ready (benchmarks start their clocks after it).
func (w *WAL) waitSpare() {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.spare != nil {
		r := <-w.spare
		ch := make(chan spareResult, 1)
		ch <- r
		w.spare = ch
	}
}
