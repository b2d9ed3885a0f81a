package wal

import (
	"errors"
	"strings"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
	"github.com/tickraft/raft/vfs/faultfs"
)

// checkLocked asserts that err is Open's refusal of a locked dir.
func checkLocked(t *testing.T, err error, dir string) {
	t.Helper()
	if !errors.Is(err, vfs.ErrLocked) {
		t.Fatalf("second Open: %v, want an error wrapping vfs.ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name the directory %s", err, dir)
	}
}

// TestLockExcludesSecondOpen: while a WAL is open on a directory, a second
// Open and Repair are refused; Close releases the lock.
func TestLockExcludesSecondOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) (Options, string)
	}{
		{"faultfs", func(*testing.T) (Options, string) { return testOpts(faultfs.New()), testDir }},
		{"os", func(t *testing.T) (Options, string) {
			return Options{SegmentSize: 64 << 10, PreallocateInline: true, UnsafeNoSync: true}, t.TempDir()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, dir := tc.opts(t)
			w, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Append(ents(1, 2, 1, 8)); err != nil {
				t.Fatal(err)
			}
			_, err = Open(dir, opts)
			checkLocked(t, err, dir)
			_, err = Repair(dir, opts)
			checkLocked(t, err, dir)
			// The refused Open changed nothing: the first WAL still works.
			if err := w.Append(ents(3, 3, 1, 8)); err != nil {
				t.Fatalf("Append after a refused Open: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w, err = Open(dir, opts)
			if err != nil {
				t.Fatalf("Open after Close: %v", err)
			}
			defer w.Close()
			if last, _ := w.LastIndex(); last != 3 {
				t.Fatalf("last index %d after reopening, want 3", last)
			}
		})
	}
}

// TestLockReleasedByStoppedClose: a WAL stopped by a failed sync still
// releases its lock on Close, so the node can reopen and recover.
func TestLockReleasedByStoppedClose(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	fs.FailSync(1)
	if err := w.Save(Update{HardState: &pb.HardState{Term: 1}, MustSync: true}); err == nil {
		t.Fatal("Save succeeded despite a failed sync")
	}
	w.Close()
	if fs.Locked(testDir + "/" + lockFile) {
		t.Fatal("the lock is still held after Close")
	}
	w = mustOpen(t, testOpts(fs))
	w.Close()
	// A second Close does not release a lock someone else took since.
	w2 := mustOpen(t, testOpts(fs))
	defer w2.Close()
	w.Close()
	_, err := Open(testDir, testOpts(fs))
	checkLocked(t, err, testDir)
}

// TestLockFailedOpenReleases: an Open that fails (here: corruption) does not
// keep the lock.
func TestLockFailedOpenReleases(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	w.Close()
	if err := fs.FlipBit(testDir+"/"+segmentFile(1), 3, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(testDir, testOpts(fs)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of a damaged log: %v, want corruption", err)
	}
	if fs.Locked(testDir + "/" + lockFile) {
		t.Fatal("a failed Open kept the lock")
	}
}

// TestLockCrashReleases: a power cut kills the process holding the lock.
func TestLockCrashReleases(t *testing.T) {
	fs := faultfs.New()
	mustOpen(t, testOpts(fs))
	fs.Crash(faultfs.DropUnsynced)
	w := mustOpen(t, testOpts(fs))
	w.Close()
}
