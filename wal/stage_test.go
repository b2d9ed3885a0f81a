package wal

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"

	pb "github.com/tickraft/raft/raftpb"
)

// TestStagedSaveReaders runs readers beside Saves large enough to prepare
// the cache while they sync (writebackMin), with a cache small enough to evict
// at every Save: every entry read is the one saved at its index, and the
// last index never goes back. Under -race it checks that preparing touches
// nothing a reader reads.
func TestStagedSaveReaders(t *testing.T) {
	const perSave, saves = 2000, 30
	if perSave*(8+10) < writebackMin {
		t.Fatalf("Saves of %d entries do not take the staged path (writebackMin %d bytes)", perSave, writebackMin)
	}
	w, err := Open(t.TempDir(), Options{CacheBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 2)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			var lastSeen uint64
			for i := 0; !done.Load(); i++ {
				first, _ := w.FirstIndex()
				last, _ := w.LastIndex()
				if last < lastSeen {
					errs <- "the last index went back"
					return
				}
				lastSeen = last
				if last < first {
					continue
				}
				lo := first + uint64(i*7919+r)%(last-first+1)
				ents, err := w.Entries(lo, last+1, 1<<20)
				if err != nil {
					errs <- "Entries: " + err.Error()
					return
				}
				for k, e := range ents {
					if e.Index != lo+uint64(k) || binary.LittleEndian.Uint64(e.Data) != e.Index {
						errs <- "an entry read is not the one saved at its index"
						return
					}
				}
			}
		}(r)
	}
	next := uint64(1)
	for s := 0; s < saves; s++ {
		ents := make([]*pb.Entry, perSave)
		for k := range ents {
			ents[k] = &pb.Entry{Index: next, Term: 1, Data: binary.LittleEndian.AppendUint64(nil, next)}
			next++
		}
		if err := w.Save(Update{Entries: ents, MustSync: true}); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
	if last, _ := w.LastIndex(); last != next-1 {
		t.Fatalf("LastIndex %d after saving up to %d", last, next-1)
	}
}
