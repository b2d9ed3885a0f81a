package wal

import (
	"fmt"
	"path/filepath"

	"github.com/tickraft/raft/vfs"
)

// RepairReport says what Repair cut.
type RepairReport struct {
	// File and Offset locate the first damage; File is "" when the log
	// was undamaged (nothing was cut).
	File   string
	Offset int64
	Reason string
	// SavedTo is the directory holding what was cut: the bytes of File
	// from Offset on (as <segment>.from-<offset>) and every later segment.
	SavedTo string
	// BytesCut counts the bytes moved out of the log.
	BytesCut int64
}

// Repair cuts the log in dir at its first damage, torn tail or not: it
// copies the bytes of the damaged segment from the damage on, and moves
// every later segment, into a new directory dir/repair-<segment>-<offset>,
// then zeroes the damaged segment from there (removing it if the damage is
// at its start). Afterwards Open succeeds with the records before the
// damage. Run it only on purpose, after Open reported a *CorruptionError and
// the cause was understood: records after the damage, acknowledged as
// durable once, are no longer in the log. A Raft node repaired this way may
// have forgotten entries and votes it acknowledged; the safest course is to
// remove it from the cluster and add it back empty, or to repair only when a
// majority of the cluster still has the lost entries.
//
// An operator runs it from a small program (no WAL may be open on dir):
//
//	rep, err := wal.Repair("/var/lib/node/wal", wal.Options{})
//	fmt.Println(rep, err)
//
// It does not repair a damaged snapshot file (Open names it): restore that
// from a copy.
func Repair(dir string, opts Options) (RepairReport, error) {
	var rep RepairReport
	opts, err := opts.withDefaults()
	if err != nil {
		return rep, err
	}
	fs := opts.FS
	d, err := listDir(fs, dir)
	if err != nil {
		return rep, err
	}
	r := &segmentReader{fs: fs, dir: dir}
	var prevSeq uint64
	for i, num := range d.segs {
		f, data, err := r.read(num, true)
		if err != nil {
			return rep, err
		}
		s := scanSegment(data, prevSeq, i == 0)
		var bad *damage
		switch {
		case i > 0 && num != d.segs[i-1]+1:
			bad = &damage{reason: fmt.Sprintf("segment %d is missing before it", d.segs[i-1]+1)}
		case s.bad != nil:
			bad = s.bad
		case len(s.records) == 0 && !allZero(data):
			bad = &damage{reason: "segment without a header record"}
		}
		if bad == nil {
			if n := len(s.records); n > 0 {
				prevSeq = s.records[n-1].seq
			}
			f.Close()
			continue
		}
		rep.File, rep.Offset, rep.Reason = filepath.Join(dir, segmentFile(num)), bad.off, bad.reason
		rep.SavedTo = filepath.Join(dir, fmt.Sprintf("repair-%016x-%d", num, bad.off))
		err = cut(fs, dir, d.segs[i:], f, data, &rep, opts.UnsafeNoSync)
		f.Close()
		return rep, err
	}
	return rep, nil
}

// cut saves and removes what follows the damage in rep.
func cut(fs vfs.FS, dir string, nums []uint64, f vfs.File, data []byte, rep *RepairReport, noSync bool) error {
	if err := fs.MkdirAll(rep.SavedTo, 0o755); err != nil {
		return err
	}
	end := int64(len(data))
	for end > rep.Offset && data[end-1] == 0 {
		end--
	}
	tail := data[rep.Offset:end]
	if err := writeFileSynced(fs, filepath.Join(rep.SavedTo, fmt.Sprintf("%s.from-%d", segmentFile(nums[0]), rep.Offset)), tail, noSync); err != nil {
		return err
	}
	rep.BytesCut += int64(len(tail))
	for _, num := range nums[1:] {
		name := segmentFile(num)
		if fi, err := fs.Stat(filepath.Join(dir, name)); err == nil {
			rep.BytesCut += fi.Size()
		}
		if err := fs.Rename(filepath.Join(dir, name), filepath.Join(rep.SavedTo, name)); err != nil {
			return err
		}
	}
	if !noSync {
		if err := fs.SyncDir(rep.SavedTo); err != nil {
			return err
		}
	}
	// The copy is durable: now change the log.
	if rep.Offset == 0 {
		if err := fs.Remove(rep.File); err != nil {
			return err
		}
	} else {
		for off := rep.Offset; off < end; {
			n := min(int64(len(zeros)), end-off)
			if _, err := f.WriteAt(zeros[:n], off); err != nil {
				return err
			}
			off += n
		}
		if !noSync {
			if err := f.Sync(); err != nil {
				return err
			}
		}
	}
	if noSync {
		return nil
	}
	return fs.SyncDir(dir)
}

func writeFileSynced(fs vfs.FS, path string, data []byte, noSync bool) error {
	f, err := fs.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
