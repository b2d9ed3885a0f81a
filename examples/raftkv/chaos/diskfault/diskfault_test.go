package diskfault

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tickraft/raft/vfs"
)

func TestRollbackUndoesUnsyncedWrites(t *testing.T) {
	dir := t.TempDir()
	fs, err := New(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "seg.tmp")
	f, err := fs.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.WriteAt(make([]byte, 16), 0) // preallocated zeros
	must(err)
	must(f.Sync())
	final := filepath.Join(dir, "seg")
	must(fs.Rename(name, final))
	_, err = f.WriteAt([]byte("durable"), 0)
	must(err)
	must(f.Sync())
	_, err = f.WriteAt([]byte("LOST"), 7)
	must(err)
	_, err = f.Write([]byte("X")) // sequential writes are journaled too (at offset 0 here)
	must(err)
	got, _ := os.ReadFile(final)
	if string(got[:11]) != "XurableLOST" {
		t.Fatalf("before rollback: %q", got)
	}
	n, err := Rollback(dir, nil)
	must(err)
	got, _ = os.ReadFile(final)
	if n != 2 || string(got) != "durable\x00\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("after rollback (%d undone): %q", n, got)
	}
}

func TestRollbackTornKeepsAPrefix(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		dir := t.TempDir()
		fs, _ := New(vfs.Default, dir)
		name := filepath.Join(dir, "f")
		f, _ := fs.Create(name)
		f.WriteAt(make([]byte, 8), 0)
		f.Sync()
		f.WriteAt([]byte("abcd"), 0)
		f.WriteAt([]byte("efgh"), 4)
		if _, err := Rollback(dir, rand.New(rand.NewPCG(seed, 1))); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(name)
		// What survives is a prefix of the writes in order, the last one possibly torn.
		full := "abcdefgh"
		i := 0
		for i < 8 && got[i] == full[i] {
			i++
		}
		for ; i < 8; i++ {
			if got[i] != 0 {
				t.Fatalf("seed %d: not a prefix of the writes: %q", seed, got)
			}
		}
	}
}

func TestControlFileInjectsFaults(t *testing.T) {
	dir := t.TempDir()
	fs, _ := New(vfs.Default, dir)
	f, _ := fs.Create(filepath.Join(dir, "f"))
	if _, err := f.WriteAt([]byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ControlFile), []byte(ModeSync), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return errors.Is(f.Sync(), syscall.EIO) })
	os.WriteFile(filepath.Join(dir, ControlFile), []byte(ModeENOSPC), 0o644)
	waitFor(t, func() bool { _, err := f.WriteAt([]byte("b"), 1); return errors.Is(err, syscall.ENOSPC) })
	os.Remove(filepath.Join(dir, ControlFile))
	waitFor(t, func() bool { return f.Sync() == nil })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition never held")
}

// Each path that met an injected fault is listed once, so the nemesis can
// tell a node whose wal failed (it must stop) from one whose fault only
// hit a snapshot it was receiving.
func TestRefusedListsFaultedPaths(t *testing.T) {
	dir := t.TempDir()
	fs, _ := New(vfs.Default, dir)
	walFile, _ := fs.Create(filepath.Join(dir, "wal-seg"))
	snapFile, _ := fs.Create(filepath.Join(dir, "snap-tmp"))
	if got, err := Refused(dir); err != nil || len(got) != 0 {
		t.Fatalf("healthy disk: refused %v, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, ControlFile), []byte(ModeENOSPC), 0o644)
	waitFor(t, func() bool { _, err := snapFile.WriteAt([]byte("x"), 0); return errors.Is(err, syscall.ENOSPC) })
	snapFile.WriteAt([]byte("x"), 0)
	if got, _ := Refused(dir); len(got) != 1 || got[0] != filepath.Join(dir, "snap-tmp") {
		t.Fatalf("after a refused snapshot write: %v, want only the snapshot file once", got)
	}
	os.WriteFile(filepath.Join(dir, ControlFile), []byte(ModeSync), 0o644)
	waitFor(t, func() bool { return errors.Is(walFile.Sync(), syscall.EIO) })
	if got, _ := Refused(dir); len(got) != 2 || got[1] != filepath.Join(dir, "wal-seg") {
		t.Fatalf("after a refused wal sync: %v, want the wal file listed too", got)
	}
}
