package wal

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
	"github.com/tickraft/raft/vfs/faultfs"
)

const testDir = "/wal"

// testOpts are small segments on an in-memory file system with a
// deterministic order of operations.
func testOpts(fs *faultfs.FS) Options {
	return Options{FS: fs, SegmentSize: 4096, CacheBytes: 1024, PreallocateInline: true}
}

func mustOpen(t testing.TB, opts Options) *WAL {
	t.Helper()
	w, err := Open(testDir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

func ents(first, last, term uint64, size int) []*pb.Entry {
	var out []*pb.Entry
	for i := first; i <= last; i++ {
		data := bytes.Repeat([]byte{byte(i)}, size)
		out = append(out, &pb.Entry{Index: i, Term: term, Data: data})
	}
	return out
}

// storage is the read side both the wal and the model have.
type storage interface {
	raft.Storage
}

// diff returns how got differs from want ("" if they agree): bounds, every
// term, every entry, hard state, conf state and snapshot.
func diff(got, want storage) string {
	gf, err1 := got.FirstIndex()
	wf, _ := want.FirstIndex()
	gl, err2 := got.LastIndex()
	wl, _ := want.LastIndex()
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("index errors: %v %v", err1, err2)
	}
	if gf != wf || gl != wl {
		return fmt.Sprintf("log bounds [%d, %d], want [%d, %d]", gf, gl, wf, wl)
	}
	for i := wf - 1; i <= wl; i++ {
		gt, err := got.Term(i)
		wt, _ := want.Term(i)
		if err != nil || gt != wt {
			return fmt.Sprintf("term(%d) = %d (%v), want %d", i, gt, err, wt)
		}
	}
	if wl >= wf {
		ge, err := got.Entries(wf, wl+1, math.MaxUint64)
		we, _ := want.Entries(wf, wl+1, math.MaxUint64)
		if err != nil {
			return fmt.Sprintf("entries: %v", err)
		}
		if len(ge) != len(we) {
			return fmt.Sprintf("%d entries, want %d", len(ge), len(we))
		}
		for k := range we {
			if !proto.Equal(ge[k], we[k]) {
				return fmt.Sprintf("entry %d = %v, want %v", we[k].Index, ge[k], we[k])
			}
		}
	}
	ghs, gcs, err := got.InitialState()
	whs, wcs, _ := want.InitialState()
	if err != nil {
		return fmt.Sprintf("initial state: %v", err)
	}
	if !proto.Equal(ghs, whs) || !proto.Equal(gcs, wcs) {
		return fmt.Sprintf("initial state %v %v, want %v %v", ghs, gcs, whs, wcs)
	}
	gs, err := got.Snapshot()
	ws, _ := want.Snapshot()
	if err != nil {
		return fmt.Sprintf("snapshot: %v", err)
	}
	if !proto.Equal(gs, ws) {
		return fmt.Sprintf("snapshot %v, want %v", gs, ws)
	}
	return ""
}
