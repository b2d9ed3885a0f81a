// Package faultfs is an in-memory vfs.FS that knows what is durable, so
// tests can crash it and inject the faults real disks have.
//
// Every file keeps the contents it had at its last Sync and the writes done
// since, in order; every directory keeps the entries it had at its last
// SyncDir. Crash throws away what was not made durable: names not yet synced
// into their directory vanish (renames and removals not synced are undone),
// and each file returns to its synced contents plus, as the CrashPolicy
// chooses, a prefix of its unsynced writes of which the last may be torn at
// any byte or sector. Besides crashes it can fail a chosen write or sync
// (FailWrite, FailSync, or any operation through SetHook), run out of space
// (SetCapacity: ENOSPC), and flip bits already on "disk" (FlipBit).
//
// Directories are implicit and always durable; file handles opened before
// a crash fail with ErrCrashed afterwards. Locks (Lock) live in memory only,
// as flock(2) locks do: no file is created, and Crash and KillProcess (the
// death of the process alone) release them.
//
// FS wraps no other file system: simulating a crash needs to know exactly
// which bytes are durable, which a real disk does not tell. For a real
// process on a real disk, Wrap puts fault injection (a failing write or
// sync, a full disk) around the OS file system instead, without crashes.
package faultfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/tickraft/raft/vfs"
)

// ErrCrashed is returned by every operation after the file system was
// frozen (Freeze, CrashAfter) and by handles opened before a Crash.
var ErrCrashed = errors.New("faultfs: file system crashed")

// ErrInjected is the error of an injected write or sync failure.
var ErrInjected = errors.New("faultfs: injected I/O error")

// Op names a mutating operation, as hooks see it.
type Op int

// The operations a hook sees.
const (
	OpCreate Op = iota
	OpWrite
	OpSync
	OpTruncate
	OpRename
	OpRemove
	OpSyncDir
)

var opNames = [...]string{"create", "write", "sync", "truncate", "rename", "remove", "syncdir"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Hook is called before every mutating operation with its kind, the file's
// path and a running count of mutating operations (starting at 1). A
// non-nil error fails the operation with it (a write fails without writing
// anything).
type Hook func(op Op, name string, n int) error

// inode is a file's contents.
type inode struct {
	data    []byte  // what reads see
	synced  []byte  // contents at the last Sync
	pending []write // writes and truncations since the last Sync, in order
}

// write is one unsynced change: data written at off, or (trunc) a
// truncation to off.
type write struct {
	off   int64
	data  []byte
	trunc bool
}

// FS is the in-memory file system. Its zero value is not usable: call New.
type FS struct {
	mu sync.Mutex
	// files is the namespace reads see; durable is the namespace as of
	// each directory's last SyncDir. An inode may be in both.
	files   map[string]*inode
	durable map[string]*inode
	// gen counts crashes; handles from an older generation are dead.
	gen      int
	frozen   bool
	ops      int
	hook     Hook
	capacity int64 // bytes; 0: unlimited
	// freezeNext freezes the file system when the current operation
	// ends (CrashAfter); partial is how many bytes a failing write still
	// stores (FailWrite).
	freezeNext bool
	partial    int
	// locks maps each locked name to its holder. The process that held
	// them dies in a Crash, which empties it.
	locks map[string]*lock
}

// New returns an empty file system.
func New() *FS {
	return &FS{files: map[string]*inode{}, durable: map[string]*inode{}, locks: map[string]*lock{}}
}

var _ vfs.FS = (*FS)(nil)

// SetHook installs h (nil removes it).
func (fs *FS) SetHook(h Hook) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.hook = h
}

// Ops returns how many mutating operations were attempted so far.
func (fs *FS) Ops() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.ops
}

// CrashAfter freezes the file system once n more mutating operations were
// done: the n-th is carried out, and every operation after it fails with
// ErrCrashed, as if the machine lost power right then. Call Crash to see what
// survived.
func (fs *FS) CrashAfter(n int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	target := fs.ops + n
	prev := fs.hook
	fs.hook = func(op Op, name string, k int) error {
		if k > target {
			return ErrCrashed
		}
		if k == target {
			fs.frozenAfterThis()
		}
		if prev != nil {
			return prev(op, name, k)
		}
		return nil
	}
}

// frozenAfterThis marks the file system frozen once the current operation
// completes. Called with mu held.
func (fs *FS) frozenAfterThis() { fs.freezeNext = true }

// FailWrite makes the n-th write from now fail with ErrInjected (n = 1: the
// next one). With partial > 0 that write first stores its first partial
// bytes, as a write cut short does.
func (fs *FS) FailWrite(n, partial int) { fs.failNth(OpWrite, n, partial) }

// FailSync makes the n-th sync of a file from now fail with ErrInjected. As
// on Linux after a failed fsync, the data it should have flushed is not
// durable and the error is not repeated by the next sync: whoever retries
// and sees success has lost data (which is why the wal must not).
func (fs *FS) FailSync(n int) { fs.failNth(OpSync, n, 0) }

func (fs *FS) failNth(kind Op, n, partial int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	count := 0
	prev := fs.hook
	fs.hook = func(op Op, name string, k int) error {
		if op == kind {
			count++
			if count == n {
				fs.partial = partial
				return ErrInjected
			}
		}
		if prev != nil {
			return prev(op, name, k)
		}
		return nil
	}
}

// SetCapacity limits the bytes all files may hold together (0: no limit).
// A write that would exceed it stores what fits and fails with ENOSPC.
func (fs *FS) SetCapacity(bytes int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.capacity = bytes
}

// FlipBit flips bit (0-7) of the byte at off in the named file, in what is
// read and in what is durable: bit rot on the medium.
func (fs *FS) FlipBit(name string, off int64, bit uint) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, ok := fs.files[filepath.Clean(name)]
	if !ok {
		return &os.PathError{Op: "flipbit", Path: name, Err: os.ErrNotExist}
	}
	if off < 0 || off >= int64(len(ino.data)) {
		return fmt.Errorf("faultfs: flip offset %d outside %s (size %d)", off, name, len(ino.data))
	}
	ino.data[off] ^= 1 << (bit & 7)
	if off < int64(len(ino.synced)) {
		ino.synced[off] ^= 1 << (bit & 7)
	}
	return nil
}

// ReadFile returns a copy of the named file's current contents.
func (fs *FS) ReadFile(name string) ([]byte, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, ok := fs.files[filepath.Clean(name)]
	if !ok {
		return nil, &os.PathError{Op: "read", Path: name, Err: os.ErrNotExist}
	}
	return append([]byte(nil), ino.data...), nil
}

// WriteFile creates name with data, durable at once (setting up a test).
func (fs *FS) WriteFile(name string, data []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	ino := &inode{data: append([]byte(nil), data...), synced: append([]byte(nil), data...)}
	fs.files[name] = ino
	fs.durable[name] = ino
}

// CrashPolicy decides, for each file with unsynced writes, how much of them
// survives a crash. lens holds the length of each unsynced write in order (0
// for a truncation); keep is the number of whole writes kept and torn the
// bytes kept of the next one.
type CrashPolicy func(name string, lens []int) (keep, torn int)

// DropUnsynced keeps nothing that was not synced.
func DropUnsynced(string, []int) (int, int) { return 0, 0 }

// KeepAll keeps every write, as if the cache was flushed just in time.
func KeepAll(_ string, lens []int) (int, int) { return len(lens), 0 }

// RandomTear returns a policy that keeps a random prefix of each file's
// unsynced writes and tears the next at a random byte (sector = 1) or
// sector boundary, drawn from rnd (a seeded source keeps tests repeatable).
func RandomTear(rnd func(n int) int, sector int) CrashPolicy {
	if sector < 1 {
		sector = 1
	}
	return func(_ string, lens []int) (int, int) {
		keep := rnd(len(lens) + 1)
		if keep == len(lens) {
			return keep, 0
		}
		return keep, rnd(lens[keep]/sector+1) * sector
	}
}

// Crash simulates a power loss and restart: every handle opened so far dies,
// the namespace returns to what SyncDir made durable, and each file to its
// synced contents plus what policy keeps of its unsynced writes. The file
// system is usable again afterwards (faults and hooks are cleared).
func (fs *FS) Crash(policy CrashPolicy) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	names := make([]string, 0, len(fs.durable))
	for name := range fs.durable {
		names = append(names, name)
	}
	sort.Strings(names) // policies draw from a seeded source: fix the order
	files := map[string]*inode{}
	done := map[*inode]bool{}
	for _, name := range names {
		ino := fs.durable[name]
		files[name] = ino
		if done[ino] {
			continue
		}
		done[ino] = true
		ino.settle(name, policy)
	}
	// Inodes that lost their last durable name are gone.
	fs.files = files
	fs.durable = map[string]*inode{}
	for name, ino := range files {
		fs.durable[name] = ino
	}
	fs.gen++
	fs.locks = map[string]*lock{}
	fs.frozen, fs.freezeNext, fs.hook, fs.partial, fs.capacity = false, false, nil, 0, 0
}

// settle turns the inode into what survives a crash.
func (ino *inode) settle(name string, policy CrashPolicy) {
	data := append([]byte(nil), ino.synced...)
	if n := len(ino.pending); n > 0 {
		lens := make([]int, n)
		for k, w := range ino.pending {
			if !w.trunc {
				lens[k] = len(w.data)
			}
		}
		keep, torn := policy(name, lens)
		keep = min(max(keep, 0), n)
		for _, w := range ino.pending[:keep] {
			data = w.apply(data)
		}
		if keep < n && torn > 0 {
			if w := ino.pending[keep]; !w.trunc {
				data = write{off: w.off, data: w.data[:min(torn, len(w.data))]}.apply(data)
			}
		}
	}
	ino.data, ino.synced, ino.pending = data, append([]byte(nil), data...), nil
}

func (w write) apply(data []byte) []byte {
	if w.trunc {
		if w.off <= int64(len(data)) {
			return data[:w.off]
		}
		return append(data, make([]byte, w.off-int64(len(data)))...)
	}
	end := w.off + int64(len(w.data))
	if end > int64(len(data)) {
		data = append(data, make([]byte, end-int64(len(data)))...)
	}
	copy(data[w.off:], w.data)
	return data
}

// begin runs the hook for a mutating operation. Called with mu held.
func (fs *FS) begin(op Op, name string) error {
	if fs.frozen {
		return ErrCrashed
	}
	fs.ops++
	fs.partial = 0
	if fs.hook != nil {
		if err := fs.hook(op, name, fs.ops); err != nil {
			fs.freezeNext = false
			if errors.Is(err, ErrCrashed) {
				fs.frozen = true
			}
			return err
		}
	}
	return nil
}

// end freezes the file system if the operation just done was the last
// before a crash. Called with mu held.
func (fs *FS) end() {
	if fs.freezeNext {
		fs.freezeNext, fs.frozen = false, true
	}
}

func (fs *FS) Create(name string) (vfs.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	if err := fs.begin(OpCreate, name); err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	defer fs.end()
	if ino, ok := fs.files[name]; ok {
		ino.pending = append(ino.pending, write{trunc: true})
		ino.data = ino.data[:0:0]
		return &file{fs: fs, ino: ino, name: name, gen: fs.gen, rw: true}, nil
	}
	ino := &inode{}
	fs.files[name] = ino
	return &file{fs: fs, ino: ino, name: name, gen: fs.gen, rw: true}, nil
}

func (fs *FS) open(name string, rw bool) (vfs.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	if fs.frozen {
		return nil, &os.PathError{Op: "open", Path: name, Err: ErrCrashed}
	}
	ino, ok := fs.files[name]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return &file{fs: fs, ino: ino, name: name, gen: fs.gen, rw: rw}, nil
}

func (fs *FS) Open(name string) (vfs.File, error) { return fs.open(name, false) }

func (fs *FS) OpenReadWrite(name string) (vfs.File, error) { return fs.open(name, true) }

func (fs *FS) Rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	if err := fs.begin(OpRename, oldname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	defer fs.end()
	ino, ok := fs.files[oldname]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	delete(fs.files, oldname)
	fs.files[newname] = ino
	return nil
}

func (fs *FS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	if err := fs.begin(OpRemove, name); err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	defer fs.end()
	if _, ok := fs.files[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(fs.files, name)
	return nil
}

// MkdirAll does nothing: directories are implicit.
func (fs *FS) MkdirAll(string, os.FileMode) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.frozen {
		return ErrCrashed
	}
	return nil
}

func (fs *FS) List(dir string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.frozen {
		return nil, ErrCrashed
	}
	dir = filepath.Clean(dir)
	var names []string
	for name := range fs.files {
		if filepath.Dir(name) == dir {
			names = append(names, filepath.Base(name))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (fs *FS) Stat(name string) (os.FileInfo, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	if fs.frozen {
		return nil, &os.PathError{Op: "stat", Path: name, Err: ErrCrashed}
	}
	ino, ok := fs.files[name]
	if !ok {
		return nil, &os.PathError{Op: "stat", Path: name, Err: os.ErrNotExist}
	}
	return fileInfo{name: filepath.Base(name), size: int64(len(ino.data))}, nil
}

func (fs *FS) SyncDir(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir = filepath.Clean(dir)
	if err := fs.begin(OpSyncDir, dir); err != nil {
		return &os.PathError{Op: "syncdir", Path: dir, Err: err}
	}
	defer fs.end()
	for name := range fs.durable {
		if filepath.Dir(name) == dir {
			delete(fs.durable, name)
		}
	}
	for name, ino := range fs.files {
		if filepath.Dir(name) == dir {
			fs.durable[name] = ino
		}
	}
	return nil
}

// used returns the bytes all files hold. Called with mu held.
func (fs *FS) used() int64 {
	var n int64
	seen := map[*inode]bool{}
	for _, ino := range fs.files {
		if !seen[ino] {
			seen[ino] = true
			n += int64(len(ino.data))
		}
	}
	return n
}

// lock is a held Lock; Close releases it once, and only if it is still the
// holder (a Crash may have released it and another caller taken it since).
type lock struct {
	fs   *FS
	name string
}

func (l *lock) Close() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.fs.locks[l.name] == l {
		delete(l.fs.locks, l.name)
	}
	return nil
}

// Lock takes the exclusive lock name; it fails with an error wrapping
// vfs.ErrLocked while another holder has it. It is not a mutating operation
// (hooks do not see it, Ops does not count it).
func (fs *FS) Lock(name string) (io.Closer, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	if fs.frozen {
		return nil, &os.PathError{Op: "lock", Path: name, Err: ErrCrashed}
	}
	if fs.locks[name] != nil {
		return nil, fmt.Errorf("lock %s: %w", name, vfs.ErrLocked)
	}
	l := &lock{fs: fs, name: name}
	fs.locks[name] = l
	return l, nil
}

// KillProcess simulates the death of the process using the file system,
// not of the machine: its locks are released and the handles it opened die
// (ErrCrashed), while everything it wrote stays, synced or not, as the page
// cache keeps it.
func (fs *FS) KillProcess() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.gen++
	fs.locks = map[string]*lock{}
}

// Locked reports whether the lock name is held.
func (fs *FS) Locked(name string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.locks[filepath.Clean(name)] != nil
}

type file struct {
	fs     *FS
	ino    *inode
	name   string
	gen    int
	rw     bool
	off    int64
	closed bool
}

// path returns the file's current name (it may have been renamed since it
// was opened), for hooks. Called with fs.mu held.
func (f *file) path() string {
	if name := f.name; f.fs.files[name] == f.ino {
		return name
	}
	for name, ino := range f.fs.files {
		if ino == f.ino {
			return name
		}
	}
	return f.name
}

// check reports why the handle cannot be used. Called with fs.mu held.
func (f *file) check(op string) error {
	switch {
	case f.closed:
		return &os.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	case f.gen != f.fs.gen:
		return &os.PathError{Op: op, Path: f.name, Err: ErrCrashed}
	}
	return nil
}

func (f *file) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: os.ErrInvalid}
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *file) Write(p []byte) (int, error) {
	n, err := f.WriteAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if !f.rw {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: os.ErrPermission}
	}
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: os.ErrInvalid}
	}
	if err := f.fs.begin(OpWrite, f.path()); err != nil {
		if n := min(f.fs.partial, len(p)); n > 0 {
			f.store(p[:n], off)
			return n, &os.PathError{Op: "write", Path: f.name, Err: err}
		}
		return 0, &os.PathError{Op: "write", Path: f.name, Err: err}
	}
	defer f.fs.end()
	n := len(p)
	var err error
	if c := f.fs.capacity; c > 0 {
		grow := max(off+int64(n)-int64(len(f.ino.data)), 0)
		if free := c - f.fs.used(); grow > free {
			n = int(max(int64(n)-(grow-max(free, 0)), 0))
			err = &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
		}
	}
	f.store(p[:n], off)
	return n, err
}

// WriteVAt is WriteAt of the buffers' concatenation: one write operation,
// as a pwritev(2) is one system call (a crash may tear it like any write).
func (f *file) WriteVAt(bufs [][]byte, off int64) (int, error) {
	return f.WriteAt(vfs.Concat(bufs), off)
}

// store applies a write to what reads see and queues it as unsynced.
func (f *file) store(p []byte, off int64) {
	w := write{off: off, data: append([]byte(nil), p...)}
	f.ino.data = w.apply(f.ino.data)
	f.ino.pending = append(f.ino.pending, w)
}

func (f *file) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync"); err != nil {
		return err
	}
	if err := f.fs.begin(OpSync, f.path()); err != nil {
		if errors.Is(err, ErrInjected) {
			// Like Linux: the pages that failed to write are marked clean
			// and their data is lost from the durable copy; only what
			// reads see keeps it until the next crash.
			f.ino.pending = nil
		}
		return &os.PathError{Op: "sync", Path: f.name, Err: err}
	}
	defer f.fs.end()
	// The disk gets the writes since the last sync, not what reads see:
	// after a failed sync those differ (the failed writes are lost).
	for _, w := range f.ino.pending {
		f.ino.synced = w.apply(f.ino.synced)
	}
	f.ino.pending = nil
	return nil
}

func (f *file) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate"); err != nil {
		return err
	}
	if size < 0 || !f.rw {
		return &os.PathError{Op: "truncate", Path: f.name, Err: os.ErrInvalid}
	}
	if err := f.fs.begin(OpTruncate, f.path()); err != nil {
		return &os.PathError{Op: "truncate", Path: f.name, Err: err}
	}
	defer f.fs.end()
	w := write{off: size, trunc: true}
	f.ino.data = w.apply(f.ino.data)
	f.ino.pending = append(f.ino.pending, w)
	return nil
}

func (f *file) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	f.closed = true
	return nil
}

func (f *file) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return nil, err
	}
	return fileInfo{name: filepath.Base(f.name), size: int64(len(f.ino.data))}, nil
}

type fileInfo struct {
	name string
	size int64
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() os.FileMode  { return 0o644 }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return false }
func (fi fileInfo) Sys() any           { return nil }
