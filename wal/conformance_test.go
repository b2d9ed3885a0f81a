package wal

import (
	"sync"
	"testing"

	"github.com/tickraft/raft/storagetest"
	"github.com/tickraft/raft/vfs/faultfs"
)

// TestConformance runs the storage suite on a wal on an in-memory file
// system, reopening after every write through a crash that drops whatever
// was not synced: every write method syncs, so nothing may be lost.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	fss := map[storagetest.Store]*faultfs.FS{}
	open := func(fs *faultfs.FS, dir string) (storagetest.Store, error) {
		opts := testOpts(fs)
		opts.CacheBytes = 512 // most reads come from disk
		w, err := Open(dir, opts)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		fss[w] = fs
		mu.Unlock()
		return w, nil
	}
	storagetest.Run(t, storagetest.Harness{
		Open: func(_ testing.TB, dir string) (storagetest.Store, error) {
			return open(faultfs.New(), dir)
		},
		Reopen: func(_ testing.TB, s storagetest.Store, dir string) (storagetest.Store, error) {
			mu.Lock()
			fs := fss[s]
			delete(fss, s)
			mu.Unlock()
			s.(*WAL).Close()
			fs.Crash(faultfs.DropUnsynced)
			return open(fs, dir)
		},
		Close: func(s storagetest.Store) error {
			mu.Lock()
			delete(fss, s)
			mu.Unlock()
			return s.(*WAL).Close()
		},
	})
}

// TestConformanceOS runs the suite on real files with the background
// preparation of segments.
func TestConformanceOS(t *testing.T) {
	if testing.Short() {
		t.Skip("real files: slow")
	}
	open := func(dir string) (storagetest.Store, error) {
		return Open(dir, Options{SegmentSize: 64 << 10, CacheBytes: 4 << 10, UnsafeNoSync: true})
	}
	storagetest.Run(t, storagetest.Harness{
		Open: func(_ testing.TB, dir string) (storagetest.Store, error) { return open(dir) },
		Reopen: func(_ testing.TB, s storagetest.Store, dir string) (storagetest.Store, error) {
			if err := s.(*WAL).Close(); err != nil {
				return nil, err
			}
			return open(dir)
		},
		Close: func(s storagetest.Store) error { return s.(*WAL).Close() },
	})
}
