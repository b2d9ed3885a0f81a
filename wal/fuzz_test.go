package wal

import (
	"errors"
	"math"
	"testing"

	"github.com/tickraft/raft"
	"github.com/tickraft/raft/vfs/faultfs"
)

// FuzzRecover opens a log whose two segments hold arbitrary bytes. Recovery
// must never panic nor allocate beyond the size of the files (a huge length
// field is damage, not an allocation); it either refuses with an error or
// opens a log whose every entry reads back. Repair must then leave a log
// that opens, unless what is left refers to a snapshot file that is not
// there.
func FuzzRecover(f *testing.F) {
	for seed := uint64(1); seed <= 4; seed++ {
		fs := faultfs.New()
		w := mustOpen(f, testOpts(fs))
		newWorkload(seed, 30).run(w)
		w.Close()
		names, _ := fs.List(testDir)
		var segs [][]byte
		for _, n := range names {
			if num, ok := parseSegmentFile(n); ok {
				data, _ := fs.ReadFile(segPath(num))
				segs = append(segs, data)
			}
		}
		for k := 0; k+1 < len(segs); k++ {
			f.Add(segs[k], segs[k+1])
		}
		f.Add(segs[0], []byte{})
	}
	f.Fuzz(func(t *testing.T, seg1, seg2 []byte) {
		if len(seg1)+len(seg2) > 1<<20 {
			return
		}
		fs := faultfs.New()
		fs.WriteFile(segPath(1), seg1)
		if len(seg2) > 0 {
			fs.WriteFile(segPath(2), seg2)
		}
		opts := testOpts(fs)
		w, err := Open(testDir, opts)
		if err == nil {
			readAll(t, w)
			w.Close()
			return
		}
		if _, err := Repair(testDir, opts); err != nil {
			return
		}
		w, err = Open(testDir, opts)
		var ce *CorruptionError
		if errors.As(err, &ce) && ce.Offset != 0 {
			t.Fatalf("after Repair, Open = %v", err)
		}
		if err == nil {
			readAll(t, w)
			w.Close()
		}
	})
}

// readAll reads every entry and term of w.
func readAll(t *testing.T, w *WAL) {
	first, _ := w.FirstIndex()
	last, _ := w.LastIndex()
	for i := first - 1; i <= last; i++ {
		if _, err := w.Term(i); err != nil {
			t.Fatalf("Term(%d): %v", i, err)
		}
	}
	if last >= first {
		ents, err := w.Entries(first, last+1, math.MaxUint64)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Entries: %v", err)
		}
		if err == nil && uint64(len(ents)) != last-first+1 {
			t.Fatalf("Entries returned %d, want %d", len(ents), last-first+1)
		}
	}
	if _, _, err := w.InitialState(); err != nil {
		t.Fatal(err)
	}
	var _ raft.Storage = w
}
