package wal

import (
	"errors"
	"syscall"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs"
	"github.com/tickraft/raft/vfs/faultfs"
)

// TestRealFSFaults runs the wal on the real file system wrapped by
// faultfs.Wrap: a failed fsync, a failed write and a full disk each stop
// the wal (that call and every later one fail; nothing is retried), and
// after a restart on the plain file system every Save that returned nil is
// there.
func TestRealFSFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(*faultfs.Wrapped)
		want   error
	}{
		{"fsync", func(w *faultfs.Wrapped) { w.FailSync(1) }, faultfs.ErrInjected},
		{"write", func(w *faultfs.Wrapped) { w.FailWrite(1) }, faultfs.ErrInjected},
		{"enospc", func(w *faultfs.Wrapped) { w.SetSpace(100) }, syscall.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := faultfs.Wrap(vfs.Default)
			opts := Options{FS: fs, SegmentSize: 64 << 10, PreallocateInline: true}
			w, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Save(Update{Entries: ents(1, 10, 1, 50), HardState: &pb.HardState{Term: 1, Commit: 5}, MustSync: true}); err != nil {
				t.Fatal(err)
			}
			tc.inject(fs)
			err = w.Save(Update{Entries: ents(11, 20, 1, 50), HardState: &pb.HardState{Term: 1, Commit: 15}, MustSync: true})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Save with the fault: %v, want %v", err, tc.want)
			}
			if fs.Injected() == 0 {
				t.Fatal("no fault was injected")
			}
			// Stopped: writes and reads fail, even though the fault is
			// gone (a retried fsync would succeed and hide the loss).
			if err := w.Save(Update{HardState: &pb.HardState{Term: 2}, MustSync: true}); err == nil {
				t.Fatal("Save after the failure succeeded")
			}
			if _, err := w.LastIndex(); err == nil {
				t.Fatal("LastIndex after the failure succeeded")
			}
			w.Close()
			w, err = Open(dir, Options{SegmentSize: 64 << 10})
			if err != nil {
				t.Fatalf("reopen on the plain file system: %v", err)
			}
			defer w.Close()
			last, _ := w.LastIndex()
			hs, _, _ := w.InitialState()
			// The failed Save may or may not have reached the disk; the
			// acknowledged one must have.
			if last != 10 && last != 20 || hs.Commit != 5 && hs.Commit != 15 || (last == 10) != (hs.Commit == 5) {
				t.Fatalf("after restart: last %d, commit %d; want the acknowledged state (10, 5) or the failed Save whole (20, 15)", last, hs.Commit)
			}
		})
	}
}
