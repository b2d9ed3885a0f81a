package vfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestStartWriteback: on the OS file (where the platform has the hint) the
// call reaches the kernel (it fails on a closed file) and leaves the data
// as written; on a file without it, it does nothing.
func TestStartWriteback(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := Default.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("tickraft"), 4096)
	if _, err := f.WriteAt(want, 100); err != nil {
		t.Fatal(err)
	}
	_, hinted := f.(WritebackStarter)
	if hinted != writebackOS {
		t.Fatalf("the OS file implements WritebackStarter: %v, want %v on this platform", hinted, writebackOS)
	}
	if err := StartWriteback(f, 100, int64(len(want))); err != nil {
		t.Fatalf("StartWriteback: %v", err)
	}
	if err := StartWriteback(plainFile{f}, 0, 1); err != nil {
		t.Fatalf("StartWriteback on a file without the hint: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[100:], want) {
		t.Fatal("the data read back differs from what was written")
	}
	f.Close()
	if err := StartWriteback(f, 0, 1); hinted && err == nil {
		t.Fatal("StartWriteback on a closed file succeeded: the hint never reached the kernel")
	}
}
