package wal

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
)

// Inspection is what Inspect found in a log directory: the state Open would
// recover, where it lives, and any damage.
type Inspection struct {
	Dir string `json:"dir"`
	// InUse reports that a WAL held the directory's lock when it was
	// inspected: its tail may have been changing meanwhile.
	InUse    bool          `json:"in_use"`
	Segments []SegmentInfo `json:"segments"`
	// FirstIndex and LastIndex bound the live entries as Open would
	// present them (FirstIndex = LastIndex+1 when the log is empty).
	FirstIndex uint64        `json:"first_index"`
	LastIndex  uint64        `json:"last_index"`
	HardState  HardStateInfo `json:"hard_state"`
	Snapshot   *SnapshotInfo `json:"snapshot,omitempty"`
	// SnapshotFiles are the snapshot files in the directory (Open removes
	// all but Snapshot's).
	SnapshotFiles []string `json:"snapshot_files,omitempty"`
	// TornTail is damage Open cuts automatically: the unfinished last
	// write of a crash.
	TornTail *Damage `json:"torn_tail,omitempty"`
	// Corruption is damage Open refuses to start with (Repair cuts there);
	// the state above is what the records before it hold.
	Corruption *Damage `json:"corruption,omitempty"`
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	File string `json:"file"`
	Size int64  `json:"size"`
	// Used is the number of bytes its valid records take.
	Used    int64 `json:"used"`
	Records int   `json:"records"`
	// FirstSeq and LastSeq are the sequence numbers of its valid records.
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// FirstIndex and LastIndex bound the live entries stored in it (0, 0:
	// none).
	FirstIndex uint64 `json:"first_index,omitempty"`
	LastIndex  uint64 `json:"last_index,omitempty"`
	// Unused marks a segment prepared ahead and never written (or whose
	// first write was torn): Open removes it.
	Unused bool `json:"unused,omitempty"`
	// NotRead marks a segment after the corruption, not examined.
	NotRead bool `json:"not_read,omitempty"`
}

// HardStateInfo is the stored raftpb.HardState.
type HardStateInfo struct {
	Term   uint64 `json:"term"`
	Vote   uint64 `json:"vote"`
	Commit uint64 `json:"commit"`
}

// SnapshotInfo describes the latest snapshot.
type SnapshotInfo struct {
	File      string `json:"file"`
	Index     uint64 `json:"index"`
	Term      uint64 `json:"term"`
	DataBytes int    `json:"data_bytes"`
	// Voters ... are the snapshot's configuration.
	Voters         []uint64 `json:"voters"`
	Learners       []uint64 `json:"learners,omitempty"`
	VotersOutgoing []uint64 `json:"voters_outgoing,omitempty"`
	LearnersNext   []uint64 `json:"learners_next,omitempty"`
	AutoLeave      bool     `json:"auto_leave,omitempty"`
}

// Damage locates damage in a file.
type Damage struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Reason string `json:"reason"`
	// Bytes counts the non-zero bytes from Offset to the end of the file
	// (for a torn tail: what Open zeroes).
	Bytes int64 `json:"bytes,omitempty"`
}

// Inspect reads the log in dir the way Open would, without changing
// anything (it takes no lock and writes nothing), and reports its segments,
// the state it holds and any damage: a torn tail that Open would cut, or
// the corruption that makes Open refuse (then the state is that of the
// records before it). The error is for a directory that cannot be read.
// Inspecting a log another process is writing is allowed, but its tail
// may be mid-write (InUse says so).
func Inspect(dir string, opts Options) (*Inspection, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	fs := opts.FS
	ins := &Inspection{Dir: dir, InUse: inUse(fs, dir)}
	d, err := listDir(fs, dir)
	if err != nil {
		return nil, err
	}
	ins.SnapshotFiles = d.snaps
	x := &inspector{ins: ins, fs: fs, dir: dir, r: &segmentReader{fs: fs, dir: dir}, rp: &replayer{hs: &pb.HardState{}}}
	if err := x.run(d.segs); err != nil {
		return nil, err
	}
	return ins, nil
}

// inUse reports whether a WAL holds dir's lock. It only tries when the lock
// file exists, so that inspecting creates nothing.
func inUse(fs vfs.FS, dir string) bool {
	name := filepath.Join(dir, lockFile)
	if _, err := fs.Stat(name); err != nil {
		return false
	}
	l, err := fs.Lock(name)
	if err != nil {
		return errors.Is(err, vfs.ErrLocked)
	}
	l.Close()
	return false
}

type inspector struct {
	ins *Inspection
	fs  vfs.FS
	dir string
	r   *segmentReader
	rp  *replayer
}

func (x *inspector) path(num uint64) string { return filepath.Join(x.dir, segmentFile(num)) }

// corrupt records the corruption.
func (x *inspector) corrupt(file string, off int64, reason string) {
	x.ins.Corruption = &Damage{File: file, Offset: off, Reason: reason}
}

func (x *inspector) run(nums []uint64) error {
	if len(nums) == 0 {
		x.finish()
		return nil
	}
	tail, err := findTail(x.r, nums)
	if err != nil {
		return err
	}
	if tail < 0 {
		x.corrupt(x.path(nums[0]), 0, "every segment is empty: the log's first segment header is missing")
	}
	var prevSeq uint64
	i := 0
	for ; i <= tail && x.ins.Corruption == nil; i++ {
		num := nums[i]
		if i > 0 && num != nums[i-1]+1 {
			x.corrupt(x.path(nums[i-1]+1), 0, "segment missing")
			break
		}
		last, cutWhole, err := x.segment(num, i == 0, i == tail, prevSeq)
		if err != nil {
			return err
		}
		if cutWhole {
			tail = i - 1
			i++
			break
		}
		prevSeq = last
	}
	// What follows the tail was never written; what follows corruption
	// was not read.
	for ; i < len(nums); i++ {
		info := SegmentInfo{File: segmentFile(nums[i])}
		if fi, err := x.fs.Stat(x.path(nums[i])); err == nil {
			info.Size = fi.Size()
		}
		if x.ins.Corruption != nil {
			info.NotRead = true
		} else {
			info.Unused = true
		}
		x.ins.Segments = append(x.ins.Segments, info)
	}
	if x.ins.Corruption == nil && x.rp.idx.provisional {
		x.corrupt(x.path(nums[max(tail, 0)]), 0, fmt.Sprintf("entries up to %d are missing (a segment was deleted?)", x.rp.idx.start))
	}
	x.finish()
	return nil
}

// segment examines one segment as recovery does; it returns the sequence
// number of its last record, and whether the segment's first write was
// torn (Open drops the whole segment).
func (x *inspector) segment(num uint64, first, tail bool, prevSeq uint64) (uint64, bool, error) {
	name := x.path(num)
	f, data, err := x.r.read(num, false)
	if err != nil {
		return 0, false, err
	}
	f.Close()
	info := SegmentInfo{File: segmentFile(num), Size: int64(len(data))}
	defer func() { x.ins.Segments = append(x.ins.Segments, info) }()
	if num > math.MaxUint32 || int64(len(data)) > math.MaxUint32 {
		x.corrupt(name, 0, fmt.Sprintf("segment number %d or size %d out of range", num, len(data)))
		return 0, false, nil
	}
	s := scanSegment(data, prevSeq, first)
	info.Used, info.Records = s.end, len(s.records)
	if n := len(s.records); n > 0 {
		info.FirstSeq, info.LastSeq = s.records[0].seq, s.records[n-1].seq
	}
	// The records before any damage are replayed either way: for
	// corruption, the state they hold is what the report shows.
	var dmg *Damage
	if s.bad != nil {
		dmg = &Damage{File: name, Offset: s.bad.off, Reason: corruption(name, s.bad).(*CorruptionError).Reason, Bytes: nonZeroFrom(data, s.bad.off)}
		switch {
		case !tail || s.bad.proven || s.bad.off == 0 && first:
			x.ins.Corruption = dmg
		case s.bad.off == 0:
			info.Unused = true
			x.ins.TornTail = dmg
			return prevSeq, true, nil
		default:
			x.ins.TornTail = dmg
		}
	}
	if len(s.records) == 0 {
		if x.ins.Corruption == nil {
			x.corrupt(name, 0, "segment without a header record")
		}
		return 0, false, nil
	}
	seg := &segment{num: num, name: name, size: int64(len(data))}
	for _, rec := range s.records {
		if err := x.rp.apply(x.dir, seg, rec); err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				return 0, false, err
			}
			// Open reports damage the scan found before replaying.
			if x.ins.Corruption == nil {
				x.ins.Corruption = &Damage{File: ce.File, Offset: ce.Offset, Reason: ce.Reason}
			}
			break
		}
		prevSeq = rec.seq
	}
	return prevSeq, false, nil
}

// nonZeroFrom counts the bytes from off to the last non-zero one.
func nonZeroFrom(data []byte, off int64) int64 {
	end := int64(len(data))
	for end > off && data[end-1] == 0 {
		end--
	}
	return end - off
}

// finish fills in the state the replayed records hold.
func (x *inspector) finish() {
	ins, rp := x.ins, x.rp
	l := &rp.idx
	ins.FirstIndex, ins.LastIndex = l.start+1, l.last
	ins.HardState = HardStateInfo{Term: rp.hs.GetTerm(), Vote: rp.hs.GetVote(), Commit: rp.hs.GetCommit()}
	pos := map[uint64]int{}
	for s := range ins.Segments {
		if n, ok := parseSegmentFile(ins.Segments[s].File); ok {
			pos[n] = s
		}
	}
	for k, ext := range l.extents {
		if s, ok := pos[uint64(ext.seg)]; ok {
			seg := &ins.Segments[s]
			if seg.FirstIndex == 0 {
				seg.FirstIndex = ext.first
			}
			seg.LastIndex = l.extentLast(k)
		}
	}
	if rp.snapIdx == 0 {
		return
	}
	name := snapFile(rp.snapIdx, rp.snapTerm)
	info := &SnapshotInfo{File: name, Index: rp.snapIdx, Term: rp.snapTerm}
	ins.Snapshot = info
	s, err := readSnapshotFile(x.fs, filepath.Join(x.dir, name), rp.snapIdx, rp.snapTerm)
	if err != nil {
		if ins.Corruption == nil {
			d := &Damage{File: filepath.Join(x.dir, name), Reason: err.Error()}
			var ce *CorruptionError
			if errors.As(err, &ce) {
				d.Offset, d.Reason = ce.Offset, ce.Reason
			}
			ins.Corruption = d
		}
		return
	}
	info.DataBytes = len(s.GetData())
	cs := s.GetMetadata().GetConfState()
	info.Voters, info.Learners = cs.GetVoters(), cs.GetLearners()
	info.VotersOutgoing, info.LearnersNext, info.AutoLeave = cs.GetVotersOutgoing(), cs.GetLearnersNext(), cs.GetAutoLeave()
}
