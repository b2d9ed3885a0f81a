package vfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// plainFile hides a File's WriteVAt, so WriteVAt takes its fallback.
type plainFile struct{ File }

// TestWriteVAt: the concatenation of the buffers lands at the offset, with
// empty buffers among them and more buffers than one pwritev(2) takes, on
// the OS file and through the fallback for files without WriteVAt.
func TestWriteVAt(t *testing.T) {
	var bufs [][]byte
	var want []byte
	for k := 0; k < 2500; k++ {
		b := bytes.Repeat([]byte{byte(k)}, k%7) // every seventh is empty
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	const off = 5
	for _, tc := range []struct {
		name string
		wrap func(File) File
	}{
		{"os", func(f File) File { return f }},
		{"fallback", func(f File) File { return plainFile{f} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "f")
			f, err := Default.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, ok := f.(VectorWriterAt); !ok && tc.name == "os" && vectoredOS {
				t.Fatal("the OS file has no WriteVAt")
			}
			n, err := WriteVAt(tc.wrap(f), bufs, off)
			if err != nil || n != len(want) {
				t.Fatalf("WriteVAt: %d, %v; want %d bytes", n, err, len(want))
			}
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append(make([]byte, off), want...)) {
				t.Fatalf("file holds %d bytes that differ from the %d written at %d", len(got), len(want), off)
			}
		})
	}
}
