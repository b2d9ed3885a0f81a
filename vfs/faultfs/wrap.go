package faultfs

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tickraft/raft/vfs"
)

// Wrapped is a vfs.FS that passes every operation to another one (the real
// OS file system, usually) and fails those its faults pick: the n-th write
// or sync from when the fault was set, or every write once a byte budget is
// spent (ENOSPC). It lets a real process, such as a server started by a
// test with a test-only flag, be made to see a failed fsync or a full disk.
//
// Unlike FS it cannot crash or tear writes (the kernel decides what reaches
// the disk), and a failed sync is only reported: the data stays in the page
// cache and may still reach the disk. What it tests is the caller's answer
// to the error, which must be to stop, not to retry.
type Wrapped struct {
	base vfs.FS

	mu sync.Mutex
	// writes and syncs count the operations of each kind so far;
	// failWrite and failSync are the counts at which one fails (0: none).
	writes, syncs       int
	failWrite, failSync int
	// space is the bytes writes may still store; negative: unlimited.
	space int64
	// failed counts the faults injected.
	failed int
}

// Wrap returns base with no faults set.
func Wrap(base vfs.FS) *Wrapped { return &Wrapped{base: base, space: -1} }

// WrapSpec returns base with the faults a spec sets: comma-separated
// key=value pairs, "write=N" (FailWrite), "sync=N" (FailSync) and
// "space=BYTES" (SetSpace), for a command-line flag. An empty spec sets none.
func WrapSpec(base vfs.FS, spec string) (*Wrapped, error) {
	w := Wrap(base)
	if spec == "" {
		return w, nil
	}
	for _, kv := range strings.Split(spec, ",") {
		key, val, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(val, 10, 64)
		if !ok || err != nil || n < 1 {
			return nil, fmt.Errorf("faultfs: fault %q: want write=N, sync=N or space=BYTES with N >= 1", kv)
		}
		switch key {
		case "write":
			w.FailWrite(int(n))
		case "sync":
			w.FailSync(int(n))
		case "space":
			w.SetSpace(n)
		default:
			return nil, fmt.Errorf("faultfs: unknown fault %q: want write, sync or space", key)
		}
	}
	return w, nil
}

var _ vfs.FS = (*Wrapped)(nil)

// FailWrite makes the n-th write from now (n = 1: the next) fail with
// ErrInjected, writing nothing.
func (w *Wrapped) FailWrite(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failWrite = w.writes + n
}

// FailSync makes the n-th file sync from now fail with ErrInjected, without
// syncing.
func (w *Wrapped) FailSync(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failSync = w.syncs + n
}

// SetSpace lets writes store bytes more bytes in all (counting every byte
// written, overwrites included); the write that crosses the limit stores
// what fits and fails with ENOSPC, as do all later ones. Negative: no
// limit.
func (w *Wrapped) SetSpace(bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.space = bytes
}

// Injected returns how many faults were injected so far.
func (w *Wrapped) Injected() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// admitWrite decides the fate of a write of n bytes: how many to store and
// the error to return.
func (w *Wrapped) admitWrite(name string, n int) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.writes == w.failWrite {
		w.failed++
		return 0, &os.PathError{Op: "write", Path: name, Err: ErrInjected}
	}
	if w.space < 0 || int64(n) <= w.space {
		if w.space >= 0 {
			w.space -= int64(n)
		}
		return n, nil
	}
	fit := int(w.space)
	w.space = 0
	w.failed++
	return fit, &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
}

func (w *Wrapped) admitSync(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.syncs++
	if w.syncs == w.failSync {
		w.failed++
		return &os.PathError{Op: "sync", Path: name, Err: ErrInjected}
	}
	return nil
}

func (w *Wrapped) wrap(f vfs.File, name string, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &wrappedFile{File: f, fs: w, name: name}, nil
}

func (w *Wrapped) Create(name string) (vfs.File, error) {
	f, err := w.base.Create(name)
	return w.wrap(f, name, err)
}

func (w *Wrapped) Open(name string) (vfs.File, error) {
	f, err := w.base.Open(name)
	return w.wrap(f, name, err)
}

func (w *Wrapped) OpenReadWrite(name string) (vfs.File, error) {
	f, err := w.base.OpenReadWrite(name)
	return w.wrap(f, name, err)
}

func (w *Wrapped) Rename(oldname, newname string) error { return w.base.Rename(oldname, newname) }
func (w *Wrapped) Remove(name string) error             { return w.base.Remove(name) }
func (w *Wrapped) MkdirAll(dir string, perm os.FileMode) error {
	return w.base.MkdirAll(dir, perm)
}
func (w *Wrapped) List(dir string) ([]string, error)     { return w.base.List(dir) }
func (w *Wrapped) Stat(name string) (os.FileInfo, error) { return w.base.Stat(name) }
func (w *Wrapped) SyncDir(dir string) error              { return w.base.SyncDir(dir) }
func (w *Wrapped) Lock(name string) (io.Closer, error)   { return w.base.Lock(name) }

// wrappedFile passes reads through and puts writes and syncs to the faults.
type wrappedFile struct {
	vfs.File
	fs   *Wrapped
	name string
}

func (f *wrappedFile) Write(p []byte) (int, error) {
	n, ferr := f.fs.admitWrite(f.name, len(p))
	m, err := f.File.Write(p[:n])
	if err != nil {
		return m, err
	}
	return m, ferr
}

func (f *wrappedFile) WriteAt(p []byte, off int64) (int, error) {
	n, ferr := f.fs.admitWrite(f.name, len(p))
	if n == 0 && ferr != nil {
		return 0, ferr
	}
	m, err := f.File.WriteAt(p[:n], off)
	if err != nil {
		return m, err
	}
	return m, ferr
}

// WriteVAt puts the write to the faults as one write of the buffers' total
// length and passes what is admitted to the real file's vectored write.
func (f *wrappedFile) WriteVAt(bufs [][]byte, off int64) (int, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	n, ferr := f.fs.admitWrite(f.name, total)
	if n == 0 && ferr != nil {
		return 0, ferr
	}
	m, err := vfs.WriteVAt(f.File, prefix(bufs, n), off)
	if err != nil {
		return m, err
	}
	return m, ferr
}

// prefix returns the buffers that hold the first n bytes of bufs (the last
// one cut short; a new list if n ends inside a buffer).
func prefix(bufs [][]byte, n int) [][]byte {
	for k, b := range bufs {
		if n < len(b) {
			return append(append([][]byte(nil), bufs[:k]...), b[:n])
		}
		n -= len(b)
	}
	return bufs
}

func (f *wrappedFile) Sync() error {
	if err := f.fs.admitSync(f.name); err != nil {
		return err
	}
	return f.File.Sync()
}
