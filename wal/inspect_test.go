package wal

import (
	"errors"
	"testing"

	"github.com/tickraft/raft/vfs/faultfs"
)

// inspectThenOpen inspects the log on fs, then opens it, and checks that
// Inspect predicted what Open did: Open refuses with a *CorruptionError
// exactly when Inspect reports corruption, at the same file and offset; any
// other refusal is corruption to Inspect too (a missing snapshot file, say);
// and a log that opens has the bounds and hard state Inspect gave.
func inspectThenOpen(t *testing.T, fs *faultfs.FS, what string) (*WAL, *Inspection, error) {
	t.Helper()
	ins, ierr := Inspect(testDir, testOpts(fs))
	w, err := Open(testDir, testOpts(fs))
	checkInspection(t, what, ins, ierr, w, err)
	return w, ins, err
}

// checkInspection checks Inspect's result (ins, ierr) against what Open
// did next (w, err).
func checkInspection(t *testing.T, what string, ins *Inspection, ierr error, w *WAL, err error) {
	t.Helper()
	if ierr != nil {
		if err == nil {
			t.Fatalf("%s: Inspect failed (%v) but Open succeeded", what, ierr)
		}
		return
	}
	var ce *CorruptionError
	switch {
	case errors.As(err, &ce):
		if c := ins.Corruption; c == nil || c.File != ce.File || c.Offset != ce.Offset {
			t.Fatalf("%s: Open = %v, Inspect found corruption %+v", what, err, ins.Corruption)
		}
	case err != nil:
		if ins.Corruption == nil {
			t.Fatalf("%s: Open = %v, Inspect found nothing wrong", what, err)
		}
	case ins.Corruption != nil:
		t.Fatalf("%s: Inspect found corruption %+v, Open succeeded", what, ins.Corruption)
	default:
		first, _ := w.FirstIndex()
		last, _ := w.LastIndex()
		hs, _, _ := w.InitialState()
		got := ins.HardState
		if ins.FirstIndex != first || ins.LastIndex != last || got.Term != hs.Term || got.Vote != hs.Vote || got.Commit != hs.Commit {
			t.Fatalf("%s: Inspect says entries [%d, %d] and %+v; Open has [%d, %d] and %v",
				what, ins.FirstIndex, ins.LastIndex, got, first, last, hs)
		}
		snap, _ := w.Snapshot()
		if i := snap.GetMetadata().GetIndex(); i > 0 && (ins.Snapshot == nil || ins.Snapshot.Index != i || ins.Snapshot.DataBytes != len(snap.Data)) ||
			i == 0 && ins.Snapshot != nil {
			t.Fatalf("%s: Inspect says snapshot %+v; Open has %v", what, ins.Snapshot, snap.GetMetadata())
		}
	}
}

// TestInspectChangesNothing: inspecting a log, even one with a torn tail
// and unused segments, writes nothing.
func TestInspectChangesNothing(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	newWorkload(3, 60).run(w)
	fs.Crash(faultfs.KeepAll)
	data, _ := fs.ReadFile(segPath(1))
	n := fs.Ops()
	ins, err := Inspect(testDir, testOpts(fs))
	if err != nil {
		t.Fatal(err)
	}
	if fs.Ops() != n {
		t.Fatalf("Inspect did %d mutating operations", fs.Ops()-n)
	}
	if again, _ := fs.ReadFile(segPath(1)); string(again) != string(data) {
		t.Fatal("Inspect changed a segment")
	}
	if len(ins.Segments) == 0 || ins.Corruption != nil {
		t.Fatalf("inspection %+v", ins)
	}
}

// TestInspectReportsTornTail: garbage after the last record of the last
// segment is a torn tail, at its offset, which Open then cuts.
func TestInspectReportsTornTail(t *testing.T) {
	fs := faultfs.New()
	w := mustOpen(t, testOpts(fs))
	if err := w.Append(ents(1, 5, 1, 10)); err != nil {
		t.Fatal(err)
	}
	end := w.writeOff
	w.Close()
	f, _ := fs.OpenReadWrite(segPath(1))
	f.WriteAt([]byte{1, 2, 3}, end+5)
	f.Close()
	w, ins, err := inspectThenOpen(t, fs, "torn tail")
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if tt := ins.TornTail; tt == nil || tt.File != segPath(1) || tt.Offset != end || tt.Bytes != 8 {
		t.Fatalf("torn tail %+v, want %s at %d, 8 bytes", ins.TornTail, segPath(1), end)
	}
	if ins.LastIndex != 5 || ins.Segments[0].FirstIndex != 1 || ins.Segments[0].LastIndex != 5 {
		t.Fatalf("inspection %+v", ins)
	}
	if again, _ := Inspect(testDir, testOpts(fs)); again.TornTail != nil {
		t.Fatalf("after Open cut it: torn tail %+v", again.TornTail)
	}
}
