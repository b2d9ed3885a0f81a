// Package vfs is the small file-system interface the write-ahead log (and
// anything else that must survive a crash) writes through, so tests can put a
// fault-injecting file system (package faultfs) in place of the OS.
//
// It has what a log-structured store needs and nothing more: files that are
// read and written at offsets, synced and truncated, and a directory whose
// entries can be listed, renamed, removed and synced.
package vfs

import (
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
}

// Default is the operating system's file system.
var Default FS = osFS{}
