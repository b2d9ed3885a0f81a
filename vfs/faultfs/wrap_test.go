package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tickraft/raft/vfs"
)

// TestWrappedFaults: the chosen write and sync fail, others pass through to
// the real files, and the byte budget ends in a short write and ENOSPC.
func TestWrappedFaults(t *testing.T) {
	dir := t.TempDir()
	w := Wrap(vfs.Default)
	f, err := w.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w.FailWrite(2)
	w.FailSync(1)
	if _, err := f.WriteAt([]byte("one"), 0); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if _, err := f.WriteAt([]byte("two"), 3); !errors.Is(err, ErrInjected) {
		t.Fatalf("second write: %v, want ErrInjected", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("first sync: %v, want ErrInjected", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	w.SetSpace(5)
	if n, err := f.WriteAt([]byte("abc"), 3); n != 3 || err != nil {
		t.Fatalf("write within the budget: %d, %v", n, err)
	}
	if n, err := f.WriteAt([]byte("defg"), 6); n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write across the budget: %d, %v; want 2 and ENOSPC", n, err)
	}
	if n, err := f.Write([]byte("x")); n != 0 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write after the budget: %d, %v", n, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "oneabcde" {
		t.Fatalf("file holds %q, want %q (the failed write stored nothing, the short one its first 2 bytes)", got, "oneabcde")
	}
	if w.Injected() != 4 {
		t.Fatalf("%d faults injected, want 4", w.Injected())
	}
}

func TestWrapSpec(t *testing.T) {
	w, err := WrapSpec(vfs.Default, "sync=2,write=3,space=100")
	if err != nil {
		t.Fatal(err)
	}
	if w.failSync != 2 || w.failWrite != 3 || w.space != 100 {
		t.Fatalf("spec parsed as sync %d, write %d, space %d", w.failSync, w.failWrite, w.space)
	}
	if w, err := WrapSpec(vfs.Default, ""); err != nil || w.failSync != 0 || w.space != -1 {
		t.Fatalf("empty spec: %+v, %v", w, err)
	}
	for _, bad := range []string{"sync", "sync=0", "sync=x", "fsync=1", "sync=1,"} {
		if _, err := WrapSpec(vfs.Default, bad); err == nil {
			t.Errorf("spec %q accepted", bad)
		}
	}
}

// TestWrappedWriteVAt: a vectored write is one write to the faults: the
// chosen one fails whole, and the byte budget cuts it inside a buffer; what
// is admitted reaches the real file.
func TestWrappedWriteVAt(t *testing.T) {
	dir := t.TempDir()
	w := Wrap(vfs.Default)
	f, err := w.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(vfs.VectorWriterAt); !ok {
		t.Fatal("a wrapped file has no WriteVAt")
	}
	w.FailWrite(2)
	bufs := [][]byte{[]byte("ab"), {}, []byte("cde")}
	if n, err := vfs.WriteVAt(f, bufs, 0); n != 5 || err != nil {
		t.Fatalf("first write: %d, %v", n, err)
	}
	if n, err := vfs.WriteVAt(f, bufs, 5); n != 0 || !errors.Is(err, ErrInjected) {
		t.Fatalf("second write: %d, %v; want 0 and ErrInjected", n, err)
	}
	w.SetSpace(3)
	if n, err := vfs.WriteVAt(f, bufs, 5); n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write across the budget: %d, %v; want 3 and ENOSPC", n, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "abcdeabc" {
		t.Fatalf("file holds %q, want %q", got, "abcdeabc")
	}
}
