// Package diskfault wraps a real file system (vfs.FS) for chaos tests of
// raftkv processes: a control file switches on fsync failures (EIO) or a
// full disk (ENOSPC), and an undo journal of every write not yet synced
// lets a test simulate a power loss on a killed process's data directory
// (Rollback undoes the unsynced writes, optionally keeping a torn prefix).
//
// Renames, removals and truncations are treated as durable at once: the
// simulation is gentler than a real power loss there, never harsher.
package diskfault

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tickraft/raft/vfs"
)

// The names of the files in the data directory the wrapper uses.
const (
	ControlFile = "chaos-disk"    // "sync": fsync fails; "enospc": writes fail; absent: healthy
	JournalFile = "chaos-journal" // the undo journal
	// RefusedFile lists, one per line, each path whose write or sync
	// failed by injection: which of the node's files met the fault.
	RefusedFile = "chaos-disk-refused"
)

// Modes of the control file.
const (
	ModeSync   = "sync"
	ModeENOSPC = "enospc"
)

// FS is a vfs.FS with injectable faults and an undo journal.
type FS struct {
	inner   vfs.FS
	control string
	mode    atomic.Value // string

	mu      sync.Mutex
	refused map[string]bool // paths already listed in RefusedFile
	journal *os.File
	pending map[string]int // unsynced records per file
	open    map[*file]bool
	// lazy (a planted bug, see SetLazySync): files whose Sync returned
	// without syncing.
	lazy  bool
	dirty map[*file]bool
}

// SetLazySync plants the bug of a write acknowledged before it is
// durable: Sync returns at once and the data is really synced up to
// period later. Only the chaos tests' planted-bug build uses it.
func (fs *FS) SetLazySync(period time.Duration) {
	fs.mu.Lock()
	fs.lazy, fs.dirty = true, map[*file]bool{}
	fs.mu.Unlock()
	go func() {
		for range time.Tick(period) {
			fs.mu.Lock()
			dirty := fs.dirty
			fs.dirty = map[*file]bool{}
			fs.mu.Unlock()
			for f := range dirty {
				_ = f.sync()
			}
		}
	}()
}

// New wraps inner; dir holds the control file and the journal.
func New(inner vfs.FS, dir string) (*FS, error) {
	j, err := os.OpenFile(dir+"/"+JournalFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fs := &FS{inner: inner, control: dir + "/" + ControlFile, journal: j, pending: map[string]int{}, open: map[*file]bool{}, refused: map[string]bool{}}
	fs.mode.Store("")
	fs.poll()
	go func() {
		for range time.Tick(20 * time.Millisecond) {
			fs.poll()
		}
	}()
	return fs, nil
}

func (fs *FS) poll() {
	b, _ := os.ReadFile(fs.control)
	fs.mode.Store(strings.TrimSpace(string(b)))
}

func (fs *FS) failing(mode string) bool { return fs.mode.Load().(string) == mode }

// refuse records that path met an injected fault and returns err.
func (fs *FS) refuse(path string, err error) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.refused[path] {
		fs.refused[path] = true
		f, ferr := os.OpenFile(filepath.Join(filepath.Dir(fs.control), RefusedFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if ferr == nil {
			fmt.Fprintln(f, path)
			f.Close()
		}
	}
	return err
}

// Refused returns the paths under dir that met an injected fault since the
// node started (RefusedFile; a restart on a healthy disk keeps the list).
func Refused(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, RefusedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return strings.Fields(string(b)), err
}

// Journal records: kind byte, name, then for a write: offset, old size,
// old bytes; sync and rename carry names only.
const (
	recWrite  = 'w'
	recSync   = 's'
	recRename = 'r'
)

func (fs *FS) record(kind byte, name, name2 string, off, oldSize int64, old []byte) error {
	buf := []byte{kind}
	buf = binary.AppendUvarint(buf, uint64(len(name)))
	buf = append(buf, name...)
	buf = binary.AppendUvarint(buf, uint64(len(name2)))
	buf = append(buf, name2...)
	buf = binary.AppendVarint(buf, off)
	buf = binary.AppendVarint(buf, oldSize)
	buf = binary.AppendUvarint(buf, uint64(len(old)))
	buf = append(buf, old...)
	_, err := fs.journal.Write(buf)
	return err
}

func (fs *FS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	w := &file{File: f, fs: fs, name: name}
	fs.mu.Lock()
	fs.open[w] = true
	fs.mu.Unlock()
	return w, nil
}

// Create implements vfs.FS.
func (fs *FS) Create(name string) (vfs.File, error) {
	f, err := fs.inner.Create(name)
	return fs.wrap(name, f, err)
}

// Open implements vfs.FS.
func (fs *FS) Open(name string) (vfs.File, error) {
	f, err := fs.inner.Open(name)
	return fs.wrap(name, f, err)
}

// OpenReadWrite implements vfs.FS.
func (fs *FS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := fs.inner.OpenReadWrite(name)
	return fs.wrap(name, f, err)
}

// Rename implements vfs.FS; open handles follow the new name.
func (fs *FS) Rename(oldname, newname string) error {
	if err := fs.inner.Rename(oldname, newname); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for f := range fs.open {
		if f.name == oldname {
			f.name = newname
		}
	}
	if n := fs.pending[oldname]; n > 0 {
		delete(fs.pending, oldname)
		fs.pending[newname] += n
		return fs.record(recRename, oldname, newname, 0, 0, nil)
	}
	return nil
}

// Remove implements vfs.FS.
func (fs *FS) Remove(name string) error { return fs.inner.Remove(name) }

// MkdirAll implements vfs.FS.
func (fs *FS) MkdirAll(dir string, perm os.FileMode) error { return fs.inner.MkdirAll(dir, perm) }

// List implements vfs.FS.
func (fs *FS) List(dir string) ([]string, error) { return fs.inner.List(dir) }

// Stat implements vfs.FS.
func (fs *FS) Stat(name string) (os.FileInfo, error) { return fs.inner.Stat(name) }

// Lock takes the wrapped file system's lock: a lock is about processes,
// not about what reaches the disk, so faults never touch it.
func (fs *FS) Lock(name string) (io.Closer, error) { return fs.inner.Lock(name) }

// SyncDir implements vfs.FS (it fails with fsync).
func (fs *FS) SyncDir(dir string) error {
	if fs.failing(ModeSync) {
		return fs.refuse(dir, &os.PathError{Op: "fsync", Path: dir, Err: syscall.EIO})
	}
	return fs.inner.SyncDir(dir)
}

type file struct {
	vfs.File
	fs   *FS
	name string
}

func (f *file) Write(p []byte) (int, error) {
	s, ok := f.File.(io.Seeker)
	if !ok {
		return 0, errors.New("diskfault: sequential write on a file that cannot seek")
	}
	off, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	n, err := f.WriteAt(p, off)
	if n > 0 {
		if _, serr := s.Seek(off+int64(n), io.SeekStart); serr != nil && err == nil {
			err = serr
		}
	}
	return n, err
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.failing(ModeENOSPC) {
		return 0, f.fs.refuse(f.name, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC})
	}
	st, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	var old []byte
	if off < size {
		old = make([]byte, min(int64(len(p)), size-off))
		if _, err := f.File.ReadAt(old, off); err != nil && err != io.EOF {
			return 0, err
		}
	}
	f.fs.mu.Lock()
	err = f.fs.record(recWrite, f.name, "", off, size, old)
	f.fs.pending[f.name]++
	f.fs.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("diskfault journal: %w", err)
	}
	return f.File.WriteAt(p, off)
}

func (f *file) Sync() error {
	if f.fs.failing(ModeSync) {
		return f.fs.refuse(f.name, &os.PathError{Op: "fsync", Path: f.name, Err: syscall.EIO})
	}
	f.fs.mu.Lock()
	if f.fs.lazy {
		f.fs.dirty[f] = true
		f.fs.mu.Unlock()
		return nil
	}
	f.fs.mu.Unlock()
	return f.sync()
}

// sync makes the file durable and forgets its undo records.
func (f *file) sync() error {
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.pending[f.name] == 0 {
		return nil
	}
	delete(f.fs.pending, f.name)
	if len(f.fs.pending) == 0 {
		// Nothing unsynced anywhere: start the journal afresh.
		return f.fs.journal.Truncate(0)
	}
	return f.fs.record(recSync, f.name, "", 0, 0, nil)
}

func (f *file) Close() error {
	f.fs.mu.Lock()
	delete(f.fs.open, f)
	dirty := f.fs.dirty[f]
	delete(f.fs.dirty, f)
	f.fs.mu.Unlock()
	if dirty {
		_ = f.sync()
	}
	return f.File.Close()
}

type rec struct {
	kind         byte
	name, name2  string
	off, oldSize int64
	old          []byte
}

func readJournal(path string) ([]rec, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []rec
	str := func() (string, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return "", err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return string(b), err
	}
	for {
		kind, err := r.ReadByte()
		if err == io.EOF {
			return out, nil
		}
		var x rec
		x.kind = kind
		if x.name, err = str(); err != nil {
			return out, nil // a torn last record: the write it guards never happened
		}
		if x.name2, err = str(); err != nil {
			return out, nil
		}
		if x.off, err = binary.ReadVarint(r); err != nil {
			return out, nil
		}
		if x.oldSize, err = binary.ReadVarint(r); err != nil {
			return out, nil
		}
		old, err := str()
		if err != nil {
			return out, nil
		}
		x.old = []byte(old)
		out = append(out, x)
	}
}

// Rollback simulates a power loss on the data directory dir of a process
// that is no longer running: the writes not synced are undone, newest
// first. With rng, a random prefix of each file's unsynced writes is kept
// instead and the last kept write may be torn at a random byte (a torn
// tail). It returns how many writes were undone.
func Rollback(dir string, rng *rand.Rand) (int, error) {
	jpath := dir + "/" + JournalFile
	recs, err := readJournal(jpath)
	if err != nil {
		return 0, err
	}
	// Keep only each file's records after its last sync.
	var unsynced []rec
	for _, x := range recs {
		switch x.kind {
		case recSync:
			kept := unsynced[:0]
			for _, u := range unsynced {
				if u.name != x.name {
					kept = append(kept, u)
				}
			}
			unsynced = kept
		case recRename:
			for i := range unsynced {
				if unsynced[i].name == x.name {
					unsynced[i].name = x.name2
				}
			}
		case recWrite:
			unsynced = append(unsynced, x)
		}
	}
	keep := 0
	if rng != nil && len(unsynced) > 0 {
		keep = rng.IntN(len(unsynced) + 1)
	}
	undone := 0
	for i := len(unsynced) - 1; i >= keep; i-- {
		x := unsynced[i]
		if err := undo(x, i == keep && rng != nil && rng.IntN(2) == 0, rng); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return undone, err
		}
		undone++
	}
	return undone, os.Remove(jpath)
}

// undo restores a write's old bytes (torn: only a random part of them, so
// part of the write survives).
func undo(x rec, torn bool, rng *rand.Rand) error {
	f, err := os.OpenFile(x.name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	old := x.old
	if torn && len(old) > 1 {
		old = old[rng.IntN(len(old)):]
		_, err = f.WriteAt(old, x.off+int64(len(x.old)-len(old)))
	} else if len(old) > 0 {
		_, err = f.WriteAt(old, x.off)
	}
	if err != nil {
		return err
	}
	if st, serr := f.Stat(); serr == nil && st.Size() > x.oldSize && !torn {
		err = f.Truncate(x.oldSize)
	}
	if err == nil {
		err = f.Sync()
	}
	return err
}
