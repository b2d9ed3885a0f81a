package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/wal"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// buildLog writes a log of several small segments with a snapshot and a
// compaction into a new directory, and returns the directory.
func buildLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	w, err := wal.Open(dir, wal.Options{SegmentSize: 4096, PreallocateInline: true, UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := uint64(1); i <= 40; i += 4 {
		var es []*pb.Entry
		for k := i; k < i+4; k++ {
			es = append(es, &pb.Entry{Index: k, Term: 1 + k/20, Data: bytes.Repeat([]byte{byte(k)}, 100)})
		}
		hs := &pb.HardState{Term: 1 + (i+3)/20, Vote: 1, Commit: i}
		if err := w.Save(wal.Update{Entries: es, HardState: hs, MustSync: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.CreateSnapshot(12, &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, []byte("state at 12")); err != nil {
		t.Fatal(err)
	}
	if err := w.Compact(12); err != nil {
		t.Fatal(err)
	}
	return dir
}

func segPath(dir string, num int) string { return filepath.Join(dir, fmt.Sprintf("%016x.wal", num)) }

// lastUsed returns the offset just past the last non-zero byte of a file.
func lastUsed(t *testing.T, path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := len(data)
	for end > 0 && data[end-1] == 0 {
		end--
	}
	return int64(end)
}

func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// tornLog is buildLog with garbage after the last record: a torn tail.
func tornLog(t *testing.T) string {
	dir := buildLog(t)
	last := lastSegment(t, dir)
	patch(t, last, (lastUsed(t, last)+7)&^7+8, []byte("torn"))
	return dir
}

// corruptLog is buildLog with a byte of a record in its first segment (not
// the last) changed.
func corruptLog(t *testing.T) string {
	dir := buildLog(t)
	patch(t, segPath(dir, 1), 2000, []byte{0xff})
	return dir
}

func lastSegment(t *testing.T, dir string) string {
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	return names[len(names)-1]
}

// runTool runs the command line and returns its output with dir replaced by
// DIR, and the exit status.
func runTool(dir string, args ...string) (string, int) {
	var out, errs bytes.Buffer
	code := run(append(args, dir), &out, &errs)
	s := fmt.Sprintf("exit %d\n-- stdout --\n%s-- stderr --\n%s", code, out.String(), errs.String())
	return strings.ReplaceAll(s, dir, "DIR"), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: output differs from the golden file (go test -update rewrites it)\n--- got ---\n%s--- want ---\n%s", name, got, want)
	}
}

// TestGolden runs each subcommand on a healthy, a torn and a corrupt log
// and compares the output and exit status with testdata/*.golden.
func TestGolden(t *testing.T) {
	logs := map[string]func(*testing.T) string{"clean": buildLog, "torn": tornLog, "corrupt": corruptLog}
	cases := []struct {
		log  string
		args []string
		code int
	}{
		{"clean", []string{"inspect"}, 0},
		{"clean", []string{"inspect", "-json"}, 0},
		{"clean", []string{"verify"}, 0},
		{"clean", []string{"repair", "-yes"}, 0},
		{"torn", []string{"inspect"}, 0},
		{"torn", []string{"verify"}, 0},
		{"corrupt", []string{"inspect"}, 0},
		{"corrupt", []string{"inspect", "-json"}, 0},
		{"corrupt", []string{"verify"}, 1},
		{"corrupt", []string{"repair"}, 2},
	}
	for _, c := range cases {
		name := c.log + "-" + strings.Join(c.args, "")
		t.Run(name, func(t *testing.T) {
			dir := logs[c.log](t)
			got, code := runTool(dir, c.args...)
			if code != c.code {
				t.Errorf("exit status %d, want %d", code, c.code)
			}
			golden(t, name, got)
		})
	}
}

// TestRepairCorrupt: repair -yes cuts a corrupt log where verify found the
// damage, keeps the cut bytes, and leaves a log that verifies and opens.
func TestRepairCorrupt(t *testing.T) {
	dir := corruptLog(t)
	got, code := runTool(dir, "repair", "-yes")
	if code != 0 {
		t.Fatalf("repair -yes: %s", got)
	}
	golden(t, "corrupt-repair-yes", got)
	saved, err := filepath.Glob(filepath.Join(dir, "repair-*", "*"))
	if err != nil || len(saved) < 2 {
		t.Fatalf("kept copy: %v %v, want the cut tail of segment 1 and segment 2", saved, err)
	}
	if got, code := runTool(dir, "verify"); code != 0 {
		t.Fatalf("verify after repair: %s", got)
	}
	w, err := wal.Open(dir, wal.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatalf("Open after repair: %v", err)
	}
	w.Close()
}

// TestRefusals: usage errors, and repair of a log a WAL has open.
func TestRefusals(t *testing.T) {
	dir := buildLog(t)
	for _, args := range [][]string{{}, {"frobnicate", dir}, {"verify"}, {"verify", dir, dir}, {"inspect", "-bogus", dir}} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != exitUsage || errs.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d and a message", args, code, errs.String(), exitUsage)
		}
	}
	before, _ := os.ReadFile(segPath(dir, 1))
	w, err := wal.Open(dir, wal.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	got, code := runTool(dir, "repair", "-yes")
	if code != exitFailed || !strings.Contains(got, "in use") {
		t.Errorf("repair of an open log: %s", got)
	}
	got, code = runTool(dir, "inspect")
	if code != 0 || !strings.Contains(got, "in use: a WAL has it open") {
		t.Errorf("inspect of an open log: %s", got)
	}
	if after, _ := os.ReadFile(segPath(dir, 1)); !bytes.Equal(before, after) {
		t.Error("a refused repair changed the log")
	}
	if _, code := runTool(filepath.Join(dir, "missing"), "verify"); code != exitFailed {
		t.Errorf("verify of a missing directory: exit %d", code)
	}
}
