// Package vfs is the small file-system interface the write-ahead log (and
// anything else that must survive a crash) writes through, so tests can put a
// fault-injecting file system (package faultfs) in place of the OS.
//
// It has what a log-structured store needs and nothing more: files that are
// read and written at offsets, synced and truncated, a directory whose
// entries can be listed, renamed, removed and synced, and an exclusive lock
// that keeps two writers out of one directory.
package vfs

import (
	"errors"
	"io"
	"os"
)

// File is an open file.
//
// Sync makes every write done so far durable: its data and the metadata
// needed to read it back (the size), the guarantee of fdatasync(2). A
// directory entry that names the file is made durable by FS.SyncDir, not by
// Sync.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
}

// VectorWriterAt is implemented by files that write several buffers at an
// offset in one call, as pwritev(2) does; the OS files on Linux have it. A
// log that frames large payloads without copying them uses it through
// WriteVAt.
type VectorWriterAt interface {
	// WriteVAt writes the buffers one after another at off, as WriteAt
	// would write their concatenation: it returns the number of bytes
	// written, and an error if that is fewer than their total.
	WriteVAt(bufs [][]byte, off int64) (int, error)
}

// WriteVAt writes the concatenation of bufs at off in f: with one
// WriteVAt if f is a VectorWriterAt, else with one WriteAt of a copy, so
// either way it is one write operation of the file.
func WriteVAt(f File, bufs [][]byte, off int64) (int, error) {
	if v, ok := f.(VectorWriterAt); ok {
		return v.WriteVAt(bufs, off)
	}
	return f.WriteAt(Concat(bufs), off)
}

// Concat returns the concatenation of bufs in a new slice.
func Concat(bufs [][]byte) []byte {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	p := make([]byte, 0, n)
	for _, b := range bufs {
		p = append(p, b...)
	}
	return p
}

// WritebackStarter is implemented by files that can start writing a range
// of their written data to the device without waiting for it, as
// sync_file_range(2) with SYNC_FILE_RANGE_WRITE does; the OS files on Linux
// have it. It is a hint and makes nothing durable: only Sync does, and a
// failure of the write-back is Sync's to report. A log calls it between
// writing a record and syncing it, so the device works on the record while
// the CPU does what can be done before the sync returns.
type WritebackStarter interface {
	StartWriteback(off, n int64) error
}

// StartWriteback starts the write-back of n bytes at off in f if f is a
// WritebackStarter, and does nothing otherwise.
func StartWriteback(f File, off, n int64) error {
	if s, ok := f.(WritebackStarter); ok {
		return s.StartWriteback(off, n)
	}
	return nil
}

// FS is a file system. Names are paths as package filepath builds them.
type FS interface {
	// Create creates the named file, or truncates it if it exists, and
	// opens it for reading and writing.
	Create(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Rename renames oldname to newname, replacing newname if it exists.
	Rename(oldname, newname string) error
	// Remove removes the named file.
	Remove(name string) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory's entries durable: files created,
	// renamed into or removed from it.
	SyncDir(dir string) error
	// Lock takes an exclusive lock named by the file name (created if
	// missing) and returns what releases it. While it is held, every
	// other Lock of the name fails with an error wrapping ErrLocked, from
	// this process or another one; it never waits. The lock dies with
	// the process that holds it (a crash or kill releases it), so a
	// stale lock file left behind locks nothing. (On platforms without
	// flock(2), such as Windows, the lock excludes only other Locks in
	// the same process.)
	Lock(name string) (io.Closer, error)
}

// ErrLocked is wrapped by the error of a Lock that another holder has.
var ErrLocked = errors.New("locked by another process or handle")

// Default is the operating system's file system.
var Default FS = osFS{}
