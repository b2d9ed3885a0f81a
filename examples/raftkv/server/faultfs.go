package server

import (
	"errors"
	"sync/atomic"

	"github.com/tickraft/raft/vfs"
)

// errInjectedDisk is the failure the disk fault hook injects.
var errInjectedDisk = errors.New("server: injected disk failure (test hook)")

// failFS wraps the OS file system (the wal's and the snapshot store's) so
// the test hook can make every later write and sync fail, as a dying disk
// does; the node must then stop, never acknowledge.
type failFS struct {
	vfs.FS
	fail *atomic.Bool
}

func (f failFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return failFile{File: file, fail: f.fail}, nil
}

func (f failFS) Create(name string) (vfs.File, error)        { return f.wrap(f.FS.Create(name)) }
func (f failFS) Open(name string) (vfs.File, error)          { return f.wrap(f.FS.Open(name)) }
func (f failFS) OpenReadWrite(name string) (vfs.File, error) { return f.wrap(f.FS.OpenReadWrite(name)) }

func (f failFS) SyncDir(dir string) error {
	if f.fail.Load() {
		return errInjectedDisk
	}
	return f.FS.SyncDir(dir)
}

type failFile struct {
	vfs.File
	fail *atomic.Bool
}

func (f failFile) Write(p []byte) (int, error) {
	if f.fail.Load() {
		return 0, errInjectedDisk
	}
	return f.File.Write(p)
}

func (f failFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fail.Load() {
		return 0, errInjectedDisk
	}
	return f.File.WriteAt(p, off)
}

func (f failFile) Sync() error {
	if f.fail.Load() {
		return errInjectedDisk
	}
	return f.File.Sync()
}
