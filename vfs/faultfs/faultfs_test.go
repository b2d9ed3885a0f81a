package faultfs

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/tickraft/raft/vfs"
)

func put(t *testing.T, fs *FS, name, data string, sync bool) {
	t.Helper()
	f, err := fs.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func content(fs *FS, name string) string {
	b, err := fs.ReadFile(name)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	fs := New()
	put(t, fs, "/d/synced", "abc", true)
	put(t, fs, "/d/unsynced", "xyz", false)
	fs.SyncDir("/d")
	put(t, fs, "/d/nodirsync", "123", true)
	fs.Crash(DropUnsynced)
	if got := content(fs, "/d/synced"); got != "abc" {
		t.Errorf("synced file: %q", got)
	}
	if got := content(fs, "/d/unsynced"); got != "" {
		t.Errorf("unsynced data survived: %q", got)
	}
	if _, err := fs.Stat("/d/nodirsync"); err == nil {
		t.Error("a file whose directory was not synced survived")
	}
}

func TestRenameAndRemoveNeedDirSync(t *testing.T) {
	fs := New()
	put(t, fs, "/d/a", "1", true)
	fs.SyncDir("/d")
	fs.Rename("/d/a", "/d/b")
	fs.Crash(DropUnsynced)
	if content(fs, "/d/a") != "1" {
		t.Fatal("an unsynced rename survived")
	}
	fs.Rename("/d/a", "/d/b")
	fs.SyncDir("/d")
	fs.Remove("/d/b")
	fs.Crash(DropUnsynced)
	if content(fs, "/d/b") != "1" {
		t.Fatal("an unsynced removal survived, or the synced rename was lost")
	}
}

func TestTornWrites(t *testing.T) {
	fs := New()
	f, _ := fs.Create("/f")
	fs.SyncDir("/")
	f.Write([]byte("aaaa"))
	f.Write([]byte("bbbbbbbb"))
	f.Write([]byte("cccc"))
	fs.Crash(func(_ string, lens []int) (int, int) {
		if len(lens) != 3 || lens[1] != 8 {
			t.Fatalf("lens %v", lens)
		}
		return 1, 5
	})
	if got := content(fs, "/f"); got != "aaaabbbbb" {
		t.Fatalf("torn: %q", got)
	}
	// Handles from before the crash are dead.
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("old handle: %v", err)
	}
	rnd := func(n int) int { return n - 1 }
	g, _ := fs.OpenReadWrite("/f")
	g.WriteAt(bytes.Repeat([]byte("z"), 1500), 0)
	fs.Crash(RandomTear(rnd, 512))
	if got := content(fs, "/f"); got != "aaaabbbbb" && got[:1024] != string(bytes.Repeat([]byte("z"), 1024)) {
		t.Fatalf("sector tear: %q", got[:20])
	}
}

func TestFailSyncLosesData(t *testing.T) {
	fs := New()
	f, _ := fs.Create("/f")
	fs.SyncDir("/")
	f.Write([]byte("one"))
	fs.FailSync(1)
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("sync: %v", err)
	}
	// As on Linux, a second sync succeeds, but the data is not durable.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	fs.Crash(KeepAll)
	if got := content(fs, "/f"); got != "" {
		t.Fatalf("data of the failed sync survived: %q", got)
	}
}

func TestFailWriteAndENOSPC(t *testing.T) {
	fs := New()
	f, _ := fs.Create("/f")
	fs.FailWrite(2, 2)
	if _, err := f.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Write([]byte("fail")); !errors.Is(err, ErrInjected) || n != 2 {
		t.Fatalf("failing write: %d, %v", n, err)
	}
	fs.SetCapacity(6)
	if n, err := f.WriteAt([]byte("12345"), 4); !errors.Is(err, syscall.ENOSPC) || n != 2 {
		t.Fatalf("ENOSPC write: %d, %v", n, err)
	}
}

func TestCrashAfter(t *testing.T) {
	fs := New()
	f, _ := fs.Create("/f")
	fs.CrashAfter(2)
	if _, err := f.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("b")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write after the crash point: %v", err)
	}
	if _, err := fs.Create("/g"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("create after the crash point: %v", err)
	}
}

func TestFlipBit(t *testing.T) {
	fs := New()
	put(t, fs, "/f", "\x00\x00", true)
	fs.SyncDir("/")
	fs.FlipBit("/f", 1, 3)
	fs.Crash(DropUnsynced)
	if got := content(fs, "/f"); got != "\x00\x08" {
		t.Fatalf("%q", got)
	}
}

// TestLock: Lock is exclusive until Close; Crash and KillProcess release
// it, and a stale holder's Close does not release the new holder's lock.
func TestLock(t *testing.T) {
	fs := New()
	l, err := fs.Lock("/d/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Lock("/d/LOCK"); !errors.Is(err, vfs.ErrLocked) {
		t.Fatalf("second Lock: %v, want vfs.ErrLocked", err)
	}
	if _, err := fs.Lock("/e/LOCK"); err != nil {
		t.Fatalf("another name: %v", err)
	}
	l.Close()
	if fs.Locked("/d/LOCK") {
		t.Fatal("held after Close")
	}
	for _, kill := range []func(){func() { fs.Crash(DropUnsynced) }, fs.KillProcess} {
		old, err := fs.Lock("/d/LOCK")
		if err != nil {
			t.Fatal(err)
		}
		kill()
		l, err := fs.Lock("/d/LOCK")
		if err != nil {
			t.Fatalf("Lock after the holder died: %v", err)
		}
		old.Close()
		if !fs.Locked("/d/LOCK") {
			t.Fatal("a dead holder's Close released the new holder's lock")
		}
		l.Close()
	}
	if names, _ := fs.List("/d"); len(names) != 0 {
		t.Fatalf("Lock created files: %v", names)
	}
}

// TestWriteVAtIsOneWrite: a vectored write is one write operation (one
// crash point, one op for hooks) and stores the concatenation.
func TestWriteVAtIsOneWrite(t *testing.T) {
	fs := New()
	f, err := fs.Create("/d/f")
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	fs.SetHook(func(op Op, _ string, _ int) error {
		if op == OpWrite {
			writes++
		}
		return nil
	})
	if n, err := vfs.WriteVAt(f, [][]byte{[]byte("ab"), {}, []byte("cd")}, 1); n != 4 || err != nil {
		t.Fatalf("WriteVAt: %d, %v", n, err)
	}
	if writes != 1 {
		t.Fatalf("%d write operations, want 1", writes)
	}
	if got := content(fs, "/d/f"); got != "\x00abcd" {
		t.Fatalf("file holds %q", got)
	}
}
