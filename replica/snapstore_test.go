package replica

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tickraft/raft/vfs/faultfs"
)

// saveSnap stores payload at index 5 term 2 in a fresh DirSnapshots.
func saveSnap(t *testing.T, payload []byte) (*faultfs.FS, *DirSnapshots, string) {
	t.Helper()
	fs := faultfs.New()
	s, err := NewDirSnapshots(fs, "/snap")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(5, 2, func(w io.Writer) error { _, err := w.Write(payload); return err }); err != nil {
		t.Fatal(err)
	}
	return fs, s, s.name(5, 2)
}

func TestDirSnapshotsRoundTrip(t *testing.T) {
	for _, payload := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("0123456789"), 20000)} {
		_, s, _ := saveSnap(t, payload)
		rc, n, err := s.Open(5, 2)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil || n != int64(len(payload)) || !bytes.Equal(got, payload) {
			t.Fatalf("payload of %d bytes: read %d bytes (size %d), err %v", len(payload), len(got), n, err)
		}
	}
}

// A bit flipped anywhere in the file (payload or trailer) or a file cut
// short makes Open fail with ErrSnapshotCorrupt naming the file.
func TestDirSnapshotsDetectCorruption(t *testing.T) {
	payload := bytes.Repeat([]byte("snapshot"), 1000)
	size := int64(len(payload) + trailerSize)
	for _, off := range []int64{0, 1234, size - int64(trailerSize) - 1, size - int64(trailerSize), size - 6, size - 1} {
		t.Run(fmt.Sprintf("flip@%d", off), func(t *testing.T) {
			fs, s, name := saveSnap(t, payload)
			if err := fs.FlipBit(name, off, 3); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Open(5, 2)
			if !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), name) {
				t.Fatalf("Open after a bit flip at %d: %v, want ErrSnapshotCorrupt naming %s", off, err, name)
			}
		})
	}
	for _, keep := range []int64{0, 3, size - 1, size - int64(trailerSize)} {
		t.Run(fmt.Sprintf("cut@%d", keep), func(t *testing.T) {
			fs, s, name := saveSnap(t, payload)
			f, err := fs.OpenReadWrite(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(keep); err != nil {
				t.Fatal(err)
			}
			_ = f.Sync()
			_ = f.Close()
			if _, _, err := s.Open(5, 2); !errors.Is(err, ErrSnapshotCorrupt) {
				t.Fatalf("Open of a file cut to %d bytes: %v, want ErrSnapshotCorrupt", keep, err)
			}
		})
	}
}

// A replica whose stored snapshot rotted while it was down refuses to
// start rather than restore its state machine from it.
func TestCorruptSnapshotRefusedOnRestart(t *testing.T) {
	c := newClusterOpts(t, 3, true, func(cfg *Config) { cfg.SnapshotEntries = 5 })
	ctx := ctxT(t)
	for i := range 20 {
		c.propose(ctx, fmt.Sprintf("k%d", i))
	}
	l := c.leader()
	f := c.follower(l.id)
	if err := f.r.WaitFor(ctx, func(m Metrics) bool { return m.SnapshotsTaken > 0 }); err != nil {
		t.Fatal(err)
	}
	_ = f.r.Stop(ctx)
	c.crash(f)
	// Corrupt the snapshot the wal refers to: a newer file may exist whose
	// record the stop cut off, and a restart rightly ignores that one.
	c.openWAL(f)
	ws, err := f.wal.Snapshot()
	if err != nil || ws.GetMetadata().GetIndex() == 0 {
		t.Fatalf("the wal records no snapshot: %v", err)
	}
	snap := fmt.Sprintf("/data/snap/%016x-%016x.snap", ws.Metadata.Term, ws.Metadata.Index)
	if err := f.fs.FlipBit(snap, 2, 0); err != nil {
		t.Fatal(err)
	}
	f.sm = newSetSM()
	cfg := Config{ID: f.id, Logger: testLogger(), Clock: c.clock, TickInterval: 1, Snapshots: f.snaps}
	r, err := Start(cfg, f.log, f.sm, c.net.Endpoint(f.id))
	if err == nil {
		_ = r.Stop(ctx)
		t.Fatal("Start restored from a corrupt snapshot")
	}
	if !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), snap) {
		t.Fatalf("Start: %v, want ErrSnapshotCorrupt naming %s", err, snap)
	}
	if f.sm.size() != 0 {
		t.Fatalf("the state machine was restored (%d keys) from a corrupt snapshot", f.sm.size())
	}
	_ = f.wal.Close()
	delete(c.nodes, f.id)
}
